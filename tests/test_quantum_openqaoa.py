"""OpenQAOA across the process boundary: its QUBO JSON, the runner in .venv-openqaoa (Python 3.10), errors.

These tests run the real OpenQAOA environment: ``<repo>/.venv-openqaoa`` (``make openqaoa-env``; ``make test``
builds it) or the interpreter named by ``$QSEL_OPENQAOA_PYTHON``. They are not skipped when it is missing:
the error says how to make it."""

from __future__ import annotations

import json
import re
import stat
from itertools import product

import numpy as np
import pytest

from qsel import ir
from qsel.targets import openqaoa as OQ
from qsel.targets.manifest import Manifest


def random_block(n: int, seed: int) -> ir.Problem:
    rng = np.random.default_rng(seed)
    return ir.Problem.from_qubo_matrix(rng.normal(size=(n, n)), [f"fc1.n{i}" for i in range(n)],
                                       offset=float(rng.normal()))


def test_the_default_interpreter_is_the_checkouts_venv(monkeypatch, tmp_path):
    # where the installed package says its checkout is (stood in for by tmp_path), not where this file lies
    monkeypatch.delenv(OQ.ENV_VAR, raising=False)
    monkeypatch.setattr(OQ, "repo_root", lambda: tmp_path)
    with pytest.raises(ir.QselError, match=r"\.venv-openqaoa not found.*make openqaoa-env"):
        OQ.openqaoa_python()
    want = tmp_path / ".venv-openqaoa" / "bin" / "python"
    want.parent.mkdir(parents=True)
    want.write_text("")
    assert OQ.openqaoa_python() == want


def test_make_openqaoa_env_builds_the_venv_the_package_looks_for():
    makefile = (OQ.repo_root() / "Makefile").read_text()
    assert re.search(r"^OQ_VENV\s*:=\s*\.venv-openqaoa\s*$", makefile, re.M), "Makefile's OQ_VENV moved"
    assert (OQ.repo_root() / "targets" / "openqaoa.py").samefile(OQ.__file__)


def test_a_missing_override_says_how_to_fix_it(monkeypatch, tmp_path):
    monkeypatch.setenv(OQ.ENV_VAR, str(tmp_path / "nope" / "python"))
    with pytest.raises(ir.QselError, match="QSEL_OPENQAOA_PYTHON=.*no such interpreter.*make openqaoa-env"):
        OQ.OpenQAOASolver().sample(random_block(3, 0), num_reads=5)


def test_a_failing_runner_is_reported_with_its_stderr(monkeypatch, tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'Traceback: something broke in openqaoa' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv(OQ.ENV_VAR, str(fake))
    with pytest.raises(ir.QselError, match=r"(?s)runner failed.*exit status 3.*something broke in openqaoa"):
        OQ.evaluate(random_block(3, 0), np.zeros((1, 3)))


def test_the_runner_imports_nothing_of_qsel():
    import ast

    tree = ast.parse(OQ.RUNNER.read_text())
    modules = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    assert modules <= {"json", "os", "sys", "time", "traceback", "importlib", "numpy", "scipy", "openqaoa"}, modules


def test_openqaoa_target_writes_qubo_json(tmp_path):
    a, b = random_block(4, 1), random_block(3, 2)
    b = ir.Problem(ir.Variables.from_labels(["x", "y", "odd label"]), b.linear, b.offset, b.dense)
    p = ir.Problem.concat([a, b]).replace(partitions=(ir.Partition("p0", np.arange(4)),
                                                      ir.Partition("p1", np.arange(4, 7))))
    m = OQ.OpenQAOATarget().emit(p, tmp_path)
    m.save(tmp_path / "manifest.json")
    m = Manifest.load(tmp_path / "manifest.json")
    assert [e.file for e in m.blocks] == ["p0.openqaoa.json", "p1.openqaoa.json"]
    d = json.loads((tmp_path / "p1.openqaoa.json").read_text())
    assert d["n"] == 3 and d["problem_instance"] == {"problem_type": "generic_qubo"}
    assert d["metadata"]["qsel"]["labels"] == ["x", "y", "odd label"] == m.blocks[1].labels
    # the Ising form with z = 1 - 2x reproduces the block energy (the offset sits in block p0)
    X = np.array(list(product([0, 1], repeat=3)), dtype=np.float64)
    z = 1 - 2 * X
    e = np.full(len(X), d["constant"])
    for term, w in zip(d["terms"], d["weights"]):
        e += w * np.prod(z[:, term], axis=1)
    np.testing.assert_allclose(e, b.energies(X) - b.offset, atol=1e-12)


@pytest.mark.slow
def test_openqaoa_solver_runs_in_its_own_environment_and_finds_the_optimum():
    p = random_block(6, 3)
    X = np.array(list(product([0, 1], repeat=6)), dtype=np.float64)
    best = p.energies(X).min()
    s = OQ.OpenQAOASolver(p=2).sample(p, num_reads=300, seed=4)
    assert s.info["python"].startswith("3.10.") and s.info["openqaoa"] == "0.2.6"
    assert s.num_occurrences.sum() == 300
    # energies from OpenQAOA's Hamiltonian (returned by the runner) equal the IR energies
    assert s.info["energy_check_max_abs_diff"] < 1e-9
    np.testing.assert_allclose(s.energies, p.energies(s.X))
    assert s.energies.min() == pytest.approx(best, abs=1e-9)
    assert s.info["probability_of_best_sample"] > 4 / 64


def with_cardinality(p: ir.Problem, k: int, sense: str = "==") -> ir.Problem:
    return p.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(p.num_vars), sense, k),))


