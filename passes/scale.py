"""scale: multiply every coefficient by one factor so that h and J fit a target's ranges (exact up to the factor).

With h in [h_min, h_max] and effective couplings J in [j_min, j_max] the pass
takes the largest f > 0 with f*h in h-range and f*J in j-range:

    f = min( h_hi / h_max  [if h_max > 0],  h_lo / h_min  [if h_min < 0],
             j_hi / j_max  [if j_max > 0],  j_lo / j_min  [if j_min < 0] )

(f = 1 when there is nothing to scale) and multiplies h, every coupling and the
offset by f, so E_out(x) = f E_in(x) for every x: the minimisers and the order
of all assignments are unchanged and energies map back exactly. That is the
sense in which this pass is exact (``correspondence = "mapped"``): it records
the cumulative ``metadata["scale"] = {"factor": F, ...}`` with
E_original = E_scaled / F, the factor later passes and decoding divide out.
The ranges are checked on the *effective* couplings (pairs stored twice are
summed first), since that is what a device programs. f is nudged down by
a few ulps if rounding would put a coefficient a hair outside its range, and
capped so that no energy can overflow (|E| <= sum of |coefficients| times f
stays below a quarter of the largest double; only degenerate inputs such as a
lone subnormal bias hit the cap).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from qsel.ir import Couplings, DenseBlock, Problem, QselError

from .base import PropertySet, TransformationPass, Transformed
from .mapping import scale_factor
from .quadratic import coupling_range, storage_overlaps

_MAX_FACTOR = 2.0 ** 1000  # keeps the factor itself finite for all-subnormal inputs


@dataclass(frozen=True)
class Scale(TransformationPass):
    """Multiply all coefficients by one factor so h and J fit the ranges; factor recorded (exact up to it)."""

    name = "scale"
    exact = True
    correspondence = "mapped"
    h_range: tuple[float, float] = (-4.0, 4.0)
    j_range: tuple[float, float] = (-1.0, 1.0)

    def __post_init__(self) -> None:
        for opt, (lo, hi) in (("h-range", self.h_range), ("j-range", self.j_range)):
            if not (np.isfinite(lo) and np.isfinite(hi) and lo <= 0 <= hi and lo < hi):
                raise ValueError(f"{opt} must be LO:HI with LO <= 0 <= HI and LO < HI, got {lo}:{hi}")

    def run(self, problem: Problem, props: PropertySet) -> Transformed:
        h = problem.linear
        h_lo, h_hi = (float(h.min()), float(h.max())) if h.size else (0.0, 0.0)
        j_lo, j_hi = coupling_range(problem)
        limits = []
        for what, (lo, hi), (vmin, vmax) in (("h", self.h_range, (h_lo, h_hi)), ("J", self.j_range, (j_lo, j_hi))):
            if vmax > 0:
                if hi == 0:
                    raise QselError(f"scale: {what} has positive values (up to {vmax:g}) but the range "
                                    f"{lo:g}:{hi:g} allows none")
                limits.append(hi / vmax)
            if vmin < 0:
                if lo == 0:
                    raise QselError(f"scale: {what} has negative values (down to {vmin:g}) but the range "
                                    f"{lo:g}:{hi:g} allows none")
                limits.append(lo / vmin)
        f = min(limits) if limits else 1.0
        # Never let an energy overflow: |E(x)| <= sum of |coefficients| (offset included).
        total = float(abs(problem.offset) + np.abs(h).sum() + sum(np.abs(b.matrix).sum() for b in problem.dense)
                      + np.abs(problem.sparse.vals).sum())
        room = float(np.finfo(np.float64).max) / 4
        f = min(f, room / total if total > room / _MAX_FACTOR else _MAX_FACTOR)
        if not (np.isfinite(f) and f > 0):
            raise QselError(f"scale: the coefficients span too many orders of magnitude to scale (factor {f})")
        overlaps = storage_overlaps(problem)
        for _ in range(64):  # rounding of v * (hi / v), or of sums of scaled terms, may land an ulp outside
            if (h_hi * f <= self.h_range[1] and h_lo * f >= self.h_range[0]
                    and j_hi * f <= self.j_range[1] and j_lo * f >= self.j_range[0]):
                out = _scaled(problem, f)
                if not overlaps:
                    break
                lo, hi = coupling_range(out)
                if self.j_range[0] <= lo and hi <= self.j_range[1]:
                    break
            f = float(np.nextafter(f, 0.0)) * (1 - 2.0 ** -50)
        else:  # pragma: no cover - 64 nudges of 2^-50 always suffice
            raise QselError("scale: could not fit the coefficients into the ranges")
        previous = scale_factor(problem)
        metadata = copy.deepcopy(problem.metadata)
        metadata["scale"] = {"factor": previous * f, "h_range": list(self.h_range), "j_range": list(self.j_range)}
        out = out.replace(metadata=metadata)
        return Transformed(out, details={"factor": f, "cumulative_factor": previous * f})


def _scaled(problem: Problem, f: float) -> Problem:
    return problem.replace(
        linear=problem.linear * f, offset=float(problem.offset) * f,
        dense=tuple(DenseBlock(b.index, b.matrix * f) for b in problem.dense),
        sparse=Couplings(problem.sparse.rows, problem.sparse.cols, problem.sparse.vals * f))


PASSES = (Scale,)
