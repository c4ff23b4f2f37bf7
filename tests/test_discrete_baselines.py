"""Discrete baselines (round-to-nearest, GPTQ-style, sign, exact) and the warm(SOLVER) composite."""

from __future__ import annotations

import numpy as np
import pytest

from qsel import ir
from qsel.frontend import discrete as D
from qsel.frontend import discrete_baselines as B
from qsel.frontend.discrete_apply import solver_levels
from qsel.targets.base import from_spec
from qsel.targets.classical import EXACT_MAX_VARS
from qsel.targets.registry import get_solver
from qsel.targets.warm import initial_state


def layer(A: np.ndarray, W: np.ndarray, spec: str = "ternary") -> D.LayerData:
    grid = D.parse_grid(spec, None, "binary")
    return D.LayerData("fc", "quantize", A, A @ W.T, W, grid, D.fit_scales(grid, W))


def test_gptq_is_round_to_nearest_when_inputs_are_uncorrelated():
    """H = A^T A diagonal: the error feedback H^-1_ij / H^-1_ii is zero, so GPTQ rounds like nearest."""
    rng = np.random.default_rng(0)
    Qm, _ = np.linalg.qr(rng.normal(size=(50, 6)))
    A = Qm * rng.uniform(0.5, 2.0, size=6)  # orthogonal columns of different norms
    d = layer(A, rng.normal(size=(4, 6)), "int{bits=2}")
    np.testing.assert_array_equal(B.gptq(d), B.nearest(d))


def test_gptq_second_weight_is_the_conditional_least_squares_then_rounded():
    """n = 2, no damping: after w1 -> q1, GPTQ moves w2 to argmin_w2 (w - w_ref)^T H (w - w_ref) with w1 = q1,
    i.e. w2 - H12/H22 (q1 - w1), and rounds that."""
    rng = np.random.default_rng(1)
    A = rng.normal(size=(40, 2)) @ np.array([[1.0, 0.8], [0.0, 0.6]])  # correlated inputs
    d = layer(A, rng.normal(size=(5, 2)), "int{bits=2}")
    idx = B.gptq(d, damp=0.0)
    H = A.T @ A
    q1 = d.grid.levels[idx[:, 0]] * d.scales
    np.testing.assert_array_equal(idx[:, 0], B.nearest(d)[:, 0])
    w2 = d.w_ref[:, 1] - H[0, 1] / H[1, 1] * (q1 - d.w_ref[:, 0])
    np.testing.assert_array_equal(idx[:, 1], d.grid.nearest(w2[:, None], d.scales)[:, 0])


def test_exact_is_no_worse_than_any_method_and_sign_is_nearest_on_binary():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(30, 5)) + 0.5 * rng.normal(size=(30, 1))
    W = rng.normal(size=(3, 5))
    for spec in ("binary", "ternary", "int{bits=2}"):
        d = layer(A, W, spec)
        e = {m: d.unit_errors(d.levels_of(B.levels(d, m))) for m in ("nearest", "gptq", "exact")}
        assert np.all(e["exact"] <= e["nearest"] + 1e-12) and np.all(e["exact"] <= e["gptq"] + 1e-12)
        problem = D.compile_discrete(D_network(), [d], "independent")  # its energy is the summed unit error
        best = B.exact(d)
        assert problem.energy(D.encode(d, best)) == pytest.approx(d.unit_errors(d.levels_of(best)).sum(), rel=1e-12)
    d = layer(A, W, "binary")
    np.testing.assert_array_equal(B.sign(d), B.nearest(d))
    with pytest.raises(ir.QselError, match="two-level"):
        B.sign(layer(A, W, "ternary"))
    n = EXACT_MAX_VARS // 2 + 1  # ternary: two variables per weight
    with pytest.raises(ir.QselError, match=f"limited to {EXACT_MAX_VARS} variables"):
        B.exact(layer(rng.normal(size=(10, n)), rng.normal(size=(1, n)), "ternary"))


def D_network():
    from qsel.frontend.init import init_network

    return init_network([5, 3], "identity", seed=0)


def test_warm_composite_starts_from_the_recorded_state_and_is_never_worse():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(60, 12)) @ rng.normal(size=(12, 12))
    d = layer(A, rng.normal(size=(2, 12)), "int{bits=2}")
    problem = D.compile_discrete(D_network(), [d], "independent", initial_state=B.initial_state([d], "gptq"))
    x0 = initial_state(problem)
    np.testing.assert_array_equal(x0, D.encode(d, B.gptq(d)))
    sub = ir.restrict(problem.replace(partitions=()), problem.partitions[0].indices)
    warm = from_spec("warm{reads=2}(steepest)", "solver", get_solver)
    s = warm.sample(sub, num_reads=1, seed=0)
    assert s.energies.min() <= sub.energy(initial_state(sub)) + 1e-12
    assert s.info["composites"]["warm"]["method"] == "gptq"
    plain = from_spec("steepest", "solver", get_solver).sample(sub.replace(metadata={}), num_reads=1, seed=0)
    assert len(warm.sample(sub.replace(metadata={}), num_reads=1, seed=0).energies) == len(plain.energies)


def test_sequential_solver_levels_round_trip():
    """solver_levels: compile one layer, solve, decode back to level indices whose weights reach the solve's energy."""
    rng = np.random.default_rng(4)
    A = rng.normal(size=(40, 4))
    d = layer(A, rng.normal(size=(3, 4)), "ternary")
    idx = solver_levels("exact", num_reads=1)(d)
    np.testing.assert_allclose(d.unit_errors(d.levels_of(idx)), d.unit_errors(d.levels_of(B.exact(d))),
                               rtol=1e-9, atol=1e-12)
