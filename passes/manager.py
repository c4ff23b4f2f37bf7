"""PassManager: runs passes in order, records history, times them, verifies between them.

For each transformation the manager appends to ``metadata["history"]``
``{"pass": spec, "exact": bool}`` plus ``"bound"`` for lossy passes; the
running sum of lossy bounds is kept in ``props["energy_error_bound"]`` in the
*original* problem's units: a pass's bound is in the units of its input, so it
is divided by the scale factor recorded so far (``metadata["scale"]["factor"]``,
E_scaled = factor * E_original) before it is added (triangle inequality:
|E_0 - E_k| <= sum of the per-pass bounds in original units). Instrumentation callbacks see the problem after every
pass (the driver uses them for ``--print-ir-after``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

from qsel.ir import Problem, verify

from .base import AnalysisPass, Pass, PropertySet, Transformed
from .mapping import scale_factor

Callback = Callable[[Pass, Problem, PropertySet, float], None]


@dataclass(frozen=True)
class PassTiming:
    name: str
    seconds: float


class PassManager:
    def __init__(self, passes: Iterable[Pass] = (), *, verify_each: bool = False,
                 callbacks: Iterable[Callback] = ()) -> None:
        self.passes: list[Pass] = list(passes)
        self.verify_each = verify_each
        self.callbacks: list[Callback] = list(callbacks)
        self.properties = PropertySet()
        self.timings: list[PassTiming] = []

    def append(self, p: Pass) -> "PassManager":
        self.passes.append(p)
        return self

    def run(self, problem: Problem) -> Problem:
        self.properties.setdefault("energy_error_bound", 0.0)
        for p in self.passes:
            start = time.perf_counter()
            out = p.run(problem, self.properties)
            if not isinstance(p, AnalysisPass):
                result = out if isinstance(out, Transformed) else Transformed(out)
                entry: dict = {"pass": p.spec(), "exact": p.exact}
                if not p.exact:
                    entry["bound"] = float(result.bound)
                    self.properties["energy_error_bound"] += float(result.bound) / scale_factor(problem)
                if result.details:
                    entry.update(result.details)
                problem = result.problem.with_metadata(history=[*result.problem.history, entry])
            elapsed = time.perf_counter() - start
            self.timings.append(PassTiming(p.spec(), elapsed))
            if self.verify_each:
                verify(problem, context=f"after pass '{p.spec()}'")
            for cb in self.callbacks:
                cb(p, problem, self.properties, elapsed)
        return problem
