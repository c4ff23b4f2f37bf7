"""prune: drop weak couplings (lossy, with a bound on the energy error of every assignment).

Two rules, usable together (threshold first):

* ``eps`` with ``mode=relative`` drops every stored coupling with |J| < eps * max|J|,
  with ``mode=absolute`` every one with |J| < eps;
* ``max-degree=D`` keeps, for every variable, its D strongest couplings and
  drops a coupling unless it is among the D strongest of *both* its ends, so
  no variable keeps more than D couplings (ties broken by storage order).

Bound. Dropping the set S of couplings changes the energy of x by
-sum_{(i,j) in S} J_ij x_i x_j, a sum over a subset of S. Every such sum lies in
[-N, P] with P the sum of the positive and N the sum of |negative| dropped
couplings, so |E_before(x) - E_after(x)| <= max(P, N) <= sum_S |J| for every x.
The pass reports max(P, N) as its bound and the plain sum of |J| in the details.

Each stored term is judged on its own: run canonicalize first so that duplicate
terms of one pair are summed. A dense block left with fewer than a third of its
pairs is stored as COO instead (8 bytes per pair dense vs 24 per COO entry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from qsel.ir import Couplings, DenseBlock, Problem

from .base import PropertySet, TransformationPass, Transformed
from .quadratic import to_coo


@dataclass(frozen=True)
class Prune(TransformationPass):
    """Drop weak couplings by threshold or per-variable degree; bound = the dropped |J| (lossy)."""

    name = "prune"
    exact = False
    eps: float = 0.0
    mode: Literal["relative", "absolute"] = "relative"
    max_degree: int | None = None

    def __post_init__(self) -> None:
        if not (self.eps >= 0 and np.isfinite(self.eps)):
            raise ValueError(f"eps must be a finite number >= 0, got {self.eps}")
        if self.mode == "relative" and self.eps > 1:
            raise ValueError(f"relative eps must be at most 1 (a fraction of the largest |J|), got {self.eps}")
        if self.max_degree is not None and self.max_degree < 1:
            raise ValueError(f"max-degree must be at least 1, got {self.max_degree}")
        if self.eps == 0 and self.max_degree is None:
            raise ValueError("give eps > 0 or max-degree (with neither, prune would drop nothing)")

    def run(self, problem: Problem, props: PropertySet) -> Transformed:
        blocks = [b.matrix for b in problem.dense]
        coo = problem.sparse
        largest = max([float(np.abs(m).max()) for m in blocks if m.size] + [float(np.abs(coo.vals).max(initial=0.0))])
        threshold = self.eps * largest if self.mode == "relative" else self.eps
        keep_blocks = [np.abs(m) >= threshold for m in blocks] if threshold > 0 else [m != 0 for m in blocks]
        keep_coo = np.abs(coo.vals) >= threshold if threshold > 0 else np.ones(len(coo), dtype=bool)
        if self.max_degree is not None:
            keep_blocks, keep_coo = _degree_limit(problem, keep_blocks, keep_coo, self.max_degree)

        pos_sum = neg_sum = 0.0
        dense, extra = [], []
        dropped = kept = 0
        for block, m, keep in zip(problem.dense, blocks, keep_blocks):
            gone = np.where(keep, 0.0, m)
            pos_sum += float(gone[gone > 0].sum())
            neg_sum -= float(gone[gone < 0].sum())
            dropped += int(np.count_nonzero(gone))
            nnz = int(np.count_nonzero(keep & (m != 0)))
            kept += nnz
            if nnz == 0:
                continue
            if 3 * nnz < block.size * block.size:
                a, b = np.nonzero(keep & (m != 0))
                extra.append(Couplings(block.index[a], block.index[b], m[a, b]))
            else:
                dense.append(DenseBlock(block.index, np.where(keep, m, 0.0)))
        gone = coo.vals[~keep_coo]
        pos_sum += float(gone[gone > 0].sum())
        neg_sum -= float(gone[gone < 0].sum())
        dropped += int(np.count_nonzero(gone))
        kept += int(np.count_nonzero(coo.vals[keep_coo]))
        sparse = Couplings(coo.rows[keep_coo], coo.cols[keep_coo], coo.vals[keep_coo])
        for part in extra:
            sparse = sparse.concat(part)
        out = problem.replace(dense=tuple(dense), sparse=sparse)
        return Transformed(out, bound=max(pos_sum, neg_sum), details={
            "threshold": float(threshold), "dropped": dropped, "kept": kept,
            "dropped_abs_sum": pos_sum + neg_sum})


def _degree_limit(problem: Problem, keep_blocks: list[np.ndarray], keep_coo: np.ndarray,
                  d: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Keep a surviving coupling only if it ranks among the d strongest of both its ends."""
    disjoint = len(problem.sparse) == 0 and _blocks_disjoint(problem)
    if disjoint:
        # Fast path: every block on its own, d strongest per row of the symmetric |M|.
        out = []
        for block, keep in zip(problem.dense, keep_blocks):
            a = np.where(keep, np.abs(block.matrix), 0.0)
            a = a + a.T
            b = block.size
            if d >= b - 1:
                out.append(keep)
                continue
            top = np.zeros((b, b), dtype=bool)
            cols = np.argpartition(-a, d - 1, axis=1)[:, :d]
            np.put_along_axis(top, cols, True, axis=1)
            out.append(keep & top & top.T)
        return out, keep_coo
    # General path: every surviving non-zero stored term as an edge, ranked at both of its ends.
    keep_coo = keep_coo & (problem.sparse.vals != 0)
    masked = problem.replace(dense=tuple(DenseBlock(b.index, np.where(k, b.matrix, 0.0))
                                         for b, k in zip(problem.dense, keep_blocks)),
                             sparse=Couplings(problem.sparse.rows[keep_coo], problem.sparse.cols[keep_coo],
                                              problem.sparse.vals[keep_coo]))
    t = to_coo(masked)
    e = t.vals.shape[0]
    node = np.concatenate([t.rows, t.cols])
    ent = np.concatenate([np.arange(e), np.arange(e)])
    strength = np.concatenate([np.abs(t.vals), np.abs(t.vals)])
    order = np.lexsort((ent, -strength, node))
    sorted_node = node[order]
    first = np.searchsorted(sorted_node, sorted_node, side="left")
    rank = np.empty(2 * e, dtype=np.int64)
    rank[order] = np.arange(2 * e) - first
    ok = (rank[:e] < d) & (rank[e:] < d)
    # Map the decisions back onto the storage: sparse terms first, then each block's non-zeros (to_coo order).
    ns = len(masked.sparse)
    new_coo = keep_coo.copy()
    new_coo[np.flatnonzero(keep_coo)] = ok[:ns]
    out, start = [], ns
    for block in masked.dense:
        a, b = np.nonzero(block.matrix)
        k = np.zeros(block.matrix.shape, dtype=bool)
        k[a, b] = ok[start:start + a.size]
        start += a.size
        out.append(k)
    return out, new_coo


def _blocks_disjoint(problem: Problem) -> bool:
    seen = np.zeros(problem.num_vars, dtype=np.int64)
    for block in problem.dense:
        seen[block.index] += 1
    return bool(np.all(seen <= 1))


PASSES = (Prune,)
