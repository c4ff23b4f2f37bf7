"""Find the classes a package's modules register, without importing the modules.

A module registers classes by ending with a tuple of them under a table name, e.g. in
``passes/prune.py``::

    PASSES = (Prune,)

and in ``targets/classical.py``::

    SOLVERS = (ExactSolver, SimulatedAnnealingSolver, TabuSolver, SteepestDescentSolver)

Each listed class sets its name as a literal class attribute (``name = "prune"``). :func:`discover`
walks the package's files with :mod:`pkgutil` (subpackages too) and reads those two facts from each
module's syntax tree (:mod:`ast`), so adding a pass, target or solver is one new file and no table
elsewhere names it. The model formats of :mod:`qsel.frontend.formats` are found the same way but by
importing their modules; here the modules are *not* imported, for two reasons: listing or looking up
one name must not import qiskit, dimod's samplers or OpenQAOA for every other entry, and a module whose
optional dependency is missing must still be listed by name (``qsel targets`` then says it is not
available here) instead of vanishing. The class is imported on lookup, and :func:`load` checks that
its ``name`` is the one the source declared.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import re
from dataclasses import dataclass
from typing import Iterable, Iterator


@dataclass(frozen=True)
class Entry:
    """One registered class: its name, its kind (the table it is listed in) and where it lives."""

    name: str
    kind: str  # "PASSES", "TARGETS" or "SOLVERS"
    ref: str  # "package.module:Class"


def _modules(package: str, path: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(dotted module name, source file) of every module under ``path``, subpackages included."""
    for info in sorted(pkgutil.iter_modules(list(path)), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        base = os.path.join(getattr(info.module_finder, "path", ""), info.name)
        if info.ispkg:
            init = os.path.join(base, "__init__.py")
            if os.path.exists(init):
                yield f"{package}.{info.name}", init
            yield from _modules(f"{package}.{info.name}", [base])
        elif os.path.exists(base + ".py"):
            yield f"{package}.{info.name}", base + ".py"


def _class_names(tree: ast.Module) -> dict[str, str]:
    """Class -> the literal ``name`` it assigns in its body (classes without one are left out)."""
    names = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else (
                stmt.target if isinstance(stmt, ast.AnnAssign) else None)
            value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None
            if isinstance(target, ast.Name) and target.id == "name" and isinstance(value, ast.Constant) \
                    and isinstance(value.value, str):
                names[node.name] = value.value
    return names


def _declared(tree: ast.Module, tables: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(table, class name) for every module-level ``TABLE = (Class, ...)`` with TABLE in ``tables``."""
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else (
            node.target if isinstance(node, ast.AnnAssign) else None)
        if not isinstance(target, ast.Name) or target.id not in tables:
            continue
        if not isinstance(node.value, (ast.Tuple, ast.List)) or \
                not all(isinstance(e, ast.Name) for e in node.value.elts):
            raise TypeError(f"{target.id} must be a tuple of class names (line {node.lineno})")
        for element in node.value.elts:
            yield target.id, element.id  # type: ignore[attr-defined]


def discover(package: str, path: Iterable[str], tables: tuple[str, ...]) -> list[Entry]:
    """Every class the modules under ``path`` (the package ``package``) list in one of ``tables``.

    Raises ``ValueError`` when a listed class is not defined in its module with a literal ``name``, or
    when two classes of one table declare the same name.
    """
    found: list[Entry] = []
    seen: dict[tuple[str, str], str] = {}
    for module, file in _modules(package, path):
        with open(file, encoding="utf-8") as fh:
            source = fh.read()
        if not re.search(rf"^({'|'.join(tables)})\b", source, re.MULTILINE):  # registers nothing: no parse
            continue
        tree = ast.parse(source, filename=file)
        try:
            declared = list(_declared(tree, tables))
        except TypeError as exc:
            raise TypeError(f"{module}: {exc}") from None
        if not declared:
            continue
        names = _class_names(tree)
        for table, cls in declared:
            if cls not in names:
                raise ValueError(f"{module}: {table} lists {cls}, which is not a class of this module "
                                 "with a literal name = '...'")
            key = (table, names[cls])
            if key in seen:
                raise ValueError(f"{table}: the name {names[cls]!r} is declared twice ({seen[key]}, {module}:{cls})")
            seen[key] = f"{module}:{cls}"
            found.append(Entry(names[cls], table, f"{module}:{cls}"))
    return found


def load(ref: str, name: str | None = None) -> type:
    """Import 'module:Class'; with ``name``, check that the class is registered under that name."""
    module, _, attr = ref.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    declared = getattr(cls, "name", None)
    if name is not None and declared not in (None, "", name):
        raise ValueError(f"{ref} is registered as {name!r} but its name is {declared!r}")
    return cls
