"""qsel.passes — the pass framework and the passes that reshape the IR.

``PassManager(build("canonicalize,stats")).run(problem)`` runs a pipeline
string; ``registry.available()`` lists every pass (built-ins and plugins of
the ``qsel.passes`` entry-point group).
"""

from __future__ import annotations

from . import registry
from .base import AnalysisPass, Pass, PropertySet, TransformationPass, Transformed
from .manager import PassManager, PassTiming
from .pipeline import PipelineError, PipelineItem, build, parse, render

__all__ = [
    "AnalysisPass", "Pass", "PassManager", "PassTiming", "PipelineError", "PipelineItem", "PropertySet",
    "TransformationPass", "Transformed", "build", "parse", "registry", "render",
]
