"""Pass, target and solver registries are filled by discovery: a new one is one new module, nothing else."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from qsel import ir
from qsel.passes import discovery
from qsel.passes import registry as pass_registry
from qsel.targets import registry as target_registry

PASSES = {"canonicalize", "embed-check", "fix-variables", "lower-constraints", "partition", "prune", "quantize",
          "scale", "stats", "verify"}
TARGETS = {"dimod-bqm", "dimod-cqm", "dwave", "lp", "openqaoa", "qiskit-qaoa", "qubo"}
SOLVERS = {"decompose", "dwave-qpu", "embed", "exact", "ibm-runtime", "leap-hybrid", "local-hybrid", "local-pegasus",
           "lower", "openqaoa", "pegasus-sim", "polish", "qaoa", "sa", "steepest", "tabu", "warm"}


def test_the_built_in_names_are_all_found():
    assert set(pass_registry.builtin()) == PASSES
    assert set(target_registry.builtin_targets()) == TARGETS
    assert set(target_registry.builtin_solvers()) == SOLVERS


@pytest.mark.parametrize("kind,table", [("pass", pass_registry.builtin), ("target", target_registry.builtin_targets),
                                        ("solver", target_registry.builtin_solvers)])
def test_each_found_class_carries_its_name_and_is_in_its_module_table(kind, table):
    """What the source says (read without importing) is what the imported module holds."""
    attr = {"pass": "PASSES", "target": "TARGETS", "solver": "SOLVERS"}[kind]
    for name, ref in table().items():
        cls = discovery.load(ref, name)
        assert cls.name == name
        assert cls in getattr(sys.modules[ref.partition(":")[0]], attr)


def test_lookups_by_name_and_spec_still_work():
    from qsel.passes import build
    from qsel.targets.base import from_spec

    assert [type(p).name for p in build("canonicalize,prune{eps=0.1}")] == ["canonicalize", "prune"]
    assert target_registry.get_solver("sa").name == "sa"
    assert target_registry.get_target("qubo").name == "qubo"
    solver = from_spec("polish{max-steps=2}(sa{num-sweeps=10})", "solver", target_registry.get_solver)
    assert solver.name == "polish"
    with pytest.raises(ir.QselError, match="unknown solver 'tabuu'; did you mean 'tabu'"):
        target_registry.get_solver("tabuu")


def write_package(root, name: str, modules: dict[str, str]) -> None:
    pkg = root / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for module, text in modules.items():
        path = pkg / f"{module}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent != pkg and not (path.parent / "__init__.py").exists():
            (path.parent / "__init__.py").write_text("")
        path.write_text(textwrap.dedent(text))


PLUGIN_PASS = """
    from dataclasses import dataclass
    from qsel.ir import Couplings, DenseBlock
    from qsel.passes.base import TransformationPass, Transformed

    @dataclass(frozen=True)
    class Negate(TransformationPass):
        '''Multiply every term by -1 (a test pass).'''
        name = "negate"
        exact = True

        def run(self, problem, props):
            s = problem.sparse
            return Transformed(problem.replace(
                linear=-problem.linear, offset=-problem.offset,
                dense=tuple(DenseBlock(b.index, -b.matrix) for b in problem.dense),
                sparse=Couplings(s.rows, s.cols, -s.vals)))

    PASSES = (Negate,)
"""

PLUGIN_TARGETS = """
    from dataclasses import dataclass
    from typing import ClassVar
    import numpy as np
    from qsel.targets.base import Samples, Solver

    @dataclass(frozen=True)
    class AllZero(Solver):
        name: ClassVar[str] = "all-zero"
        description: ClassVar[str] = "the all-zero assignment (a test solver)"
        max_vars: ClassVar[int | None] = None

        def sample(self, problem, *, num_reads=1, seed=None):
            X = np.zeros((1, problem.num_vars), np.int8)
            return Samples(X, problem.energies(X))

    class Helper:  # not listed: not registered
        name = "helper"

    SOLVERS = (AllZero,)
"""

NEEDS_MISSING_LIBRARY = """
    import qsel_no_such_library  # an optional dependency that is not installed

    class Far:
        name = "far"

    TARGETS = (Far,)
"""


def test_a_plugin_pass_target_or_solver_is_one_new_module(tmp_path, monkeypatch):
    write_package(tmp_path, "plug_one", {"negate": PLUGIN_PASS, "zero": PLUGIN_TARGETS,
                                         "sub/far": NEEDS_MISSING_LIBRARY, "unrelated": "X = 1\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    found = discovery.discover("plug_one", [str(tmp_path / "plug_one")], ("PASSES", "TARGETS", "SOLVERS"))
    assert [(e.name, e.kind, e.ref) for e in found] == [
        ("negate", "PASSES", "plug_one.negate:Negate"), ("far", "TARGETS", "plug_one.sub.far:Far"),
        ("all-zero", "SOLVERS", "plug_one.zero:AllZero")]
    assert "qsel_no_such_library" not in sys.modules  # found without importing it

    # registered, the pass runs in a pipeline and the solver solves
    monkeypatch.setattr(pass_registry, "builtin", lambda: {**_real_passes, "negate": found[0].ref})
    monkeypatch.setattr(target_registry, "_builtin", lambda: {
        "TARGETS": {**_real_tables["TARGETS"], "far": found[1].ref},
        "SOLVERS": {**_real_tables["SOLVERS"], "all-zero": found[2].ref}})
    from qsel.passes import PassManager, build

    problem = ir.Problem.from_terms(["a", "b"], {"a": 2.0}, {("a", "b"): -3.0}, offset=1.0)
    out = PassManager(build("negate")).run(problem)
    X = np.array([[0, 0], [1, 0], [1, 1]], np.int8)
    np.testing.assert_allclose(out.energies(X), -problem.energies(X))
    samples = target_registry.get_solver("all-zero")().sample(problem)
    assert samples.energies.tolist() == [1.0]
    assert "far" in target_registry.available_targets()
    with pytest.raises(ModuleNotFoundError):
        target_registry.get_target("far")


_real_passes = pass_registry.builtin()
_real_tables = target_registry._builtin()


@pytest.mark.parametrize("text,message", [
    ("class A:\n    pass\nPASSES = (A,)\n", "not a class of this module with a literal name"),
    ("class A:\n    name = 'a'\nPASSES = ('A',)\n", "must be a tuple of class names"),
    ("class A:\n    name = 'a'\nclass B:\n    name = 'a'\nPASSES = (A, B)\n", "'a' is declared twice"),
])
def test_a_malformed_declaration_names_the_module(tmp_path, text, message):
    write_package(tmp_path, "plug_bad", {"bad": text})
    with pytest.raises((ValueError, TypeError), match=message):
        discovery.discover("plug_bad", [str(tmp_path / "plug_bad")], ("PASSES",))
