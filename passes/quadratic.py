"""Helpers over a problem's quadratic terms, shared by the hardware passes.

The IR may store one pair (i, j) several times: in two overlapping dense
blocks, in a block and in COO, or twice in COO. The *effective* coupling of
the pair is the sum, and that is what hardware sees. ``pieces`` returns the
couplings in a form where every pair is stored at most once: the problem's
own blocks and COO when nothing overlaps (the usual case, no copy), otherwise
one summed COO list. Everything here is vectorised over whole blocks.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse as sp
from scipy.sparse import csgraph

from qsel.ir import Couplings, DenseBlock, Problem
from qsel.ir.terms import row_tiles


def storage_overlaps(problem: Problem) -> bool:
    """True when some pair of variables is stored more than once."""
    n = problem.num_vars
    seen = np.zeros(n, dtype=np.int64)
    for block in problem.dense:
        seen[block.index] += 1
    if len(problem.dense) > 1:
        # Two blocks overlap in a pair when they share at least two variables.
        for a in range(len(problem.dense)):
            mark = np.zeros(n, dtype=bool)
            mark[problem.dense[a].index] = True
            for b in range(a + 1, len(problem.dense)):
                if np.count_nonzero(mark[problem.dense[b].index]) >= 2:
                    return True
    s = problem.sparse
    if len(s) == 0:
        return False
    r, c = np.minimum(s.rows, s.cols), np.maximum(s.rows, s.cols)
    if np.unique(r * n + c).shape[0] != r.shape[0]:
        return True
    for block in problem.dense:
        mark = np.zeros(n, dtype=bool)
        mark[block.index] = True
        if np.any(mark[r] & mark[c]):
            return True
    return False


def to_coo(problem: Problem) -> Couplings:
    """Every stored term as one COO list (dense entries included; zeros dropped), not summed."""
    rows, cols, vals = [problem.sparse.rows], [problem.sparse.cols], [problem.sparse.vals]
    for block in problem.dense:
        a, b = np.nonzero(block.matrix)
        rows.append(block.index[a])
        cols.append(block.index[b])
        vals.append(block.matrix[a, b])
    return Couplings(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals))


def effective_coo(problem: Problem) -> Couplings:
    """One entry per coupled pair (r < c), the sum of every stored term on that pair."""
    n = max(problem.num_vars, 1)
    t = to_coo(problem)
    r, c = np.minimum(t.rows, t.cols), np.maximum(t.rows, t.cols)
    keys, inverse = np.unique(r * n + c, return_inverse=True)
    vals = np.bincount(inverse, weights=t.vals, minlength=keys.shape[0]) if keys.size else np.zeros(0)
    return Couplings(keys // n, keys % n, vals)


def pieces(problem: Problem) -> tuple[tuple[DenseBlock, ...], Couplings]:
    """(dense blocks, COO) with every pair stored at most once (see module docstring)."""
    if not storage_overlaps(problem):
        return problem.dense, problem.sparse
    return (), effective_coo(problem)


def coupling_range(problem: Problem) -> tuple[float, float]:
    """(min, max) of the non-zero effective couplings; (0, 0) when there are none.

    A block's structural zeros (diagonal, lower triangle, uncoupled pairs) are not couplings."""
    dense, coo = pieces(problem)
    parts = [b.matrix[b.matrix != 0] for b in dense] + [coo.vals[coo.vals != 0]]
    parts = [p for p in parts if p.size]
    if not parts:
        return 0.0, 0.0
    return min(float(p.min()) for p in parts), max(float(p.max()) for p in parts)


