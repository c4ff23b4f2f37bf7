"""Cross-format energies for random small problems with constraints: IR, QuadraticProgram, SparsePauliOp
expectation (x = (1 - z)/2, qiskit's little-endian qubit order) and OpenQAOA's QUBO read back and evaluated by
OpenQAOA itself inside its Python 3.10 environment."""

from __future__ import annotations

import numpy as np
import pytest

from qsel import ir
from qsel.targets import openqaoa as OQ
from qsel.targets import qaoa as Q
from qsel.targets.embedding import lower_constraints

SEEDS = range(6)


def random_problem(seed: int) -> ir.Problem:
    """Awkward labels, a dense block over part of the variables, sparse (also reversed, repeated) couplings,
    an offset, a cardinality == K and an integer-coefficient <= constraint."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 7))
    labels = [f"fc1.n{i}" for i in range(n - 1)] + ["odd label"]
    idx = np.sort(rng.choice(n, size=int(rng.integers(2, n + 1)), replace=False))
    m = np.triu(rng.normal(size=(idx.size, idx.size)), 1)
    rows = rng.integers(0, n, size=2 * n)
    cols = (rows + rng.integers(1, n, size=2 * n)) % n
    p = ir.Problem(ir.Variables.from_labels(labels), rng.normal(size=n), float(rng.normal()),
                   dense=(ir.DenseBlock(idx, m),), sparse=ir.Couplings.from_arrays(rows, cols, rng.normal(size=2 * n)))
    card = rng.choice(n, size=3, replace=False)
    lin = rng.choice(n, size=3, replace=False)
    return p.replace(constraints=(
        ir.Constraint.cardinality("keep", card, "==", 1),
        ir.Constraint("budget", lin, np.array([1.0, 2.0, 1.0]), ir.Sense.LE, 2.0)))


def basis_label(x: np.ndarray) -> str:
    """qiskit's label of |x> with qubit i = x_i: qubit 0 is the rightmost character."""
    return "".join(str(int(v)) for v in x[::-1])


def test_quadratic_program_objective_and_constraints_agree_with_the_ir():
    rng = np.random.default_rng(1)
    for seed in SEEDS:
        p = random_problem(seed)
        qp = Q.quadratic_program(p)
        assert qp.get_num_binary_vars() == p.num_vars and qp.get_num_linear_constraints() == 2
        X = rng.integers(0, 2, size=(40, p.num_vars)).astype(np.float64)
        np.testing.assert_allclose([qp.objective.evaluate(x) for x in X], p.energies(X), rtol=1e-10, atol=1e-10)
        assert [qp.is_feasible(x) for x in X] == p.feasible(X).tolist()


def test_sparse_pauli_op_expectation_equals_the_lowered_ir_energy():
    from qiskit.quantum_info import Statevector
    from qiskit_optimization.translators import to_ising as qo_to_ising

    rng = np.random.default_rng(2)
    for seed in SEEDS:
        low = lower_constraints(random_problem(seed))  # penalties (and slack bits for the <= constraint)
        assert not low.constraints
        op, offset = Q.pauli_op(low)
        ref_op, ref_offset = qo_to_ising(Q.quadratic_program(low))  # qiskit-optimization's own conversion
        X = rng.integers(0, 2, size=(12, low.num_vars)).astype(np.float64)
        want = low.energies(X)
        for x, e in zip(X, want):
            state = Statevector.from_label(basis_label(x))
            assert float(np.real(state.expectation_value(op))) + offset == pytest.approx(e, abs=1e-9)
            assert float(np.real(state.expectation_value(ref_op))) + ref_offset == pytest.approx(e, abs=1e-9)
        # the JSON form carries the same operator
        d = Q.pauli_json(low)
        from qiskit.quantum_info import SparsePauliOp

        back = SparsePauliOp.from_list([(lab, c) for lab, c in d["terms"]])
        assert back.equiv(op) and d["offset"] == offset


def test_basis_energies_are_little_endian():
    p = random_problem(3).replace(constraints=())
    diag = Q.basis_energies(p)
    rng = np.random.default_rng(0)
    for k in rng.integers(0, 1 << p.num_vars, size=10):
        x = np.array([(int(k) >> i) & 1 for i in range(p.num_vars)], dtype=np.float64)
        assert diag[int(k)] == pytest.approx(p.energy(x))
        assert int(basis_label(x), 2) == int(k)


@pytest.mark.slow
def test_openqaoa_qubo_json_evaluated_by_openqaoa_equals_the_ir():
    """The QUBO JSON is read back with QUBO.from_dict inside .venv-openqaoa (Python 3.10) and every energy is
    computed there by OpenQAOA's own Hamiltonian (bitstring_energy)."""
    rng = np.random.default_rng(3)
    items = []
    for seed in SEEDS:
        low = lower_constraints(random_problem(seed))
        d = OQ.qubo_dict(low)
        assert set(d) == {"terms", "weights", "constant", "n", "problem_instance", "metadata"}
        assert d["metadata"]["qsel"]["labels"] == low.labels
        items.append((low, rng.integers(0, 2, size=(16, low.num_vars)).astype(np.float64)))
    energies = OQ.evaluate_many(items)
    for (low, X), e in zip(items, energies):
        np.testing.assert_allclose(e, low.energies(X), rtol=1e-10, atol=1e-10)
