"""Conversions from the IR to the libraries targets speak: COO arrays, dimod BQM/CQM, Ising.

All conversions keep IR labels as variable names (or the names a caller passes, such as the LP writer's
LP-safe ones) and preserve energies exactly (up to float rounding); dimod does the work, from numpy arrays.
QUBO -> Ising uses x = (1 - z) / 2 (qiskit's convention: |0> <-> x = 0 <-> z = +1):

    h.x + sum J_ij x_i x_j + c  =  sum_i a_i z_i + sum_{i<j} b_ij z_i z_j + c'
    b_ij = J_ij / 4,  a_i = -h_i / 2 - sum_j J_ij / 4,  c' = c + sum h / 2 + sum J / 4

dimod's ``change_vartype(SPIN)`` uses s = 2x - 1, i.e. s = -z: the same b and c', and a = -(dimod's linear).
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


def constraint_terms(con: ir.Constraint) -> tuple[np.ndarray, np.ndarray]:
    """(indices, coefficients) of a constraint's left side with a repeated variable's coefficients summed,
    variables in order of first appearance."""
    idx, first, inverse = np.unique(con.indices, return_index=True, return_inverse=True)
    coeffs = np.bincount(inverse, weights=con.coeffs, minlength=idx.shape[0])
    order = np.argsort(first)
    return idx[order], coeffs[order]


def to_cqm(problem: ir.Problem, names: list[str] | None = None, con_names: list[str] | None = None):
    """A dimod ConstrainedQuadraticModel: the objective as a binary BQM, constraints kept native.

    Variable k is named ``names[k]`` and constraint k ``con_names[k]`` (default: the IR labels). A variable
    repeated in a constraint gets the sum of its coefficients; each constraint keeps its variables in order of
    first appearance."""
    import dimod

    names = problem.labels if names is None else names
    con_names = [c.label for c in problem.constraints] if con_names is None else con_names
    r, c, v = coo(problem)
    cqm = dimod.ConstrainedQuadraticModel()
    cqm.set_objective(dimod.BinaryQuadraticModel.from_numpy_vectors(
        problem.linear, (r, c, v), float(problem.offset), dimod.BINARY, variable_order=names))
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    for con, label in zip(problem.constraints, con_names):
        idx, coeffs = constraint_terms(con)
        lhs = dimod.BinaryQuadraticModel.from_numpy_vectors(
            coeffs, none, 0.0, dimod.BINARY, variable_order=[names[i] for i in idx.tolist()])
        cqm.add_constraint_from_model(lhs, con.sense.value, rhs=float(con.rhs), label=label, copy=False)
    return cqm


def to_ising(problem: ir.Problem) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], float]:
    """(a, (rows, cols, b), c'): the spin form with x = (1 - z)/2, in the IR's variable order, couplings
    row-major with rows < cols (the pairs of :func:`coo`). dimod's BINARY -> SPIN conversion, sign-flipped
    linear part (see the module docstring)."""
    import dimod

    require_unconstrained(problem, "ising")
    spin = to_bqm(problem, check=False).change_vartype(dimod.SPIN, inplace=False)
    lin, (r, c, b), const = spin.to_numpy_vectors(variable_order=problem.labels, sort_indices=True)
    order = np.lexsort((c, r))
    rows, cols = r[order].astype(np.int64), c[order].astype(np.int64)
    return 0.0 - lin, (rows, cols, b[order]), float(const)  # 0.0 - lin: no -0.0 for a zero field
