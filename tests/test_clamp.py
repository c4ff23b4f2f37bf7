"""Clamping variables folds them in exactly: E_clamped(x_R) == E(x_R, v) for every x_R."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qsel import ir
from strategies import problems, scale_of


@given(problems(max_vars=8), st.data())
def test_clamped_energy_equals_original_with_values_plugged_in(problem, data):
    n = problem.num_vars
    fixed = np.array(data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n)), dtype=np.int64)
    values = np.array(data.draw(st.lists(st.integers(0, 1), min_size=len(fixed), max_size=len(fixed))), dtype=float)
    try:
        clamped = ir.clamp(problem, fixed, values)
    except ir.QselError:
        return  # every variable of some constraint fixed to a violating value: reported, fine
    ir.verify(clamped)
    free = np.setdiff1d(np.arange(n), fixed)
    rng = np.random.default_rng(0)
    XR = rng.integers(0, 2, size=(16, free.size)).astype(float)
    X = np.zeros((16, n))
    X[:, free] = XR
    X[:, fixed] = values
    tol = 1e-9 * scale_of(problem) + 1e-12
    np.testing.assert_allclose(clamped.energies(XR), problem.energies(X), rtol=0, atol=tol)
    np.testing.assert_array_equal(clamped.feasible(XR), problem.feasible(X))
    assert set(clamped.fixed) == {problem.labels[i] for i in fixed}


def test_restrict_drops_cross_terms():
    Q = np.array([[1.0, 2.0, 3.0], [0, -1.0, 4.0], [0, 0, 0.5]])
    p = ir.Problem.from_qubo_matrix(Q)
    sub = ir.restrict(p, np.array([0, 2]))
    assert sub.labels == ["x0", "x2"]
    assert sub.energy([1, 1]) == pytest.approx(1 + 0.5 + 3)
    assert "fixed" not in sub.metadata


def test_clamping_every_variable_of_a_broken_constraint_is_reported():
    v = ir.Variables.from_labels(["a", "b"])
    p = ir.Problem(v, np.zeros(2), constraints=(ir.Constraint.cardinality("k", [0, 1], "==", 2),))
    with pytest.raises(ir.QselError, match="constraint 'k' unsatisfiable"):
        ir.clamp(p, np.array([0, 1]), np.array([1.0, 0.0]))
