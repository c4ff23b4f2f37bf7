"""prune: which couplings go, the reported bound, and that every assignment stays inside it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qsel import ir
from qsel.passes import build
from strategies import assignments, problems, run_pipeline as run, scale_of


def small() -> ir.Problem:
    U = np.array([[0, 1.0, -0.001, 0.5],
                  [0, 0, 0.002, -2.0],
                  [0, 0, 0, 0.0005],
                  [0, 0, 0, 0]])
    return ir.Problem.from_qubo_matrix(U + np.diag([1.0, -1, 0.5, 0]), ["a", "b", "c", "d"])


def test_relative_threshold_drops_weak_couplings_and_bounds_the_error():
    out = run(small(), "prune{eps=0.01,mode=relative}")  # threshold 0.02 = 0.01 * max|J| (2.0)
    U = out.to_dense_upper()
    assert U[0, 2] == 0 and U[1, 2] == 0 and U[2, 3] == 0
    assert U[0, 1] == 1.0 and U[0, 3] == 0.5 and U[1, 3] == -2.0
    h = out.history[-1]
    assert h["dropped"] == 3 and h["kept"] == 3 and h["threshold"] == 0.02
    # dropped: -0.001, +0.002, +0.0005 -> P = 0.0025, N = 0.001: the error of any x lies in [-0.0025, 0.001]
    assert h["bound"] == pytest.approx(0.0025) and h["dropped_abs_sum"] == pytest.approx(0.0035)
    X = ((np.arange(16)[:, None] >> np.arange(4)) & 1).astype(float)
    err = np.abs(out.energies(X) - small().energies(X))
    assert err.max() == pytest.approx(0.0025)  # attained by b, c, d on and a off


def test_absolute_threshold():
    out = run(small(), "prune{eps=0.6,mode=absolute}")
    assert np.count_nonzero(out.to_dense_upper()) == 2


def test_max_degree_keeps_mutual_strongest_couplings():
    rng = np.random.default_rng(0)
    n, d = 40, 3
    p = ir.Problem.from_qubo_matrix(np.triu(rng.normal(size=(n, n)), 1))
    out = run(p, f"prune{{max-degree={d}}}")
    U = out.to_dense_upper()
    deg = np.count_nonzero(U + U.T, axis=1)
    assert deg.max() <= d and deg.sum() > 0
    # every kept coupling is among the d strongest of both ends in the original
    A = np.abs(p.to_dense_upper())
    A = A + A.T
    kth = -np.sort(-A, axis=1)[:, d - 1]
    r, c = np.nonzero(U)
    assert np.all(A[r, c] >= kth[r]) and np.all(A[r, c] >= kth[c])
    assert len(out.dense) == 0 and len(out.sparse) == deg.sum() // 2  # a sparse result moves to COO


def test_max_degree_general_path_with_sparse_and_overlapping_terms():
    rng = np.random.default_rng(1)
    n = 12
    p = ir.Problem.from_qubo_matrix(np.triu(rng.normal(size=(n, n)), 1))
    extra = ir.Couplings.from_arrays([0, 3, 5], [11, 7, 2], [9.0, -8.0, 7.0])
    p = p.replace(sparse=extra)
    out = run(p, "prune{max-degree=2}")
    deg = np.zeros(n, int)
    for blk in out.dense:
        r, c = np.nonzero(blk.matrix)
        np.add.at(deg, blk.index[r], 1)
        np.add.at(deg, blk.index[c], 1)
    np.add.at(deg, out.sparse.rows, 1)
    np.add.at(deg, out.sparse.cols, 1)
    assert deg.max() <= 2
    X = assignments(p, 256)
    assert np.all(np.abs(out.energies(X) - p.energies(X)) <= out.history[-1]["bound"] + 1e-9)


@pytest.mark.parametrize("pipeline,fragment", [
    ("prune", "give eps > 0 or max-degree"),
    ("prune{eps=-1}", "eps must be a finite number >= 0"),
    ("prune{eps=2}", "relative eps must be at most 1"),
    ("prune{max-degree=0}", "max-degree must be at least 1"),
    ("prune{mode=weird,eps=0.1}", "expects one of relative, absolute"),
])
def test_option_errors(pipeline, fragment):
    with pytest.raises(ir.QselError, match=fragment):
        build(pipeline)


@given(problems(), st.sampled_from(["prune{eps=0.1}", "prune{eps=0.5,mode=relative}", "prune{eps=1000,mode=absolute}",
                                    "prune{max-degree=1}", "prune{max-degree=2,eps=0.01}"]))
@pytest.mark.slow
def test_property_every_assignment_stays_inside_the_bound(problem, pipeline):
    X = assignments(problem)
    out = run(problem, pipeline)
    bound = out.history[-1]["bound"]
    tol = 1e-9 * scale_of(problem) + 1e-12
    assert np.all(np.abs(out.energies(X) - problem.energies(X)) <= bound + tol)
    np.testing.assert_array_equal(out.feasible(X), problem.feasible(X))
