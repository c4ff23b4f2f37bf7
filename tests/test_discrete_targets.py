"""A quantisation problem goes through the existing targets and solvers unchanged (files, embedding, QAOA, tabu)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main
from qsel.frontend import discrete as D
from qsel.frontend import discrete_baselines as B
from qsel.frontend.init import init_network
from qsel.result import Result
from qsel.solving import solve_to_result
from qsel.targets.base import from_spec
from qsel.targets.registry import get_solver
from strategies import scale_of


@pytest.fixture(scope="module")
def problem_and_data():
    """2-3-2 tanh network, int{bits=2}: units of 2 x 2 = 4 (fc1) and 3 x 2 = 6 (fc2) variables."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 2))
    net = init_network([2, 3, 2], "tanh", seed=5, bias_init="uniform")
    data = D.prepare(net, X, None, "quantize", D.parse_grid("int{bits=2}", None, "binary"), None, None)
    return net, X, data, D.compile_discrete(net, data, "independent", initial_state=B.initial_state(data, "gptq"))


def exact_energy(problem: ir.Problem) -> float:
    return solve_to_result(problem, from_spec("exact", "solver", get_solver), num_reads=1).result.energy


@pytest.mark.parametrize("spec", [pytest.param("tabu", marks=pytest.mark.slow), "sa", "warm(steepest)",
                                  pytest.param("decompose{block=4}(tabu)", marks=pytest.mark.slow),
                                  pytest.param("embed(pegasus-sim{num-sweeps=1000})", marks=pytest.mark.slow),
                                  "local-pegasus"])
def test_solvers_reach_the_exact_optimum_of_small_units(problem_and_data, spec):
    net, X, data, problem = problem_and_data
    best = exact_energy(problem)
    run = solve_to_result(problem, from_spec(spec, "solver", get_solver), num_reads=20, seed=3)
    assert run.result.energy == pytest.approx(best, abs=1e-9 * scale_of(problem))
    W = D.weights_of(problem.metadata, run.result.assignment, spec)
    assert sum(D.measure(net, X, None, W, problem.metadata).values()) == pytest.approx(
        run.result.energy, abs=1e-9 * scale_of(problem))


@pytest.mark.slow
def test_qaoa_on_a_small_unit(problem_and_data):
    """A 4-qubit unit (fc1: 2 inputs x 2 bits) through the statevector QAOA solver: its best sample is the optimum."""
    _, _, data, _ = problem_and_data
    fc1 = D.compile_discrete(init_network([2, 3, 2], "tanh", seed=5), data[:1], "independent")
    run = solve_to_result(fc1, from_spec("qaoa{p=2}", "solver", get_solver), num_reads=64, seed=0)
    assert run.result.energy == pytest.approx(exact_energy(fc1), abs=1e-9 * scale_of(fc1))


@pytest.mark.parametrize("target", ["dimod-bqm", "qubo", "dwave", pytest.param("qiskit-qaoa", marks=pytest.mark.slow)])
def test_emit_files_for_a_quantisation_problem(problem_and_data, tmp_path, target):
    _, _, _, problem = problem_and_data
    qir = tmp_path / "q.qir"
    ir.save(problem, qir)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["emit", str(qir), "-t", target, "-o", str(out)])
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "manifest.json").read_text())
    blocks = [b.get("labels") for b in manifest["blocks"]]
    if all(isinstance(b, list) for b in blocks):  # labelled blocks: every variable once, no output unit split
        assert sorted(lab for b in blocks for lab in b) == sorted(problem.labels)
        where = {lab: k for k, b in enumerate(blocks) for lab in b}
        for part in problem.partitions:
            assert len({where[problem.labels[i]] for i in part.indices}) == 1, part.name
    assert manifest["blocks"]


def test_onehot_constraints_are_lowered_for_an_annealer(tmp_path):
    """One-hot levels: the exactly-one constraints go through lower-constraints like any other; the answer is
    feasible, decodes to grid levels and matches exact enumeration of the constrained problem."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    net = init_network([3, 2], "identity", seed=2)
    data = D.prepare(net, X, None, "quantize", D.parse_grid("ternary", None, "onehot"), None, None)
    problem = D.compile_discrete(net, data, "independent")
    assert len(problem.constraints) == 2 * 3
    best = exact_energy(problem)
    run = solve_to_result(problem, from_spec("tabu", "solver", get_solver), num_reads=20, seed=0)
    assert run.result.feasible and run.auto_pipeline.startswith("lower-constraints")
    assert run.result.energy == pytest.approx(best, abs=1e-9 * scale_of(problem))
    r = Result.from_assignment(problem, np.array([run.result.assignment[lab] for lab in problem.labels]), "x")
    W = D.weights_of(r.compile, r.assignment, "x")["fc1"]
    assert np.allclose(W / np.asarray(problem.metadata["layers"]["fc1"]["scales"])[:, None] % 1, 0)
