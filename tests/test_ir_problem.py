"""The IR's energy and constraint semantics against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given

import qsel
from qsel import ir
from strategies import assignments, problems, scale_of


def brute_energy(problem: ir.Problem, x: np.ndarray) -> float:
    """Term-by-term evaluation: the definition the vectorised code must match."""
    e = problem.offset + float(np.dot(problem.linear, x))
    for block in problem.dense:
        b = block.size
        for a in range(b):
            for c in range(a + 1, b):
                e += block.matrix[a, c] * x[block.index[a]] * x[block.index[c]]
    for r, c, v in zip(problem.sparse.rows, problem.sparse.cols, problem.sparse.vals):
        e += v * x[r] * x[c]
    return e


def test_qubo_matrix_energy_is_xT_Q_x():
    rng = np.random.default_rng(1)
    Q = rng.normal(size=(7, 7))
    p = ir.Problem.from_qubo_matrix(Q, offset=2.5)
    X = rng.integers(0, 2, size=(50, 7))
    expected = np.einsum("si,ij,sj->s", X, Q, X) + 2.5
    np.testing.assert_allclose(p.energies(X), expected, rtol=1e-12, atol=1e-12)


# The case that failed in CI under a result-relative tolerance: 1e12 + 22.1 - 1e12 gives 22.0999755859375
# or 22.1 depending on the order of the additions.
_CANCELLING = ir.Problem(ir.Variables.from_labels(["a", "b", "c"]), np.array([1e12, 22.1, 0.0]), 0.0,
                         sparse=ir.Couplings.from_arrays([0, 1], [1, 2], [-1e12, 1e12]))


@given(problems(max_vars=8))
@example(_CANCELLING)
def test_vectorised_energies_match_term_by_term(problem):
    """Both sides add the same k terms (x is 0/1, so every product is exact), only in another order.
    Each sum of k floating-point terms is off by at most (k - 1) * eps * sum|terms| <= (k - 1) * eps *
    scale_of(problem), so the two differ by at most twice that. The result itself can be far smaller
    than sum|terms| (1e12 - 1e12 + 22.1), so a tolerance relative to the result is wrong."""
    X = assignments(problem, 16)
    e = problem.energies(X)
    k = (2 + problem.num_vars + sum(b.size * (b.size - 1) // 2 for b in problem.dense) + len(problem.sparse))
    tol = 2 * k * np.finfo(float).eps * scale_of(problem) + 1e-300
    for x, ei in zip(X, e):
        ref = brute_energy(problem, x)
        assert abs(ei - ref) <= tol


def test_noncontiguous_dense_block_and_sparse_terms():
    v = ir.Variables.from_labels(["a", "b", "c", "d"])
    block = ir.DenseBlock(np.array([3, 0]), np.array([[0.0, 2.0], [0.0, 0.0]]))
    sparse = ir.Couplings.from_arrays([1, 2], [2, 3], [5.0, -1.0])
    p = ir.Problem(v, np.array([1.0, 0, 0, 0]), 0.5, (block,), sparse)
    assert p.energy([1, 1, 1, 1]) == pytest.approx(0.5 + 1 + 2 + 5 - 1)
    assert p.energy([1, 0, 0, 1]) == pytest.approx(0.5 + 1 + 2)
    assert p.energy([0, 1, 1, 0]) == pytest.approx(0.5 + 5)


def test_constraint_checks_name_the_broken_constraint():
    v = ir.Variables.from_labels(["a", "b", "c"])
    cons = (ir.Constraint.cardinality("keep2", [0, 1, 2], "==", 2),
            ir.Constraint("budget", np.array([0, 2]), np.array([2.0, 3.0]), ir.Sense.LE, 4.0),
            ir.Constraint.cardinality("atleast1", [1, 2], ">=", 1))
    p = ir.Problem(v, np.zeros(3), constraints=cons)
    X = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(p.feasible(X), [True, False, False])
    np.testing.assert_allclose(p.violations(X), [[0, 0, 0], [0, 1, 0], [2, 0, 1]])
    assert p.broken_constraints(np.array([1, 0, 1])) == ["budget"]
    assert cons[0].kind == "cardinality" and cons[1].kind == "linear"


def test_public_api_load_save_labels_energies(tmp_path):
    Q = np.array([[1.0, -2.0], [0.0, 3.0]])
    p = ir.Problem.from_qubo_matrix(Q, ["fc1.n0", "fc1.n1"])
    for name in ("p.qir", "p.qirz"):
        qsel.save(p, tmp_path / name)
        back = qsel.load(tmp_path / name)
        assert back.labels == ["fc1.n0", "fc1.n1"]
        np.testing.assert_array_equal(back.energies(np.array([[1, 1], [0, 1]])), [2.0, 3.0])


def test_energies_reject_wrong_shape():
    p = ir.Problem.from_qubo_matrix(np.eye(3))
    with pytest.raises(ValueError, match=r"shape \(samples, 3\)"):
        p.energies(np.zeros((2, 4)))


def test_dense_4096_block_energies_use_one_gemm_not_a_loop():
    # 4096 variables and 200 assignments: must finish in well under a second-scale budget
    # through BLAS; checked against the same algebra written directly.
    rng = np.random.default_rng(0)
    n = 4096
    M = np.triu(rng.normal(size=(n, n)), 1)
    p = ir.Problem(ir.Variables.from_labels([f"x{i}" for i in range(n)]), rng.normal(size=n),
                   dense=(ir.DenseBlock(np.arange(n), M),))
    X = rng.integers(0, 2, size=(20, n)).astype(float)
    expected = X @ p.linear + np.einsum("si,ij,sj->s", X, M, X)
    np.testing.assert_allclose(p.energies(X), expected, rtol=1e-10)
