"""Exact swap search on the refit error: the local optimum a refit selection should sit in.

For units j with designs D_j (N x d: a column, a channel's flattened positions, a channel's im2col patch
columns) and the refit target T (N x o), the ridge refit on a selection S (bias unpenalised, so columns and
target are centred) leaves

    J(S) = t - g(S),   g(S) = tr(B_S^T (C_SS + lam I)^-1 B_S),   C = D_c^T D_c / N,  B = D_c^T T_c / N,

with t = ||T_c||^2 / N: J is the minimum of the ridge objective 1/N ||D_S W^T + 1 b^T - T||^2 + lam ||W||^2
(Hastie, Tibshirani & Friedman, ESL 3.4.1). J is not quadratic in the mask, so the QUBO solvers reach it
only through the majorize-minimize bound of :mod:`.refit_select`; this module searches it directly with
count-preserving swaps, each scored exactly by block inverse updates (Golub & Van Loan 2013, 2.1.4):

* removing unit i from S, with P = (C_SS + lam I)^-1 and beta = P B_S:
  g(S - i) = g(S) - tr(beta_i^T (P_ii)^-1 beta_i), and P, beta shrink by the same Schur complement;
* adding unit j to S' = S - i, with s_j = C_jj + lam I - C_jS' P' C_S'j (the d x d Schur complement) and
  r_j = B_j - C_jS' beta': g(S' + j) = g(S') + tr(r_j^T s_j^-1 r_j).

Every (i, j) pair is scored per sweep (arrays over j for each i), the best swap taken while it lowers J by
more than rounding, so the result is swap-optimal for J: no exchange of one kept unit for one dropped unit
lowers the ridge refit objective. Written here because no library searches subsets of a least-squares fit
under an exact count (scikit-learn's SequentialFeatureSelector adds or removes features greedily and
refits by cross-validation, which neither keeps the count during a swap nor scores exactly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_COLUMNS = 8192  # n * d above this: the Gram of the designs would not be small; the search is skipped


@dataclass(frozen=True)
class SwapSearch:
    """The selection after the search, its ridge objective J before and after, and the swaps taken."""

    x: np.ndarray
    before: float
    after: float
    swaps: int


def grams(D: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(C (n, n, d, d), B (n, d, o), t) of the module docstring from designs D (n, N, d) and target T (N, o)."""
    N = D.shape[1]
    Dc = D - D.mean(axis=1, keepdims=True)
    Tc = T - T.mean(axis=0)
    n, _, d = D.shape
    flat = Dc.transpose(1, 0, 2).reshape(N, n * d)
    C = (flat.T @ flat / N).reshape(n, d, n, d).transpose(0, 2, 1, 3)
    B = (flat.T @ Tc / N).reshape(n, d, -1)
    return C, B, float(np.einsum("ij,ij->", Tc, Tc)) / N


def _gain(C: np.ndarray, B: np.ndarray, S: np.ndarray, lam: float) -> tuple[float, np.ndarray, np.ndarray]:
    """(g(S), P, beta) for the kept units S, blocks flattened unit-major (K*d)."""
    d = C.shape[2]
    K = S.size
    CSS = C[np.ix_(S, S)].transpose(0, 2, 1, 3).reshape(K * d, K * d) + lam * np.eye(K * d)
    P = np.linalg.inv(CSS)
    BS = B[S].reshape(K * d, -1)
    beta = P @ BS
    return float(np.einsum("ij,ij->", BS, beta)), P, beta


def swap_search(C: np.ndarray, B: np.ndarray, t: float, x: np.ndarray, lam: float, *,
                max_swaps: int | None = None) -> SwapSearch:
    """Best-improvement count-preserving swaps on J (module docstring) from the 0/1 selection ``x``."""
    n, _, d, _ = C.shape
    x = (np.asarray(x) != 0)
    S = np.flatnonzero(x)
    K = S.size
    if K == 0:
        return SwapSearch(x.astype(np.float64), t, t, 0)
    g, P, beta = _gain(C, B, S, lam)
    before = t - g
    swaps = 0
    limit = 4 * n if max_swaps is None else max_swaps
    if K == n:
        return SwapSearch(x.astype(np.float64), before, before, 0)
    eye = np.eye(d)
    while swaps < limit:
        out = np.flatnonzero(~x)
        best_delta, best = 0.0, None
        Cjj = C[out, out] + lam * eye  # (n_out, d, d)
        for a in range(K):
            I = np.arange(a * d, (a + 1) * d)
            R = np.setdiff1d(np.arange(K * d), I, assume_unique=True)
            Pii = np.linalg.inv(P[np.ix_(I, I)])
            PRI = P[np.ix_(R, I)]
            Pr = P[np.ix_(R, R)] - PRI @ Pii @ PRI.T
            br = beta[R] - PRI @ (Pii @ beta[I])
            g_rm = g - float(np.einsum("ij,ij->", beta[I], Pii @ beta[I]))
            rest = np.delete(S, a)
            Cjs = C[np.ix_(out, rest)].transpose(0, 2, 1, 3).reshape(out.size, d, -1)  # (n_out, d, (K-1) d)
            M = Cjs @ Pr
            s = Cjj - M @ Cjs.transpose(0, 2, 1)
            r = B[out] - Cjs @ br  # (n_out, d, o)
            if d == 1:
                add = np.einsum("jdo,jdo->j", r, r) / s[:, 0, 0]
            else:
                add = np.einsum("jdo,jdo->j", r, np.linalg.solve(s, r))
            j = int(np.argmax(add))
            delta = g_rm + float(add[j]) - g
            if delta > best_delta:
                best_delta, best = delta, (a, out[j])
        if best is None or best_delta <= 1e-12 * max(abs(t), abs(g), 1e-300):
            break
        a, j = best
        trial = x.copy()
        trial[S[a]], trial[j] = False, True
        g_new, P_new, beta_new = _gain(C, B, np.flatnonzero(trial), lam)
        if g_new <= g:  # rounding disagreed with the update formulas: stop where J was lowest
            break
        x, S, g, P, beta = trial, np.flatnonzero(trial), g_new, P_new, beta_new
        swaps += 1
    return SwapSearch(x.astype(np.float64), before, t - g, swaps)
