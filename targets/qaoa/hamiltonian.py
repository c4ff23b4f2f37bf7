"""The cost side of QAOA for one block: its Ising Hamiltonian, as a SparsePauliOp and as a QuadraticProgram.

With x_i = (1 - z_i) / 2 (``convert.to_ising``):

    H_C = sum_i a_i Z_i + sum_{i<j} b_ij Z_i Z_j,   E(x) = <x|H_C|x> + c'

Qubit i is the block's variable i (``labels[i]``); qiskit prints Pauli labels and bitstrings
little-endian (qubit 0 is the rightmost character).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qsel import ir

from ..convert import coo, to_ising
from ..lp_format import lp_names


def ising(problem: ir.Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """(a, rows, cols, b, c') of the objective with x = (1 - z)/2 (``convert.to_ising``); constraints ignored."""
    a, (r, c, b), const = to_ising(problem.replace(constraints=()))
    return a, r, c, b, const


def pauli_op(problem: ir.Problem):
    """(SparsePauliOp H_C, offset c'): E(x) = <x|H_C|x> + c' for the basis state with qubit i = x_i."""
    from qiskit.quantum_info import SparsePauliOp

    a, r, c, b, const = ising(problem)
    n = problem.num_vars
    terms = [("Z", [i], float(v)) for i, v in enumerate(a.tolist()) if v != 0.0]
    terms += [("ZZ", [i, j], float(v)) for i, j, v in zip(r.tolist(), c.tolist(), b.tolist()) if v != 0.0]
    if not terms:
        terms = [("", [], 0.0)]
    return SparsePauliOp.from_sparse_list(terms, num_qubits=n), const


def pauli_json(problem: ir.Problem) -> dict[str, Any]:
    op, const = pauli_op(problem)
    return {"format": "qsel-sparse-pauli-op", "version": 1, "num_qubits": problem.num_vars,
            "label_order": "little-endian: character n-1-i of a label acts on qubit i (qiskit)",
            "terms": [[lab, float(np.real(c))] for lab, c in op.to_list()], "offset": const,
            "energy": "E(x) = <x|H|x> + offset with qubit i = x_i, x = (1 - z)/2"}


def quadratic_program(problem: ir.Problem, name: str = "qsel"):
    """A qiskit-optimization QuadraticProgram: binary x0..x{n-1} (= qubits, in label order), constraints kept."""
    from qiskit_optimization import QuadraticProgram

    qp = QuadraticProgram(name)
    names = [f"x{i}" for i in range(problem.num_vars)]
    for v in names:
        qp.binary_var(v)
    r, c, J = coo(problem)
    quad: dict[tuple[str, str], float] = {}
    for i, j, v in zip(r.tolist(), c.tolist(), J.tolist()):
        quad[(names[i], names[j])] = quad.get((names[i], names[j]), 0.0) + float(v)
    qp.minimize(constant=float(problem.offset),
                linear={names[i]: float(v) for i, v in enumerate(problem.linear.tolist()) if v != 0.0},
                quadratic=quad)
    con_names = lp_names([c.label for c in problem.constraints], "c")  # the LP writer's naming rule
    for con, cname in zip(problem.constraints, con_names):
        qp.linear_constraint({names[i]: float(w) for i, w in zip(con.indices.tolist(), con.coeffs.tolist())},
                             con.sense.value, float(con.rhs), name=cname)
    return qp


def xy_cardinality(problem: ir.Problem) -> int | None:
    """K when the only constraint is sum of all the block's variables == K (the XY-mixer case), else None."""
    if len(problem.constraints) != 1:
        return None
    con = problem.constraints[0]
    n = problem.num_vars
    if con.sense.value != "==" or not con.is_cardinality or con.indices.shape[0] != n:
        return None
    if np.unique(con.indices).shape[0] != n:
        return None
    k = int(con.rhs)
    return k if 0 <= k <= n else None
