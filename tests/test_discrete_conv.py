"""Discrete weights on conv layers: one problem per output channel over the im2col patches.

The IR energy equals the measured error of the decoded network (every encoding, both schedules), labels use
the flattened input index c*kh*kw + ky*kw + kx, the baselines run on the patches' Gram matrix, and ``qsel
apply`` writes conv weights on the grid."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main
from qsel.frontend import discrete as D
from qsel.frontend import discrete_baselines as B
from qsel.frontend.discrete_apply import solver_levels
from qsel.frontend.init import init_cnn
from qsel.frontend.models import load_model, save_model
from qsel.frontend.network import Network
from qsel.result import Result
from strategies import scale_of
from test_discrete_energy import GRIDS


def cnn(seed: int = 0) -> Network:
    """conv1 (2 channels, 3x3, stride 1) -> conv2 (2 channels, stride 2) -> fc1, on 1x5x5 inputs, random biases."""
    net = init_cnn((1, 5, 5), [2, 2], 3, "tanh", seed=seed, strides=[1, 2])
    rng = np.random.default_rng(seed + 10)
    for layer in net.layers:
        layer.bias = rng.uniform(-0.5, 0.5, size=layer.bias.shape)
    return net


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(5)
    return rng.normal(size=(7, 1, 5, 5)), rng.integers(0, 3, size=7)


@pytest.mark.parametrize("weights,levels,encoding", GRIDS)
@pytest.mark.parametrize("schedule", ["independent", "sequential"])
def test_conv_energy_equals_measured_error(batch, weights, levels, encoding, schedule):
    X, y = batch
    net = cnn()
    grid = D.parse_grid(weights, levels, encoding)
    rng = np.random.default_rng(3)
    pick = lambda d: rng.integers(0, grid.levels.shape[0], size=d.shape)  # noqa: E731 - sequential "solver"
    data = D.prepare(net, X, y, "quantize", grid, None, None, schedule=schedule, solver=pick)
    assert [d.name for d in data] == ["conv1", "conv2", "fc1"]  # quantize: every conv and dense layer
    assert [d.A.shape for d in data[:2]] == [(7 * 25, 9), (7 * 9, 18)]  # patches: m*P rows, C*kh*kw columns
    problem = D.compile_discrete(net, data, schedule)
    assert ir.check(problem) == []
    tol = 1e-9 * scale_of(problem)
    for _ in range(4):
        idx = {d.name: rng.integers(0, grid.levels.shape[0], size=d.shape) for d in data}
        if schedule == "sequential":
            idx.update({d.name: d.chosen for d in data[:-1]})
        x = np.concatenate([D.encode(d, idx[d.name]) for d in data])
        W = D.weights_of(problem.metadata, dict(zip(problem.labels, x)), "test")
        assert W["conv1"].shape == (2, 1, 3, 3) and W["conv2"].shape == (2, 2, 3, 3)
        for d in data:
            np.testing.assert_allclose(W[d.name].reshape(d.shape), d.levels_of(idx[d.name]), rtol=0, atol=1e-12)
        per_layer = D.measure(net, X, y, W, problem.metadata)
        assert problem.energy(x) == pytest.approx(sum(per_layer.values()), abs=tol)
        if schedule == "independent":  # each layer's share is its own units' errors, 1/m over samples and positions
            for d in data:
                assert d.unit_errors(d.levels_of(idx[d.name])).sum() == pytest.approx(per_layer[d.name], abs=tol)


def test_conv_labels_provenance_and_errors(batch):
    X, y = batch
    net = cnn()
    grid = D.parse_grid("int{bits=2}", None, "binary")
    problem = D.compile_discrete(net, D.prepare(net, X, y, "quantize", grid, ("conv2",), None), "independent")
    assert [p.name for p in problem.partitions] == ["conv2.out0", "conv2.out1"]
    assert all(p.indices.size == 18 * 2 for p in problem.partitions)
    i = problem.variables.index["conv2.w1_14.b1"]  # output channel 1, input channel 1, ky = 1, kx = 2
    v = problem.variables
    assert (v.layer_names[v.layer[i]], int(v.output[i]), int(v.unit[i])) == ("conv2", 1, 14)
    assert problem.metadata["layers"]["conv2"]["weight_shape"] == [2, 2, 3, 3]
    x = np.zeros(problem.num_vars)
    x[i] = 1.0  # bit 1 of weight (1, 1, 1, 2) set: level index 2 of 4
    W = D.weights_of(problem.metadata, dict(zip(problem.labels, x)), "t")["conv2"]
    s = problem.metadata["layers"]["conv2"]["scales"]
    assert W[1, 1, 1, 2] == pytest.approx(s[1] * 1.0) and W[0, 0, 0, 0] == pytest.approx(-3 * s[0])
    with pytest.raises(ir.QselError, match="no label target"):
        D.prepare(net, X, y, "train", grid, ("conv1",), None)
    conv_out = Network([net.layers[0]], net.input_shape, "regression")
    with pytest.raises(ir.QselError, match="needs a dense output layer"):
        D.prepare(conv_out, X, np.zeros((7, 2)), "train", grid, None, None)


def test_conv_baselines_on_the_patch_gram(batch):
    """gptq/nearest/exact on conv1 (9 weights x 2 bits = 18 variables): exact is no worse than either, and every
    method's summed unit error is the IR energy of its code."""
    X, y = batch
    net = cnn(1)
    for spec in ("ternary", "binary"):
        (d,) = D.prepare(net, X, y, "quantize", D.parse_grid(spec, None, "binary"), ("conv1",), None)
        problem = D.compile_discrete(net, [d], "independent")
        e = {}
        for method in ("nearest", "gptq", "exact") + (("sign",) if spec == "binary" else ()):
            idx = B.levels(d, method)
            e[method] = d.unit_errors(d.levels_of(idx))
            assert problem.energy(D.encode(d, idx)) == pytest.approx(e[method].sum(), rel=1e-9)
        assert np.all(e["exact"] <= e["nearest"] + 1e-12) and np.all(e["exact"] <= e["gptq"] + 1e-12)


