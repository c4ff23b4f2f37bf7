"""QAOA circuits: the plan of one block (cost problem and mixer), Dicke states and the depth-p circuit.

**Plan.** ``mixer=auto`` picks the XY mixer when the block's only constraint is one cardinality
sum x == K over all its variables, and the X mixer otherwise (constraints lowered to penalties by the
``lower-constraints`` pass; the solver accepts the slack qubits an inequality adds and maps samples back
by label). The circuits use H_C / cost_scale with cost_scale = sqrt(sum a^2 + sum b^2), the standard
deviation of H_C over uniformly random basis states, so that one range of angles suits any block.

**Circuit** of depth p, built by qiskit's ``qaoa_ansatz``: an initial state, then p times
exp(-i gamma_l H_C / cost_scale) followed by a mixer exp(-i beta_l H_M):

* ``x``: H_M = sum_i X_i (RX(2 beta)) from |+>^n (qiskit's defaults);
* ``xy``: H_M = sum_{(i,j)} (X_i X_j + Y_i Y_j) / 2 over a ring (or all pairs), exactly one
  XXPlusYYGate(2 beta) per pair: it preserves Hamming weight, and the circuit starts from the Dicke
  state |D^n_K> (the uniform superposition of the weight-K states, Bärtschi & Eidenbenz 2019; qiskit
  has no Dicke-state preparation, so :func:`dicke_state` builds it), so it never leaves the feasible
  subspace and needs no penalty. Both are passed to ``qaoa_ansatz`` as its initial state and mixer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsel import ir

from ..embedding import columns_for, lower_constraints
from .hamiltonian import ising, xy_cardinality


MAX_QUBITS = 20
QUBIT_ORDER = "qubit i = labels[i]; x_i = (1 - z_i)/2; qiskit bitstrings are little-endian (qubit 0 rightmost)"


def dicke_state(n: int, k: int):
    """|D^n_k>: the uniform superposition of the weight-k basis states (Bärtschi & Eidenbenz, O(kn) gates)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import RYGate

    qc = QuantumCircuit(n, name=f"dicke_{n}_{k}")
    if k == 0:
        return qc
    qc.x(range(n - k, n))

    def scs(m: int, kk: int) -> None:  # split & cyclic shift on qubits 0..m-1
        a, b = m - 2, m - 1
        qc.cx(a, b)
        qc.cry(2 * np.arccos(np.sqrt(1 / m)), b, a)
        qc.cx(a, b)
        for ell in range(2, kk + 1):
            c, d = m - ell - 1, m - ell
            qc.cx(c, b)
            qc.append(RYGate(2 * np.arccos(np.sqrt(ell / m))).control(2, annotated=False), [b, d, c])
            qc.cx(c, b)

    for m in range(n, k, -1):
        scs(m, k)
    for m in range(k, 1, -1):
        scs(m, m - 1)
    return qc


def xy_pairs(n: int, connectivity: str = "ring") -> list[tuple[int, int]]:
    """Mixer pairs: 'ring' (even bonds, odd bonds, then the closing bond) or 'complete' (all pairs)."""
    if connectivity == "complete":
        return [(i, j) for i in range(n) for j in range(i + 1, n)]
    if connectivity != "ring":
        raise ir.QselError(f"unknown XY connectivity {connectivity!r} (expected ring or complete)")
    pairs = [(i, i + 1) for i in range(0, n - 1, 2)] + [(i, i + 1) for i in range(1, n - 1, 2)]
    if n > 2:
        pairs.append((0, n - 1))
    return pairs


@dataclass
class Plan:
    """What a QAOA circuit for one block needs: the cost problem (penalised if lowered) and the mixer."""

    problem: ir.Problem  # the block as given (objective + constraints)
    cost: ir.Problem  # the problem whose energy the circuit minimises (lowered for the X mixer)
    mixer: str  # "x" | "xy"
    k: int | None  # Hamming weight kept by the XY mixer
    a: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    b: np.ndarray
    const: float
    cost_scale: float
    columns: np.ndarray  # cost-problem column of each original variable

    @property
    def num_qubits(self) -> int:
        return self.cost.num_vars


