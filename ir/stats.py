"""Summary statistics of a problem: counts, density, coefficient ranges, dynamic range.

Dynamic range in bits is log2(max |c| / min |c|) over the non-zero linear and
quadratic coefficients c: the precision a target needs to represent every
coefficient relative to the largest one (D-Wave's analog controls resolve
roughly 4-6 bits; QAOA angles care less).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .problem import Problem


@dataclass(frozen=True)
class Stats:
    num_vars: int
    num_linear: int
    num_couplings: int
    num_dense_blocks: int
    num_sparse: int
    num_constraints: int
    density: float
    h_min: float
    h_max: float
    j_min: float
    j_max: float
    abs_min_nonzero: float
    abs_max: float
    dynamic_range_bits: float
    offset: float
    partitions: list[int]
    constraints: list[dict]
    penalties: dict

    def as_dict(self) -> dict:
        return asdict(self)


def _range(parts: list[np.ndarray]) -> tuple[float, float]:
    mins = [float(p.min()) for p in parts if p.size]
    maxs = [float(p.max()) for p in parts if p.size]
    return (min(mins), max(maxs)) if mins else (0.0, 0.0)


def _abs_nonzero_range(parts: list[np.ndarray]) -> tuple[float, float]:
    lo, hi = math.inf, 0.0
    for p in parts:
        a = np.abs(p[p != 0])  # no-op filter for the already non-zero quadratic parts
        if a.size:
            lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    return (0.0, 0.0) if hi == 0.0 else (lo, hi)


def compute(problem: Problem) -> Stats:
    n = problem.num_vars
    # Zero entries of dense blocks (lower triangle included) are structural, not couplings.
    q_nonzero = [p[p != 0] for p in [*(b.matrix.ravel() for b in problem.dense), problem.sparse.vals]]
    couplings = int(sum(p.size for p in q_nonzero))
    h_min, h_max = _range([problem.linear])
    j_min, j_max = _range(q_nonzero)
    lo, hi = _abs_nonzero_range([problem.linear, *q_nonzero])
    bits = math.log2(hi / lo) if hi > 0 else 0.0
    pairs = n * (n - 1) / 2
    return Stats(
        num_vars=n,
        num_linear=int(np.count_nonzero(problem.linear)),
        num_couplings=couplings,
        num_dense_blocks=len(problem.dense),
        num_sparse=len(problem.sparse),
        num_constraints=len(problem.constraints),
        density=(couplings / pairs) if pairs else 0.0,
        h_min=h_min, h_max=h_max, j_min=j_min, j_max=j_max,
        abs_min_nonzero=lo, abs_max=hi,
        dynamic_range_bits=bits,
        offset=float(problem.offset),
        partitions=[p.size for p in problem.partitions],
        constraints=[{"label": c.label, "kind": c.kind, "sense": c.sense.value, "rhs": c.rhs,
                      "size": int(c.indices.shape[0])} for c in problem.constraints],
        penalties=dict(problem.metadata.get("penalties", {})),
    )
