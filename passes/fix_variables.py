"""fix-variables: fix variables whose optimal value is provable, fold them into the rest (exact).

Method ``roof-duality`` (dwave-preprocessing, ``strict=True``). Roof duality
returns a partial assignment x_F = v with the *autarky* property (Boros &
Hammer; Kolmogorov & Rother's QPBO review): for every assignment x,

    E(x with x_F replaced by v) <= E(x).

Unconstrained problems: apply x* = any minimiser; the overwritten assignment is
no worse, so a minimiser with x_F = v exists and fixing loses nothing.

Constraints: roof duality knows nothing of them. If its labelling fixes no
variable that appears in a constraint, overwriting x_F keeps every
constraint satisfied, so by the autarky property some constrained optimum has
x_F = v and the whole labelling is used. If it does fix constrained variables,
it is discarded entirely: keeping only its unconstrained part is *not* safe,
because a part of an autarky need not be one (the tests found a 9-variable
case where it cuts off the constrained optimum). The pass then falls back to
first-order dominance on the unconstrained variables, which is an autarky
variable by variable: with [lo_i, hi_i] the range of the local field
h_i + sum_j J_ij x_j over all x, lo_i >= 0 means setting x_i = 0 never raises
the energy, hi_i <= 0 the same for x_i = 1. Fixings are folded and the rule
repeated until nothing changes. A frontend layer whose cardinality
constraint covers every unit keeps all its variables; the pass then skips the
solver entirely. (Lowering the constraints first would make roof duality
valid, but the penalty's positive couplings make the problem so
non-submodular that roof duality fixes nothing in practice.)

The values are folded exactly by :func:`qsel.ir.clamp`, which records them in
``metadata["fixed"]`` (and their provenance) so decoding restores them:
E_after(x_R) == E_before(x_R, v) for every x_R.

Two caveats from the library: it converts coefficients to 64-bit integers
(resolution 4 * sum|linear posiform| / 2^63) before its max-flow, so fixings are
exact for that rounded problem; and its ``strict=False`` mode is not offered
because on small integer problems it returns labellings that no minimiser
shares (the tests enumerate such problems and check the autarky property of
``strict=True`` instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from qsel.ir import Problem, clamp

from .base import PropertySet, TransformationPass, Transformed
from .quadratic import effective_coo, field_ranges

DENSE_BQM_MAX_VARS = 5000  # above this the BQM is built from COO instead of an n x n matrix


@dataclass(frozen=True)
class FixVariables(TransformationPass):
    """Fix variables with provable optimal values (roof duality), outside constraints only (exact)."""

    name = "fix-variables"
    exact = True
    correspondence = "mapped"
    method: Literal["roof-duality"] = "roof-duality"

    def run(self, problem: Problem, props: PropertySet) -> Transformed:
        n = problem.num_vars
        constrained = _constrained(problem)
        if n == 0 or constrained.all():
            return Transformed(problem, details={"fixed": 0, "skipped": "every variable is in a constraint"})
        lower_bound, fixed = _roof_duality(problem)
        idx = np.fromiter(fixed.keys(), dtype=np.int64, count=len(fixed))
        val = np.fromiter(fixed.values(), dtype=np.float64, count=len(fixed))
        details = {"roof_dual_lower_bound": float(lower_bound)}
        if not constrained[idx].any():
            out = clamp(problem, idx, val)
            details.update({"fixed": int(idx.size), "rule": "roof-duality"})
            return Transformed(out, details=details)
        out = _dominance(problem)
        details.update({"fixed": problem.num_vars - out.num_vars, "rule": "dominance",
                        "roof_duality_discarded": int(idx.size)})
        return Transformed(out, details=details)


def _constrained(problem: Problem) -> np.ndarray:
    mask = np.zeros(problem.num_vars, dtype=bool)
    for c in problem.constraints:
        mask[c.indices] = True
    return mask


def _dominance(problem: Problem) -> Problem:
    """Repeatedly fix unconstrained x_i to 0 where lo_i >= 0 and to 1 where hi_i <= 0 (each an autarky)."""
    while problem.num_vars:
        lo, hi = field_ranges(problem)
        free = ~_constrained(problem)
        zero, one = free & (lo >= 0), free & (hi <= 0) & ~(lo >= 0)
        idx = np.flatnonzero(zero | one)
        if idx.size == 0:
            break
        problem = clamp(problem, idx, one[idx].astype(np.float64))
    return problem


def _roof_duality(problem: Problem) -> tuple[float, dict[int, int]]:
    import dimod
    from dwave.preprocessing import roof_duality

    n = problem.num_vars
    if n <= DENSE_BQM_MAX_VARS:
        bqm = dimod.BinaryQuadraticModel(problem.linear, problem.to_dense_upper(), problem.offset, "BINARY")
    else:
        t = effective_coo(problem)
        bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(problem.linear, (t.rows, t.cols, t.vals),
                                                             problem.offset, "BINARY")
    lower_bound, fixed = roof_duality(bqm, strict=True)
    return lower_bound, {int(k): int(v) for k, v in fixed.items()}


PASSES = (FixVariables,)
