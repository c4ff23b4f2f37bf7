"""Classical solvers and partition-aware solving: exact equals brute force, dimod samplers return IR energies,
iterate never ends worse than independent, results report feasibility by constraint label."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsel import ir
from qsel.result import Result
from qsel.targets.base import Samples, blocks_of, energy_summary, from_spec
from qsel.targets.classical import (ExactSolver, SimulatedAnnealingSolver, SteepestDescentSolver, TabuSolver)
from qsel.targets.emit import run_pipeline
from qsel.targets.registry import get_solver
from qsel.targets.solve import solve
from strategies import problems, scale_of


def brute(problem: ir.Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = problem.num_vars
    X = np.array(list(itertools.product((0, 1), repeat=n)), dtype=float).reshape(-1, n)
    viol = problem.violations(X).sum(axis=1) if problem.constraints else np.zeros(len(X))
    viol[viol <= 1e-9] = 0
    return X, problem.energies(X), viol


@given(problem=problems(max_vars=10), k=st.integers(1, 6))
@settings(max_examples=60)
@pytest.mark.slow
def test_exact_returns_the_k_best_of_the_lowest_violation_level(problem, k):
    s = ExactSolver().sample(problem, num_reads=k)
    X, E, viol = brute(problem)
    level = viol.min()
    best = np.sort(E[viol <= level + 1e-9])[:k]
    tol = 1e-9 * scale_of(problem) + 1e-12
    assert len(s.energies) == min(k, best.size)
    np.testing.assert_allclose(s.energies, best, rtol=0, atol=tol)
    np.testing.assert_allclose(problem.energies(s.X), s.energies, rtol=0, atol=tol)
    if problem.constraints:
        got = problem.violations(s.X).sum(axis=1)
        assert np.all(np.abs(got - level) <= 1e-7 * max(1.0, level))
        assert s.info["feasible_assignments"] == int(np.count_nonzero(viol == 0))
    pool = E[viol == 0] if (viol == 0).any() else E
    assert s.info["distribution"]["count"] == pool.size
    assert s.info["distribution"]["max"] == pytest.approx(pool.max(), abs=tol)


@pytest.mark.slow
def test_exact_enumerates_more_than_the_low_bits():
    """n > 16 exercises the high-bit batches of the vectorised enumeration."""
    rng = np.random.default_rng(5)
    n = 18
    p = ir.Problem.from_qubo_matrix(rng.normal(size=(n, n)), offset=0.5)
    p = p.replace(constraints=(ir.Constraint.cardinality("k", np.arange(n), "<=", 5),))
    s = ExactSolver().sample(p, num_reads=3)
    X, E, viol = brute(p)
    np.testing.assert_allclose(s.energies, np.sort(E[viol == 0])[:3], atol=1e-9)


def test_exact_refuses_big_blocks_with_a_partition_hint():
    p = ir.Problem.from_qubo_matrix(np.eye(25))
    with pytest.raises(ir.QselError, match=r"partition\{max-vars=24\}"):
        ExactSolver().sample(p)
    with pytest.raises(ir.QselError, match=r"at most 24 variables per block.*partition\{max-vars=24\}"):
        solve(p, ExactSolver())


def _random(n: int, seed: int, density: float = 1.0) -> ir.Problem:
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(n, n)) * (rng.random((n, n)) < density)
    return ir.Problem.from_qubo_matrix(Q, labels=[f"v{i}" for i in range(n)], offset=rng.normal())


@pytest.mark.parametrize("solver", [SimulatedAnnealingSolver(), TabuSolver(timeout=5)], ids=["sa", "tabu"])
@pytest.mark.slow
def test_dimod_samplers_find_the_optimum_of_small_problems(solver):
    for seed in range(3):
        p = _random(12, seed)
        s = solver.sample(p, num_reads=20, seed=seed)
        exact = ExactSolver().sample(p, num_reads=1).energies[0]
        assert s.energies.min() == pytest.approx(exact, abs=1e-9)
        np.testing.assert_allclose(p.energies(s.X), s.energies, atol=1e-12)
        assert s.info["max_abs_energy_difference_vs_dimod"] < 1e-9


def test_steepest_descent_returns_local_minima_in_ir_order():
    p = _random(14, 7, density=0.5)
    s = SteepestDescentSolver().sample(p, num_reads=10, seed=1)
    for x in s.X.astype(float):
        flips = np.tile(x, (p.num_vars, 1))
        flips[np.arange(p.num_vars), np.arange(p.num_vars)] = 1 - x
        assert p.energies(flips).min() >= p.energy(x) - 1e-12


def test_penalty_solvers_refuse_constraints_but_solve_lowers_and_polishes_for_them():
    p = _random(6, 0).replace(constraints=(ir.Constraint.cardinality("keep", np.arange(6), "==", 2),))
    with pytest.raises(ir.QselError, match="lower-constraints"):
        SimulatedAnnealingSolver().sample(p)
    sol = solve(p, SimulatedAnnealingSolver(num_sweeps=100), num_reads=5, seed=0)
    _, E, viol = brute(p)
    assert p.feasible(sol.x[None])[0] and sol.energy == pytest.approx(E[viol == 0].min(), abs=1e-12)
    assert set(sol.samples[0].info["composites"]) == {"lower", "polish"}


def _partitioned(n: int, seed: int, size: int) -> ir.Problem:
    p = _random(n, seed)
    parts = tuple(ir.Partition(f"p{k}", np.arange(a, min(a + size, n))) for k, a in enumerate(range(0, n, size)))
    return p.replace(partitions=parts)


@pytest.mark.parametrize("solver", [ExactSolver(), SimulatedAnnealingSolver(num_sweeps=200)], ids=["exact", "sa"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iterate_never_ends_worse_than_independent(solver, seed):
    p = _partitioned(20, seed, 5)
    ind = solve(p, solver, mode="independent", num_reads=10, seed=seed)
    it = solve(p, solver, mode="iterate", num_reads=10, seed=seed)
    assert ind.energy == pytest.approx(p.energy(ind.x), abs=1e-12)  # true energy, cross terms included
    assert it.energy == pytest.approx(p.energy(it.x), abs=1e-12)
    energies = [r["energy"] for r in it.iterations]
    assert energies[0] == pytest.approx(ind.energy, abs=1e-12)
    assert all(b <= a + 1e-12 for a, b in zip(energies, energies[1:]))
    assert it.energy <= ind.energy + 1e-12
    assert it.iterations[-1]["accepted_blocks"] == 0 or len(it.iterations) == 21
    assert [b["name"] for b in it.blocks] == ["p0", "p1", "p2", "p3"]


def test_iterate_reaches_the_optimum_of_weakly_coupled_blocks():
    """Block-diagonal plus tiny cross terms: iterate with exact blocks lands on the global optimum."""
    rng = np.random.default_rng(3)
    n = 16
    Q = np.kron(np.eye(4), np.ones((4, 4))) * rng.normal(size=(n, n)) + 1e-3 * rng.normal(size=(n, n))
    p = ir.Problem.from_qubo_matrix(Q).replace(
        partitions=tuple(ir.Partition(f"b{k}", np.arange(4 * k, 4 * k + 4)) for k in range(4)))
    it = solve(p, ExactSolver(), mode="iterate", num_reads=1)
    _, E, _ = brute(p)
    assert it.energy == pytest.approx(E.min(), abs=1e-9)


def test_iterate_with_exact_repairs_a_constraint_spanning_blocks():
    p = _partitioned(12, 4, 4)
    p = p.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(12), "==", 7),))
    ind = solve(p, ExactSolver(), mode="independent", num_reads=5)
    assert any("not enforced" in note for note in ind.notes)
    it = solve(p, ExactSolver(), mode="iterate", num_reads=5)
    assert it.violation == 0 and p.feasible(it.x[None])[0]
    assert (it.violation, it.energy) <= (ind.violation, ind.energy)


def test_auto_mode_iterates_exactly_when_blocks_are_joined():
    """auto (the CLI default) runs iterate when couplings or a constraint join the blocks, so a partitioned
    coupled problem never gets the blind independent answer; with nothing joining them it is independent."""
    p = _partitioned(20, 5, 5)
    auto = solve(p, ExactSolver(), mode="auto", num_reads=5, seed=0)
    it = solve(p, ExactSolver(), mode="iterate", num_reads=5, seed=0)
    assert auto.mode == "iterate" and any("mode auto: iterate" in n for n in auto.notes)
    assert auto.energy == pytest.approx(it.energy, abs=1e-12)
    rng = np.random.default_rng(1)
    apart = ir.Problem.concat([ir.Problem.from_qubo_matrix(rng.normal(size=(4, 4)), [f"b{k}_{i}" for i in range(4)])
                               for k in range(4)])  # four dense blocks, nothing joins them
    apart = apart.replace(partitions=tuple(ir.Partition(f"b{k}", np.arange(4 * k, 4 * k + 4)) for k in range(4)))
    sol = solve(apart, ExactSolver(), mode="auto", num_reads=1)
    assert sol.mode == "independent"
    assert sol.energy == pytest.approx(brute(apart)[1].min(), abs=1e-9)
    joined = apart.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(16), "==", 5),))
    assert solve(joined, ExactSolver(), mode="auto", num_reads=1).mode == "iterate"


def test_blocks_cover_unpartitioned_variables():
    p = _random(6, 0).replace(partitions=(ir.Partition("a", np.array([4, 1])),))
    blocks = blocks_of(p)
    assert [(b.name, b.indices.tolist()) for b in blocks] == [("a", [1, 4]), ("unpartitioned", [0, 2, 3, 5])]
    sol = solve(p, ExactSolver(), num_reads=3)
    assert sol.energy == pytest.approx(p.energy(sol.x))


def test_solver_specs_are_parsed_and_checked():
    s = from_spec("sa{num-sweeps=50,beta-range=0.1:4}", "solver", get_solver)
    assert s == SimulatedAnnealingSolver(num_sweeps=50, beta_range=(0.1, 4.0))
    assert s.spec() == "sa{num-sweeps=50,beta-range=0.1:4.0}"
    with pytest.raises(ir.QselError, match="has no option 'sweeps'.*did you mean 'num-sweeps'"):
        from_spec("sa{sweeps=5}", "solver", get_solver)
    with pytest.raises(ir.QselError, match="expects an integer"):
        from_spec("tabu{timeout=fast}", "solver", get_solver)
    with pytest.raises(ir.QselError, match="unknown solver 'exakt'; did you mean 'exact'"):
        from_spec("exakt", "solver", get_solver)


def test_energy_summary_is_weighted():
    d = energy_summary(np.array([3.0, 1.0, 2.0]), np.array([1, 5, 1]), bins=2)
    assert (d["count"], d["min"], d["median"], d["max"]) == (7, 1.0, 1.0, 3.0)
    assert d["mean"] == pytest.approx((3 + 5 + 2) / 7) and sum(d["histogram"]["counts"]) == 7


def test_energy_summary_of_energies_whose_span_overflows():
    # -1e308 .. 1e308: the span is inf in float64 (found by the long fuzz run: "Too many bins")
    d = energy_summary(np.array([1e308, -1e308, 0.0]), bins=4)
    assert (d["min"], d["median"], d["max"]) == (-1e308, 0.0, 1e308)
    assert d["histogram"]["counts"] == [1, 0, 1, 1] and d["histogram"]["edges"][::2] == [-1e308, 0.0, 1e308]
    w = energy_summary(np.array([1e308, -1e308, 0.0]), np.array([1, 2, 3]), bins=4)
    assert w["count"] == 6 and w["mean"] == pytest.approx(-1e308 / 6)
    top = np.finfo(np.float64).max
    for e, w in (([1.7e308], None), ([1.7e308, 1.7e308], [0, 0]), ([top] * 8, None), ([top] * 8, [3] * 8),
                 ([5e-324, 1.7e308, 5e-324], None)):  # one energy at the top of the range; sums past it
        d = energy_summary(np.array(e), None if w is None else np.array(w))
        assert np.isfinite(d["histogram"]["edges"]).all() and sum(d["histogram"]["counts"]) == d["count"]
        assert d["count"] == 0 or d["min"] <= d["median"] <= d["max"] and d["min"] <= d["mean"] <= d["max"]


def test_samples_order_puts_feasible_rows_first():
    p = _random(3, 0).replace(constraints=(ir.Constraint.cardinality("one", np.arange(3), "==", 1),))
    X = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0]])
    s = Samples(X, np.array([-5.0, 2.0, -9.0]))
    assert s.order(p).tolist() == [1, 2, 0]
    assert s.best(p).tolist() == [1, 0, 0]


def test_result_reports_lowered_constraints_by_label_and_original_units():
    n = 6
    p = _random(n, 2).replace(constraints=(ir.Constraint.cardinality("keep", np.arange(n), "==", 2),))
    lowered, _ = run_pipeline(p, "lower-constraints{penalty=auto},scale{h-range=-0.5:0.5,j-range=-0.25:0.25}")
    assert not lowered.constraints
    x = np.zeros(lowered.num_vars)
    x[:3] = 1  # three kept: breaks keep == 2 whatever the slack
    r = Result.from_assignment(lowered, x, "test")
    assert r.feasible is False and r.broken_constraints == ["keep"]
    (rep,) = r.extra["constraints"]
    assert rep["lowered"] and rep["lhs"] == 3.0 and rep["rhs"] == 2.0
    assert r.extra["energy_original"] == pytest.approx(r.energy / lowered.metadata["scale"]["factor"])
    x[2] = 0
    good = Result.from_assignment(lowered, x, "test")
    assert good.feasible and good.broken_constraints == []
    assert good.extra["energy_original"] == pytest.approx(p.energy(x[:n]), abs=1e-9)
