"""verify: an analysis that fails the pipeline when the IR breaks an invariant."""

from __future__ import annotations

from dataclasses import dataclass

from qsel.ir import Problem, verify

from .base import AnalysisPass, PropertySet


@dataclass(frozen=True)
class Verify(AnalysisPass):
    """Check the IR's invariants; stop the pipeline with every violation listed (analysis)."""

    name = "verify"

    def analyze(self, problem: Problem, props: PropertySet) -> None:
        verify(problem, context="verify pass")
        props["verified"] = True


PASSES = (Verify,)
