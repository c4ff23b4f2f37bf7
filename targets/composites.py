"""Composite solvers: steps that wrap any block solver, named in the solver spec grammar like dimod's composites.

Grammar (a solver spec)::

    spec := NAME ( "{" option ("," option)* "}" )? ( "(" spec ")" )?

``NAME{options}(CHILD)`` wraps CHILD; e.g. ``decompose{block=100}(polish(tabu))``.
A composite is a frozen dataclass :class:`Composite` whose ``child`` field is
the wrapped solver (never an option); its ``sample`` calls the child's and
records its own seconds in ``info["composites"][NAME]``.

* ``lower`` — constraints -> penalties for a child that cannot enforce them
  (``lower-constraints{penalty=auto}``: a provably sufficient penalty); the
  child's samples are mapped back by label (slack bits dropped) and scored on
  the constrained problem.
* ``polish`` — cardinality repair and count-preserving swap descent of every
  sample (:mod:`qsel.targets.postprocess`), on native or lowered cardinality
  constraints: what samples of a penalised problem need.
* ``decompose`` — large-neighbourhood search through hardware-sized
  subproblems (:mod:`qsel.targets.decompose`).

:func:`adapt` is what every solving path applies to the solver it is given:
a solver that cannot enforce the problem's constraints is wrapped as
``polish(lower(SOLVER))``; a solver whose samples come from a penalised
problem (already lowered by a pass) as ``polish(SOLVER)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from qsel import ir

from .base import Samples, Solver
from .postprocess import MoveSet, QuadraticForm, cardinality_groups, polish_rows

CHILD = {"child": True}  # field metadata of a composite's wrapped solver


@dataclass(frozen=True)
class Composite(Solver):
    """A solver that wraps another one (``child``)."""

    child: Solver | None = field(default=None, metadata=CHILD)

    def __post_init__(self) -> None:
        if self.child is not None and not isinstance(self.child, Solver):
            raise ValueError(f"the wrapped solver must be a Solver, got {type(self.child).__name__}")

    @property
    def max_vars(self) -> int | None:  # type: ignore[override]
        return self.require_child().max_vars

    @property
    def handles_constraints(self) -> bool:  # type: ignore[override]
        return self.require_child().handles_constraints

    def require_child(self) -> Solver:
        if self.child is None:
            raise ir.QselError(f"composite '{self.name}' wraps a solver: write {self.name}(SOLVER), "
                               f"e.g. {self.name}(tabu)")
        return self.child


def record_time(samples: Samples, name: str, seconds: float, **extra: Any) -> Samples:
    """Add this composite's seconds (and any extra facts) to ``info["composites"][name]``."""
    comp = samples.info.setdefault("composites", {})
    comp[name] = {"seconds": round(float(seconds), 4), **extra}
    return samples


@dataclass(frozen=True)
class LowerComposite(Composite):
    """Constraints -> penalties (auto penalty) for the child; samples mapped back and scored as given."""

    name: ClassVar[str] = "lower"
    description: ClassVar[str] = ("constraints -> penalties for a child that cannot enforce them "
                                  "(lower-constraints{penalty=auto}); samples mapped back by label")

    # P = scale * the provably sufficient auto penalty (the largest one, for every constraint of the block);
    # below 1 the ground state may break a count, which the polish composite repairs
    penalty_scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (np.isfinite(self.penalty_scale) and self.penalty_scale > 0):
            raise ValueError(f"penalty-scale must be a finite number > 0, got {self.penalty_scale}")

    @property
    def handles_constraints(self) -> bool:  # type: ignore[override]
        return True

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        from .embedding import columns_for, lower_constraints

        child = self.require_child()
        if not problem.constraints or child.handles_constraints:
            return child.sample(problem, num_reads=num_reads, seed=seed)
        t0 = time.perf_counter()
        lowered = lower_constraints(problem.replace(partitions=()))
        if self.penalty_scale != 1.0 and lowered.metadata.get("penalties"):
            P = self.penalty_scale * max(lowered.metadata["penalties"].values())
            lowered = lower_constraints(problem.replace(partitions=()), f"lower-constraints{{penalty={P!r}}}")
        t_lower = time.perf_counter() - t0
        s = child.sample(lowered, num_reads=num_reads, seed=seed)
        X = np.asarray(s.X, dtype=np.float64)[:, columns_for(problem, lowered)] if len(s.energies) else \
            np.zeros((0, problem.num_vars))
        out = Samples(X, problem.energies(X) if X.shape[0] else np.zeros(0), s.num_occurrences, dict(s.info))
        out.info["penalties"] = lowered.metadata.get("penalties", {})
        out.info["lowered_groups"] = [[problem.labels[int(i)] for i in idx[:3]] + (["..."] if idx.size > 3 else [])
                                      for idx, _ in cardinality_groups(lowered)][:8]
        return record_time(out, self.name, t_lower, slack_variables=lowered.num_vars - problem.num_vars)


@dataclass(frozen=True)
class PolishComposite(Composite):
    """Cardinality repair + count-preserving swap descent of every sample the child returns."""

    name: ClassVar[str] = "polish"
    description: ClassVar[str] = ("cardinality repair and count-preserving swap descent (flips of free variables) "
                                  "of every sample the child returns")

    max_steps: int = 0  # 0: until no move improves

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_steps < 0:
            raise ValueError(f"max-steps must be >= 0 (0: no limit), got {self.max_steps}")

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        s = self.require_child().sample(problem, num_reads=num_reads, seed=seed)
        t0 = time.perf_counter()
        moves = MoveSet.of(problem)
        if not len(s.energies) or not (moves.groups or moves.free.size):
            return record_time(s, self.name, time.perf_counter() - t0, changed=0)
        before = float(s.energies.min())
        X = polish_rows(QuadraticForm.from_problem(problem), moves, s.X, self.max_steps or None)
        changed = int(np.any(X != s.X, axis=1).sum())
        out = Samples(X, problem.energies(X), s.num_occurrences, dict(s.info))
        out.info["min_energy_before_polish"] = before
        return record_time(out, self.name, time.perf_counter() - t0, changed=changed)


def is_composite(solver: Solver, name: str) -> bool:
    """True when ``solver`` or any solver it wraps is the composite ``name``."""
    while isinstance(solver, Composite):
        if solver.name == name:
            return True
        solver = solver.child  # type: ignore[assignment]
    return False


def adapt(solver: Solver, problem: ir.Problem, penalty_scale: float = 1.0) -> Solver:
    """The solver every solving path runs for ``problem`` (see the module docstring); ``penalty_scale`` is
    the ``lower`` composite's, when one is added."""
    if problem.constraints and not solver.handles_constraints:
        return PolishComposite(child=LowerComposite(child=solver, penalty_scale=penalty_scale))
    if not problem.constraints and cardinality_groups(problem) and not is_composite(solver, "polish") \
            and not is_composite(solver, "decompose"):
        return PolishComposite(child=solver)
    return solver


SOLVERS = (LowerComposite, PolishComposite)
