"""Discrete weights on the command line: compile, solve, baseline, apply (npz, ONNX, PyTorch), eval."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main
from qsel.frontend import discrete as D
from qsel.frontend.init import init_network
from qsel.frontend.models import load_model, save_model
from qsel.result import Result
from strategies import scale_of


def run(*args: str):
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r


def fail(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 2, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("qsel: error:")]
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    return lines[0]


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    path = tmp_path_factory.mktemp("dq") / "net.npz"
    save_model(init_network([2, 3, 2], "tanh", seed=4, bias_init="uniform"), path)
    return path


COMMON = ("--data", "moons", "--samples", "60")


@pytest.fixture(scope="module")
def solved(net, tmp_path_factory):
    """A ternary quantisation of both layers, compiled and solved exactly: (IR, result path)."""
    tmp = tmp_path_factory.mktemp("solved")
    qir = tmp / "q.qir"
    run("compile", str(net), *COMMON, "--objective", "quantize", "--weights", "ternary", "-o", str(qir))
    res = tmp / "r.json"
    run("solve", str(qir), "-s", "exact", "-o", str(res))
    return ir.load(qir), res


def test_compile_solve_eval(net, solved):
    problem, res = solved
    assert problem.num_vars == 3 * 2 * 2 + 2 * 3 * 2  # fc1: 3 outputs x 2 inputs x 2 bits; fc2: 2 x 3 x 2
    assert [p.name for p in problem.partitions] == ["fc1.out0", "fc1.out1", "fc1.out2", "fc2.out0", "fc2.out1"]
    assert Result.load(res).selection.masks == {}
    report = json.loads(run("eval", str(net), "--data", "moons", "--mask", str(res), "--json").output)
    assert report["objective"] == pytest.approx(report["ir_energy"], abs=1e-9 * scale_of(problem))
    assert set(report["objective_per_layer"]) == {"fc1", "fc2"}
    per_unit = report["discrete"]["levels_per_unit"]
    assert 1 <= min(per_unit.values()) <= max(per_unit.values()) <= 3  # ternary: at most 3 values per unit


@pytest.mark.parametrize("suffix,module", [(".npz", None), pytest.param(".onnx", "onnx", marks=pytest.mark.slow),
                                           pytest.param(".pt", "torch", marks=pytest.mark.slow)])
def test_apply_writes_discrete_weights_and_scales(net, solved, tmp_path, suffix, module):
    if module:
        pytest.importorskip(module)
    _, res = solved
    result = Result.load(res)
    weights = D.weights_of(result.compile, result.assignment, "r")
    out = tmp_path / f"q{suffix}"
    run("apply", str(net), str(res), "-o", str(out))
    back = load_model(out)
    for name, W in weights.items():
        np.testing.assert_allclose(back.layer(name).weight, W, rtol=1e-6, atol=1e-7)  # float32 in ONNX/torch
        scales = np.asarray(back.metadata["discrete"][name]["scales"])
        q = back.layer(name).weight / scales[:, None]
        assert np.allclose(q, np.round(q), atol=1e-5) and np.abs(q).max() <= 1 + 1e-6
    assert back.metadata["discrete"]["fc1"]["grid"]["spec"] == "ternary"


def test_baselines_on_the_same_problem(net, tmp_path):
    args = (*COMMON, "--objective", "quantize", "--weights", "int{bits=2}")
    energies = {}
    for method in ("nearest", "gptq", "exact"):
        out = tmp_path / f"{method}.json"
        run("baseline", str(net), *args, "--method", method, "-o", str(out))
        energies[method] = Result.load(out).energy
    qir = tmp_path / "q.qir"
    run("compile", str(net), *args, "-o", str(qir))
    tol = 1e-9 * scale_of(ir.load(qir))
    assert energies["exact"] <= energies["gptq"] + tol and energies["exact"] <= energies["nearest"] + tol
    res = tmp_path / "tabu.json"
    run("solve", str(qir), "-s", "exact", "-o", str(res))
    assert Result.load(res).energy == pytest.approx(energies["exact"], abs=tol)


def test_binary_train_readout_sign_and_onehot_levels(net, tmp_path):
    out = tmp_path / "sign.json"
    run("baseline", str(net), *COMMON, "--objective", "train", "--weights", "binary", "--method", "sign", "-o", str(out))
    r = Result.load(out)
    assert set(r.compile["layers"]) == {"fc2"} and r.compile["layers"]["fc2"]["objective"] == "train"
    qir = tmp_path / "l.qir"
    run("compile", str(net), *COMMON, "--objective", "quantize", "--levels", "-0.5,0,0.5", "--layers", "fc2",
        "-o", str(qir))
    p = ir.load(qir)
    assert len(p.constraints) == 2 * 3 and p.labels[0] == "fc2.w0_0.l0"
    res = tmp_path / "l.json"
    run("solve", str(qir), "-s", "tabu", "--num-reads", "5", "--seed", "1", "-o", str(res))
    r = Result.load(res)
    assert r.feasible
    W = D.weights_of(r.compile, r.assignment, "l")["fc2"]
    assert set(np.unique(W)) <= {-0.5, 0.0, 0.5}


def test_warm_start_is_recorded_and_never_worse(net, tmp_path):
    args = (*COMMON, "--objective", "quantize", "--weights", "ternary")
    qir = tmp_path / "w.qir"
    run("compile", str(net), *args, "--warm-start", "gptq", "-o", str(qir))
    p = ir.load(qir)
    assert p.metadata["initial_state"]["method"] == "gptq"
    g = tmp_path / "g.json"
    run("baseline", str(net), *args, "--method", "gptq", "-o", str(g))
    ones = {lab for lab, v in Result.load(g).assignment.items() if v == 1}
    assert set(p.metadata["initial_state"]["ones"]) == ones
    res = tmp_path / "w.json"
    run("solve", str(qir), "-s", "warm{reads=1}(steepest)", "--num-reads", "1", "--seed", "0", "-o", str(res))
    assert Result.load(res).energy <= Result.load(g).energy + 1e-9 * scale_of(p)


@pytest.mark.parametrize("args,message", [
    (("--weights", "ternary"), "--weights/--levels need --objective quantize or train"),
    (("--objective", "quantize"), "needs --weights"),
    (("--objective", "train", "--weights", "binary", "--layers", "fc1"), "has no label target"),
    (("--objective", "quantize", "--weights", "int{bits=9}"), "B must be in 1..8"),
    (("--objective", "quantize", "--weights", "binary", "--keep", "0.5"), "do not apply"),
    (("--objective", "quantize", "--levels", "a,b"), "--levels: expected comma-separated numbers"),
])
def test_compile_errors(net, tmp_path, args, message):
    assert message in fail("compile", str(net), *COMMON, *args, "-o", str(tmp_path / "x.qir"))


def test_baseline_errors(net, tmp_path):
    out = str(tmp_path / "x.json")
    assert "two-level" in fail("baseline", str(net), *COMMON, "--objective", "quantize", "--weights", "ternary",
                               "--method", "sign", "-o", out)
    assert "needs --objective quantize or train" in fail("baseline", str(net), *COMMON, "--keep", "0.5",
                                                         "--method", "gptq", "-o", out)
    assert "discrete weights take" in fail("baseline", str(net), *COMMON, "--objective", "quantize", "--weights",
                                           "binary", "--method", "greedy", "-o", out)
    assert "qsel compile" in fail("baseline", str(net), *COMMON, "--objective", "quantize", "--weights", "binary",
                                  "--warm-start", "gptq", "--method", "gptq", "-o", out)
