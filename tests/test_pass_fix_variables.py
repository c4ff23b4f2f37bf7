"""fix-variables: roof-duality fixings are exact (energies map back) and never lose the (constrained) optimum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from qsel import ir
from qsel.passes import PassManager, build
from qsel.passes.fix_variables import _roof_duality
from qsel.passes.mapping import restore
from strategies import pass_problems, scale_of


def all_assignments(n: int) -> np.ndarray:
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(np.float64)


def random_qubo(rng: np.random.Generator, n: int, t: int) -> ir.Problem:
    h = rng.normal(size=n) * rng.choice([0.3, 1.0, 3.0])
    U = np.triu(rng.normal(size=(n, n)), 1) * (rng.random((n, n)) < rng.random())
    if t % 3 == 0:
        U = -np.abs(U)  # submodular: roof duality solves it completely
    if t % 4 == 0:
        h, U = np.round(h), np.round(U)  # integer data: many ties
    return ir.Problem.from_qubo_matrix(U + np.diag(h))


def fix(problem: ir.Problem) -> ir.Problem:
    return PassManager(build("fix-variables"), verify_each=True).run(problem)


def test_roof_duality_labelling_is_an_autarky():
    """The property the pass relies on: E(x with x_F := v) <= E(x) for every x (checked exhaustively)."""
    rng = np.random.default_rng(0)
    X = all_assignments(8)
    cases = 0
    for t in range(400):
        p = random_qubo(rng, 8, t)
        _, fixed = _roof_duality(p)
        if not fixed:
            continue
        cases += 1
        Y = X.copy()
        Y[:, list(fixed)] = list(fixed.values())
        assert np.all(p.energies(Y) <= p.energies(X) + 1e-9)
    assert cases > 100


def test_unconstrained_minimum_is_kept_and_energies_map_back():
    rng = np.random.default_rng(1)
    fixed_total = 0
    for t in range(60):
        p = random_qubo(rng, 9, t)
        out = fix(p)
        fixed_total += len(out.fixed)
        assert out.num_vars + len(out.fixed) == 9
        Xr = all_assignments(out.num_vars)
        full = restore(p, out, Xr)
        np.testing.assert_allclose(out.energies(Xr), p.energies(full), rtol=0, atol=1e-9 * scale_of(p))
        assert out.energies(Xr).min() == pytest.approx(p.energies(all_assignments(9)).min(), abs=1e-9)
    assert fixed_total > 100


def test_constrained_variables_are_never_fixed_and_the_constrained_optimum_survives():
    rng = np.random.default_rng(2)
    rules = {"roof-duality": 0, "dominance": 0}
    for t in range(120):
        p = random_qubo(rng, 9, t)
        members = rng.choice(9, size=int(rng.integers(1, 6)), replace=False)
        k = int(rng.integers(0, members.size + 1))
        p = p.replace(constraints=(ir.Constraint.cardinality("keep", members, "==", k),))
        out = fix(p)
        rules[out.history[-1]["rule"]] += 1
        assert not set(out.fixed) & {f"x{i}" for i in members}
        X = all_assignments(9)
        best = p.energies(X[p.feasible(X)]).min()
        Xr = all_assignments(out.num_vars)
        assert out.energies(Xr[out.feasible(Xr)]).min() == pytest.approx(best, abs=1e-9)
    assert rules["roof-duality"] >= 3 and rules["dominance"] >= 30


def test_part_of_a_roof_duality_labelling_is_not_safe_under_constraints():
    """Why the pass drops the whole labelling when it touches a constrained variable."""
    rng = np.random.default_rng(2)
    random_qubo(rng, 9, 0)
    p = random_qubo(rng, 9, 1).replace(constraints=(ir.Constraint.cardinality("keep", [0, 1, 2, 3, 4], "==", 2),))
    _, fixed = _roof_duality(p)
    part = {i: v for i, v in fixed.items() if i > 4}
    naive = ir.clamp(p, np.array(list(part)), np.array(list(part.values()), dtype=float))
    X, Xn = all_assignments(9), all_assignments(naive.num_vars)
    best = p.energies(X[p.feasible(X)]).min()
    assert naive.energies(Xn[naive.feasible(Xn)]).min() > best + 1e-3  # the naive rule loses the optimum
    out = fix(p)
    Xr = all_assignments(out.num_vars)
    assert out.energies(Xr[out.feasible(Xr)]).min() == pytest.approx(best, abs=1e-9)


def test_every_variable_constrained_skips_the_solver():
    p = ir.Problem.from_qubo_matrix(np.diag([1.0, -1.0])).replace(
        constraints=(ir.Constraint.cardinality("keep", [0, 1], "==", 1),))
    out = fix(p)
    assert out.num_vars == 2 and out.history[-1]["skipped"] == "every variable is in a constraint"


def test_fixed_values_and_provenance_are_recorded_for_decoding():
    v = ir.Variables.build(["fc1.n0", "fc1.n1", "fc1.n2"], layer="fc1", unit=[0, 1, 2], granularity="neuron")
    block = ir.DenseBlock(np.arange(3), np.triu(np.full((3, 3), -0.25), 1))
    p = ir.Problem(v, np.array([-1.0, 2.0, 0.5]), 0.0, (block,))
    out = fix(p)
    assert out.fixed == {"fc1.n0": 1, "fc1.n1": 0, "fc1.n2": 0}  # the unique optimum
    assert out.metadata["fixed_provenance"]["fc1.n1"] == {"layer": "fc1", "unit": 1, "output": -1,
                                                          "granularity": "neuron"}
    h = out.history[-1]
    assert h["exact"] is True and h["fixed"] == len(out.fixed) and "roof_dual_lower_bound" in h


@given(pass_problems(max_vars=8))
@pytest.mark.slow
def test_property_energies_map_back_exactly(problem):
    out = fix(problem)
    X = np.random.default_rng(0).integers(0, 2, size=(32, out.num_vars)).astype(np.float64)
    full = restore(problem, out, X)
    tol = 1e-9 * scale_of(problem) + 1e-12
    np.testing.assert_allclose(out.energies(X), problem.energies(full), rtol=0, atol=tol)
    np.testing.assert_array_equal(out.feasible(X), problem.feasible(full))
