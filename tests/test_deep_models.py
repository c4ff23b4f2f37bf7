"""Deeper and convolutional models end to end: conv training by backpropagation, `qsel init --conv`, and
`qsel select` with the sequential schedule on a 3-hidden-layer MLP and a conv-conv-dense CNN, where `eval`
measures each layer's objective equal to its IR energy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from qsel.cli import main
from qsel.frontend import metrics
from qsel.frontend.data import check_compatible, load_dataset
from qsel.frontend.init import init_cnn, init_network
from qsel.frontend.metrics import cross_entropy
from qsel.frontend.models import save_model
from qsel.frontend.train import _gradients, _scores, train


@pytest.mark.parametrize("seed", range(3))
def test_conv_gradients_match_finite_differences(seed):
    net = init_cnn((2, 6, 5), [3, 4], 3, seed=seed, strides=[1, 2], hidden=[5])
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(4, 2, 6, 5)), rng.integers(0, 3, 4)
    Ws = [layer.weight.copy() for layer in net.layers]
    bs = [layer.bias.copy() for layer in net.layers]
    grads = _gradients(net.layers, Ws, bs, X, y, "classification")
    params = Ws + bs
    for P, G in zip(params, grads):
        for _ in range(3):
            idx = tuple(int(rng.integers(0, s)) for s in P.shape)
            old, eps = P[idx], 1e-6
            P[idx] = old + eps
            up = cross_entropy(_scores(net.layers, Ws, bs, X), y)
            P[idx] = old - eps
            down = cross_entropy(_scores(net.layers, Ws, bs, X), y)
            P[idx] = old
            assert G[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-8)


def test_a_small_cnn_learns_digits():
    net = init_cnn((1, 8, 8), [4, 8], 10, seed=0, strides=[1, 2])
    data = check_compatible(net, load_dataset("digits", "train", limit=600))
    trained, history = train(net, data, epochs=4, seed=0)
    test = check_compatible(net, load_dataset("digits", "test"))
    assert history[-1].loss < history[0].loss
    assert metrics.accuracy(trained, test) > 0.7  # chance is 0.1
    assert trained.metadata["trained"] and trained.layers[0].kind == "conv2d"


def test_init_conv_command(tmp_path):
    out = tmp_path / "c.npz"
    r = CliRunner().invoke(main, ["init", "--conv", "4,6", "--strides", "1,2", "--input-shape", "1,8,8",
                                  "--sizes", "12,10", "-o", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["init", "--conv", "4", "--sizes", "10", "-o", str(tmp_path / "d.npz")])
    assert r.exit_code == 2 and "--input-shape" in r.output and not (tmp_path / "d.npz").exists()


def _select_and_eval(model, tmp_path, extra, baselines="greedy,lasso,obs"):
    out = tmp_path / "sel"
    r = CliRunner().invoke(main, ["select", str(model), "--data", "digits", "--samples", "300", "--schedule",
                                  "sequential", "--baselines", baselines, *extra, "-o", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["eval", str(model), "--data", "digits", "--mask", str(out / "result.json"), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    per_obj, per_e = report["objective_per_layer"], report["ir_energy_per_layer"]
    assert set(per_obj) == set(per_e)
    for name in per_obj:  # rounding grows with the size of the terms; the energies here are O(1..1e3)
        assert per_obj[name] == pytest.approx(per_e[name], rel=1e-9, abs=1e-9)
    assert sum(per_e.values()) == pytest.approx(report["ir_energy"], rel=1e-12)
    return json.loads((out / "summary.json").read_text()), report


@pytest.mark.slow
def test_three_hidden_layer_mlp_selects_neurons_in_every_layer(tmp_path):
    net = init_network([64, 32, 32, 32, 10], seed=1)
    data = check_compatible(net, load_dataset("digits", "train"))
    model = tmp_path / "mlp3.npz"
    save_model(train(net, data, epochs=10, seed=1)[0], model)
    summary, report = _select_and_eval(model, tmp_path, ["--keep", "0.5", "--refit"])
    assert report["masked"]["kept"] == {"fc1": "16/32", "fc2": "16/32", "fc3": "16/32"}
    methods = [r["method"] for r in summary["rows"]]
    assert any(m.startswith("qsel") and m.endswith("+ refit") for m in methods)


@pytest.mark.slow
def test_cnn_selects_channels_in_each_conv_layer(tmp_path):
    net = init_cnn((1, 8, 8), [8, 16], 10, seed=0, strides=[1, 2])
    data = check_compatible(net, load_dataset("digits", "train"))
    model = tmp_path / "cnn.npz"
    save_model(train(net, data, epochs=8, seed=0)[0], model)
    summary, report = _select_and_eval(model, tmp_path, ["--keep", "0.5", "--granularity", "channel", "--refit"])
    assert report["masked"]["kept"] == {"conv1": "4/8", "conv2": "8/16"}
    refit_rows = [r for r in summary["rows"] if r["method"].endswith("+ refit")]
    assert len(refit_rows) == 4
    # refitting the conv layers and the read-out brings the pruned CNN back near the dense one
    assert max(r["accuracy"] for r in refit_rows) > summary["dense"]["accuracy"] - 0.1


@pytest.mark.slow
def test_small_cnn_per_layer_objective_equals_ir_energy(tmp_path):
    net = init_cnn((1, 8, 8), [4, 6], 10, seed=3, strides=[1, 2])
    model = tmp_path / "c.npz"
    save_model(net, model)
    _select_and_eval(model, tmp_path, ["--keep", "0.5", "--granularity", "channel", "--objective", "reconstruct",
                                       "-s", "tabu", "--num-reads", "5"], baselines="random")


@pytest.mark.parametrize("granularity", ["neuron", "edge"])
def test_scaled_objective_energy_equals_the_measured_error(granularity):
    # scaled: T = c * dense logits for the layer feeding the output; the IR energy is the measured error
    from strategies import scale_of

    from qsel.frontend.compile import CompileOptions, compile_network
    from qsel.frontend.masks import Selection
    from qsel.frontend.objective import measure

    rng = np.random.default_rng(7)
    net = init_network([5, 9, 7, 4], seed=7)
    X = rng.normal(size=(40, 5))
    p = compile_network(net, X, None, CompileOptions(objective="scaled", granularity=granularity, keep=0.5))
    kinds = {k: v["objective"] for k, v in p.metadata["layers"].items()}
    assert kinds["fc2" if granularity == "neuron" else "fc3"] == "scaled"
    assert p.metadata["layers"]["fc1"]["objective"] == "reconstruct"
    for _ in range(5):
        x = rng.integers(0, 2, p.num_vars).astype(np.float64)
        got = sum(measure(net, X, None, Selection.from_assignment(p, x), p.metadata).values())
        assert got == pytest.approx(p.energy(x), rel=0, abs=1e-9 * scale_of(p))
