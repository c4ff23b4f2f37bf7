"""Running a QAOA circuit: statevector simulators (numpy, qiskit-aer, qiskit) and shots.

:class:`NumpySimulator` applies the diagonal cost phases and the mixer's two-amplitude rotations to a
numpy vector (equal to the qiskit circuit's state, tested); ``aer`` and ``statevector`` simulate the
bound qiskit circuit. The cost problem's basis energies are tabulated once (2^n values,
:func:`qsel.targets.basis.basis_energies`), so each evaluation is one statevector simulation.
"""

from __future__ import annotations

import numpy as np

from qsel import ir

from ..basis import basis_energies, bits_of
from .circuits import Plan, qaoa_circuit, xy_pairs


SIMULATORS = ("numpy", "aer", "statevector")


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


def run_shots(circuit, shots: int, seed: int | None, kind: str) -> dict[str, int]:
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
    X = bits_of(idx, pl.num_qubits)[:, pl.columns]
    uniq, inverse = np.unique(X, axis=0, return_inverse=True)
    return uniq, np.bincount(inverse.ravel(), weights=counts[idx], minlength=uniq.shape[0]).astype(np.int64)


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
