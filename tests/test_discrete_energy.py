"""Discrete weights: the IR energy of every code equals the measured error of the decoded weights (every encoding)."""

from __future__ import annotations

import numpy as np
import pytest

from qsel import ir
from qsel.frontend import discrete as D
from qsel.frontend.init import init_network
from strategies import scale_of

GRIDS = [("binary", None, "binary"), ("ternary", None, "binary"), ("int{bits=2}", None, "binary"),
         ("int{bits=3}", None, "binary"), ("ternary", None, "onehot"), ("int{bits=2}", None, "onehot"),
         (None, (-0.5, 0.0, 0.25, 1.0), "onehot")]


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(37, 5))
    return X, rng.integers(0, 3, size=37)


@pytest.mark.parametrize("weights,levels,encoding", GRIDS)
@pytest.mark.parametrize("kind", ["quantize", "train"])
@pytest.mark.parametrize("schedule", ["independent", "sequential"])
def test_energy_equals_measured_error(batch, weights, levels, encoding, kind, schedule):
    X, y = batch
    net = init_network([5, 4, 3], "sin", seed=1, bias_init="uniform")
    grid = D.parse_grid(weights, levels, encoding)
    rng = np.random.default_rng(3)
    pick = lambda d: rng.integers(0, grid.levels.shape[0], size=d.shape)  # noqa: E731 - sequential "solver"
    data = D.prepare(net, X, y, kind, grid, None, None, schedule=schedule, solver=pick)
    problem = D.compile_discrete(net, data, schedule)
    assert ir.check(problem) == []
    tol = 1e-9 * scale_of(problem)
    for _ in range(6):
        idx = {d.name: rng.integers(0, grid.levels.shape[0], size=d.shape) for d in data}
        if schedule == "sequential":  # the IR of a later layer assumes the earlier layers' chosen weights
            idx.update({d.name: d.chosen for d in data[:-1]})
        x = np.concatenate([D.encode(d, idx[d.name]) for d in data])
        W = D.weights_of(problem.metadata, dict(zip(problem.labels, x)), "test")
        for d in data:
            np.testing.assert_allclose(W[d.name], d.levels_of(idx[d.name]), rtol=0, atol=1e-12)
        measured = sum(D.measure(net, X, y, W, problem.metadata).values())
        assert problem.energy(x) == pytest.approx(measured, abs=tol)
        assert problem.feasible(x[None, :])[0]


def test_every_code_decodes_to_a_level_and_energy_matches():
    """All 2^nb codes of a binary encoding (ternary's two codes for 0 included) are valid weights."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(20, 3))
    t = rng.normal(size=20)
    for spec in ("binary", "ternary", "int{bits=2}"):
        g = D.parse_grid(spec, None, "binary")
        nb = g.bits
        codes = ((np.arange(2 ** (3 * nb))[:, None] >> np.arange(3 * nb)[None, :]) & 1).astype(float)
        c, w0 = 0.7 * g.coeffs, 0.7 * g.w0
        terms = D.unit_terms(A.T @ A / 20, A.T @ t / 20, float(t @ t) / 20, c, w0)
        W = codes.reshape(-1, 3, nb) @ c + w0
        assert np.all(np.isin(np.round(W / 0.7, 12), g.levels))
        direct = np.mean((W @ A.T - t) ** 2, axis=1)
        np.testing.assert_allclose(terms.energy(codes), direct, rtol=0, atol=1e-12 * np.abs(direct).max())


def test_labels_provenance_and_partitions(batch):
    X, y = batch
    net = init_network([5, 4, 3], "relu", seed=0)
    grid = D.parse_grid("int{bits=2}", None, "binary")
    data = D.prepare(net, X, y, "quantize", grid, ("fc2",), None)
    problem = D.compile_discrete(net, data, "independent")
    assert problem.labels[:3] == ["fc2.w0_0.b0", "fc2.w0_0.b1", "fc2.w0_1.b0"]
    i = problem.variables.index["fc2.w2_3.b1"]
    v = problem.variables
    assert (v.layer_names[v.layer[i]], int(v.output[i]), int(v.unit[i])) == ("fc2", 2, 3)
    assert [p.name for p in problem.partitions] == ["fc2.out0", "fc2.out1", "fc2.out2"]
    assert all(p.indices.size == 4 * 2 for p in problem.partitions)
    onehot = D.compile_discrete(net, D.prepare(net, X, y, "quantize", D.parse_grid("ternary", None, "onehot"),
                                               ("fc2",), None), "independent")
    assert len(onehot.constraints) == 3 * 4
    assert onehot.constraints[0].label == "onehot.fc2.w0_0" and onehot.constraints[0].rhs == 1


def test_quantize_of_the_layer_itself_is_zero_and_scale_is_least_squares():
    """quantize: the full-precision weights give E = 0 (the target is the layer's own output); the fitted
    scale is a fixed point of s = <w, q>/<q, q> and no worse than the max-abs scale."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(6, 40))
    g = D.parse_grid("int{bits=2}", None, "binary")
    s = D.fit_scales(g, w)
    q = g.levels[g.nearest(w, s)]
    np.testing.assert_allclose(s, np.einsum("ij,ij->i", w, q) / np.einsum("ij,ij->i", q, q), rtol=1e-12)
    s_max = np.abs(w).max(axis=1) / 3
    err = lambda sc: np.sum((w - sc[:, None] * g.levels[g.nearest(w, sc)]) ** 2, axis=1)  # noqa: E731
    assert np.all(err(s) <= err(s_max) + 1e-12)
    net = init_network([5, 4], "identity", seed=2)
    X = rng.normal(size=(30, 5))
    (d,) = D.prepare(net, X, None, "quantize", g, None, None)
    assert d.unit_errors(net.layers[0].weight).max() < 1e-24


@pytest.mark.parametrize("weights,levels,encoding,message", [
    (None, None, "binary", "needs --weights"),
    ("int{bits=0}", None, "binary", "B must be in 1..8"),
    ("quaternary", None, "binary", "expected binary, ternary or int{bits=B}"),
    ("binary", (0.0, 1.0), "binary", "not both"),
    (None, (1.0,), "onehot", "at least two distinct"),
])
def test_bad_grids(weights, levels, encoding, message):
    with pytest.raises(ir.QselError, match=message.replace("{", r"\{").replace("}", r"\}").replace(".", r"\.")):
        D.parse_grid(weights, levels, encoding)


def test_layer_errors():
    net = init_network([5, 4, 3], "relu", seed=0)
    X = np.zeros((4, 5))
    g = D.parse_grid("binary", None, "binary")
    with pytest.raises(ir.QselError, match="has no label target"):
        D.prepare(net, X, np.zeros(4, int), "train", g, ("fc1",), None)
    with pytest.raises(ir.QselError, match="no layer named 'fc9'"):
        D.prepare(net, X, None, "quantize", g, ("fc9",), None)
    with pytest.raises(ir.QselError, match="needs labels"):
        D.prepare(net, X, None, "train", g, None, None)
