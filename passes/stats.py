"""stats: an analysis that writes the problem's summary statistics into the property set."""

from __future__ import annotations

from dataclasses import dataclass

from qsel.ir import Problem, compute_stats

from .base import AnalysisPass, PropertySet


@dataclass(frozen=True)
class Stats(AnalysisPass):
    """Count variables, couplings, constraints; coefficient ranges and dynamic range (analysis)."""

    name = "stats"

    def analyze(self, problem: Problem, props: PropertySet) -> None:
        props["stats"] = compute_stats(problem)


PASSES = (Stats,)
