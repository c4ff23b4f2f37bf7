"""Gate-model QAOA with qiskit, one module per job:

* :mod:`.hamiltonian`: the block's Ising Hamiltonian (SparsePauliOp) and QuadraticProgram;
* :mod:`.circuits`: the plan (cost problem and mixer), Dicke states, the depth-p circuit;
* :mod:`.simulate`: statevector simulators and shots;
* :mod:`.optimise`: the angles (grid scan, local optimiser, INTERP; expectation or CVaR);
* :mod:`.transpile`: the transpile report for a fake IBM backend;
* :mod:`.target`: the ``qiskit-qaoa`` target (files per block);
* :mod:`.solver`: the ``qaoa`` solver.

**Qubit order.** Qubit i is the block's variable i (``labels[i]``) and
x_i = (1 - z_i) / 2: |0> is x = 0 (z = +1), |1> is x = 1. Qiskit prints
bitstrings and Pauli labels little-endian (qubit 0 is the *rightmost*
character), so a count key ``k`` means x_i = int(k[n - 1 - i]).

**Cost Hamiltonian.** From the block's objective (``convert.to_ising``):

    H_C = sum_i a_i Z_i + sum_{i<j} b_ij Z_i Z_j,   E(x) = <x|H_C|x> + c'

The circuits use H_C / cost_scale with cost_scale = sqrt(sum a^2 + sum b^2),
the standard deviation of H_C over uniformly random basis states, so that one
range of angles suits any block; the manifest records the scale.

**QAOA circuit** of depth p (qiskit's ``qaoa_ansatz``): an initial state, then p times
exp(-i gamma_l H_C / cost_scale) followed by a mixer exp(-i beta_l H_M):

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
``NAME.qp.lp`` (the block as LP for qiskit-optimization's QuadraticProgram,
constraints kept, variables x0..x{n-1} = qubits; the ``lp`` target's writer), and a transpile report (depth, two-qubit
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

from ..angle_schedule import interpolate
from ..basis import basis_bits, basis_energies
from .circuits import MAX_QUBITS, QUBIT_ORDER, Plan, dicke_state, plan, qaoa_circuit, xy_pairs
from .hamiltonian import ising, pauli_json, pauli_op, quadratic_program, xy_cardinality
from .optimise import OPTIMIZERS, QAOARun, cvar_value, optimise
from .simulate import (SIMULATORS, NumpySimulator, counts_to_samples, initial_state, popcount,
                       sample_probabilities, simulator_for)
from .solver import QAOASolver, best_of_samples
from .target import QiskitQAOATarget
from .transpile import fake_backend, transpile_report

__all__ = ["MAX_QUBITS", "OPTIMIZERS", "QUBIT_ORDER", "SIMULATORS", "NumpySimulator", "Plan", "QAOARun",
           "QAOASolver", "QiskitQAOATarget", "basis_bits", "basis_energies", "best_of_samples", "counts_to_samples",
           "cvar_value", "dicke_state", "fake_backend", "initial_state", "interpolate", "ising", "optimise", "pauli_json",
           "pauli_op", "plan", "popcount", "qaoa_circuit", "quadratic_program", "sample_probabilities",
           "simulator_for", "transpile_report", "xy_cardinality", "xy_pairs"]
