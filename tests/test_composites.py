"""Composite solvers: the spec grammar, lower, polish, decompose (exact subproblems, quality, determinism)."""

from __future__ import annotations


import numpy as np
import pytest

from qsel import ir
from qsel.targets.base import from_spec
from qsel.targets.classical import ExactSolver, SimulatedAnnealingSolver, TabuSolver, objective_beta_range
from qsel.targets.composites import LowerComposite, PolishComposite, adapt
from qsel.targets.decompose import DecomposeComposite, Search
from qsel.targets.executor import ProcessExecutor, SerialExecutor
from qsel.targets.postprocess import MoveSet, QuadraticForm, greedy_start
from qsel.targets.registry import get_solver
from qsel.targets.solve import solve
from strategies import assert_swap_optimal, feasible_minimum


def selection_problem(n: int, k: int, seed: int, m: int = 40, outputs: int = 6) -> ir.Problem:
    """A neuron-selection problem of the frontend's form: Q = (A^T A / m) o (W^T W), h = diag Q - 2 r."""
    rng = np.random.default_rng(seed)
    A = np.maximum(rng.normal(size=(m, n)), 0)
    W = rng.normal(size=(outputs, n)) / np.sqrt(n)
    T = rng.normal(size=(m, outputs))
    Q = (A.T @ A / m) * (W.T @ W)
    r = np.einsum("si,ki,sk->i", A, W, T) / m
    Qfull = Q.copy()
    np.fill_diagonal(Qfull, np.diag(Q) - 2 * r)
    p = ir.Problem.from_qubo_matrix(Qfull, offset=float((T ** 2).sum() / m))
    return p.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(n), "==", k),))


def spec(text: str):
    return from_spec(text, "solver", get_solver)


# ------------------------------------------------------------------ grammar
def test_specs_nest_and_render_back():
    s = spec("decompose{block=20,strategy=coupled}(polish(tabu{timeout=5}))")
    assert isinstance(s, DecomposeComposite) and s.block == 20 and s.strategy == "coupled"
    assert isinstance(s.child, PolishComposite) and s.child.child == TabuSolver(timeout=5)
    assert s.spec() == "decompose{block=20,strategy=coupled}(polish(tabu{timeout=5}))"
    assert spec(s.spec()) == s


@pytest.mark.parametrize("text, message", [
    ("tabu(sa)", "wraps no other solver"),
    ("decompose(tabu", r"expected '\)'"),
    ("decompose()", "expected a solver inside"),
    ("decompose{child=tabu}(sa)", "has no option 'child'"),
    ("decompose{block=1}(tabu)", "block must be 0"),
    ("decompose(tabu))", "unbalanced"),
    ("decompose(nosuch)", "unknown solver 'nosuch'"),
])
def test_bad_specs_say_what_is_wrong(text, message):
    with pytest.raises(ir.QselError, match=message):
        spec(text)


def test_a_composite_without_a_child_says_how_to_write_one():
    with pytest.raises(ir.QselError, match=r"write decompose\(SOLVER\)"):
        spec("decompose").sample(selection_problem(10, 3, 0))


# ------------------------------------------------------------------ lower and polish
def test_lower_maps_samples_back_and_scores_the_constrained_problem():
    p = selection_problem(10, 4, 1)
    s = LowerComposite(child=SimulatedAnnealingSolver(num_sweeps=50)).sample(p, num_reads=8, seed=0)
    assert s.X.shape == (8, 10)
    np.testing.assert_allclose(s.energies, p.energies(s.X), rtol=0, atol=1e-12)
    assert "lower" in s.info["composites"] and s.info["penalties"]


def test_polish_returns_feasible_swap_local_minima():
    p = selection_problem(12, 4, 2)
    s = PolishComposite(child=LowerComposite(child=SimulatedAnnealingSolver(num_sweeps=20))).sample(
        p, num_reads=10, seed=3)
    assert p.feasible(s.X).all()
    assert_swap_optimal(p, s.X, 1e-12)


def test_adapt_wraps_what_a_solver_cannot_enforce():
    p = selection_problem(8, 3, 0)
    assert adapt(ExactSolver(), p) == ExactSolver()
    assert adapt(TabuSolver(), p).spec() == "polish(lower(tabu))"
    assert adapt(TabuSolver(), p.replace(constraints=())) == TabuSolver()


