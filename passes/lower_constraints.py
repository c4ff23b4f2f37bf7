"""lower-constraints: turn constraints into quadratic penalties (exact on the feasible set).

Each constraint sum_k c_k x_k (==|<=|>=) rhs is first brought to *integer form*
a.x (sense) b: divided by a unit u (the largest number of which every c_k is
an integer multiple, found from the ratios c_k / min|c| as fractions with
denominators up to 1000) so that a has coprime integer entries; b = rhs/u
(rounded down for <=, up for >=; for == it must be an integer or the
constraint can never hold).
>= becomes <= by negation. Then

    ==:  P (a.x - b)^2
    <=:  P (a.x + w.s - b)^2   with slack bits s and weights w = 1, 2, 4, ...,
         the last one cut so that sum w = S = b - min_x a.x: every slack value
         0..S is representable, so a feasible x has a slack with zero penalty
         and an infeasible one (a.x > b) pays at least P.

Slack variables are labelled ``LABEL.sJ``, granularity generic, no layer or
unit (decoding ignores them); they join the constraint's partition.
Constraints that always hold are dropped (penalty 0); ones that never hold are
an error. ``metadata["penalties"][label] = P`` (shown by ``qsel inspect``) and
``metadata["lowered_constraints"]`` keeps label, variable labels, coefficients,
sense, rhs, P, unit, slack labels and the proof used, so a result can still say
which constraints a sample broke, plus the penalty's **constant** P b^2 (the part
of P (a.x + w.s - b)^2 that is added to the IR offset, b in integer form) and
``scale_factor``, the cumulative ``metadata["scale"]["factor"]`` when it was
added: a later ``scale`` pass multiplies the offset, so the constant's share of
the current offset is constant * F_now / scale_factor. Targets use it to give
each block file the constants of the penalties inside it
(:func:`qsel.targets.manifest.block_constants`) instead of one global offset.

Exactness: for every x satisfying the constraints, min over the slack of
E_out(x, s) = E_in(x); every other x pays a positive penalty. With
``penalty=auto`` the penalty also keeps every minimiser feasible:

Auto penalty (proof sketch). Let f be the energy before this pass and
delta_i = max(hi_i, -lo_i, 0) with [lo_i, hi_i] the range of the local field
h_i + sum_j J_ij x_j (so flipping x_i alone raises f by at most delta_i, over
every x). Let x be infeasible for a constraint C (violation d = a.x - b >= 1 in
integer form, w.l.o.g. a.x > b after negation; for <= first set the slack to 0,
which does not raise the penalty) and C share no variable with any other
constraint.
* ``one-flip`` (all |a_k| = 1, e.g. cardinality): some variable of C can move
  a.x one step towards b (a.x > b >= min a.x). The penalty drops from P d^2 to
  P (d-1)^2, by P (2d - 1) >= P, while f rises by at most max_{k in C} delta_k.
  With P > max_{k in C} delta_k every infeasible x has a strictly better
  neighbour, so repeating reaches a feasible x' with E(x') < E(x): no
  infeasible assignment beats the best feasible one.
* ``path`` (other integer coefficients, where one flip may overshoot): go
  from x to a nearest feasible x'; it differs from x only inside C, so f
  rises by at most sum_{k in C} delta_k, and the penalty falls by at least P
  (integer violation). P > sum_{k in C} delta_k suffices.
* ``range`` (constraints sharing variables, where fixing one may break
  another): an infeasible x pays at least P, and f varies by at most
  sum|h| + sum|J| over all x, so P above that suffices. Safe but large.
Flips stay inside C, so other lowered constraints (disjoint from C) keep their
penalties and constraints kept for later stay satisfied. P = bound * (1 + margin)
(when the bound is 0, the objective ignores the constraint's variables and any
P > 0 works: the largest delta_i of the problem is used, or 1 if all are 0).

With ``scope=block`` the local fields of a constraint inside one partition
block count only couplings inside that block: the guarantee then holds for
each block's subproblem with the other blocks at 0 (how targets extract
blocks by default), not for the whole coupled problem nor for blocks solved
with the others clamped at non-zero values, and P is smaller (without
partitions, or for a constraint spanning blocks, the problem scope is used).

Constraints spanning several partitions are kept as constraints for the
composition step unless ``spanning=lower`` (their penalty would couple blocks).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import numpy as np

from qsel.ir import Constraint, Couplings, DenseBlock, Partition, Problem, QselError, Sense, Variables

from .base import PropertySet, TransformationPass, Transformed
from .mapping import reserved, scale_factor
from .quadratic import field_ranges, owner_of

_TOL = 1e-9


@dataclass(frozen=True)
class _Form:
    """Integer form a.x + w.s (==|<=) b of one constraint, over unique variables idx."""

    constraint: Constraint
    idx: np.ndarray
    a: np.ndarray
    b: float
    unit: float
    integer: bool
    redundant: bool = False
    slack: np.ndarray = field(default_factory=lambda: np.zeros(0))  # slack weights (<= only)


@dataclass(frozen=True)
class LowerConstraints(TransformationPass):
    """Turn constraints into penalties P(a.x - b)^2 (slack bits for <=, >=); auto P provably sufficient."""

    name = "lower-constraints"
    exact = True
    correspondence = "mapped"
    penalty: float | Literal["auto"] = "auto"
    margin: float = 0.01
    scope: Literal["problem", "block"] = "problem"
    spanning: Literal["keep", "lower"] = "keep"

    def __post_init__(self) -> None:
        if self.penalty != "auto" and not (np.isfinite(self.penalty) and self.penalty > 0):
            raise ValueError(f"penalty must be 'auto' or a finite number > 0, got {self.penalty}")
        if not (np.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"margin must be a finite number >= 0, got {self.margin}")

    def run(self, problem: Problem, props: PropertySet) -> Transformed:
        owner = owner_of(problem)
        chosen, kept = [], []
        for c in problem.constraints:
            spans = problem.partitions and np.unique(owner[c.indices]).size > 1
            (kept if spans and self.spanning == "keep" else chosen).append(c)
        if not chosen:
            return Transformed(problem, details={"lowered": {}, "kept": [c.label for c in kept]})
        forms = [_integer_form(c, need_integer=self.penalty == "auto") for c in chosen]

        lo, hi = field_ranges(problem)
        delta = np.maximum(np.maximum(hi, -lo), 0.0)
        if self.scope == "block" and problem.partitions:
            lo, hi = field_ranges(problem, owner)
            block_delta = np.maximum(np.maximum(hi, -lo), 0.0)
        else:
            block_delta = delta
        uses = np.zeros(problem.num_vars, dtype=np.int64)
        for c in problem.constraints:
            uses[np.unique(c.indices)] += 1
        spread = None
        fallback = float(delta.max(initial=0.0)) or 1.0

        b = _Builder(problem)
        factor = scale_factor(problem)
        metadata = copy.deepcopy(problem.metadata)
        penalties = metadata["penalties"] = reserved(metadata, "penalties")
        records = metadata["lowered_constraints"] = reserved(metadata, "lowered_constraints", list)
        lowered, proofs = {}, {}
        for form in forms:
            c = form.constraint
            if form.redundant:
                proof, bound, P = "redundant", 0.0, 0.0
                constant = 0.0
            else:
                if not form.integer:
                    proof, bound = "none", None
                elif np.all(uses[form.idx] == 1):
                    one_flip = bool(np.all(np.abs(form.a) == 1))
                    proof = "one-flip" if one_flip else "path"
                    inside = np.unique(owner[form.idx]).size == 1  # scope=block applies to one block only
                    d = (block_delta if inside else delta)[form.idx]
                    bound = float(d.max() if one_flip else d.sum())
                else:
                    if spread is None:
                        spread = _objective_spread(problem)
                    proof, bound = "range", spread
                if self.penalty == "auto":
                    # bound 0: the objective ignores these variables and any P > 0 works; take one on
                    # the problem's own scale so that scale does not squeeze the other blocks for it.
                    P = (bound if bound > 0 else fallback) * (1.0 + self.margin)
                else:
                    P = float(self.penalty)
                constant = b.add_penalty(form, P, owner)
            penalties[c.label] = P
            lowered[c.label] = P
            proofs[c.label] = proof
            records.append({
                "label": c.label, "variables": problem.variables.labels[c.indices].tolist(),
                "coeffs": c.coeffs.tolist(), "sense": c.sense.value, "rhs": float(c.rhs), "penalty": P,
                "unit": form.unit, "slack": b.slack_labels.get(c.label, []), "slack_weights": form.slack.tolist(),
                "proof": proof, "sufficient_above": bound,
                "sufficient": None if bound is None else bool(form.redundant or P > bound),
                "constant": constant, "scale_factor": factor})
        out = b.build(tuple(kept), metadata)
        return Transformed(out, details={"lowered": lowered, "proofs": proofs, "kept": [c.label for c in kept],
                                         "slack_vars": out.num_vars - problem.num_vars})


def _objective_spread(problem: Problem) -> float:
    """max f - min f <= sum|h| + sum|J| over stored terms."""
    return float(np.abs(problem.linear).sum() + sum(np.abs(bl.matrix).sum() for bl in problem.dense)
                 + np.abs(problem.sparse.vals).sum())


def _integer_form(c: Constraint, need_integer: bool) -> _Form:
    idx, inverse = np.unique(c.indices, return_inverse=True)
    coeffs = np.bincount(inverse, weights=c.coeffs, minlength=idx.size) if idx.size else np.zeros(0)
    nz = coeffs != 0
    idx, coeffs = idx[nz], coeffs[nz]
    where = f"lower-constraints: constraint {c.label!r}"
    if idx.size == 0:
        holds = {"==": abs(c.rhs) <= _TOL, "<=": 0 <= c.rhs + _TOL, ">=": 0 >= c.rhs - _TOL}[c.sense.value]
        if not holds:
            raise QselError(f"{where} has no variables and reads 0 {c.sense.value} {c.rhs:g}: it can never hold")
        return _Form(c, idx, coeffs, 0.0, 1.0, True, redundant=True)
    unit0 = float(np.abs(coeffs).min())
    denominator = _common_denominator(coeffs / unit0)
    if denominator is None:
        if c.sense is not Sense.EQ:
            raise QselError(f"{where} ({c.sense.value}) has coefficients that are not integer multiples of one "
                            f"unit (e.g. {coeffs[:3].tolist()}); an exact slack encoding needs them. "
                            "Rescale the constraint to integer coefficients")
        if need_integer:
            raise QselError(f"{where} has coefficients that are not integer multiples of one unit "
                            f"(e.g. {coeffs[:3].tolist()}), so no penalty can be proven sufficient; "
                            "give penalty=VALUE or rescale the constraint to integer coefficients")
        return _Form(c, idx, coeffs, float(c.rhs), 1.0, False)
    unit0 /= denominator
    ints = np.round(coeffs / unit0)
    g = math.gcd(*np.abs(ints).astype(np.int64).tolist())
    a = ints / g
    unit = unit0 * g
    q = c.rhs / unit
    sense = c.sense
    if sense is Sense.EQ:
        b = round(q)
        if abs(q - b) > _TOL * max(1.0, abs(q)):
            raise QselError(f"{where} can never hold: its left side is a multiple of {unit:g} and the "
                            f"right side {c.rhs:g} is not")
    elif sense is Sense.LE:
        b = math.floor(q + _TOL * max(1.0, abs(q)))
    else:
        b = -math.ceil(q - _TOL * max(1.0, abs(q)))
        a = -a
    lo, hi = float(a[a < 0].sum()), float(a[a > 0].sum())
    if b < lo or (sense is Sense.EQ and b > hi):
        lhs_lo, lhs_hi = float(coeffs[coeffs < 0].sum()), float(coeffs[coeffs > 0].sum())
        raise QselError(f"{where} can never hold: its left side ranges over [{lhs_lo:g}, {lhs_hi:g}] "
                        f"and it must be {c.sense.value} {c.rhs:g}")
    if sense is not Sense.EQ:
        if b >= hi:
            return _Form(c, idx, a, float(b), unit, True, redundant=True)
        return _Form(c, idx, a, float(b), unit, True, slack=_slack_weights(int(b - lo)))
    return _Form(c, idx, a, float(b), unit, True)


def _common_denominator(ratios: np.ndarray, limit: int = 1000) -> int | None:
    """Smallest D <= limit with every ratio * D an integer (within _TOL), else None."""
    D = 1
    for r in np.unique(np.abs(ratios)).tolist():
        frac = Fraction(r).limit_denominator(limit)
        if abs(float(frac) - r) > _TOL * max(1.0, r):
            return None
        D = D * frac.denominator // math.gcd(D, frac.denominator)
        if D > limit:
            return None
    return D


def _slack_weights(S: int) -> np.ndarray:
    """Weights 1, 2, ..., 2^(m-2), S - (2^(m-1) - 1) with m = bit_length(S): sums of subsets are exactly 0..S."""
    m = S.bit_length()
    w = [2.0 ** j for j in range(m - 1)]
    return np.array(w + [float(S - (2 ** (m - 1) - 1))])


def _add_upper_outer(M: np.ndarray, pos: np.ndarray, a: np.ndarray, scale: float,
                     tile_entries: int = 1 << 22) -> None:
    """In place: M[pos_k, pos_l] += scale * a_k * a_l for every k < l (``pos`` sorted ascending, so this is
    M's strict upper triangle). Row tiles of at most ``tile_entries`` entries, slices where ``pos`` is a
    contiguous range: no len(pos)^2 temporaries (np.outer + np.triu + a fancy-indexed copy took three
    2 GB arrays on a 16,384-unit layer)."""
    n = pos.size
    contiguous = n > 0 and int(pos[-1]) - int(pos[0]) == n - 1
    cols = slice(int(pos[0]), int(pos[-1]) + 1) if contiguous else pos
    tile = max(1, tile_entries // max(n, 1))
    for t0 in range(0, n, tile):
        t1 = min(t0 + tile, n)
        block = scale * np.outer(a[t0:t1], a)
        block[np.arange(t1 - t0)[:, None] >= np.arange(n)[None, :] - t0] = 0.0  # keep l > k only
        if contiguous:
            M[int(pos[t0]):int(pos[t0]) + (t1 - t0), cols] += block
        else:
            M[np.ix_(pos[t0:t1], pos)] += block


class _Builder:
    """Accumulates penalty terms and slack variables on a copy of the problem's arrays."""

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        self.n = problem.num_vars
        self.linear = problem.linear.astype(np.float64).copy()
        self.offset = float(problem.offset)
        self.blocks = list(problem.dense)
        self.copied: set[int] = set()
        self.new_blocks: list[DenseBlock] = []
        self.coo: list[Couplings] = [problem.sparse]
        self.slack_labels: dict[str, list[str]] = {}
        self.slack_linear: list[float] = []
        self.slack_owner: list[int] = []
        self.used = set(problem.labels)

    def add_penalty(self, form: _Form, P: float, owner: np.ndarray) -> float:
        """Add P (a.x + w.s - b)^2 expanded over binaries (x^2 = x); returns its constant P b^2."""
        a, b, idx = form.a, form.b, form.idx
        k = form.slack.size
        sidx = np.arange(self.n + len(self.slack_linear), self.n + len(self.slack_linear) + k)
        labels = []
        for j in range(k):
            lab = f"{form.constraint.label}.s{j}"
            while lab in self.used:
                lab += "'"
            self.used.add(lab)
            labels.append(lab)
        self.slack_labels[form.constraint.label] = labels
        own = owner[idx]
        home = int(np.bincount(own - own.min()).argmax() + own.min()) if own.size else -1
        self.slack_linear += (P * (form.slack ** 2 - 2 * b * form.slack)).tolist()
        self.slack_owner += [home] * k
        self.linear[idx] += P * (a ** 2 - 2 * b * a)
        constant = float(P * b * b)
        self.offset += constant
        self._add_pairs(idx, a, P)
        if k:
            w = form.slack
            r, c = np.meshgrid(idx, sidx, indexing="ij")
            self.coo.append(Couplings(r.ravel(), c.ravel(), (2 * P * np.outer(a, w)).ravel()))
            i, j = np.triu_indices(k, 1)
            self.coo.append(Couplings(sidx[i], sidx[j], 2 * P * w[i] * w[j]))
        return constant

    def _add_pairs(self, idx: np.ndarray, a: np.ndarray, P: float) -> None:
        """2P a_k a_l x_k x_l for k < l: into a dense block holding all of idx, else a new block."""
        if idx.size < 2:
            return
        for bi, block in enumerate(self.blocks):
            pos = np.full(self.n, -1, dtype=np.int64)
            pos[block.index] = np.arange(block.size)
            local = pos[idx]
            if np.all(local >= 0):
                if bi not in self.copied:
                    self.blocks[bi] = DenseBlock(block.index, block.matrix.copy())
                    self.copied.add(bi)
                order = np.argsort(local)
                _add_upper_outer(self.blocks[bi].matrix, local[order], a[order], 2 * P)
                return
        self.new_blocks.append(DenseBlock(idx, np.triu(2 * P * np.outer(a, a), 1)))  # idx sorted (np.unique)

    def build(self, kept: tuple[Constraint, ...], metadata: dict) -> Problem:
        p = self.p
        labels = [lab for labs in self.slack_labels.values() for lab in labs]
        variables = p.variables
        linear = self.linear
        partitions = p.partitions
        if labels:
            variables = Variables.concat([p.variables, Variables.build(labels)])
            linear = np.concatenate([linear, np.array(self.slack_linear)])
            owners = np.array(self.slack_owner)
            new_idx = np.arange(self.n, self.n + len(labels))
            partitions = tuple(Partition(q.name, np.concatenate([q.indices, new_idx[owners == k]]))
                               for k, q in enumerate(p.partitions))
        sparse = self.coo[0]
        for part in self.coo[1:]:
            sparse = sparse.concat(part)
        return Problem(variables=variables, linear=linear, offset=self.offset,
                       dense=tuple(self.blocks) + tuple(self.new_blocks), sparse=sparse, constraints=kept,
                       partitions=partitions, metadata=metadata)


PASSES = (LowerConstraints,)
