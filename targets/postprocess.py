"""Count-preserving local search on a whole problem or a block: warm start, repair, swap descent.

One home for the classical moves every solving path shares (the ``polish``
composite, the ``decompose`` large-neighbourhood search, the greedy warm start).

**Energy in field form.** With S symmetric (S_ij = J_ij for i != j, zero diagonal)

    E(x) = c + h . x + 1/2 x^T S x,        f = h + S x   (the local fields)

flipping x_i changes E by (1 - 2 x_i) f_i, and swapping a kept unit i for a
dropped unit j (x_i: 1 -> 0, x_j: 0 -> 1) changes it by

    dE(i -> j) = f_j - f_i - S_ij.

Both updates of f are one row of S: f += S[j] - S[i].

**Moves** (:class:`MoveSet`). Every ``sum_{i in C} x_i == K`` cardinality
constraint over unit coefficients, native or already lowered to a penalty
(``metadata["lowered_constraints"]``), is a *group*: its units move by swaps
only. Under a provably sufficient penalty P every single flip away from a
feasible mask costs at least P, so single-flip descent cannot move along the
feasible set; swaps keep the count, so on feasible states the penalty is a
constant and dE is exactly the change of the objective. Variables in no
constraint are *free* and move by single flips. Variables of any other native
constraint are left where they are.

1. :func:`greedy_start` (forward selection, ThiNet-style): per group, K times
   add the unit with the smallest field; free variables are added while a
   field is negative.
2. :func:`repair`: while a group holds more than K units drop the one with
   the largest field, while fewer add the one with the smallest.
3. :func:`descend`: take the best improving move (swap in a group, or flip of
   a free variable) until none improves by more than the rounding tolerance.
   The best swap is looked for first among the ``CANDIDATES`` most promising
   kept and dropped units of each group (largest f_i, smallest f_j); only when
   none of those pairs improves is every pair checked (in row chunks), so the
   result is an exact swap-local minimum at O(n) work per step.

The dense S of an n-variable problem takes 8 n^2 bytes (2.1 GB at n = 16,384);
:meth:`QuadraticForm.from_problem` builds it in place, symmetrising in tiles,
so no second n x n temporary is made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsel import ir

CANDIDATES = 64  # kept / dropped units of a group looked at first for the best swap
_TILE = 1024  # rows per tile when symmetrising or scanning every pair
_REL_TOL = 1e-12


@dataclass
class QuadraticForm:
    """E(x) = offset + h . x + 1/2 x^T S x with S symmetric and a zero diagonal (see the module docstring)."""

    h: np.ndarray
    S: np.ndarray
    offset: float

    @classmethod
    def from_problem(cls, problem: ir.Problem) -> "QuadraticForm":
        """The problem's objective (penalties already lowered into it count as objective); constraints ignored.

        Built in place: the dense blocks and the sparse couplings are added into one n x n array A, then
        S = A + A^T tile by tile (every tile pair (I, J), I <= J, is read and written once)."""
        n = problem.num_vars
        S = np.zeros((n, n))
        for block in problem.dense:
            sl = block.contiguous_slice()
            if sl is not None:
                S[sl, sl] += block.matrix
            else:
                S[np.ix_(block.index, block.index)] += block.matrix
        if problem.sparse.vals.size:
            np.add.at(S, (problem.sparse.rows, problem.sparse.cols), problem.sparse.vals)
        for a in range(0, n, _TILE):
            ia = slice(a, min(a + _TILE, n))
            d = S[ia, ia] + S[ia, ia].T
            S[ia, ia] = d
            for b in range(a + _TILE, n, _TILE):
                ib = slice(b, min(b + _TILE, n))
                t = S[ia, ib] + S[ib, ia].T
                S[ia, ib] = t
                S[ib, ia] = t.T
        np.fill_diagonal(S, 0.0)
        return cls(np.array(problem.linear, dtype=np.float64), S, float(problem.offset))

    @property
    def num_vars(self) -> int:
        return int(self.h.shape[0])

    def fields(self, x: np.ndarray) -> np.ndarray:
        """f = h + S x."""
        return self.h + self.S @ x

    def energy(self, x: np.ndarray) -> float:
        return float(self.offset + self.h @ x + 0.5 * x @ (self.S @ x))

    def tolerance(self) -> float:
        """Rounding tolerance of an energy change: grows with the size of the terms, not with the result."""
        scale = float(np.abs(self.h).max(initial=0.0)) + float(np.abs(self.S).max(initial=0.0))
        return _REL_TOL * max(scale, 1.0) * max(1.0, np.sqrt(self.num_vars))

    def change(self, f: np.ndarray, idx: np.ndarray, old: np.ndarray, new: np.ndarray) -> float:
        """E(x') - E(x) when x'[idx] = new replaces x[idx] = old, from the fields f of x:

            dE = d . f[idx] + 1/2 d^T S[idx, idx] d,    d = new - old."""
        d = np.asarray(new, dtype=np.float64) - np.asarray(old, dtype=np.float64)
        moved = np.flatnonzero(d)
        if not moved.size:
            return 0.0
        dm, im = d[moved], idx[moved]
        return float(dm @ f[im] + 0.5 * dm @ (self.S[np.ix_(im, im)] @ dm))


@dataclass
class MoveSet:
    """Which variables move how: cardinality groups (swaps) and free variables (single flips)."""

    groups: list[tuple[np.ndarray, int]]  # (indices, K) of every sum == K group, disjoint
    free: np.ndarray  # variables in no constraint

    @classmethod
    def of(cls, problem: ir.Problem) -> "MoveSet":
        n = problem.num_vars
        groups = [(idx, k) for idx, k in cardinality_groups(problem)]
        taken = np.zeros(n, dtype=bool)
        disjoint = []
        for idx, k in groups:
            if taken[idx].any():  # overlapping cardinality constraints: the first one moves them
                continue
            taken[idx] = True
            disjoint.append((idx, k))
        for c in problem.constraints:  # variables of any other native constraint stay put
            taken[c.indices] = True
        return cls(disjoint, np.flatnonzero(~taken))

    def counts(self, x: np.ndarray) -> list[int]:
        return [int(round(x[idx].sum())) for idx, _ in self.groups]

    def feasible(self, x: np.ndarray) -> bool:
        return all(c == k for c, (_, k) in zip(self.counts(x), self.groups))


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
        if c.is_cardinality and c.sense is ir.Sense.EQ and float(c.rhs).is_integer():
            groups.append((np.asarray(c.indices, dtype=np.int64), int(c.rhs)))
    return groups


def lowered_penalties(problem: ir.Problem) -> list[tuple[np.ndarray, int, float]]:
    """(indices, K, P) of every ``sum == K`` group lowered to a penalty P (sum_C x - K)^2 inside ``problem``,
    P in the problem's current units (a later ``scale`` pass multiplies it by F_now / F_at_lowering)."""
    from qsel.passes.mapping import scale_factor

    try:
        now = scale_factor(problem)
    except ir.QselError:
        now = 1.0
    index = problem.variables.index
    out = []
    for rec in problem.metadata.get("lowered_constraints", []) or []:
        try:
            if (rec.get("sense") != "==" or rec.get("slack") or any(float(c) != 1.0 for c in rec["coeffs"])
                    or not float(rec["rhs"]).is_integer() or not all(v in index for v in rec["variables"])):
                continue
            at = float(rec.get("scale_factor") or 1.0)
            out.append((np.array([index[v] for v in rec["variables"]], dtype=np.int64), int(rec["rhs"]),
                        float(rec["penalty"]) * now / at))
        except (KeyError, TypeError, ValueError):
            continue
    return out


# ------------------------------------------------------------------ moves
def greedy_start(qf: QuadraticForm, moves: MoveSet, x: np.ndarray | None = None) -> np.ndarray:
    """Forward selection from ``x`` (default all zeros): fill each group to K by smallest field, then add free
    variables while the best field is negative."""
    x = np.zeros(qf.num_vars) if x is None else np.array(x, dtype=np.float64)
    f = qf.fields(x)
    for idx, k in moves.groups:
        k = min(max(k, 0), idx.shape[0])
        for _ in range(k - int(round(x[idx].sum()))):
            off = idx[x[idx] == 0]
            j = off[int(np.argmin(f[off]))]
            x[j] = 1.0
            f += qf.S[j]
    free = moves.free
    while free.size:
        off = free[x[free] == 0]
        if not off.size:
            break
        j = off[int(np.argmin(f[off]))]
        if f[j] >= 0:
            break
        x[j] = 1.0
        f += qf.S[j]
    return x


def repair(qf: QuadraticForm, moves: MoveSet, x: np.ndarray, f: np.ndarray) -> None:
    """In place: bring every group to its count K (drop largest fields, add smallest); f follows x."""
    for idx, k in moves.groups:
        k = min(max(k, 0), idx.shape[0])
        while x[idx].sum() > k:
            on = idx[x[idx] == 1]
            i = on[int(np.argmax(f[on]))]
            x[i] = 0.0
            f -= qf.S[i]
        while x[idx].sum() < k:
            off = idx[x[idx] == 0]
            j = off[int(np.argmin(f[off]))]
            x[j] = 1.0
            f += qf.S[j]


def _best_swap(qf: QuadraticForm, f: np.ndarray, on: np.ndarray, off: np.ndarray,
               tol: float) -> tuple[float, int, int]:
    """(dE, i, j) of the best swap of kept i for dropped j, or (0, -1, -1) when none improves by > tol."""
    c = CANDIDATES
    on_c = on if on.size <= c else on[np.argpartition(-f[on], c - 1)[:c]]
    off_c = off if off.size <= c else off[np.argpartition(f[off], c - 1)[:c]]
    gain = f[off_c][None, :] - f[on_c][:, None] - qf.S[np.ix_(on_c, off_c)]
    k = int(np.argmin(gain))
    if gain.flat[k] < -tol:
        return float(gain.flat[k]), int(on_c[k // off_c.size]), int(off_c[k % off_c.size])
    if on_c.size == on.size and off_c.size == off.size:
        return 0.0, -1, -1
    best = (0.0, -1, -1)
    f_off = f[off]
    for a in range(0, on.size, _TILE):
        rows = on[a:a + _TILE]
        gain = f_off[None, :] - f[rows][:, None] - qf.S[rows][:, off]
        k = int(np.argmin(gain))
        if gain.flat[k] < min(best[0], -tol):
            best = (float(gain.flat[k]), int(rows[k // off.size]), int(off[k % off.size]))
    return best


def descend(qf: QuadraticForm, moves: MoveSet, x: np.ndarray, f: np.ndarray,
            max_steps: int | None = None) -> int:
    """In place: best-improvement descent by swaps inside groups and flips of free variables. Returns the
    number of moves made; x is then a local minimum of that neighbourhood (unless max_steps stopped it)."""
    tol = qf.tolerance()
    steps = 10 * qf.num_vars + 10 if max_steps is None else int(max_steps)
    made = 0
    flip_delta = np.zeros(0)
    while made < steps:
        best = (-tol, -1, -1)
        for idx, _ in moves.groups:
            mask = x[idx] == 1
            on, off = idx[mask], idx[~mask]
            if on.size and off.size:
                d, i, j = _best_swap(qf, f, on, off, tol)
                if i >= 0 and d < best[0]:
                    best = (d, i, j)
        if moves.free.size:
            flip_delta = (1.0 - 2.0 * x[moves.free]) * f[moves.free]
            k = int(np.argmin(flip_delta))
            if flip_delta[k] < best[0]:
                best = (float(flip_delta[k]), int(moves.free[k]), -2)
        d, i, j = best
        if i < 0:
            break
        if j == -2:  # flip of a free variable
            sign = 1.0 - 2.0 * x[i]
            x[i] = 1.0 - x[i]
            f += sign * qf.S[i]
        else:
            x[i], x[j] = 0.0, 1.0
            f += qf.S[j] - qf.S[i]
        made += 1
    return made


def polish_rows(qf: QuadraticForm, moves: MoveSet, X: np.ndarray, max_steps: int | None = None) -> np.ndarray:
    """Repair then descend from every distinct row of X (0/1, samples x n); rows keep their order."""
    X = np.asarray(X, dtype=np.float64)
    if X.size == 0 or (not moves.groups and not moves.free.size):
        return X.copy()
    uniq, inverse = np.unique(X, axis=0, return_inverse=True)
    out = np.empty_like(uniq)
    for r, row in enumerate(uniq):
        x = row.copy()
        f = qf.fields(x)
        repair(qf, moves, x, f)
        descend(qf, moves, x, f, max_steps)
        out[r] = x
    return out[np.asarray(inverse).ravel()]


def swap_descent(problem: ir.Problem, X: np.ndarray, groups: list[tuple[np.ndarray, int]] | None = None,
                 max_steps: int | None = None) -> np.ndarray:
    """Polished copies of the rows of X: cardinality repair, then swap descent inside the groups.

    Only the groups move here (free variables keep their values), as a sampler's polish of penalised block
    samples expects; ``groups`` defaults to :func:`cardinality_groups`."""
    groups = cardinality_groups(problem) if groups is None else groups
    X = np.asarray(X, dtype=np.float64)
    if not groups or X.size == 0:
        return X.copy()
    moves = MoveSet(list(groups), np.zeros(0, np.int64))
    return polish_rows(QuadraticForm.from_problem(problem), moves, X, max_steps)
