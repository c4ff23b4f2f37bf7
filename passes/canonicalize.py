"""canonicalize: one representation per problem, energies unchanged (exact).

* sparse couplings: (r, c) with r > c becomes (c, r); r == c folds into the
  linear bias (x_r^2 = x_r); entries whose two variables lie in one dense block
  move into that block; duplicates are summed; exact zeros are dropped; the
  rest is sorted by (r, c).
* dense blocks: indices sorted (the matrix permuted, M <- triu(P (M + M^T) P^T, 1)),
  blocks over the same variables summed, all-zero blocks dropped, blocks sorted
  by their first variable.
* constraints: terms sorted by variable, repeated variables summed, zero
  coefficients dropped. Partitions: variables sorted.
Variable order is never changed: it carries provenance order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsel.ir import Constraint, Couplings, DenseBlock, Partition, Problem
from qsel.ir.verifier import matrix_checks

from .base import PropertySet, TransformationPass


@dataclass(frozen=True)
class Canonicalize(TransformationPass):
    """Merge duplicate terms, drop exact zeros, put everything in canonical order (exact)."""

    name = "canonicalize"
    exact = True

    def run(self, problem: Problem, props: PropertySet) -> Problem:
        n = problem.num_vars
        linear = problem.linear.copy()
        blocks = [_sorted_block(b, linear) for b in problem.dense]
        blocks = _merge_same_blocks(blocks)

        sp = problem.sparse
        r, c, v = np.minimum(sp.rows, sp.cols), np.maximum(sp.rows, sp.cols), sp.vals.copy()
        diag = r == c
        np.add.at(linear, r[diag], v[diag])
        r, c, v = r[~diag], c[~diag], v[~diag]

        for k, block in enumerate(blocks):
            if not r.size:
                break
            pos = np.full(n, -1, dtype=np.int64)
            pos[block.index] = np.arange(block.size)
            inside = (pos[r] >= 0) & (pos[c] >= 0)
            if inside.any():
                m = block.matrix.copy()
                np.add.at(m, (pos[r[inside]], pos[c[inside]]), v[inside])  # index sorted => pos[r] < pos[c]
                blocks[k] = DenseBlock(block.index, m)
                r, c, v = r[~inside], c[~inside], v[~inside]

        keys, inverse = np.unique(r * n + c, return_inverse=True)
        summed = np.bincount(inverse, weights=v, minlength=keys.shape[0]) if keys.size else np.zeros(0)
        keep = summed != 0
        sparse = Couplings(keys[keep] // max(n, 1), keys[keep] % max(n, 1), summed[keep])

        blocks = [b for b in blocks if np.any(b.matrix)]
        blocks.sort(key=lambda b: (int(b.index[0]), b.size))
        return problem.replace(
            linear=linear,
            dense=tuple(blocks),
            sparse=sparse,
            constraints=tuple(_canonical_constraint(con) for con in problem.constraints),
            partitions=tuple(Partition(p.name, np.sort(p.indices)) for p in problem.partitions),
        )


def _sorted_block(block: DenseBlock, linear: np.ndarray) -> DenseBlock:
    """Sort the block's variables; fold a diagonal into ``linear`` and a lower triangle upward."""
    m = block.matrix
    if not np.any(np.diff(block.index) < 0) and matrix_checks(m)[1]:
        return block  # already canonical: checked in row tiles, no n x n temporaries
    diag = np.diag(m)
    lower = np.tril(m, -1)
    np.add.at(linear, block.index, diag)
    upper = np.triu(m, 1) + lower.T  # same x^T U x for binary x once the diagonal is moved out
    order = np.argsort(block.index, kind="stable")
    sym = (upper + upper.T)[np.ix_(order, order)]
    return DenseBlock(block.index[order], np.triu(sym, 1))


def _merge_same_blocks(blocks: list[DenseBlock]) -> list[DenseBlock]:
    merged: dict[bytes, DenseBlock] = {}
    for b in blocks:
        key = b.index.tobytes()
        if key in merged:
            merged[key] = DenseBlock(b.index, merged[key].matrix + b.matrix)
        else:
            merged[key] = b
    return list(merged.values())


def _canonical_constraint(con: Constraint) -> Constraint:
    idx, inverse = np.unique(con.indices, return_inverse=True)
    coeffs = np.bincount(inverse, weights=con.coeffs, minlength=idx.shape[0]) if idx.size else np.zeros(0)
    keep = coeffs != 0
    return Constraint(con.label, idx[keep], coeffs[keep], con.sense, con.rhs)


PASSES = (Canonicalize,)
