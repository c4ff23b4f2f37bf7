"""--refit: the next layer re-solved by least squares is optimal for its target, keeps the masks' meaning, is
recorded (lambda, errors), and `apply --refit` writes a pruned model that computes the refit masked network."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main
from qsel.frontend.compile import CompileOptions, compile_network
from qsel.frontend.objective import targets
from qsel.frontend.init import init_cnn, init_network
from qsel.frontend.models import load_model, save_model
from qsel.frontend.network import Trace, unfold
from qsel.frontend.prune import apply_selection
from qsel.frontend.refit import refit
from qsel.frontend.masks import Selection


def _select(net, X, y, options, seed=0):
    p = compile_network(net, X, y, options)
    rng = np.random.default_rng(seed)
    x = np.zeros(p.num_vars)
    v = p.variables
    for code in range(len(v.layer_names)):
        idx = np.flatnonzero(v.layer == code)
        x[rng.choice(idx, size=max(1, idx.size // 3), replace=False)] = 1.0
    return p, Selection.from_assignment(p, x)


@pytest.mark.parametrize("objective", ["reconstruct", "fit", "scaled"])
def test_dense_refit_is_the_least_squares_solution(objective):
    # with ridge 0 the refit's residual is orthogonal to every kept input and to the bias column
    rng = np.random.default_rng(1)
    net = init_network([5, 12, 4], seed=2)
    X, y = rng.normal(size=(60, 5)), rng.integers(0, 4, 60)
    p, sel = _select(net, X, y, CompileOptions(objective=objective, keep=0.4))
    new, done = refit(net, X, y, sel, p.metadata, ridge=0.0)
    tr, dense = Trace(), Trace()
    new.forward(X, unit_masks=sel.unit_masks(), trace=tr)
    net.forward(X, trace=dense)
    info = p.metadata["layers"]["fc1"]
    T = {"fit": lambda: info["target_scale"] * targets(y, net, 60), "scaled": lambda: info["target_scale"] * dense.pre["fc2"],
         "reconstruct": lambda: dense.pre["fc2"]}[objective]()
    R = tr.pre["fc2"] - T
    kept = sel.masks["fc1"].mask != 0
    A = tr.post["fc1"][:, kept]
    np.testing.assert_allclose(A.T @ R, 0, atol=1e-9 * (np.abs(A).sum() * np.abs(R).max() + 1))
    np.testing.assert_allclose(R.sum(0), 0, atol=1e-9 * (np.abs(R).sum() + 1))
    assert np.all(new.layers[1].weight[:, ~kept] == 0)
    d = done[0]
    assert d.objective == objective and d.layer == "fc2" and d.ridge == 0.0
    assert d.error_after <= d.error_before * (1 + 1e-12)
    assert d.error_after == pytest.approx(float(np.sum(R * R)) / 60, rel=1e-9)


def test_ridge_lambda_is_relative_and_recorded():
    rng = np.random.default_rng(3)
    net = init_network([4, 10, 3], seed=1)
    X = rng.normal(size=(50, 4))
    p, sel = _select(net, X, None, CompileOptions(objective="reconstruct", keep=0.5))
    new, done = refit(net, X, None, sel, p.metadata, ridge=0.1)
    A = np.maximum(net.layers[0].affine(X), 0)[:, sel.masks["fc1"].mask != 0]
    Ac = A - A.mean(0)
    assert done[0].lam == pytest.approx(0.1 * np.mean(np.diag(Ac.T @ Ac / 50)), rel=1e-12)
    assert new.metadata["refit"][0]["lam"] == done[0].lam
    with pytest.raises(ir.QselError, match="--ridge"):
        refit(net, X, None, sel, p.metadata, ridge=-1.0)


def test_conv_refit_residual_orthogonal_to_kept_patches_and_prunes_exactly():
    rng = np.random.default_rng(4)
    cnn = init_cnn((1, 6, 6), [3, 5], 3, seed=5, strides=[1, 2])
    X, y = rng.normal(size=(24, 1, 6, 6)), rng.integers(0, 3, 24)
    opts = CompileOptions(objective="reconstruct", granularity="channel", keep=0.5, schedule="independent")
    p, sel = _select(cnn, X, y, opts)
    new, done = refit(cnn, X, y, sel, p.metadata, ridge=0.0)
    assert [d.layer for d in done] == ["conv2", "fc1"]
    masks = sel.unit_masks()
    tr, dense = Trace(), Trace()
    new.forward(X, unit_masks=masks, trace=tr)
    cnn.forward(X, trace=dense)
    conv2 = new.layer("conv2")
    cols, _ = unfold(tr.inputs["conv2"], 3, 3, conv2.stride, conv2.padding)  # (m, P, C*9)
    kept = np.flatnonzero(masks["conv1"])
    Xs = cols.reshape(-1, 3, 9)[:, kept].reshape(cols.shape[0] * cols.shape[1], -1)
    # conv2 was refit on the network before fc1's refit; its own output is unchanged by that later refit
    R = (tr.pre["conv2"] - dense.pre["conv2"]).transpose(0, 2, 3, 1).reshape(-1, 5)
    np.testing.assert_allclose(Xs.T @ R, 0, atol=1e-8 * (np.abs(Xs).sum() * np.abs(R).max() + 1))
    pruned = apply_selection(new, sel)
    np.testing.assert_allclose(pruned.forward(X), new.forward(X, unit_masks=masks), rtol=0, atol=1e-10)


def test_edge_refit_solves_each_row_over_its_kept_inputs():
    rng = np.random.default_rng(6)
    net = init_network([6, 5, 3], seed=3)
    X = rng.normal(size=(40, 6))
    p, sel = _select(net, X, None, CompileOptions(objective="reconstruct", granularity="edge", keep=0.5))
    new, done = refit(net, X, None, sel, p.metadata, ridge=0.0)
    assert [d.layer for d in done] == ["fc1", "fc2"]
    W = new.layer("fc2").weight
    assert np.all(W[sel.masks["fc2"].mask == 0] == 0)
    assert all(d.error_after <= d.error_before * (1 + 1e-12) for d in done)


@pytest.mark.slow
def test_apply_refit_writes_the_refit_pruned_model(tmp_path):
    net_path = tmp_path / "net.npz"
    save_model(init_network([64, 20, 10], seed=0), net_path)
    mask = tmp_path / "m.json"
    r = CliRunner().invoke(main, ["baseline", str(net_path), "--data", "digits", "--samples", "150", "--keep", "0.3",
                                  "--method", "greedy", "-o", str(mask)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "refit.npz"
    r = CliRunner().invoke(main, ["apply", str(net_path), str(mask), "--refit", "--ridge", "0.01", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "refit fc2 (after fc1, fit)" in r.output and "lambda" in r.output
    pruned = load_model(out)
    assert pruned.layers[0].units == 6 and pruned.metadata["refit"][0]["ridge"] == 0.01
    r = CliRunner().invoke(main, ["eval", str(out), "--data", "digits", "--json"])
    plain = CliRunner().invoke(main, ["eval", str(net_path), "--data", "digits", "--mask", str(mask), "--json"])
    assert json.loads(r.output)["dense"]["accuracy"] > json.loads(plain.output)["masked"]["accuracy"]


def test_apply_refit_needs_the_calibration_section(tmp_path):
    net_path = tmp_path / "net.npz"
    save_model(init_network([64, 8, 10], seed=0), net_path)
    mask = tmp_path / "m.json"
    CliRunner().invoke(main, ["baseline", str(net_path), "--data", "digits", "--samples", "50", "--keep", "0.5",
                              "--method", "greedy", "-o", str(mask)])
    d = json.loads(mask.read_text())
    del d["compile"]["calibration"]
    mask.write_text(json.dumps(d))
    r = CliRunner().invoke(main, ["apply", str(net_path), str(mask), "--refit", "-o", str(tmp_path / "o.npz")])
    assert r.exit_code == 2 and "calibration" in r.output
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("seed", range(3))
def test_refit_aware_selection_never_raises_the_refit_error(seed):
    from qsel.baselines import greedy_block, sub_problem
    from qsel.frontend.refit_select import refit_aware

    def greedy(p):
        h, S = sub_problem(p, np.arange(p.num_vars))
        return greedy_block(h, S, int(p.constraints[0].rhs))

    rng = np.random.default_rng(seed)
    net = init_network([6, 16, 3], seed=seed)
    X, y = rng.normal(size=(80, 6)), rng.integers(0, 3, 80)
    p = compile_network(net, X, y, CompileOptions(objective="fit", keep=0.25))
    first = Selection.from_assignment(p, greedy(p))
    sel, rounds = refit_aware(net, X, y, first, p.metadata, greedy, ridge=1e-3)
    errors = rounds[0].errors
    assert sel.masks["fc1"].kept == 4
    _, before = refit(net, X, y, first, p.metadata, ridge=1e-3)
    _, after = refit(net, X, y, sel, p.metadata, ridge=1e-3)
    assert errors[0] == pytest.approx(before[0].error_after, rel=1e-9)
    assert after[0].error_after == pytest.approx(min(errors), rel=1e-9)
    assert after[0].error_after <= before[0].error_after * (1 + 1e-12)


@pytest.mark.slow
def test_select_refit_writes_the_refit_aware_result(tmp_path):
    net_path = tmp_path / "net.npz"
    save_model(init_network([64, 16, 10], seed=2), net_path)
    out = tmp_path / "s"
    r = CliRunner().invoke(main, ["select", str(net_path), "--data", "digits", "--samples", "200", "--keep", "0.25",
                                  "--refit", "--baselines", "greedy", "-s", "tabu", "--num-reads", "5",
                                  "-o", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads((out / "result_refit.json").read_text())
    errors = d["refit_rounds"]["fc1"]
    rows = {row["method"]: row for row in json.loads((out / "summary.json").read_text())["rows"]}
    qsel_refit = next(v for k, v in rows.items() if k.startswith("qsel") and "+ refit" in k)
    assert qsel_refit["objective"] == pytest.approx(min(errors), rel=1e-9)
    assert len(d["masks"]["fc1"]["keep"]) == 4


@pytest.mark.filterwarnings("error")
def test_refit_aware_selection_with_ridge_zero_and_dead_units():
    """--ridge 0 with dead units (singular Gram): the swap polish still runs (no warning, no error) and the
    selection's refit error is never above the solver's own."""
    from qsel.baselines import greedy_block, sub_problem
    from qsel.frontend.refit_select import refit_aware

    def greedy(p):
        h, S = sub_problem(p, np.arange(p.num_vars))
        return greedy_block(h, S, int(p.constraints[0].rhs))

    rng = np.random.default_rng(0)
    net = init_network([6, 16, 3], seed=0)
    net.layers[0].weight[3:6] = 0
    net.layers[0].bias[3:6] = -1  # three units that never fire
    X, y = rng.normal(size=(80, 6)), rng.integers(0, 3, 80)
    p = compile_network(net, X, y, CompileOptions(objective="fit", keep=0.5))
    first = Selection.from_assignment(p, greedy(p))
    sel, rounds = refit_aware(net, X, y, first, p.metadata, greedy, ridge=0.0)
    _, before = refit(net, X, y, first, p.metadata, ridge=0.0)
    _, after = refit(net, X, y, sel, p.metadata, ridge=0.0)
    assert sel.masks["fc1"].kept == 8
    assert after[0].error_after == pytest.approx(min(rounds[0].errors), rel=1e-9)
    assert after[0].error_after <= before[0].error_after * (1 + 1e-12)
