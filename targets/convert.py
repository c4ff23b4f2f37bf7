"""Conversions from the IR to the libraries targets speak: COO arrays, dimod BQM/CQM, Ising.

All conversions keep IR labels as variable names and preserve energies
exactly (up to float rounding). QUBO -> Ising uses x = (1 - z) / 2 (qiskit's
convention: |0> <-> x = 0 <-> z = +1):

    h.x + sum J_ij x_i x_j + c  =  sum_i a_i z_i + sum_{i<j} b_ij z_i z_j + c'
    b_ij = J_ij / 4,  a_i = -h_i / 2 - sum_j J_ij / 4,  c' = c + sum h / 2 + sum J / 4
"""

from __future__ import annotations

import numpy as np

from qsel import ir
from qsel.passes.quadratic import effective_coo


def coo(problem: ir.Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every quadratic term as (rows, cols, vals) with rows < cols, duplicates summed, zeros dropped
    (the pass layer's :func:`qsel.passes.quadratic.effective_coo`, less the pairs that sum to zero)."""
    t = effective_coo(problem)
    keep = t.vals != 0
    return t.rows[keep], t.cols[keep], t.vals[keep]


def require_unconstrained(problem: ir.Problem, target: str) -> None:
    if problem.constraints:
        labels = ", ".join(c.label for c in problem.constraints[:5])
        raise ir.QselError(f"target '{target}' takes an unconstrained problem but the IR still has constraints "
                           f"({labels}); run the 'lower-constraints' pass first (or use a target that keeps "
                           f"constraints, such as dimod-cqm)")


def to_bqm(problem: ir.Problem, *, check: bool = True):
    """A dimod BINARY BinaryQuadraticModel with the IR's labels; constraints must be lowered first."""
    import dimod

    if check:
        require_unconstrained(problem, "dimod-bqm")
    r, c, v = coo(problem)
    return dimod.BinaryQuadraticModel.from_numpy_vectors(
        problem.linear, (r, c, v), float(problem.offset), dimod.BINARY, variable_order=problem.labels)


def to_cqm(problem: ir.Problem):
    """A dimod ConstrainedQuadraticModel: the objective as a binary BQM, constraints kept native, by label."""
    import dimod

    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(to_bqm(problem, check=False))
    labels = problem.labels
    for con in problem.constraints:
        terms = [(labels[i], float(w)) for i, w in zip(con.indices.tolist(), con.coeffs.tolist())]
        cqm.add_constraint_from_iterable(terms, con.sense.value, rhs=float(con.rhs), label=con.label)
    return cqm


def to_ising(problem: ir.Problem) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], float]:
    """(a, (rows, cols, b), c'): the spin form with x = (1 - z)/2, in the IR's variable order."""
    require_unconstrained(problem, "ising")
    r, c, J = coo(problem)
    h = problem.linear
    a = -h / 2.0
    np.add.at(a, r, -J / 4.0)
    np.add.at(a, c, -J / 4.0)
    const = float(problem.offset) + float(h.sum()) / 2.0 + float(J.sum()) / 4.0
    return a, (r, c, J / 4.0), const
