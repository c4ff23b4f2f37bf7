"""One basis-state enumerator (qsel.targets.basis) and one exact enumerator (the exact solver), checked
against itertools.product, an enumeration written independently of them."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from qsel import ir
from qsel.baselines import EXACT_MAX_VARS, exact_block
from qsel.targets.basis import basis_bits, basis_energies, bits_of
from qsel.targets.classical import EXACT_MAX_VARS as SOLVER_LIMIT


def test_state_k_has_bit_i_as_variable_i():
    n = 5
    every = np.array([tuple(reversed(t)) for t in product([0, 1], repeat=n)], dtype=np.float64)  # k's bits, LSB first
    assert np.array_equal(basis_bits(n), every)
    assert np.array_equal(basis_bits(n, 7, 12), every[7:12])
    assert np.array_equal(bits_of(np.array([19, 0, 31]), n, np.int8), every[[19, 0, 31]].astype(np.int8))


def test_basis_energies_are_the_ir_energies_in_state_order():
    rng = np.random.default_rng(0)
    p = ir.Problem.from_qubo_matrix(rng.normal(size=(6, 6)), offset=0.5)
    assert np.array_equal(basis_energies(p, chunk=7), p.energies(basis_bits(6)))


@pytest.mark.parametrize("sense, count", [("==", 3), ("<=", 2), (">=", 5), (None, None)])
@pytest.mark.parametrize("seed", range(3))
def test_the_exact_baseline_is_the_best_feasible_assignment(seed, sense, count):
    rng = np.random.default_rng(seed)
    n = 9
    h = rng.normal(size=n)
    S = np.triu(rng.normal(size=(n, n)), 1)
    S = S + S.T
    x = exact_block(h, S, count, sense or "==")
    X = np.array(list(product([0, 1], repeat=n)), dtype=np.float64)
    E = X @ h + np.einsum("si,ij,sj->s", X, np.triu(S, 1), X)
    k = X.sum(1)
    ok = np.ones(len(X), bool) if count is None else {"==": k == count, "<=": k <= count, ">=": k >= count}[sense]
    best = E[ok].min()
    got = x @ h + x @ np.triu(S, 1) @ x
    tol = 1e-12 * (np.abs(h).sum() + np.abs(S).sum())
    assert got <= best + tol and (count is None or ok[int(x @ (1 << np.arange(n))[::-1])])


def test_one_limit_and_a_clear_error():
    assert EXACT_MAX_VARS == SOLVER_LIMIT
    with pytest.raises(ir.QselError, match="no assignment satisfies the block's cardinality == 4"):
        exact_block(np.zeros(3), np.zeros((3, 3)), 4)
    with pytest.raises(ir.QselError, match=f"limited to {EXACT_MAX_VARS} variables per block"):
        exact_block(np.zeros(EXACT_MAX_VARS + 1), np.zeros((EXACT_MAX_VARS + 1,) * 2), None)
