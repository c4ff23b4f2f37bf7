"""Gate-model QAOA with qiskit: QuadraticProgram, Ising SparsePauliOp, QAOA circuits, OpenQASM 3, QPY.

**Qubit order.** Qubit i is the block's variable i (``labels[i]``) and
x_i = (1 - z_i) / 2: |0> is x = 0 (z = +1), |1> is x = 1. Qiskit prints
bitstrings and Pauli labels little-endian (qubit 0 is the *rightmost*
character), so a count key ``k`` means x_i = int(k[n - 1 - i]).

**Cost Hamiltonian.** From the block's objective (``convert.to_ising``):

    H_C = sum_i a_i Z_i + sum_{i<j} b_ij Z_i Z_j,   E(x) = <x|H_C|x> + c'

The circuits use H_C / cost_scale with cost_scale = sqrt(sum a^2 + sum b^2),
the standard deviation of H_C over uniformly random basis states, so that one
range of angles suits any block; the manifest records the scale.

**QAOA circuit** of depth p: an initial state, then p times
exp(-i gamma_l H_C / cost_scale) (RZ(2 gamma a_i / s) and RZZ(2 gamma b_ij / s))
followed by a mixer exp(-i beta_l H_M):

* ``x`` mixer: H_M = sum_i X_i (RX(2 beta)), from |+>^n. Constraints are first
  lowered to penalties (the ``lower-constraints`` pass). The solver accepts the
  slack qubits an inequality adds and maps samples back by label; the target
  refuses them (the IR would not know those variables: lower in the pipeline).
* ``xy`` mixer: H_M = sum_{(i,j)} (X_i X_j + Y_i Y_j) / 2 over a ring (or all
  pairs), one XXPlusYYGate(2 beta) per pair: it preserves Hamming weight. Used
  when the block's only constraint is one cardinality sum x == K over all its
  variables; the circuit starts from the Dicke state |D^n_K> (the uniform
  superposition of all weight-K states, Bärtschi & Eidenbenz 2019) and never
  leaves the feasible subspace, so no penalty is needed.

``mixer=auto`` picks ``xy`` when it applies and ``x`` otherwise.

**Target files** per block: ``NAME.qasm`` (OpenQASM 3, parameters gamma_l,
beta_l as ``input float``), ``NAME.qpy`` (the same circuit, QPY),
``NAME.pauli.json`` (SparsePauliOp as [label, coeff] pairs + offset),
``NAME.qp.lp`` (the qiskit-optimization QuadraticProgram, constraints kept,
variables x0..x{n-1} = qubits), and a transpile report (depth, two-qubit
gates) for a fake IBM heavy-hex backend (FakeSherbrooke by default).

**Solver** ``qaoa``: statevector simulation of the depth-p circuit (default p = 3) by
:class:`NumpySimulator` (diagonal cost phases and the mixer's two-amplitude rotations on a numpy
vector; equal to the qiskit circuit's state, tested), or qiskit-aer / qiskit's Statevector
(``simulator=aer|statevector``). Angles: a grid x grid scan at depth 1, the ``starts`` best points
refined by BFGS (or COBYLA / Nelder-Mead), each carried up a level by INTERP (Zhou et al. 2020) and
refined again, on the expected IR energy or CVaR_alpha (``cvar=ALPHA``, Barkoutsos et al. 2020).
Then ``num_reads`` shots (seeded), returned best first, with the best sample, the exact optimum over
the simulated basis and its probability in ``info``. With the XY mixer every shot is feasible. The
cost problem's basis energies are tabulated once (2^n values), so each optimiser step is one
statevector simulation.
"""

from __future__ import annotations

import functools
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from qsel import ir

from .base import Block, Samples, Solver, Target
from .convert import coo, to_ising
from .embedding import columns_for, lower_constraints
from .manifest import BlockEntry, Manifest

MAX_QUBITS = 20
QUBIT_ORDER = "qubit i = labels[i]; x_i = (1 - z_i)/2; qiskit bitstrings are little-endian (qubit 0 rightmost)"


# ------------------------------------------------------------------ Hamiltonians and programs
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
    for con in problem.constraints:
        qp.linear_constraint({names[i]: float(w) for i, w in zip(con.indices.tolist(), con.coeffs.tolist())},
                             con.sense.value, float(con.rhs), name=_lp_name(con.label))
    return qp


