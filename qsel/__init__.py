"""qsel — a QUBO compiler toolchain for neuron selection.

``qsel.load(path)`` / ``qsel.save(problem, path)`` read and write the IR
(``.qir`` text, ``.qirz`` binary); ``problem.labels`` and
``problem.energies(X)`` are the core of the Python API. Sub-packages:
``qsel.ir`` (the IR), ``qsel.passes`` (pass framework and passes),
``qsel.targets`` (emitters and solvers).
"""

from __future__ import annotations

from qsel.ir import Constraint, Granularity, Problem, QselError, Sense, Variables, load, save

__all__ = ["Constraint", "Granularity", "Problem", "QselError", "Sense", "Variables", "load", "save"]
__version__ = "0.1.0"
