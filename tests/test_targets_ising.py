"""convert.to_ising (dimod's BINARY -> SPIN conversion, read back in the IR's order): with x = (1 - z)/2 the
spin form gives the IR energy, over the IR's coupled pairs, row-major with rows < cols."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from qsel import ir
from qsel.targets.convert import coo, to_ising
from strategies import assignments, problems, scale_of


@given(problem=problems(max_vars=9))
@settings(max_examples=60, deadline=None)
def test_ising_energy_equals_the_ir_energy_with_x_one_minus_z_over_two(problem):
    problem = problem.replace(constraints=())
    a, (r, c, b), const = to_ising(problem)
    X = assignments(problem, 32)
    Z = 1 - 2 * X
    e = Z @ a + (Z[:, r] * Z[:, c]) @ b + const
    np.testing.assert_allclose(e, problem.energies(X), rtol=0, atol=1e-9 * scale_of(problem) + 1e-12)
    r0, c0, J = coo(problem)
    assert np.array_equal(r, r0) and np.array_equal(c, c0) and r.dtype == c.dtype == np.int64
    np.testing.assert_array_equal(b, J / 4)
    assert a.shape == (problem.num_vars,) and not np.signbit(a[a == 0]).any()  # no -0.0 fields


def test_ising_of_a_small_problem_by_hand():
    # E = 2 x_a - 4 x_a x_b + 1; x = (1 - z)/2:  a = (-1 + 1, 1), b = -1, c' = 1 + 1 - 1
    problem = ir.Problem.from_terms(["a", "b"], {"a": 2.0}, {("b", "a"): -4.0}, offset=1.0)
    a, (r, c, b), const = to_ising(problem)
    assert a.tolist() == [0.0, 1.0] and r.tolist() == [0] and c.tolist() == [1] and b.tolist() == [-1.0]
    assert const == 1.0


def test_ising_refuses_constraints():
    problem = ir.Problem.from_terms(["a", "b"], {"a": 1.0}, {}).replace(
        constraints=(ir.Constraint.cardinality("one", [0, 1], ir.Sense.EQ, 1),))
    with pytest.raises(ir.QselError, match="lower-constraints"):
        to_ising(problem)