def _lp_name(label: str) -> str:
    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in label)
    return out if out and not out[0].isdigit() else f"c_{out}"


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


# ------------------------------------------------------------------ circuits
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
    """(circuit, gammas, betas): the depth-p QAOA circuit with parameters ``gamma_l`` and ``beta_l``."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter
    from qiskit.circuit.library import XXPlusYYGate

    if p < 1:
        raise ir.QselError(f"QAOA depth p must be >= 1, got {p}")
    n = pl.num_qubits
    gammas = [Parameter(f"gamma_{l}") for l in range(p)]
    betas = [Parameter(f"beta_{l}") for l in range(p)]
    qc = QuantumCircuit(n, name=f"qaoa_p{p}_{pl.mixer}")
    if pl.mixer == "xy":
        qc.compose(dicke_state(n, pl.k or 0), inplace=True)
    else:
        qc.h(range(n))
    s = pl.cost_scale
    pairs = xy_pairs(n, connectivity) if pl.mixer == "xy" else []
    for l in range(p):
        for i, v in enumerate(pl.a.tolist()):
            if v != 0.0:
                qc.rz(2.0 * v / s * gammas[l], i)
        for i, j, v in zip(pl.rows.tolist(), pl.cols.tolist(), pl.b.tolist()):
            if v != 0.0:
                qc.rzz(2.0 * v / s * gammas[l], i, j)
        if pl.mixer == "xy":
            for i, j in pairs:
                qc.append(XXPlusYYGate(2.0 * betas[l]), [i, j])
        else:
            qc.rx(2.0 * betas[l], range(n))
    if measure:
        qc.measure_all()
    return qc, gammas, betas


def interpolate(values: np.ndarray, p: int) -> np.ndarray:
    """INTERP (Zhou et al. 2020): angles for depth p + 1 from optimised depth-p angles."""
    out = []
    for ang in (values[:p], values[p:]):
        padded = np.concatenate([[0.0], ang, [0.0]])
        i = np.arange(1, p + 2)
        out.append((i - 1) / p * padded[i - 1] + (p - i + 1) / p * padded[i])
    return np.concatenate(out)


def basis_bits(n: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Rows k = start..stop-1 of the basis: bit i of k is qubit i (little-endian), as float 0/1."""
    k = np.arange(start, (1 << n) if stop is None else stop, dtype=np.int64)
    return ((k[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(np.float64)


def basis_energies(problem: ir.Problem, chunk: int = 1 << 15) -> np.ndarray:
    """IR energy of every basis state |k> (qubit i = variable i), computed in chunks."""
    n = problem.num_vars
    out = np.empty(1 << n)
    for start in range(0, 1 << n, chunk):
        stop = min(start + chunk, 1 << n)
        out[start:stop] = problem.energies(basis_bits(n, start, stop))
    return out


def counts_to_samples(counts: dict[str, int], pl: Plan) -> tuple[np.ndarray, np.ndarray]:
    """(X over the original variables, occurrences) from qiskit count keys (little-endian strings)."""
    n = pl.num_qubits
    keys = sorted(counts)
    if not keys:
        return np.zeros((0, pl.problem.num_vars)), np.zeros(0, dtype=np.int64)
    bits = np.array([[int(key.replace(" ", "")[n - 1 - i]) for i in range(n)] for key in keys], dtype=np.float64)
    X = bits[:, pl.columns]
    occ = np.array([counts[key] for key in keys], dtype=np.int64)
    # the same original assignment may come from several slack settings: merge
    uniq, inverse = np.unique(X, axis=0, return_inverse=True)
    return uniq, np.bincount(inverse.ravel(), weights=occ, minlength=uniq.shape[0]).astype(np.int64)


# ------------------------------------------------------------------ transpile report
def fake_backend(name: str):
    """A fake IBM backend from qiskit-ibm-runtime's fake provider: 'sherbrooke', 'fake_sherbrooke', 'FakeTorino'..."""
    from qiskit_ibm_runtime import fake_provider

    key = name.strip().lower().replace("fake_", "").replace("fake", "").replace("_", "")
    classes = {cls[4:].lower().removesuffix("v2"): cls for cls in dir(fake_provider)
               if cls.startswith("Fake") and cls not in ("FakeProviderForBackendV2", "FakeFractionalBackend")}
    if key not in classes:
        raise ir.QselError(f"unknown fake IBM backend {name!r} (e.g. fake_sherbrooke, fake_torino, fake_brisbane; "
                           f"available: {', '.join(sorted(classes))})")
    return getattr(fake_provider, classes[key])()


def transpile_report(circuit, backend, *, seed: int = 0, optimization_level: int = 1) -> dict[str, Any]:
    """Depth and gate counts of ``circuit`` transpiled for ``backend`` (a BackendV2)."""
    from qiskit import transpile

    t0 = time.perf_counter()
    tq = transpile(circuit, backend=backend, optimization_level=optimization_level, seed_transpiler=seed)
    ops = {k: int(v) for k, v in tq.count_ops().items()}
    two = sum(1 for inst in tq.data if inst.operation.num_qubits == 2 and inst.operation.name != "barrier")
    used = sorted({tq.find_bit(q).index for inst in tq.data for q in inst.qubits
                   if inst.operation.name not in ("barrier",)})
    return {"backend": backend.name, "backend_qubits": int(backend.num_qubits), "optimization_level": optimization_level,
            "seed_transpiler": seed, "depth": int(tq.depth()), "two_qubit_gates": int(two),
            "two_qubit_depth": int(tq.depth(lambda inst: inst.operation.num_qubits == 2
                                            and inst.operation.name != "barrier")),
            "physical_qubits": len(used), "ops": ops, "seconds": round(time.perf_counter() - t0, 3)}


# ------------------------------------------------------------------ simulation and optimisation
SIMULATORS = ("numpy", "aer", "statevector")
OPTIMIZERS = {"bfgs": "BFGS", "cobyla": "COBYLA", "nelder-mead": "Nelder-Mead"}  # option -> scipy method


def popcount(k: np.ndarray) -> np.ndarray:
    """Number of set bits of each non-negative integer in ``k``."""
    k = np.asarray(k, dtype=np.int64)
    out = np.zeros(k.shape, dtype=np.int64)
    for shift in range(int(k.max()).bit_length() if k.size else 0):
        out += (k >> shift) & 1
    return out


def initial_state(pl: Plan) -> np.ndarray:
    """The circuit's start as a statevector (index k: bit i = qubit i): |D^n_K> = C(n, K)^(-1/2) sum_{|k|=K} |k>
    for the XY mixer, |+>^n = 2^(-n/2) sum_k |k> for the X mixer."""
    n = pl.num_qubits
    if pl.mixer == "xy":
        psi = (popcount(np.arange(1 << n)) == (pl.k or 0)).astype(np.complex128)
    else:
        psi = np.ones(1 << n, dtype=np.complex128)
    return psi / np.linalg.norm(psi)


class NumpySimulator:
    """The depth-p QAOA circuit of a :class:`Plan` on a numpy statevector (index k: bit i = qubit i):

        |psi(gamma, beta)> = U_M(beta_p) U_C(gamma_p) ... U_M(beta_1) U_C(gamma_1) |psi_0>

    * U_C(gamma) = exp(-i gamma H_C / s) is diagonal: the phases exp(-i gamma (E_k - c') / s) of the
      tabulated basis energies (the circuit's RZ(2 gamma a_i / s) and RZZ(2 gamma b_ij / s) gates);
    * X mixer: exp(-i beta X_i) on every qubit, i.e. (cos beta, -i sin beta) between the amplitudes of
      k and k xor 2^i (RX(2 beta));
    * XY mixer: XXPlusYYGate(2 beta) on each pair (i, j) in the circuit's order, i.e. (cos beta, -i sin beta)
      between the amplitudes of |..1_i..0_j..> and |..0_i..1_j..>; other amplitudes unchanged.

    It gives the qiskit circuit's state up to a global phase (tested) in O(p (n or #pairs) 2^n) numpy work
    per evaluation, without building or binding a circuit."""

    def __init__(self, pl: Plan, connectivity: str = "ring", *, energies: np.ndarray | None = None) -> None:
        n = self.n = pl.num_qubits
        diag = basis_energies(pl.cost) if energies is None else energies
        self.phase = (diag - pl.const) / pl.cost_scale
        self.psi0 = initial_state(pl)
        self.mixer = pl.mixer
        k = np.arange(1 << n, dtype=np.int64)
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []
        if pl.mixer == "xy":
            for i, j in xy_pairs(n, connectivity):
                a = k[(((k >> i) & 1) == 1) & (((k >> j) & 1) == 0)]
                self.pairs.append((a, a ^ ((1 << i) | (1 << j))))

    def state(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        p = values.shape[0] // 2
        psi = self.psi0.copy()
        for gamma, beta in zip(values[:p], values[p:]):
            psi *= np.exp(-1j * gamma * self.phase)
            c, s = np.cos(beta), -1j * np.sin(beta)
            if self.mixer == "xy":
                for a, b in self.pairs:
                    pa, pb = psi[a], psi[b]
                    psi[a], psi[b] = c * pa + s * pb, c * pb + s * pa
            else:
                for i in range(self.n):
                    v = psi.reshape(-1, 2, 1 << i)
                    v0, v1 = v[:, 0, :].copy(), v[:, 1, :].copy()
                    v[:, 0, :], v[:, 1, :] = c * v0 + s * v1, c * v1 + s * v0
        return psi

    def probabilities(self, values: np.ndarray) -> np.ndarray:
        return np.abs(self.state(values)) ** 2


class _CircuitSimulator:
    """Statevector of the bound qiskit circuit: qiskit-aer (parameter binding on one transpiled circuit) or
    qiskit's reference Statevector."""

    def __init__(self, circuit, params: list, kind: str) -> None:
        self.params, self.kind = params, kind
        if kind == "aer":
            from qiskit import transpile
            from qiskit_aer import AerSimulator

            self.sim = AerSimulator(method="statevector")
            c = circuit.copy()
            c.save_statevector()
            self.circuit = transpile(c, self.sim, optimization_level=0)
        else:
            self.circuit = circuit

    def probabilities(self, values: np.ndarray) -> np.ndarray:
        if self.kind == "aer":
            binds = {p: [float(v)] for p, v in zip(self.params, values)}
            result = self.sim.run(self.circuit, parameter_binds=[binds]).result()
            sv = np.asarray(result.get_statevector(0))
        else:
            from qiskit.quantum_info import Statevector

            sv = Statevector(self.circuit.assign_parameters(dict(zip(self.params, values)))).data
        return np.abs(sv) ** 2


def simulator_for(pl: Plan, p: int, kind: str = "numpy", connectivity: str = "ring",
                  energies: np.ndarray | None = None):
    """An object with ``probabilities(values)`` for the depth-p circuit (values = gamma_1..p, beta_1..p)."""
    if kind not in SIMULATORS:
        raise ir.QselError(f"unknown simulator {kind!r} (expected {', '.join(SIMULATORS)})")
    if kind == "numpy":
        return NumpySimulator(pl, connectivity, energies=energies)
    circuit, gammas, betas = qaoa_circuit(pl, p, measure=False, connectivity=connectivity)
    return _CircuitSimulator(circuit, gammas + betas, kind)


def cvar_value(probs: np.ndarray, energies: np.ndarray, alpha: float, order: np.ndarray | None = None) -> float:
    """CVaR_alpha (Barkoutsos et al. 2020): the mean energy of the lowest alpha share of the probability mass,

        CVaR_alpha = (1/alpha) sum_k w_k E_(k),   w_k = min(p_(k), max(0, alpha - sum_{j<k} p_(j)))

    over the states sorted by energy (``order``: that sort, computed once). alpha = 1 is the expectation."""
    if alpha >= 1.0:
        return float(probs @ energies)
    order = np.argsort(energies, kind="stable") if order is None else order
    ps = probs[order]
    before = np.cumsum(ps) - ps
    w = np.clip(alpha - before, 0.0, ps)
    return float(w @ energies[order] / alpha)


def _check_cvar(alpha: float) -> None:
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"cvar must be in (0, 1] (1: the expectation), got {alpha}")


@dataclass
class QAOARun:
    plan: Plan
    p: int
    circuit: Any  # the parameterised circuit with measurements
    params: list
    values: np.ndarray
    expected_energy: float
    optimum_probability: float  # probability of the original problem's (feasible) optimum
    feasible_probability: float
    evaluations: int
    seconds: float
    history: list[float] = field(default_factory=list)
    cvar: float = 1.0  # the alpha of the objective (1: expectation)
    objective: float = float("nan")  # CVaR_alpha of the final state (the expectation when alpha = 1)
    optimum_energy: float = float("nan")  # the lowest (feasible) energy over the basis the simulator tabulates
    probabilities: np.ndarray | None = None  # final state's probabilities over the cost problem's basis

    def bound(self):
        return self.circuit.assign_parameters(dict(zip(self.params, self.values.tolist())))

    def info(self) -> dict[str, Any]:
        p = self.p
        return {"p": p, "mixer": self.plan.mixer, "hamming_weight": self.plan.k, "qubits": self.plan.num_qubits,
                "gammas": self.values[:p].tolist(), "betas": self.values[p:].tolist(),
                "cost_scale": self.plan.cost_scale, "objective": "expectation" if self.cvar >= 1 else "cvar",
                "cvar": self.cvar, "objective_value": self.objective, "expected_energy": self.expected_energy,
                "optimum_energy": self.optimum_energy, "optimum_probability": self.optimum_probability,
                "feasible_probability": self.feasible_probability, "evaluations": self.evaluations,
                "optimise_seconds": round(self.seconds, 3), "qubit_order": QUBIT_ORDER}


def optimise(problem: ir.Problem, *, p: int = 3, mixer: str = "auto", maxiter: int = 200, seed: int | None = None,
             simulator: str = "numpy", restarts: int = 1, connectivity: str = "ring",
             max_qubits: int = MAX_QUBITS, grid: int = 12, starts: int = 3, cvar: float = 1.0,
             optimizer: str = "bfgs") -> QAOARun:
    """Optimise the QAOA angles of one block on a statevector, minimising CVaR_alpha of the cost energy
    (alpha = ``cvar``; 1: the expected energy <H_C> + c').

    Depth 1: a ``grid`` x ``grid`` scan of (gamma, beta) (gamma in (0, 2], beta over one period of the mixer;
    (gamma, beta) -> (-gamma, -beta) gives the same probabilities), then the local ``optimizer`` (``bfgs``:
    BFGS on finite-difference gradients, ``cobyla`` or ``nelder-mead``) from the ``starts`` best grid points.
    Depth d > 1: each of the ``starts`` best angle sets of depth d - 1 is extended by INTERP (Zhou et al. 2020)
    and refined. At depth p, ``restarts - 1`` extra runs start from random perturbations of the best.
    Returns the best angles of depth p."""
    from scipy.optimize import minimize

    t0 = time.perf_counter()
    if p < 1:
        raise ir.QselError(f"QAOA depth p must be >= 1, got {p}")
    _check_cvar(cvar)
    pl = plan(problem, mixer, max_qubits=max_qubits)
    diag = basis_energies(pl.cost)
    order = np.argsort(diag, kind="stable")
    history: list[float] = []
    rng = np.random.default_rng(seed)
    half_period = np.pi / 2 if pl.mixer == "x" else np.pi
    if optimizer not in OPTIMIZERS:
        raise ir.QselError(f"unknown QAOA optimizer {optimizer!r} (expected {', '.join(OPTIMIZERS)})")
    method = OPTIMIZERS[optimizer]
    options = {"maxiter": int(maxiter), **({"rhobeg": 0.2} if optimizer == "cobyla" else {})}

    candidates: list[tuple[float, np.ndarray]] = []
    for depth in range(1, p + 1):
        sim = simulator_for(pl, depth, simulator, connectivity, energies=diag)

        def objective(v: np.ndarray, sim=sim) -> float:
            e = cvar_value(sim.probabilities(v), diag, cvar, order)
            history.append(e)
            return e

        if depth == 1:
            gs = np.linspace(2.0 / grid, 2.0, grid)
            bs = np.linspace(-half_period, half_period, grid, endpoint=False) + half_period / grid
            points = np.stack(np.meshgrid(gs, bs, indexing="ij"), axis=-1).reshape(-1, 2)
            scan = np.array([objective(v) for v in points])
            x0s = [points[i] for i in np.argsort(scan, kind="stable")[:max(1, starts)]]
        else:
            x0s = [interpolate(v, depth - 1) for _, v in candidates]
        runs = [minimize(objective, x0, method=method, options=options) for x0 in x0s]
        if depth == p:
            best_x = min(runs, key=lambda r: r.fun).x
            runs += [minimize(objective, best_x + rng.normal(scale=0.3, size=best_x.shape), method=method,
                              options=options) for _ in range(max(1, restarts) - 1)]
        candidates = sorted(((float(r.fun), np.asarray(r.x, dtype=np.float64)) for r in runs),
                            key=lambda t: t[0])[:max(1, starts)]
    best_obj, values = candidates[0]
    probs = sim.probabilities(values)
    circuit, gammas, betas = qaoa_circuit(pl, p, connectivity=connectivity)
    n = pl.num_qubits
    opt_p = feas_p = 0.0
    opt = float("nan")
    energies, feas = [], []
    for start in range(0, 1 << n, 1 << 15):
        stop = min(start + (1 << 15), 1 << n)
        X = basis_bits(n, start, stop)[:, pl.columns]
        energies.append(problem.energies(X))
        feas.append(problem.feasible(X) if problem.constraints else np.ones(stop - start, dtype=bool))
    e_all, f_all = np.concatenate(energies), np.concatenate(feas)
    if f_all.any():
        opt = float(e_all[f_all].min())
        tol = 1e-9 * max(1.0, abs(opt))
        opt_p = float(probs[f_all & (e_all <= opt + tol)].sum())
        feas_p = float(probs[f_all].sum())
    return QAOARun(pl, p, circuit, gammas + betas, values, float(probs @ diag), opt_p, feas_p, len(history),
                   time.perf_counter() - t0, history, cvar=float(cvar), objective=best_obj, optimum_energy=opt,
                   probabilities=probs)


def _run_shots(circuit, shots: int, seed: int | None, kind: str) -> dict[str, int]:
    if kind == "aer":
        from qiskit import transpile
        from qiskit_aer import AerSimulator

        sim = AerSimulator(seed_simulator=seed)
        return dict(sim.run(transpile(circuit, sim, optimization_level=0), shots=shots).result().get_counts())
    from qiskit.primitives import StatevectorSampler

    res = StatevectorSampler(seed=seed).run([circuit], shots=shots).result()
    return dict(res[0].data.meas.get_counts())


def sample_probabilities(probs: np.ndarray, pl: Plan, shots: int, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(X over the original variables, occurrences): ``shots`` draws of basis states k ~ Multinomial(probs)."""
    rng = np.random.default_rng(seed)
    p = np.clip(probs, 0.0, None)
    counts = rng.multinomial(int(shots), p / p.sum())
    idx = np.flatnonzero(counts)
    bits = ((idx[:, None] >> np.arange(pl.num_qubits, dtype=np.int64)) & 1).astype(np.float64)
    X = bits[:, pl.columns]
    uniq, inverse = np.unique(X, axis=0, return_inverse=True)
    return uniq, np.bincount(inverse.ravel(), weights=counts[idx], minlength=uniq.shape[0]).astype(np.int64)


# ------------------------------------------------------------------ target
def pauli_json(problem: ir.Problem) -> dict[str, Any]:
    op, const = pauli_op(problem)
    return {"format": "qsel-sparse-pauli-op", "version": 1, "num_qubits": problem.num_vars,
            "label_order": "little-endian: character n-1-i of a label acts on qubit i (qiskit)",
            "terms": [[lab, float(np.real(c))] for lab, c in op.to_list()], "offset": const,
            "energy": "E(x) = <x|H|x> + offset with qubit i = x_i, x = (1 - z)/2"}


@functools.lru_cache(maxsize=4)
def _cached_backend(name: str):
    return fake_backend(name)


@dataclass(frozen=True)
class QiskitQAOATarget(Target):
    """Per block: QuadraticProgram, SparsePauliOp, the depth-p QAOA circuit (OpenQASM 3 + QPY), transpile report."""

    name: ClassVar[str] = "qiskit-qaoa"
    description: ClassVar[str] = ("gate-model QAOA (qiskit): QuadraticProgram, Ising SparsePauliOp, depth-p circuit "
                                  "(X mixer, or Hamming-weight-preserving XY mixer from a Dicke state for one "
                                  "cardinality ==K) as OpenQASM 3 and QPY, transpile report for a fake IBM backend")
    # constraints stay (partition splits cardinality budgets per block): a block whose only constraint is one
    # cardinality ==K over all its variables gets the XY mixer; other constraints are lowered per block
    default_pipeline: ClassVar[str] = "canonicalize,partition{max-vars=20}"
    block_constraints: ClassVar[str] = "inside"

    p: int = 1
    mixer: str = "auto"  # auto | x | xy
    connectivity: str = "ring"  # XY mixer pairs: ring | complete
    backend: str = "fake_sherbrooke"  # fake IBM backend for the transpile report; "none" skips it
    optimization_level: int = 1
    seed: int = 0
    max_qubits: int = 32

    def emit(self, problem: ir.Problem, outdir: Path) -> Manifest:
        if self.p < 1:
            raise ir.QselError(f"target 'qiskit-qaoa': p must be >= 1, got {self.p}")
        if self.backend.lower() not in ("", "none"):
            _cached_backend(self.backend)  # a bad backend name fails before any file is written
        return super().emit(problem, outdir)

    def emit_block(self, block: Block, sub: ir.Problem, outdir: Path, stem: str) -> BlockEntry:
        from qiskit import qasm3, qpy

        from qsel.ir.jsonfile import write_json

        outdir = Path(outdir)
        pl = plan(sub, self.mixer, max_qubits=self.max_qubits)
        if pl.cost.num_vars != sub.num_vars:
            raise ir.QselError(f"block {block.name!r}: lowering its constraints here would add "
                               f"{pl.cost.num_vars - sub.num_vars} slack qubits that the IR does not know; put "
                               f"'lower-constraints{{penalty=auto}}' in the pipeline instead")
        circuit, _, _ = qaoa_circuit(pl, self.p, connectivity=self.connectivity)
        files = {"qasm3": f"{stem}.qasm", "qpy": f"{stem}.qpy", "pauli": f"{stem}.pauli.json",
                 "quadratic_program": f"{stem}.qp.lp"}
        with ir.atomic_write(outdir / files["qasm3"], "w") as fh:
            fh.write(qasm3.dumps(circuit))
        buf = io.BytesIO()
        qpy.dump(circuit, buf)
        with ir.atomic_write(outdir / files["qpy"], "wb") as fh:
            fh.write(buf.getvalue())
        write_json(outdir / files["pauli"], pauli_json(pl.cost))
        with ir.atomic_write(outdir / files["quadratic_program"], "w") as fh:
            fh.write(_lp_text(quadratic_program(sub, stem)))
        report = None
        if self.backend.lower() not in ("", "none"):
            report = transpile_report(circuit, _cached_backend(self.backend), seed=self.seed,
                                      optimization_level=self.optimization_level)
        return BlockEntry(
            name=block.name, file=files["qasm3"], format="qasm3", labels=sub.labels, offset=0.0, scale=1.0,
            run=("bind gamma_l, beta_l (qsel solve --solver qaoa optimises them), sample, and read bitstrings "
                 "little-endian: x_i = int(key[n-1-i]) for qubit i = labels[i]"),
            extra={"files": files, "p": self.p, "mixer": pl.mixer, "hamming_weight": pl.k,
                   "xy_connectivity": self.connectivity if pl.mixer == "xy" else None,
                   "initial_state": "dicke" if pl.mixer == "xy" else "plus",
                   "qubits": pl.num_qubits, "cost_scale": pl.cost_scale, "ising_offset": pl.const,
                   "qubit_order": QUBIT_ORDER,
                   "constraints_lowered": [c.label for c in sub.constraints] if pl.mixer == "x" else [],
                   "penalties": pl.cost.metadata.get("penalties", {}) if pl.mixer == "x" else {},
                   "quadratic_program_variables": "x{i} = qubit i = labels[i]; constraints kept",
                   "transpile": report})


def _lp_text(qp) -> str:
    """LP text of a QuadraticProgram through docplex (qiskit-optimization's own exporter is deprecated)."""
    try:
        from qiskit_optimization.translators import to_docplex_mp

        return to_docplex_mp(qp).export_as_lp_string()
    except ImportError as exc:  # docplex missing
        raise ir.QselError(f"writing the QuadraticProgram as LP needs docplex ({exc})") from None


# ------------------------------------------------------------------ solver
def best_of_samples(problem: ir.Problem, samples: Samples, optimum: float | None = None) -> Samples:
    """``samples`` with rows sorted best first (feasible before infeasible, then by energy) and the best-of-samples
    report in ``info``: ``best_energy`` (of the first row), ``best_feasible``, ``shots``; with ``optimum`` (the
    block's exact lowest feasible energy, known to a statevector simulator): ``optimum_shots`` (shots that
    returned an optimal assignment) and ``optimum_sampled`` (the best sample is optimal, within 1e-9 relative)."""
    order = samples.order(problem)
    occ = samples.weights[order]
    out = Samples(samples.X[order], samples.energies[order], occ, dict(samples.info))
    info = out.info
    info["shots"] = int(occ.sum())
    if not len(out.energies):
        return out
    feasible = problem.feasible(out.X) if problem.constraints else np.ones(len(out.energies), dtype=bool)
    info["best_energy"] = float(out.energies[0])
    info["best_feasible"] = bool(feasible[0])
    info["feasible_shots"] = int(occ[feasible].sum())
    if optimum is not None and np.isfinite(optimum):
        hit = feasible & (out.energies <= optimum + 1e-9 * max(1.0, abs(optimum)))
        info["optimum_shots"] = int(occ[hit].sum())
        info["optimum_sampled"] = bool(hit[0])
    return out


# ------------------------------------------------------------------ solver
@dataclass(frozen=True)
class QAOASolver(Solver):
    """Depth-p QAOA simulated on a statevector, angles by grid scan + INTERP + COBYLA on the expected energy
    (or CVaR_alpha with ``cvar=ALPHA``), then ``num_reads`` shots, returned best first."""

    name: ClassVar[str] = "qaoa"
    description: ClassVar[str] = ("QAOA on a statevector (numpy, or qiskit-aer / qiskit Statevector; <= 20 qubits), "
                                  "angles by grid scan + INTERP + COBYLA on the expectation or CVaR; XY mixer from "
                                  "a Dicke state keeps a single cardinality ==K constraint exactly")
    max_vars: ClassVar[int | None] = MAX_QUBITS
    handles_constraints: ClassVar[bool] = True  # XY mixer for one cardinality ==K; anything else is lowered here

    p: int = 3
    mixer: str = "auto"
    connectivity: str = "ring"  # XY mixer pairs: ring | complete
    maxiter: int = 200
    restarts: int = 1
    starts: int = 3  # angle sets kept from the depth-1 grid and carried up through INTERP
    grid: int = 12  # depth-1 grid of grid x grid (gamma, beta) points
    cvar: float = 1.0  # alpha of the CVaR objective; 1 = the expected energy
    optimizer: str = "bfgs"  # bfgs | cobyla | nelder-mead
    simulator: str = "numpy"  # numpy | aer | statevector

    def __post_init__(self) -> None:
        for name in ("p", "maxiter", "restarts", "starts", "grid"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        _check_cvar(self.cvar)
        if self.simulator not in SIMULATORS:
            raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, got {self.simulator!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.connectivity not in ("ring", "complete"):
            raise ValueError(f"connectivity must be ring or complete, got {self.connectivity!r}")

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        run = optimise(problem, p=self.p, mixer=self.mixer, maxiter=self.maxiter, seed=seed,
                       simulator=self.simulator, restarts=self.restarts, connectivity=self.connectivity,
                       grid=self.grid, starts=self.starts, cvar=self.cvar, optimizer=self.optimizer)
        if self.simulator == "numpy":
            X, occ = sample_probabilities(run.probabilities, run.plan, int(num_reads), seed)
        else:
            X, occ = counts_to_samples(_run_shots(run.bound(), int(num_reads), seed, self.simulator), run.plan)
        samples = Samples(X, problem.energies(X) if X.shape[0] else np.zeros(0), occ,
                          {**run.info(), "num_reads": int(num_reads), "simulator": self.simulator})
        return best_of_samples(problem, samples, run.optimum_energy)
