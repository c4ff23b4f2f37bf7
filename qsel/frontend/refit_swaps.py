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

Every (i, j) pair is scored per sweep, all at once from S's own P and beta (the two updates composed,
:func:`_best_swap`), the best swap taken while it lowers J by
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


def _best_swap(C: np.ndarray, B: np.ndarray, S: np.ndarray, out: np.ndarray, P: np.ndarray, beta: np.ndarray,
               g: float, lam: float, chunk_elements: int = 1 << 23) -> tuple[float, tuple[int, int]]:
    """(g(S - S[a] + j) - g(S), (a, j)) of the best exchange, every pair scored at once from S's own P, beta.

    With q_j = C_jS P (its d x d block a: q_ja), w_j = q_j C_Sj, P_a = P_aa and C_a = C_ja, removing a leaves
    C_jR P_R C_Rj = w_j - V C_a^T - C_a V^T - C_a P_a C_a^T - V P_a^-1 V^T with V = q_ja - C_a P_a (the inverse
    of a principal submatrix, P_RR - P_Ra P_a^-1 P_aR, expanded), and residual B_j - C_jS beta + q_ja P_a^-1
    beta_a. So a sweep costs one (n_out x Kd) @ (Kd x Kd) product plus O(K n_out d^3), instead of a downdate
    per removal; pairs are taken in chunks of candidates j to bound memory."""
    n_out, K, d = out.size, S.size, C.shape[2]
    Pa = P.reshape(K, d, K, d)[np.arange(K), :, np.arange(K), :]  # (K, d, d) diagonal blocks
    Pa_inv = np.linalg.inv(Pa)
    ba = beta.reshape(K, d, -1)
    Pb = Pa_inv @ ba  # P_a^-1 beta_a: (K, d, o)
    g_rm = g - np.einsum("ado,ado->a", ba, Pb)
    eye = np.eye(d)
    step = max(1, chunk_elements // max(1, K * d * max(d, ba.shape[2])))
    best, at = -np.inf, (0, 0)
    for lo in range(0, n_out, step):
        js = out[lo:lo + step]
        Cb = C[np.ix_(js, S)]  # (J, K, d, d): C_ja
        Cf = Cb.transpose(0, 2, 1, 3).reshape(js.size, d, K * d)  # C_jS
        Q = Cf @ P  # (J, d, Kd)
        Qb = Q.reshape(js.size, d, K, d).transpose(0, 2, 1, 3)  # q_ja
        w = Q @ Cf.transpose(0, 2, 1)  # (J, d, d)
        V = Qb - Cb @ Pa[None]
        CbT = Cb.transpose(0, 1, 3, 2)
        inner = (w[:, None] - V @ CbT - Cb @ V.transpose(0, 1, 3, 2) - Cb @ Pa[None] @ CbT
                 - V @ Pa_inv[None] @ V.transpose(0, 1, 3, 2))  # C_jR (C_RR + lam I)^-1 C_Rj
        schur = C[js, js][:, None] + lam * eye - inner  # (J, K, d, d)
        base = B[js] - Cf @ beta  # (J, d, o)
        r = base[:, None] + Qb @ Pb[None]  # (J, K, d, o)
        if d == 1:  # a candidate with no variance left (a dead unit, a copy of a kept one) adds nothing
            s1 = schur[:, :, 0, 0]
            add = np.divide(np.einsum("jado,jado->ja", r, r), s1, out=np.zeros_like(s1), where=s1 > 0)
        else:
            add = np.einsum("jado,jado->ja", r, np.linalg.solve(schur, r))
        total = add + g_rm[None, :]
        k = int(np.argmax(total))
        if total.flat[k] > best:
            best, at = float(total.flat[k]), (k % K, int(js[k // K]))
    return best - g, at


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
    while swaps < limit:
        delta, (a, j) = _best_swap(C, B, S, np.flatnonzero(~x), P, beta, g, lam)
        if delta <= 1e-12 * max(abs(t), abs(g), 1e-300):
            break
        trial = x.copy()
        trial[S[a]], trial[j] = False, True
        g_new, P_new, beta_new = _gain(C, B, np.flatnonzero(trial), lam)
        if g_new <= g:  # rounding disagreed with the update formulas: stop where J was lowest
            break
        x, S, g, P, beta = trial, np.flatnonzero(trial), g_new, P_new, beta_new
        swaps += 1
    return SwapSearch(x.astype(np.float64), before, t - g, swaps)
