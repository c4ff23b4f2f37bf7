"""Targets and solvers: the two extension points of qsel.targets.

A **Target** is a frozen dataclass with a ``name``, options as fields, a
``default_pipeline`` (the pass pipeline that makes an IR fit it, e.g.
``canonicalize,partition{max-vars=177},lower-constraints{penalty=auto}``) and
one ``emit(problem, outdir) -> Manifest`` that writes one file per subproblem
plus what is needed to compose results back.

A **Solver** samples one block-sized IR problem: ``sample(problem, *,
num_reads, seed) -> Samples``. Composition over partitions (independent or
iterated like qbsolv) is written once, on top of this interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from qsel import ir

from .manifest import Manifest


@dataclass(frozen=True)
class Target:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_pipeline: ClassVar[str] = "canonicalize"

    def emit(self, problem: ir.Problem, outdir: Path) -> Manifest:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class Samples:
    """Samples of one problem: X (samples x n, 0/1 in the problem's variable order), their energies."""

    X: np.ndarray
    energies: np.ndarray
    num_occurrences: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def best(self, problem: ir.Problem | None = None) -> np.ndarray:
        """Lowest-energy sample; feasible ones first when a problem with constraints is given."""
        order = np.argsort(self.energies, kind="stable")
        if problem is not None and problem.constraints:
            feasible = problem.feasible(self.X[order])
            if feasible.any():
                return self.X[order[int(np.argmax(feasible))]]
        return self.X[order[0]]


@dataclass(frozen=True)
class Solver:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    max_vars: ClassVar[int | None] = None  # largest block it accepts (None: no limit)
    handles_constraints: ClassVar[bool] = False  # True: enforces IR constraints natively

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:  # pragma: no cover
        raise NotImplementedError
