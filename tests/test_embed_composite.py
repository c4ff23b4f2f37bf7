"""The embed composite: minor embedding around a structured sampler, the same path local-pegasus takes."""

from __future__ import annotations

import numpy as np
import pytest

from qsel import ir
from qsel.targets.base import from_spec
from qsel.targets.registry import get_solver
from qsel.targets.solve import solve


def _layer(n: int = 12, k: int = 4, seed: int = 0) -> ir.Problem:
    rng = np.random.default_rng(seed)
    A = np.maximum(rng.normal(size=(30, n)), 0)
    W = rng.normal(size=(5, n))
    Q = (A.T @ A / 30) * (W.T @ W)
    np.fill_diagonal(Q, np.diag(Q) - 2 * rng.normal(size=n))
    return ir.Problem.from_qubo_matrix(Q).replace(
        constraints=(ir.Constraint.cardinality("keep", np.arange(n), "==", k),))


@pytest.mark.slow
def test_embed_around_the_pegasus_stand_in_solves_a_constrained_block():
    p = _layer()
    spec = from_spec("polish(embed(pegasus-sim))", "solver", get_solver)
    assert spec.spec() == "polish(embed(pegasus-sim))" and spec.max_vars == 180
    sol = solve(p, spec, num_reads=20, seed=1)
    s = sol.samples[0]
    assert p.feasible(sol.x[None])[0]
    assert s.info["composites"]["embed"]["topology"].startswith("pegasus")
    assert s.info["energy_check_max_abs_diff"] < 1e-9  # unembedded logical energies are the IR's
    np.testing.assert_allclose(s.energies, p.energies(s.X), rtol=0, atol=1e-12)
    optimum = from_spec("exact", "solver", get_solver).sample(p, num_reads=1).energies[0]
    assert sol.energy <= optimum + 0.05 * abs(optimum)


def test_embed_needs_a_structured_child_and_the_stand_in_needs_embed():
    p = _layer(6, 2)
    with pytest.raises(ir.QselError, match="wraps a structured sampler"):
        solve(p, from_spec("embed(tabu)", "solver", get_solver))
    with pytest.raises(ir.QselError, match="wrap it in the embed composite"):
        from_spec("pegasus-sim", "solver", get_solver).sample(p.replace(constraints=()))
