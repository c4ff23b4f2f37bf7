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

**Solver** ``qaoa``: statevector simulation (qiskit-aer, or qiskit's
reference Statevector) of the depth-p circuit. Depth-1 angles come from a
grid scan refined by COBYLA, each deeper level starts from the INTERP
extrapolation of the one below (Zhou et al. 2020) and is refined by COBYLA, all
on the expected IR energy; then ``num_reads`` shots (seeded). With the XY mixer
every shot is feasible. The cost problem's basis energies are tabulated once
(2^n values), so each optimiser step is one statevector simulation.
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
class _Simulator:
    """Statevector of the bound circuit: qiskit-aer (parameter binding on one transpiled circuit) or qiskit's
    reference Statevector."""

    def __init__(self, circuit, params: list, kind: str) -> None:
        self.params, self.kind = params, kind
        if kind == "aer":
            from qiskit import transpile
            from qiskit_aer import AerSimulator

            self.sim = AerSimulator(method="statevector")
            c = circuit.copy()
            c.save_statevector()
            self.circuit = transpile(c, self.sim, optimization_level=0)
        elif kind == "statevector":
            self.circuit = circuit
        else:
            raise ir.QselError(f"unknown simulator {kind!r} (expected aer or statevector)")

    def probabilities(self, values: np.ndarray) -> np.ndarray:
        if self.kind == "aer":
            binds = {p: [float(v)] for p, v in zip(self.params, values)}
            result = self.sim.run(self.circuit, parameter_binds=[binds]).result()
            sv = np.asarray(result.get_statevector(0))
        else:
            from qiskit.quantum_info import Statevector

            sv = Statevector(self.circuit.assign_parameters(dict(zip(self.params, values)))).data
        return np.abs(sv) ** 2


def _run_shots(circuit, shots: int, seed: int | None, kind: str) -> dict[str, int]:
    if kind == "aer":
        from qiskit import transpile
        from qiskit_aer import AerSimulator

        sim = AerSimulator(seed_simulator=seed)
        return dict(sim.run(transpile(circuit, sim, optimization_level=0), shots=shots).result().get_counts())
    from qiskit.primitives import StatevectorSampler

    res = StatevectorSampler(seed=seed).run([circuit], shots=shots).result()
    return dict(res[0].data.meas.get_counts())


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

    def bound(self):
        return self.circuit.assign_parameters(dict(zip(self.params, self.values.tolist())))

    def info(self) -> dict[str, Any]:
        p = self.p
        return {"p": p, "mixer": self.plan.mixer, "hamming_weight": self.plan.k, "qubits": self.plan.num_qubits,
                "gammas": self.values[:p].tolist(), "betas": self.values[p:].tolist(),
                "cost_scale": self.plan.cost_scale, "expected_energy": self.expected_energy,
                "optimum_probability": self.optimum_probability, "feasible_probability": self.feasible_probability,
                "evaluations": self.evaluations, "optimise_seconds": round(self.seconds, 3),
                "qubit_order": QUBIT_ORDER}