def plan(problem: ir.Problem, mixer: str = "auto", *, max_qubits: int | None = None) -> Plan:
    """Choose the mixer (auto: XY for a single all-variable cardinality ==K, X otherwise) and the cost problem."""
    if mixer not in ("auto", "x", "xy"):
        raise ir.QselError(f"unknown QAOA mixer {mixer!r} (expected auto, x or xy)")
    k = xy_cardinality(problem)
    if mixer == "xy" and k is None and problem.constraints:
        raise ir.QselError("mixer=xy needs a block whose only constraint is a cardinality sum == K over all its "
                           "variables; use mixer=x (constraints become penalties) or mixer=auto")
    use_xy = mixer == "xy" or (mixer == "auto" and k is not None)
    if use_xy:
        cost = problem.replace(constraints=())
        if k is None:  # unconstrained block, XY requested: keep the weight of the initial state (all zeros)
            k = 0
    else:
        cost = lower_constraints(problem)
        k = None
    if max_qubits is not None and cost.num_vars > max_qubits:
        raise ir.QselError(f"block needs {cost.num_vars} qubits, more than the {max_qubits} this QAOA path "
                           f"simulates; partition smaller, e.g. `-p 'partition{{max-vars={max_qubits}}}'`")
    a, r, c, b, const = ising(cost)
    scale = float(np.sqrt(np.sum(a ** 2) + np.sum(b ** 2)))  # std of H_C over uniform basis states
    return Plan(problem, cost, "xy" if use_xy else "x", k, a, r, c, b, const, scale if scale > 0 else 1.0,
                columns_for(problem, cost))


def qaoa_circuit(pl: Plan, p: int, *, measure: bool = True, connectivity: str = "ring"):
    """(circuit, gammas, betas): the depth-p QAOA circuit with parameters ``gamma_l`` and ``beta_l``.

    Built by qiskit's ``qaoa_ansatz`` (the generalised QAOA of Hadfield et al. 2019): cost operator
    H_C / cost_scale, and for the XY mixer the Dicke state as ``initial_state`` and
    H_M = sum_{(i,j)} (X_i X_j + Y_i Y_j) / 2 as ``mixer_operator``. Its pairs are evolved in the order of
    :func:`xy_pairs` (one Lie-Trotter step; XX and YY on one pair commute, so each pair is exactly
    exp(-i beta (XX + YY) / 2), qiskit's XXPlusYYGate(2 beta)). qiskit names the angles ``γ[l]`` and
    ``β[l]``; they are renamed ``gamma_l`` and ``beta_l``, the names the target's files and the run hint
    use."""
    from qiskit.circuit import Parameter
    from qiskit.circuit.library import qaoa_ansatz
    from qiskit.quantum_info import SparsePauliOp

    if p < 1:
        raise ir.QselError(f"QAOA depth p must be >= 1, got {p}")
    n = pl.num_qubits
    s = pl.cost_scale
    terms = [("Z", [i], v / s) for i, v in enumerate(pl.a.tolist()) if v != 0.0]
    terms += [("ZZ", [i, j], v / s) for i, j, v in zip(pl.rows.tolist(), pl.cols.tolist(), pl.b.tolist()) if v != 0.0]
    cost = SparsePauliOp.from_sparse_list(terms or [("", [], 0.0)], num_qubits=n)
    initial = mixer = None
    if pl.mixer == "xy":
        initial = dicke_state(n, pl.k or 0)
        pairs = xy_pairs(n, connectivity)
        mixer = SparsePauliOp.from_sparse_list(
            [(pauli, [i, j], 0.5) for i, j in pairs for pauli in ("XX", "YY")] or [("", [], 0.0)], num_qubits=n)
    qc = qaoa_ansatz(cost, reps=p, initial_state=initial, mixer_operator=mixer, name=f"qaoa_p{p}_{pl.mixer}")
    gammas = [Parameter(f"gamma_{l}") for l in range(p)]
    betas = [Parameter(f"beta_{l}") for l in range(p)]
    theirs = {q.name: q for q in qc.parameters}
    rename = {**{theirs[f"γ[{l}]"]: gammas[l] for l in range(p) if f"γ[{l}]" in theirs},
              **{theirs[f"β[{l}]"]: betas[l] for l in range(p) if f"β[{l}]" in theirs}}
    qc = qc.assign_parameters(rename)
    if measure:
        qc.measure_all()
    return qc, gammas, betas