# ------------------------------------------------------------------ decompose
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_subproblem_energy_equals_the_whole_energy(seed):
    p = selection_problem(40, 12, seed)
    search = Search(p, ExactSolver(), 10, DecomposeComposite(child=ExactSolver(), block=10), seed)
    rng = np.random.default_rng(seed)
    x = greedy_start(search.qf, search.moves)
    f = search.qf.fields(x)
    search.energy = search.qf.energy(x)
    B = np.sort(rng.choice(40, size=10, replace=False))
    sub = search.subproblem(x, f, B)
    Y = rng.integers(0, 2, size=(30, 10)).astype(float)
    full = np.tile(x, (30, 1))
    full[:, B] = Y
    tol = 1e-12 * (np.abs(p.linear).sum() + np.abs(search.qf.S).sum())
    np.testing.assert_allclose(sub.energies(Y), p.energies(full), rtol=0, atol=tol)
    np.testing.assert_array_equal(sub.feasible(Y), p.feasible(full))  # the count is shifted, not dropped


def test_decompose_with_one_block_holding_everything_finds_the_optimum():
    p = selection_problem(14, 5, 4)
    s = spec("decompose{block=14}(exact)").sample(p, seed=0)
    assert s.energies[0] == pytest.approx(feasible_minimum(p), abs=1e-12)


@pytest.mark.parametrize("strategy", ["energy", "coupled", "random"])
def test_decompose_never_ends_worse_than_greedy_and_is_feasible(strategy):
    p = selection_problem(80, 20, 5)
    s = spec(f"decompose{{block=12,strategy={strategy}}}(exact)").sample(p, seed=1)
    qf, moves = QuadraticForm.from_problem(p), MoveSet.of(p)
    assert p.feasible(s.X).all()
    assert s.energies[0] <= qf.energy(greedy_start(qf, moves)) + 1e-12
    report = s.info["decompose"]
    assert report["subproblems"] >= 1 and report["energy"] == pytest.approx(s.energies[0], abs=1e-9)


def test_decompose_gives_the_same_answer_in_a_process_pool():
    """Randomness lives in the subproblems' seeds: where they ran does not change the trajectory."""
    p = selection_problem(60, 15, 6)
    serial = spec("decompose{block=12,workers=1}(exact)").sample(p, seed=7)
    pooled = spec("decompose{block=12,workers=2}(exact)").sample(p, seed=7)
    np.testing.assert_array_equal(serial.X, pooled.X)
    assert serial.info["decompose"]["subproblems"] == pooled.info["decompose"]["subproblems"]


def test_decompose_refuses_a_block_larger_than_its_child_takes():
    with pytest.raises(ir.QselError, match="block=30 is more than solver 'exact' takes"):
        spec("decompose{block=30}(exact)").sample(selection_problem(40, 10, 0))


def test_solve_with_a_decompose_spec_on_an_unpartitioned_problem():
    p = selection_problem(50, 12, 8)
    sol = solve(p, spec("decompose{block=10}(tabu{timeout=5})"), num_reads=1, seed=0)
    assert p.feasible(sol.x[None])[0] and sol.energy == pytest.approx(p.energy(sol.x), abs=1e-12)


# ------------------------------------------------------------------ sa and the executor
def test_sa_anneals_over_the_objective_range_and_reaches_the_optimum_through_polish():
    from qsel.targets.embedding import lower_constraints

    p = selection_problem(14, 5, 9)
    lowered = lower_constraints(p)
    hot, cold = objective_beta_range(lowered)
    assert 0 < hot < cold < np.inf
    sol = solve(lowered, SimulatedAnnealingSolver(), num_reads=20, seed=0)
    assert sol.samples[0].info["beta_range"] == [hot, cold]
    assert p.feasible(sol.x[None])[0] and p.energy(sol.x) == pytest.approx(feasible_minimum(p), abs=1e-12)


def test_executors_keep_the_order_of_tasks():
    tasks = list(range(7))
    with SerialExecutor() as ex:
        assert ex.map(abs, [-t for t in tasks]) == tasks
    with ProcessExecutor(2) as ex:
        assert ex.map(abs, [-t for t in tasks]) == tasks


def test_anneal_acceptance_needs_a_budget_and_never_returns_worse_than_its_start():
    with pytest.raises(ir.QselError, match="accept=anneal cools over a budget"):
        spec("decompose{accept=anneal}(exact)")
    p = selection_problem(60, 15, 10)
    s = spec("decompose{block=8,accept=anneal,max-subproblems=120}(exact)").sample(p, seed=2)
    report = s.info["decompose"]
    assert p.feasible(s.X).all() and report["subproblems"] == 120 and report["accept"] == "anneal"
    assert s.energies[0] <= report["after_descent"] + 1e-12
    again = spec("decompose{block=8,accept=anneal,max-subproblems=120}(exact)").sample(p, seed=2)
    np.testing.assert_array_equal(s.X, again.X)