def optimise(problem: ir.Problem, *, p: int = 2, mixer: str = "auto", maxiter: int = 200, seed: int | None = None,
             simulator: str = "aer", restarts: int = 1, connectivity: str = "ring",
             max_qubits: int = MAX_QUBITS, grid: int = 10) -> QAOARun:
    """Optimise the QAOA angles of one block on a statevector, minimising the expected energy of the cost problem.

    Depth 1 starts from the best point of a ``grid`` x ``grid`` scan of (gamma, beta) (gamma in (0, 2],
    beta over one period of the mixer; (gamma, beta) -> (-gamma, -beta) gives the same probabilities);
    each deeper level starts from the INTERP extrapolation of the level below; COBYLA refines every level.
    ``restarts - 1`` extra runs start from random perturbations of the final angles."""
    from scipy.optimize import minimize

    t0 = time.perf_counter()
    if p < 1:
        raise ir.QselError(f"QAOA depth p must be >= 1, got {p}")
    pl = plan(problem, mixer, max_qubits=max_qubits)
    diag = basis_energies(pl.cost)
    history: list[float] = []
    rng = np.random.default_rng(seed)
    half_period = np.pi / 2 if pl.mixer == "x" else np.pi

    values = None
    for depth in range(1, p + 1):
        circuit, gammas, betas = qaoa_circuit(pl, depth, connectivity=connectivity)
        params = gammas + betas
        sim = _Simulator(circuit.remove_final_measurements(inplace=False), params, simulator)

        def expected(v: np.ndarray, sim=sim) -> float:
            e = float(sim.probabilities(v) @ diag)
            history.append(e)
            return e

        if depth == 1:
            gs = np.linspace(2.0 / grid, 2.0, grid)
            bs = np.linspace(-half_period, half_period, grid, endpoint=False) + half_period / grid
            scan = [(expected(np.array([g, b])), g, b) for g in gs for b in bs]
            _, g0, b0 = min(scan)
            x0 = np.array([g0, b0])
        else:
            x0 = interpolate(values, depth - 1)
        best = minimize(expected, x0, method="COBYLA", options={"maxiter": int(maxiter), "rhobeg": 0.2})
        values = np.asarray(best.x, dtype=np.float64)
        best_e = float(best.fun)
        if depth == p:
            for _ in range(max(1, restarts) - 1):
                res = minimize(expected, values + rng.normal(scale=0.3, size=values.shape), method="COBYLA",
                               options={"maxiter": int(maxiter), "rhobeg": 0.2})
                if res.fun < best_e:
                    values, best_e = np.asarray(res.x, dtype=np.float64), float(res.fun)
    probs = sim.probabilities(values)
    n = pl.num_qubits
    opt_p = feas_p = 0.0
    energies, feas = [], []
    for start in range(0, 1 << n, 1 << 15):
        stop = min(start + (1 << 15), 1 << n)
        X = basis_bits(n, start, stop)[:, pl.columns]
        energies.append(problem.energies(X))
        feas.append(problem.feasible(X) if problem.constraints else np.ones(stop - start, dtype=bool))
    e_all, f_all = np.concatenate(energies), np.concatenate(feas)
    if f_all.any():
        opt = e_all[f_all].min()
        tol = 1e-9 * max(1.0, abs(opt))
        opt_p = float(probs[f_all & (e_all <= opt + tol)].sum())
        feas_p = float(probs[f_all].sum())
    return QAOARun(pl, p, circuit, params, values, best_e, opt_p, feas_p, len(history),
                   time.perf_counter() - t0, history)


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
@dataclass(frozen=True)
class QAOASolver(Solver):
    """Depth-p QAOA simulated on a statevector, angles optimised by COBYLA, then sampled."""

    name: ClassVar[str] = "qaoa"
    description: ClassVar[str] = ("QAOA simulated with qiskit-aer (statevector, <= 20 qubits), angles by grid scan + "
                                  "INTERP + COBYLA; XY mixer keeps a single cardinality ==K constraint exactly")
    max_vars: ClassVar[int | None] = MAX_QUBITS
    handles_constraints: ClassVar[bool] = True  # XY mixer for one cardinality ==K; anything else is lowered here

    p: int = 2
    mixer: str = "auto"
    connectivity: str = "ring"
    maxiter: int = 200
    restarts: int = 1
    simulator: str = "aer"  # aer | statevector

    def __post_init__(self) -> None:
        for name in ("p", "maxiter", "restarts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        run = optimise(problem, p=self.p, mixer=self.mixer, maxiter=self.maxiter, seed=seed,
                       simulator=self.simulator, restarts=self.restarts, connectivity=self.connectivity)
        counts = _run_shots(run.bound(), int(num_reads), seed, self.simulator)
        X, occ = counts_to_samples(counts, run.plan)
        return Samples(X, problem.energies(X) if X.shape[0] else np.zeros(0), occ,
                       {**run.info(), "num_reads": int(num_reads), "simulator": self.simulator})