def field_ranges(problem: Problem, owner: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Range [lo_i, hi_i] of the local field phi_i(x) = h_i + sum_j J_ij x_j over all x.

    lo_i = h_i + sum_j min(J_ij, 0) and hi_i = h_i + sum_j max(J_ij, 0). Flipping x_i
    from 0 to 1 changes the energy by phi_i <= hi_i, from 1 to 0 by -phi_i <= -lo_i.
    Summing per stored term is valid (and equal to the effective sums when nothing
    overlaps). With ``owner`` only couplings whose two ends have the same owner count."""
    lo = problem.linear.astype(np.float64).copy()
    hi = lo.copy()
    for block in problem.dense:
        b = block.size
        up, down = np.zeros(b), np.zeros(b)  # per block position: sum of positive / negative couplings
        o = owner[block.index] if owner is not None else None
        for r0, m in row_tiles(block.matrix):  # no b x b temporaries on a large layer
            t = slice(r0, r0 + m.shape[0])
            if o is not None:
                m = np.where(o[t, None] == o[None, :], m, 0.0)
            pos = np.maximum(m, 0.0)
            neg = m - pos
            up[t] += pos.sum(axis=1)
            up += pos.sum(axis=0)
            down[t] += neg.sum(axis=1)
            down += neg.sum(axis=0)
        np.add.at(hi, block.index, up)
        np.add.at(lo, block.index, down)
    s = problem.sparse
    v = s.vals
    if owner is not None:
        v = np.where(owner[s.rows] == owner[s.cols], v, 0.0)
    for ends in (s.rows, s.cols):
        np.add.at(hi, ends, np.maximum(v, 0.0))
        np.add.at(lo, ends, np.minimum(v, 0.0))
    return lo, hi


def components(problem: Problem) -> list[np.ndarray]:
    """Connected components of the coupling graph (non-zero stored terms), each sorted.

    A dense block connects the variables with a non-zero entry in their row or column."""
    n = problem.num_vars
    if n == 0:
        return []
    rows, cols = [problem.sparse.rows[problem.sparse.vals != 0]], [problem.sparse.cols[problem.sparse.vals != 0]]
    for block in problem.dense:
        nz = block.matrix != 0
        active = block.index[nz.any(axis=0) | nz.any(axis=1)]
        if active.size > 1:
            rows.append(np.full(active.size - 1, active[0]))
            cols.append(active[1:])
    r, c = np.concatenate(rows), np.concatenate(cols)
    g = sp.coo_array((np.ones(r.shape[0]), (r, c)), shape=(n, n))
    count, labels = csgraph.connected_components(g, directed=False)
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    return np.split(order, bounds)


def weight_matrix(problem: Problem, idx: np.ndarray) -> np.ndarray:
    """Dense symmetric |J_eff| among the variables ``idx`` (in that order), zero diagonal."""
    n = problem.num_vars
    k = idx.shape[0]
    pos = np.full(n, -1, dtype=np.int64)
    pos[idx] = np.arange(k)
    S = np.zeros((k, k))
    dense, coo = pieces(problem)
    for block in dense:
        local = pos[block.index]
        sel = np.flatnonzero(local >= 0)
        if sel.size < 2:
            continue
        if sel.size == block.size and np.array_equal(local, np.arange(k)):
            S += block.matrix
        else:
            S[np.ix_(local[sel], local[sel])] += block.matrix[np.ix_(sel, sel)]
    inside = (pos[coo.rows] >= 0) & (pos[coo.cols] >= 0)
    np.add.at(S, (pos[coo.rows[inside]], pos[coo.cols[inside]]), coo.vals[inside])
    S += S.T
    np.abs(S, out=S)
    return S


def owner_of(problem: Problem) -> np.ndarray:
    """Partition index of every variable (-1: in no partition)."""
    owner = np.full(problem.num_vars, -1, dtype=np.int64)
    for k, p in enumerate(problem.partitions):
        owner[p.indices] = k
    return owner


def abs_weight_split(problem: Problem, owner: np.ndarray) -> tuple[float, float]:
    """(total sum of |J_eff|, the part between variables of different owners); owner -1 counts as its own block."""
    dense, coo = pieces(problem)
    total = cut = 0.0
    for block in dense:
        a = np.abs(block.matrix)
        o = owner[block.index]
        total += float(a.sum())
        cut += float(a.sum() - np.where(o[:, None] == o[None, :], a, 0.0).sum())
    a = np.abs(coo.vals)
    total += float(a.sum())
    cut += float(a[owner[coo.rows] != owner[coo.cols]].sum())
    return total, cut
