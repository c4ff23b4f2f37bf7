"""Registries of targets and solvers: name -> 'module:Class', loaded lazily; plugins through
the ``qsel.targets`` and ``qsel.solvers`` entry-point groups."""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points

from qsel.ir import QselError

TARGETS: dict[str, str] = {
    "dimod-bqm": "qsel.targets.dimod_targets:DimodBQMTarget",
    "dimod-cqm": "qsel.targets.dimod_targets:DimodCQMTarget",
    "qubo": "qsel.targets.file_targets:QuboTarget",
    "lp": "qsel.targets.file_targets:LPTarget",
    "dwave": "qsel.targets.dwave:DWaveTarget",
    "qiskit-qaoa": "qsel.targets.qaoa:QiskitQAOATarget",
    "openqaoa": "qsel.targets.openqaoa:OpenQAOATarget",
}
SOLVERS: dict[str, str] = {
    "exact": "qsel.targets.classical:ExactSolver",
    "sa": "qsel.targets.classical:SimulatedAnnealingSolver",
    "tabu": "qsel.targets.classical:TabuSolver",
    "steepest": "qsel.targets.classical:SteepestDescentSolver",
    "local-pegasus": "qsel.targets.dwave:LocalPegasusSolver",
    "qaoa": "qsel.targets.qaoa:QAOASolver",
    "openqaoa": "qsel.targets.openqaoa:OpenQAOASolver",
    "lower": "qsel.targets.composites:LowerComposite",
    "polish": "qsel.targets.composites:PolishComposite",
    "decompose": "qsel.targets.decompose:DecomposeComposite",
    "embed": "qsel.targets.embed:EmbedComposite",
    "warm": "qsel.targets.warm:WarmComposite",
    "pegasus-sim": "qsel.targets.embed:PegasusSimSolver",
    "dwave-qpu": "qsel.targets.remote:DWaveQPUSolver",
    "leap-hybrid": "qsel.targets.remote:LeapHybridSolver",
    "local-hybrid": "qsel.targets.remote:LocalHybridSolver",
    "ibm-runtime": "qsel.targets.remote:IBMRuntimeSolver",
}


def _available(table: dict[str, str], group: str) -> dict[str, str]:
    names = dict(table)
    for ep in entry_points(group=group):
        names.setdefault(ep.name, ep.value)
    return names


def available_targets() -> dict[str, str]:
    return _available(TARGETS, "qsel.targets")


def available_solvers() -> dict[str, str]:
    return _available(SOLVERS, "qsel.solvers")


def _get(kind: str, name: str, names: dict[str, str]):
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise QselError(f"unknown {kind} '{name}'{hint} (available: {', '.join(sorted(names)) or 'none'})")
    module, _, attr = names[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def get_target(name: str):
    return _get("target", name, available_targets())


def get_solver(name: str):
    return _get("solver", name, available_solvers())
