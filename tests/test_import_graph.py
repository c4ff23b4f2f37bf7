"""The layering of the package, read from the source with ``ast`` (nothing is imported).

Layers, lowest first: ``qsel.ir`` (the IR), ``qsel.passes`` (IR -> IR), ``qsel.targets`` (IR -> files and
samples), ``qsel.frontend`` (networks -> IR), and the driver (every other ``qsel.*`` module: CLI, select,
results, baselines). A layer imports only layers below it:

* ``ir`` imports nothing of qsel above ``qsel.ir``;
* ``passes`` imports only ``ir`` (and itself);
* ``targets`` imports ``ir``, ``passes`` and itself, never the driver;
* ``frontend`` imports ``ir``, ``passes``, ``targets`` and itself, never the driver (a command hands it what
  it needs from there, e.g. the result loader of ``qsel eval``);
* and there is no import cycle among modules.

Every import counts, including the ones inside functions: a lazy import of the driver is still a
dependency on it, and a cycle closed by a lazy import is still two modules that cannot be understood
(or moved) one without the other. A ``from pkg import name`` counts as an import of ``pkg.name`` when that is a module, else of ``pkg``; the
implicit import of a parent package is not counted (it would make every package a cycle with its
``__init__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
# source folder -> package name (pyproject's [tool.setuptools.package-dir])
SOURCES = {"qsel": "qsel", "ir": "qsel.ir", "passes": "qsel.passes", "targets": "qsel.targets"}
LAYERS = ("qsel.ir", "qsel.passes", "qsel.targets", "qsel.frontend")


def module_files() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for folder, package in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


MODULES = module_files()


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module name of ``from ... import`` in ``module``."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package(module):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str) -> set[str]:
    """qsel modules that ``module`` imports (see the module docstring for what counts)."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            base = resolve(module, node)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for name in names:
            # "import qsel.ir.problem" or a name inside a module: the longest known module prefix
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name.startswith("qsel") and name != module:
                found.add(name)
    return found


def layer(module: str) -> str:
    for name in LAYERS:
        if module == name or module.startswith(name + "."):
            return name
    return "driver"


ALLOWED = {
    "qsel.ir": {"qsel.ir"},
    "qsel.passes": {"qsel.ir", "qsel.passes"},
    "qsel.targets": {"qsel.ir", "qsel.passes", "qsel.targets"},
    "qsel.frontend": {"qsel.ir", "qsel.passes", "qsel.targets", "qsel.frontend"},
}


def test_the_scan_sees_every_layer():
    # a guard for the test itself: a moved folder must not turn the checks below into checks of nothing
    for name in LAYERS + ("qsel.commands",):
        assert name in MODULES and is_package(name), name
    assert len(MODULES) > 80
    assert "qsel.ir.problem" in imports("qsel.ir.io")
    assert "qsel.ir" in imports("qsel.passes.base")


@pytest.mark.parametrize("module", [m for m in MODULES if layer(m) != "driver"])
def test_a_layer_imports_only_the_layers_below_it(module: str):
    bad = sorted(m for m in imports(module) if layer(m) not in ALLOWED[layer(module)])
    assert not bad, f"{module} ({layer(module)}) imports {bad}"


def test_there_is_no_import_cycle():
    g = nx.DiGraph()
    g.add_nodes_from(MODULES)
    g.add_edges_from((m, d) for m in MODULES for d in imports(m))
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"
