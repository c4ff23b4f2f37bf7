"""Registries of targets and solvers: name -> 'module:Class', filled by discovery, loaded lazily;
plugins through the ``qsel.targets`` and ``qsel.solvers`` entry-point groups.

A module of this package (subpackages included) registers its classes by ending with
``TARGETS = (MyTarget,)`` and/or ``SOLVERS = (MySolver,)``; :mod:`qsel.passes.discovery` reads those
and each class's literal ``name`` from the source, without importing the module, so a new target or
solver is one new file, and one whose optional dependency is missing is still listed.
"""

from __future__ import annotations

import difflib
import functools
import os
from importlib.metadata import entry_points

from qsel.ir import QselError
from qsel.passes import discovery


@functools.lru_cache(maxsize=1)
def _builtin() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {"TARGETS": {}, "SOLVERS": {}}
    package, path = __name__.rpartition(".")[0], [os.path.dirname(__file__)]
    for entry in discovery.discover(package, path, tuple(tables)):
        tables[entry.kind][entry.name] = entry.ref
    return tables


def builtin_targets() -> dict[str, str]:
    """name -> 'module:Class' of every target this package declares (discovered once per process)."""
    return dict(_builtin()["TARGETS"])


def builtin_solvers() -> dict[str, str]:
    """name -> 'module:Class' of every solver this package declares (discovered once per process)."""
    return dict(_builtin()["SOLVERS"])


def _available(table: dict[str, str], group: str) -> dict[str, str]:
    names = dict(table)
    for ep in entry_points(group=group):
        names.setdefault(ep.name, ep.value)
    return names


def available_targets() -> dict[str, str]:
    return _available(builtin_targets(), "qsel.targets")


def available_solvers() -> dict[str, str]:
    return _available(builtin_solvers(), "qsel.solvers")


def _get(kind: str, name: str, names: dict[str, str], builtin: dict[str, str]):
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise QselError(f"unknown {kind} '{name}'{hint} (available: {', '.join(sorted(names)) or 'none'})")
    return discovery.load(names[name], name if builtin.get(name) == names[name] else None)


def get_target(name: str):
    return _get("target", name, available_targets(), _builtin()["TARGETS"])


def get_solver(name: str):
    return _get("solver", name, available_solvers(), _builtin()["SOLVERS"])