def feasible_optimum(p: ir.Problem) -> float:
    X = np.array(list(product([0, 1], repeat=p.num_vars)), dtype=np.float64)
    return float(p.energies(X[p.feasible(X)]).min())


@pytest.mark.slow
def test_openqaoa_xy_mixer_from_a_dicke_state_keeps_every_sample_feasible():
    p = with_cardinality(random_block(7, 21), 3)
    s = OQ.OpenQAOASolver().sample(p, num_reads=500, seed=1)
    assert s.info["mixer"] == "xy" and s.info["hamming_weight"] == 3 and s.info["qubits"] == 7
    assert s.info["xy_pairs"] and len(s.info["xy_pairs"]) == 7  # the ring of the qaoa solver
    assert p.feasible(s.X).all() and s.info["feasible_probability"] == pytest.approx(1.0, abs=1e-9)
    assert s.num_occurrences.sum() == 500 and s.info["energy_check_max_abs_diff"] < 1e-9
    np.testing.assert_allclose(s.energies, p.energies(s.X))
    assert np.all(np.diff(s.energies) >= 0)  # best first
    best = feasible_optimum(p)
    assert s.info["optimum_energy"] == pytest.approx(best, abs=1e-9)
    assert s.energies[0] == pytest.approx(best, abs=1e-9) and s.info["optimum_sampled"]
    assert s.info["optimum_probability"] > 2.0 / 35  # above the Dicke state's 1 / C(7, 3)


@pytest.mark.slow
def test_openqaoa_lowers_other_constraints_itself_and_optimises_cvar():
    p = with_cardinality(random_block(4, 22), 2, "<=")
    s = OQ.OpenQAOASolver(p=2, cvar=0.3).sample(p, num_reads=300, seed=2)
    assert s.info["mixer"] == "x" and s.info["qubits"] > 4 and s.X.shape[1] == 4  # slack qubits, mapped back
    assert s.info["objective"] == "cvar" and s.info["cvar"] == 0.3
    assert s.info["energy_check_max_abs_diff"] < 1e-9  # OpenQAOA's energies of the penalised cost problem
    assert p.feasible(s.X[:1])[0] and s.energies[0] == pytest.approx(feasible_optimum(p), abs=1e-9)


@pytest.mark.parametrize("options,fragment", [({"cvar": 0.0}, "cvar must be in (0, 1]"),
                                              ({"cvar": 2.0}, "cvar must be in (0, 1]"),
                                              ({"mixer": "z"}, "mixer must be auto, x or xy"),
                                              ({"optimizer": "adam"}, "optimizer must be bfgs"),
                                              ({"grid": 0}, "grid must be at least 1")])
def test_bad_openqaoa_options_are_refused(options, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace("]", r"\]")):
        OQ.OpenQAOASolver(**options)


@pytest.mark.slow
def test_a_variable_without_terms_still_gets_its_qubit():
    M = np.zeros((5, 5))
    M[:4, :4] = np.random.default_rng(23).normal(size=(4, 4))  # x4 has no term at all
    p = with_cardinality(ir.Problem.from_qubo_matrix(M), 2)
    s = OQ.OpenQAOASolver(p=1).sample(p, num_reads=100, seed=0)
    assert s.X.shape[1] == 5 and p.feasible(s.X).all()
    assert s.energies[0] == pytest.approx(feasible_optimum(p), abs=1e-9)
