"""Swap descent keeps cardinality, never makes a feasible sample worse, and reaches swap-local optima."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qsel import ir
from qsel.passes import PassManager, build
from qsel.targets.postprocess import cardinality_groups, swap_descent
from strategies import assert_swap_optimal


def problem(n=10, k=4, seed=0) -> ir.Problem:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    p = ir.Problem.from_qubo_matrix(A + A.T)
    return p.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(n), "==", k),))


@pytest.mark.parametrize("seed", range(5))
def test_repairs_and_improves_penalised_samples(seed):
    p = problem(seed=seed)
    lowered = PassManager(build("lower-constraints{penalty=auto}")).run(p)
    assert not lowered.constraints and cardinality_groups(lowered)[0][1] == 4
    X = np.random.default_rng(seed).integers(0, 2, size=(30, 10)).astype(float)
    Y = swap_descent(lowered, X)
    assert np.all(Y.sum(1) == 4)  # repaired to the cardinality
    feasible = X.sum(1) == 4
    assert np.all(p.energies(Y[feasible]) <= p.energies(X[feasible]) + 1e-9)  # never worse
    assert_swap_optimal(p, Y, 1e-9)  # every result is swap-optimal: no single exchange lowers the energy


def test_finds_the_optimum_from_many_starts():
    p = problem(n=12, k=3, seed=7)
    best = min(p.energy(np.isin(np.arange(12), c).astype(float)) for c in itertools.combinations(range(12), 3))
    Y = swap_descent(p, np.random.default_rng(1).integers(0, 2, size=(40, 12)).astype(float))
    assert p.energies(Y).min() == pytest.approx(best)


def test_without_cardinality_constraints_samples_are_returned_unchanged():
    p = ir.Problem.from_qubo_matrix(np.eye(3))
    X = np.array([[1.0, 0, 1]])
    np.testing.assert_array_equal(swap_descent(p, X), X)
