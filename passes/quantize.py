"""quantize: round coefficients to a B-bit grid, as a device's DACs would (lossy, bounded).

Linear biases and couplings each get a signed grid with 2^(B-1) - 1 steps per
side: step = R / (2^(B-1) - 1) and c -> round(c / step) * step, so 0 stays 0
(no coupling appears) and |rounding error| <= step / 2 per coefficient.
R is the largest |coefficient| of that kind (``grid=data``) or the range
recorded by an earlier scale pass (``grid=scale``: a device whose levels
span its full h/J ranges whether the problem uses them or not).
The offset is kept as is (no device programs it).

Bound. E_q(x) - E(x) = sum_i dh_i x_i + sum_ij dJ_ij x_i x_j, a sum over a
subset of the errors, so it lies in [-N, P] with P (N) the sum of the positive
(|negative|) errors: |E_q(x) - E(x)| <= max(P, N) <= sum |dh| + sum |dJ|
for every x. Reported in the input's units (``bound``) and, after a scale
pass, in the original problem's units (``bound_original_units`` = bound / F).
Each stored term is rounded on its own: run canonicalize first so that a
pair is stored once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from qsel.ir import Couplings, DenseBlock, Problem, QselError

from .base import PropertySet, TransformationPass, Transformed
from .mapping import reserved, scale_factor


@dataclass(frozen=True)
class Quantize(TransformationPass):
    """Round h and J to B-bit grids over their ranges; bound = the summed rounding errors (lossy)."""

    name = "quantize"
    exact = False
    bits: int = 8
    grid: Literal["data", "scale"] = "data"

    def __post_init__(self) -> None:
        if not 2 <= self.bits <= 52:
            raise ValueError(f"bits must be between 2 and 52, got {self.bits}")

    def run(self, problem: Problem, props: PropertySet) -> Transformed:
        levels = 2 ** (self.bits - 1) - 1
        J_parts = [b.matrix for b in problem.dense] + [problem.sparse.vals]
        if self.grid == "scale":
            rec = reserved(problem.metadata, "scale")
            if "h_range" not in rec or "j_range" not in rec:
                raise QselError("quantize: grid=scale needs a scale pass first (no metadata 'scale' ranges)")
            r_h = max(abs(v) for v in rec["h_range"])
            r_j = max(abs(v) for v in rec["j_range"])
        else:
            r_h = float(np.abs(problem.linear).max(initial=0.0))
            r_j = max(float(np.abs(p).max(initial=0.0)) for p in J_parts)
        step_h, step_j = r_h / levels, r_j / levels
        pos = neg = 0.0

        def rnd(values: np.ndarray, step: float) -> np.ndarray:
            nonlocal pos, neg
            if step == 0:
                return values
            q = np.round(values / step) * step + 0.0  # + 0.0: no negative zeros
            err = q - values
            pos += float(err[err > 0].sum())
            neg -= float(err[err < 0].sum())
            return q

        linear = rnd(problem.linear, step_h)
        dense = tuple(DenseBlock(b.index, rnd(b.matrix, step_j)) for b in problem.dense)
        sp = problem.sparse
        sparse = Couplings(sp.rows, sp.cols, rnd(sp.vals, step_j))
        out = problem.replace(linear=linear, dense=dense, sparse=sparse)
        bound = max(pos, neg)
        factor = scale_factor(problem)
        return Transformed(out, bound=bound, details={
            "bits": self.bits, "h_step": step_h, "j_step": step_j, "abs_error_sum": pos + neg,
            "bound_original_units": bound / factor})


PASSES = (Quantize,)
