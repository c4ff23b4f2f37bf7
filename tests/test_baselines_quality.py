"""lasso and obs baselines: what each promises (He et al.'s exact count, OBS's exact one-step saliency),
the Q and r they read back from the IR, and both in `qsel baseline` and `qsel select`'s table."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
from click.testing import CliRunner

from qsel import baselines
from qsel.baselines import chooser
from qsel.cli import main
from qsel.frontend import lowering
from qsel.frontend.compile import CompileOptions, compile_network
from qsel.frontend.init import init_cnn, init_network
from qsel.frontend.models import save_model
from qsel.frontend.network import Trace
from qsel.frontend.saliency import gram_diagonal


def _contributions(seed: int, m: int = 40, n: int = 9, k: int = 3):
    rng = np.random.default_rng(seed)
    A = np.maximum(rng.normal(size=(m, n)), 0)
    W = rng.normal(size=(k, n))
    T = rng.normal(size=(m, k))
    return A, W, T


@pytest.mark.parametrize("seed", range(4))
def test_quadratic_parts_give_back_q_and_r(seed):
    A, W, T = _contributions(seed)
    t = lowering.neuron_terms(A, W, T)
    Q, r = t.Q.copy(), t.r.copy()
    h, U, _ = lowering.Terms(t.Q.copy(), t.r, t.const).ir_arrays()
    Q2, r2 = baselines.quadratic_parts(h + 0.3, U + U.T, np.diag(Q), penalty=0.3)
    scale = np.abs(Q).sum() + np.abs(r).sum()
    np.testing.assert_allclose(Q2, Q, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(r2, r, rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("count", [1, 3, 5, 8])
def test_lasso_keeps_exactly_count_and_orthogonal_units_by_alignment(count):
    # orthogonal contributions (Q diagonal): the LASSO path is soft thresholding, beta_i != 0 iff |r_i| > alpha/2,
    # so the support of size K is the K largest |r_i|
    rng = np.random.default_rng(count)
    n = 10
    Q = np.diag(rng.uniform(0.5, 2.0, n))
    r = rng.normal(size=n)
    x = baselines.lasso_block(Q, r, count)
    assert x.sum() == count
    assert set(np.flatnonzero(x)) == set(np.argsort(-np.abs(r))[:count])


@pytest.mark.parametrize("seed", range(3))
def test_lasso_hits_the_count_on_correlated_units(seed):
    A, W, T = _contributions(seed, n=16)
    t = lowering.neuron_terms(A, W, T)
    for count in (2, 5, 11):
        assert baselines.lasso_block(t.Q, t.r, count).sum() == count


@pytest.mark.parametrize("seed", range(4))
def test_obs_removes_the_unit_whose_loss_after_re_solving_is_least(seed):
    # OBS is exact for one removal from a quadratic: beta_q^2 / [H^-1]_qq is the rise of min_beta L(beta)
    A, W, T = _contributions(seed, n=7)
    t = lowering.neuron_terms(A, W, T)
    n = t.Q.shape[0]
    H = t.Q + baselines.OBS_DAMPENING * np.mean(np.diag(t.Q)) * np.eye(n)

    def best_loss(keep):
        idx = np.array(keep)
        b = np.linalg.solve(H[np.ix_(idx, idx)], t.r[idx])
        return b @ H[np.ix_(idx, idx)] @ b - 2 * t.r[idx] @ b

    losses = [best_loss([j for j in range(n) if j != q]) for q in range(n)]
    x = baselines.obs_block(t.Q, t.r, n - 1)
    assert x.sum() == n - 1
    assert int(np.flatnonzero(x == 0)[0]) == int(np.argmin(losses))


def test_obs_keeps_count_and_beats_random_on_the_resolved_loss():
    A, W, T = _contributions(5, n=12)
    t = lowering.neuron_terms(A, W, T)
    x = baselines.obs_block(t.Q, t.r, 4)
    assert x.sum() == 4
    n = 12
    H = t.Q + baselines.OBS_DAMPENING * np.mean(np.diag(t.Q)) * np.eye(n)

    def best_loss(idx):
        idx = np.array(idx)
        b = np.linalg.solve(H[np.ix_(idx, idx)], t.r[idx])
        return b @ H[np.ix_(idx, idx)] @ b - 2 * t.r[idx] @ b

    every = sorted(best_loss(list(c)) for c in combinations(range(n), 4))
    assert best_loss(list(np.flatnonzero(x))) <= every[len(every) // 10]  # in the best tenth of all 495 subsets


def test_gram_diagonal_matches_the_lowered_q_for_neurons_and_channels():
    net = init_network([6, 9, 3], seed=1)
    X = np.random.default_rng(0).normal(size=(30, 6))
    p = compile_network(net, X, None, CompileOptions(objective="reconstruct", keep=0.5))
    tr = Trace()
    net.forward(X, trace=tr)
    Q = lowering.neuron_terms(tr.post["fc1"], net.layers[1].weight).Q
    np.testing.assert_allclose(gram_diagonal(net, X, p), np.diag(Q), rtol=1e-12)
    cnn = init_cnn((1, 5, 5), [3, 4], 2, seed=2, strides=[1, 2])
    Xc = np.random.default_rng(1).normal(size=(20, 1, 5, 5))
    pc = compile_network(cnn, Xc, None, CompileOptions(objective="reconstruct", granularity="channel", keep=0.5))
    trc = Trace()
    cnn.forward(Xc, trace=trc)
    diag = gram_diagonal(cnn, Xc, pc)
    v = pc.variables
    for name in ("conv1", "conv2"):
        A = trc.post[name]
        nxt = cnn.next_layer(name)
        T = trc.pre[nxt.name].reshape(20, -1)
        Qc = lowering.channel_terms(lowering.conv_channel_contributions(A, nxt), T).Q
        sel = v.layer == v.layer_names.index(name)
        np.testing.assert_allclose(diag[sel], np.diag(Qc), rtol=1e-10)


def test_sequential_chooser_reads_masked_activations():
    net = init_network([5, 8, 8, 3], seed=4)
    X = np.random.default_rng(2).normal(size=(25, 5))
    opts = CompileOptions(objective="reconstruct", keep=0.5, schedule="sequential")
    for method in ("lasso", "obs"):
        p = compile_network(net, X, None, opts, solver=chooser(method, net, X))
        assert [len(info["chosen"]) for info in p.metadata["layers"].values()] == [4, 4]


@pytest.fixture(scope="module")
def trained_like(tmp_path_factory):
    path = tmp_path_factory.mktemp("bq") / "net.npz"
    save_model(init_network([64, 24, 10], seed=0), path)
    return path


@pytest.mark.parametrize("method", ["lasso", "obs"])
def test_baseline_command_writes_a_selection_with_per_layer_energy(trained_like, tmp_path, method):
    out = tmp_path / f"{method}.json"
    r = CliRunner().invoke(main, ["baseline", str(trained_like), "--data", "digits", "--samples", "200",
                                  "--keep", "0.25", "--method", method, "-o", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert len(d["masks"]["fc1"]["keep"]) == 6
    assert d["energy_per_layer"]["fc1"] == pytest.approx(d["energy"], rel=1e-12)


@pytest.mark.slow
def test_select_table_has_lasso_obs_and_refit_rows(trained_like, tmp_path):
    out = tmp_path / "sel"
    r = CliRunner().invoke(main, ["select", str(trained_like), "--data", "digits", "--samples", "200",
                                  "--keep", "0.25", "--baselines", "greedy,lasso,obs", "--refit", "-o", str(out)])
    assert r.exit_code == 0, r.output
    rows = {row["method"] for row in json.loads((out / "summary.json").read_text())["rows"]}
    assert {"lasso", "obs", "greedy"} <= rows
    # a random network compiles with fit: its refit trains the read-out, and the table says so
    assert "lasso + refit (trains the read-out)" in rows and "obs + refit (trains the read-out)" in rows
    assert (out / "pruned_refit.npz").exists() and (out / "baselines" / "lasso.json").exists()
