"""Classical polish of samples that respects cardinality constraints: repair, then swap descent.

Samples of a penalised block (``lower-constraints``) often come back infeasible
or stuck: under a provably sufficient penalty P every single flip away from a
feasible mask costs at least P, so single-flip descent cannot move along the
feasible set. For each lowered ``sum_{i in C} x_i == K`` whose variables all lie
in the block, this

1. repairs the count: while it is above K drop the unit whose removal lowers
   the energy most (largest local field f_i = h_i + sum_j S_ij x_j), while below
   K add the unit with the smallest f_j;
2. descends by swaps, which keep the count: removing i and adding j changes the
   energy by  -f_i + f_j - S_ij  (S = U + U^T). On feasible states the penalty is
   constant, so this is exactly the change of the objective. The best swap is
   taken while it lowers the energy.

Vectorised over the (on, off) pairs of a block (<= ~180 variables); every sample
is polished independently, so the distribution of solver samples stays visible.
"""

from __future__ import annotations

import numpy as np

from qsel import ir


def cardinality_groups(problem: ir.Problem) -> list[tuple[np.ndarray, int]]:
    """(indices, K) of every lowered or native ``== K`` all-ones constraint lying wholly in ``problem``."""
    index = problem.variables.index
    groups: list[tuple[np.ndarray, int]] = []
    for rec in problem.metadata.get("lowered_constraints", []) or []:
        try:
            if (rec.get("sense") != "==" or rec.get("slack") or any(float(c) != 1.0 for c in rec["coeffs"])
                    or not float(rec["rhs"]).is_integer()):
                continue
            if all(v in index for v in rec["variables"]):
                groups.append((np.array([index[v] for v in rec["variables"]], dtype=np.int64), int(rec["rhs"])))
        except (KeyError, TypeError, ValueError):
            continue
    for c in problem.constraints:
        if c.is_cardinality and c.sense is ir.Sense.EQ:
            groups.append((np.asarray(c.indices, dtype=np.int64), int(c.rhs)))
    return groups


def swap_descent(problem: ir.Problem, X: np.ndarray, groups: list[tuple[np.ndarray, int]] | None = None,
                 max_steps: int | None = None) -> np.ndarray:
    """Polished copies of the rows of X (0/1, samples x n); see the module docstring."""
    X = np.array(X, dtype=np.float64, copy=True)
    groups = cardinality_groups(problem) if groups is None else groups
    if not groups or X.size == 0:
        return X
    U = problem.to_dense_upper()
    S = U + U.T
    h = problem.linear
    scale = float(np.abs(S).max() if S.size else 0.0) + float(np.abs(h).max() if h.size else 0.0)
    tol = 1e-12 * max(scale, 1.0)
    steps = max_steps if max_steps is not None else 10 * problem.num_vars + 10
    for x in X:
        f = h + S @ x
        for C, K in groups:
            K = min(max(K, 0), C.shape[0])
            while x[C].sum() > K:
                on = C[x[C] == 1]
                i = on[int(np.argmax(f[on]))]
                x[i] = 0.0
                f -= S[:, i]
            while x[C].sum() < K:
                off = C[x[C] == 0]
                j = off[int(np.argmin(f[off]))]
                x[j] = 1.0
                f += S[:, j]
            for _ in range(steps):
                on, off = C[x[C] == 1], C[x[C] == 0]
                if not on.size or not off.size:
                    break
                gain = f[off][None, :] - f[on][:, None] - S[np.ix_(on, off)]
                k = int(np.argmin(gain))
                if gain.flat[k] >= -tol:
                    break
                i, j = on[k // off.shape[0]], off[k % off.shape[0]]
                x[i], x[j] = 0.0, 1.0
                f += S[:, j] - S[:, i]
    return X
