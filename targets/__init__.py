"""qsel.targets — emitters and solvers: D-Wave BQM/CQM, QAOA circuits, OpenQAOA, classical files.

* :mod:`qsel.targets.base`      Target (emit files + manifest), Solver (sample a block), Samples
* :mod:`qsel.targets.registry`  name -> class registries (plugins: ``qsel.targets`` / ``qsel.solvers`` groups)
* :mod:`qsel.targets.manifest`  manifest.json: how each emitted file maps back to IR labels
* :mod:`qsel.targets.convert`   IR -> COO, dimod BQM/CQM, Ising (x = (1 - z)/2)
"""

from __future__ import annotations

from .base import Samples, Solver, Target
from .manifest import BlockEntry, Manifest

__all__ = ["BlockEntry", "Manifest", "Samples", "Solver", "Target"]
