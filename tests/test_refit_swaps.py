"""The exact swap search on the ridge refit error: its scores are the ridge objective itself, it never
raises it, and what it returns has no improving one-for-one exchange (checked by brute force)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qsel.frontend.refit_swaps import _gain, grams, swap_search


def _ridge_objective(D: np.ndarray, T: np.ndarray, S, lam: float) -> float:
    """min over W, b of 1/N ||D_S W^T + 1 b^T - T||^2 + lam ||W||^2, solved directly."""
    X = np.concatenate([D[i] for i in S], axis=1)
    N = X.shape[0]
    Xc, Tc = X - X.mean(0), T - T.mean(0)
    W = np.linalg.solve(Xc.T @ Xc / N + lam * np.eye(X.shape[1]), Xc.T @ Tc / N)
    R = Xc @ W - Tc
    return float(np.sum(R * R)) / N + lam * float(np.sum(W * W))


def _case(seed: int, d: int, n: int = 9):
    rng = np.random.default_rng(seed)
    D = rng.normal(size=(n, 120, d))
    D[1] = D[0] + 0.1 * rng.normal(size=D[0].shape)  # two nearly collinear units: a swap must see through it
    T = D[0] @ rng.normal(size=(d, 4)) + D[n - 1] @ rng.normal(size=(d, 4)) + rng.normal(size=(120, 4))
    return D, T


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("seed", range(3))
def test_scores_are_the_ridge_objective(seed, d):
    D, T = _case(seed, d)
    C, B, t = grams(D, T)
    for S in ([0, 2, 5], [1, 3, 4, 8], [7]):
        g, _, _ = _gain(C, B, np.array(S), 0.05)
        assert t - g == pytest.approx(_ridge_objective(D, T, S, 0.05), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("seed", range(4))
def test_swap_search_ends_swap_optimal_and_never_worse(seed, d):
    D, T = _case(seed, d)
    n, K, lam = D.shape[0], 3, 0.01
    C, B, t = grams(D, T)
    x = np.zeros(n)
    x[np.random.default_rng(seed).choice(n, K, replace=False)] = 1
    found = swap_search(C, B, t, x, lam)
    S = np.flatnonzero(found.x)
    assert S.size == K
    assert found.before == pytest.approx(_ridge_objective(D, T, np.flatnonzero(x), lam), rel=1e-10)
    assert found.after == pytest.approx(_ridge_objective(D, T, S, lam), rel=1e-10)
    assert found.after <= found.before
    for i, j in itertools.product(S, np.setdiff1d(np.arange(n), S)):
        assert _ridge_objective(D, T, sorted(set(S) - {i} | {j}), lam) >= found.after * (1 - 1e-10)


def test_full_and_empty_selections_are_left_alone():
    D, T = _case(0, 1, n=5)
    C, B, t = grams(D, T)
    for x in (np.zeros(5), np.ones(5)):
        found = swap_search(C, B, t, x, 0.01)
        assert found.swaps == 0 and np.array_equal(found.x, x)


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("chunk", [1, 1 << 23])
def test_the_best_exchange_is_scored_exactly_in_any_chunking(d, chunk):
    """The pairwise scores come from S's own inverse (no downdate per removal); the best of them must be the
    brute-force best exchange with its exact gain, however the candidates are chunked."""
    from qsel.frontend.refit_swaps import _best_swap

    D, T = _case(5, d, n=8)
    C, B, t = grams(D, T)
    S = np.array([1, 4, 6])
    out = np.setdiff1d(np.arange(8), S)
    g, P, beta = _gain(C, B, S, 0.02)
    gains = {(a, j): _gain(C, B, np.array(sorted(set(S) - {S[a]} | {j})), 0.02)[0] - g
             for a in range(S.size) for j in out}
    (a, j), best = max(gains.items(), key=lambda kv: kv[1])
    delta, at = _best_swap(C, B, S, out, P, beta, g, 0.02, chunk_elements=chunk)
    assert at == (a, j) and delta == pytest.approx(best, rel=1e-9, abs=1e-12)