def test_conv_sequential_with_a_qsel_solver(batch):
    """--schedule sequential through conv layers: conv2's inputs come from conv1 with the weights the solver chose."""
    X, y = batch
    net = cnn(2)
    grid = D.parse_grid("binary", None, "binary")  # conv2: 18 weights x 1 bit, within the exact solver's limit
    data = D.prepare(net, X, y, "quantize", grid, ("conv1", "conv2"), None, schedule="sequential",
                     solver=solver_levels("exact", num_reads=1))
    np.testing.assert_array_equal(data[0].chosen, B.exact(data[0]))
    seen = D.with_weights(net, {"conv1": data[0].levels_of(data[0].chosen)})
    independent = D.prepare(seen, X, y, "quantize", grid, ("conv2",), None)[0]
    np.testing.assert_allclose(data[1].A, independent.A, rtol=0, atol=1e-12)


def run(*args: str):
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r


@pytest.mark.parametrize("suffix,module", [(".npz", None), pytest.param(".onnx", "onnx", marks=pytest.mark.slow),
                                           pytest.param(".pt", "torch", marks=pytest.mark.slow)])
def test_cli_compile_solve_apply_eval_conv(tmp_path, suffix, module):
    if module:
        pytest.importorskip(module)
    net = tmp_path / "cnn.npz"
    run("init", "--conv", "2", "--input-shape", "1,8,8", "--sizes", "10", "--seed", "3", "-o", str(net))
    common = ("--data", "digits", "--samples", "30", "--objective", "quantize", "--weights", "ternary")
    qir = tmp_path / "q.qir"
    run("compile", str(net), *common, "--layers", "conv1", "--warm-start", "gptq", "-o", str(qir))
    problem = ir.load(qir)
    assert problem.num_vars == 2 * 9 * 2 and problem.labels[0] == "conv1.w0_0.b0"
    res = tmp_path / "r.json"
    run("solve", str(qir), "-s", "exact", "-o", str(res))
    gptq = tmp_path / "g.json"
    run("baseline", str(net), *common, "--layers", "conv1", "--method", "gptq", "-o", str(gptq))
    tol = 1e-9 * scale_of(problem)
    assert Result.load(res).energy <= Result.load(gptq).energy + tol
    report = json.loads(run("eval", str(net), "--data", "digits", "--mask", str(res), "--json").output)
    assert report["objective"] == pytest.approx(report["ir_energy"], abs=tol)
    assert 1 <= report["discrete"]["levels_per_unit"]["conv1"] <= 3
    out = tmp_path / f"q{suffix}"
    run("apply", str(net), str(res), "-o", str(out))
    back, orig = load_model(out), load_model(net)
    W = back.layer("conv1").weight
    assert W.shape == (2, 1, 3, 3)
    scales = np.asarray(back.metadata["discrete"]["conv1"]["scales"])
    q = W / scales[:, None, None, None]
    assert np.allclose(q, np.round(q), atol=1e-5) and np.abs(q).max() <= 1 + 1e-6  # on the ternary grid
    np.testing.assert_allclose(back.layer("fc1").weight, orig.layer("fc1").weight, rtol=1e-6, atol=1e-7)
    result = Result.load(res)
    np.testing.assert_allclose(W, D.weights_of(result.compile, result.assignment, "r")["conv1"], rtol=1e-6, atol=1e-7)


def test_cli_baseline_every_layer_of_a_cnn(tmp_path):
    """Default quantize layers of a CNN: every conv and dense layer, each a baseline can round."""
    net = tmp_path / "cnn.npz"
    save_model(init_cnn((1, 8, 8), [2], 10, seed=0, strides=[2]), net)
    out = tmp_path / "n.json"
    run("baseline", str(net), "--data", "digits", "--samples", "20", "--objective", "quantize", "--weights",
        "int{bits=2}", "--method", "gptq", "-o", str(out))
    r = Result.load(out)
    assert set(r.compile["layers"]) == {"conv1", "fc1"}
    assert r.compile["layers"]["conv1"]["weight_shape"] == [2, 1, 3, 3]
