"""lower-constraints: exhaustive checks that the auto penalty keeps ground states feasible, and how tight it is."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsel import ir, report
from qsel.frontend.lowering import neuron_terms
from qsel.passes import PassManager, build
from qsel.passes.base import PropertySet
from qsel.passes.lower_constraints import LowerConstraints, _slack_weights


def all_assignments(n: int) -> np.ndarray:
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(np.float64)


def random_objective(rng: np.random.Generator, n: int, kind: str) -> ir.Problem:
    """A neuron-selection objective (fit to a random target) or a plain random dense QUBO."""
    if kind == "neuron":
        A = np.maximum(rng.normal(size=(64, n)), 0.0)
        W = rng.normal(size=(8, n))
        h, U, offset = neuron_terms(A, W, 3.0 * rng.normal(size=(64, 8))).ir_arrays()
    else:
        h = rng.normal(size=n) * rng.choice([0.1, 1.0, 10.0])
        U = np.triu(rng.normal(size=(n, n)), 1) * rng.choice([0.1, 1.0, 10.0])
        offset = 0.0
    return ir.Problem(ir.Variables.from_labels([f"x{i}" for i in range(n)]), h, offset,
                      (ir.DenseBlock(np.arange(n), U),))


def lowered(problem: ir.Problem, **options) -> ir.Problem:
    return LowerConstraints(**options).run(problem, PropertySet()).problem


def ground_truth(problem: ir.Problem, out: ir.Problem) -> tuple[float, float, float]:
    """(min E_out over assignments infeasible for the input, best feasible E_in, min E_out over feasible x)."""
    Xo = all_assignments(out.num_vars)
    e = out.energies(Xo)
    x = Xo[:, :problem.num_vars]
    feasible = problem.feasible(x)
    best = float(problem.energies(x[feasible]).min())
    worst_case = float(e[~feasible].min()) if (~feasible).any() else np.inf
    return worst_case, best, float(e[feasible].min())


def random_case(rng: np.random.Generator, t: int) -> ir.Problem:
    n = int(rng.integers(3, 9))
    p = random_objective(rng, n, "neuron" if t % 2 else "dense")
    idx = np.arange(n)
    kind = ["eq", "le", "ge", "coef-eq", "coef-le", "pm1", "two", "overlap"][t % 8]
    x0 = rng.integers(0, 2, size=n)  # a feasible point for the weighted cases
    if kind == "eq":
        cons = (ir.Constraint.cardinality("c", idx, "==", int(rng.integers(1, n))),)
    elif kind == "le":
        cons = (ir.Constraint.cardinality("c", idx, "<=", int(rng.integers(0, n))),)
    elif kind == "ge":
        cons = (ir.Constraint.cardinality("c", idx, ">=", int(rng.integers(1, n + 1))),)
    elif kind == "coef-eq":  # non-integer coefficients that are multiples of 0.5
        c = 0.5 * rng.integers(1, 5, size=n)
        cons = (ir.Constraint("c", idx, c, ir.Sense.EQ, float(c @ x0)),)
    elif kind == "coef-le":
        c = rng.choice([-3.0, -1.0, 2.0, 3.0, 4.0], size=n)
        cons = (ir.Constraint("c", idx, c, ir.Sense.LE, float(c @ x0) + 0.5),)
    elif kind == "pm1":
        c = rng.choice([-1.0, 1.0], size=n)
        cons = (ir.Constraint("c", idx, c, ir.Sense.GE, float(c @ x0)),)
    elif kind == "two":
        m = n // 2
        cons = (ir.Constraint.cardinality("a", idx[:m], "==", int(rng.integers(0, m + 1))),
                ir.Constraint.cardinality("b", idx[m:], "<=", int(rng.integers(0, n - m))))
    else:
        cons = (ir.Constraint.cardinality("a", idx[:-1], "==", 1), ir.Constraint.cardinality("b", idx[1:], "<=", 1))
    return p.replace(constraints=cons)


def test_auto_penalty_keeps_every_ground_state_feasible_exhaustively():
    """240 random problems, every constraint kind: enumerate all (x, slack) of the lowered problem."""
    rng = np.random.default_rng(7)
    proofs = set()
    for t in range(240):
        p = random_case(rng, t)
        out = lowered(p)
        proofs |= {r["proof"] for r in out.metadata["lowered_constraints"]}
        assert not out.constraints
        infeasible_min, best, feasible_min = ground_truth(p, out)
        tol = 1e-9 * (1 + abs(best))
        assert infeasible_min > best + tol, f"case {t}: an infeasible assignment reaches {infeasible_min} <= {best}"
        assert abs(feasible_min - best) <= tol  # feasible energies are kept (slack at its best value)
    assert proofs >= {"one-flip", "path", "range"}


def test_feasible_energies_are_unchanged_for_the_best_slack():
    rng = np.random.default_rng(3)
    p = random_objective(rng, 6, "neuron").replace(
        constraints=(ir.Constraint("c", np.arange(6), np.array([1.0, 2, 3, 1, 1, 2]), ir.Sense.LE, 5.0),))
    out = lowered(p)
    X = all_assignments(out.num_vars)
    e = out.energies(X)
    x_keys = X[:, :6] @ (2 ** np.arange(6))
    best_per_x = np.full(64, np.inf)
    np.minimum.at(best_per_x, x_keys.astype(int), e)
    x = all_assignments(6)
    feasible = p.feasible(x)
    np.testing.assert_allclose(best_per_x[feasible], p.energies(x[feasible]), rtol=1e-12, atol=1e-9)
    assert np.all(best_per_x[~feasible] > p.energies(x[~feasible]))


def smallest_sufficient(p: ir.Problem, upper: float, steps: int = 40) -> float:
    """Bisection for the smallest P whose lowered ground states are all feasible (monotone in P)."""
    lo, hi = 0.0, upper
    for _ in range(steps):
        mid = (lo + hi) / 2
        infeasible_min, best, _ = ground_truth(p, lowered(p, penalty=mid))
        lo, hi = (lo, mid) if infeasible_min > best else (mid, hi)
    return hi


def test_auto_penalty_is_not_absurdly_large(capsys):
    """Report auto P / smallest sufficient P (bisection) on cardinality problems that need a penalty."""
    rng = np.random.default_rng(11)
    ratios = []
    for t in range(40):
        n = int(rng.integers(5, 10))
        p = random_objective(rng, n, "neuron" if t % 2 else "dense")
        p = p.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(n), "==", int(rng.integers(1, n))),))
        auto = lowered(p).metadata["penalties"]["keep"]
        needed = smallest_sufficient(p, auto)
        if needed > auto * 1e-9:  # problems whose free optimum is already feasible need no penalty at all
            ratios.append(auto / needed)
    ratios = np.array(ratios)
    with capsys.disabled():
        print(f"\n  auto penalty / smallest sufficient (bisection), {ratios.size} cardinality problems: "
              f"median {np.median(ratios):.2f}, 90% {np.quantile(ratios, 0.9):.2f}, max {ratios.max():.2f}")
    assert ratios.size >= 25
    assert np.all(ratios >= 1.0)  # never below what is needed (the proof)
    assert np.median(ratios) < 10.0


def test_the_naive_penalty_of_public_demos_can_be_too_small():
    """P = max |coefficient| (a common choice) lets an infeasible assignment win on some neuron problems."""
    rng = np.random.default_rng(0)
    failures = 0
    for _ in range(60):
        n = int(rng.integers(4, 11))
        p = random_objective(rng, n, "neuron")
        p = p.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(n), "==", int(rng.integers(1, n))),))
        naive = max(np.abs(p.linear).max(), np.abs(p.dense[0].matrix).max())
        infeasible_min, best, _ = ground_truth(p, lowered(p, penalty=float(naive)))
        failures += infeasible_min <= best
        auto_inf, auto_best, _ = ground_truth(p, lowered(p))
        assert auto_inf > auto_best
    assert failures >= 1


def test_block_scope_guarantee_holds_for_each_block_subproblem():
    rng = np.random.default_rng(5)
    for _ in range(10):
        p = random_objective(rng, 10, "neuron").replace(
            constraints=(ir.Constraint.cardinality("keep", np.arange(10), "==", 3),))
        parted = PassManager(build("partition{max-vars=5}")).run(p)
        big = lowered(parted)
        small = lowered(parted, scope="block")
        for label, P in small.metadata["penalties"].items():
            assert P <= big.metadata["penalties"][label]
        for part in small.partitions:
            sub = ir.restrict(small, part.indices)
            idx = part.indices[part.indices < parted.num_vars]
            inside = tuple(c for c in parted.constraints if np.isin(c.indices, idx).all())
            orig = ir.restrict(parted.replace(constraints=inside), idx)
            inf_min, best, _ = ground_truth(orig, sub)
            assert inf_min > best


def test_records_penalties_and_lowered_constraints_in_metadata():
    p = ir.Problem.from_qubo_matrix(np.array([[1.0, -2, 0], [0, -1, 3], [0, 0, 2]]), ["a", "b", "c"])
    p = p.replace(constraints=(ir.Constraint.cardinality("keep", [0, 1, 2], "==", 1),
                               ir.Constraint("budget", np.array([0, 2]), np.array([2.0, 2.0]), ir.Sense.LE, 3.0)))
    out = lowered(p, penalty=5.0)
    assert out.metadata["penalties"] == {"keep": 5.0, "budget": 5.0}
    rec = {r["label"]: r for r in out.metadata["lowered_constraints"]}
    assert rec["keep"]["variables"] == ["a", "b", "c"] and rec["keep"]["sense"] == "==" and rec["keep"]["rhs"] == 1
    # 2a + 2c <= 3  ->  unit 2, a + c <= 1, one slack bit
    assert rec["budget"]["unit"] == 2.0 and rec["budget"]["slack"] == ["budget.s0"]
    assert rec["budget"]["slack_weights"] == [1.0]
    assert out.labels == ["a", "b", "c", "budget.s0"]
    v = out.variables
    assert v.layer_of(3) is None and v.granularity_of(3) is ir.Granularity.GENERIC and v.unit[3] == -1
    text = report.to_text(out, "x.qir")
    assert "penalty          keep = 5.0" in text and "penalty          budget = 5.0" in text
    assert not out.constraints
    # The record lets a result say which original constraint a sample broke.
    assert rec["keep"]["coeffs"] == [1.0, 1.0, 1.0]


def test_spanning_constraints_are_kept_unless_asked():
    p = random_objective(np.random.default_rng(1), 6, "dense")
    p = p.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(6), "==", 2),),
                  partitions=(ir.Partition("p0", np.arange(3)), ir.Partition("p1", np.arange(3, 6))))
    out = lowered(p)
    assert [c.label for c in out.constraints] == ["keep"] and "penalties" not in out.metadata
    out = lowered(p, spanning="lower")
    assert not out.constraints and "keep" in out.metadata["penalties"]


def test_slack_joins_the_constraint_partition():
    p = random_objective(np.random.default_rng(2), 6, "dense").replace(
        constraints=(ir.Constraint.cardinality("a", [0, 1, 2], "<=", 1),
                     ir.Constraint.cardinality("b", [3, 4, 5], "<=", 2)),
        partitions=(ir.Partition("p0", np.arange(3)), ir.Partition("p1", np.arange(3, 6))))
    out = lowered(p)
    names = {q.name: sorted(out.labels[i] for i in q.indices) for q in out.partitions}
    assert "a.s0" in names["p0"] and "b.s0" in names["p1"] and "b.s1" not in names["p0"]
    ir.verify(out)


@pytest.mark.parametrize("S", [1, 2, 3, 4, 5, 7, 8, 13, 100])
def test_slack_weights_cover_exactly_zero_to_S(S):
    w = _slack_weights(S)
    sums = set((all_assignments(w.size) @ w).astype(int).tolist())
    assert sums == set(range(S + 1))


@pytest.mark.parametrize("constraint,fragment", [
    (ir.Constraint("c", np.array([0, 1]), np.array([1.0, np.pi]), ir.Sense.LE, 2.0), "exact slack encoding"),
    (ir.Constraint("c", np.array([0, 1]), np.array([1.0, np.pi]), ir.Sense.EQ, 1.0), "give penalty=VALUE"),
    (ir.Constraint.cardinality("c", [0, 1], "==", 3), "can never hold"),
    (ir.Constraint.cardinality("c", [0, 1], ">=", 3), "can never hold"),
    (ir.Constraint("c", np.array([0, 1]), np.array([2.0, 2.0]), ir.Sense.EQ, 3.0), "multiple of 2"),
])
def test_clear_errors(constraint, fragment):
    p = ir.Problem.from_qubo_matrix(np.eye(2)).replace(constraints=(constraint,))
    with pytest.raises(ir.QselError, match=fragment):
        lowered(p)


def test_options_parse_auto_or_a_number():
    assert build("lower-constraints")[0].penalty == "auto"
    assert build("lower-constraints{penalty=2.5}")[0].penalty == 2.5
    with pytest.raises(ir.QselError, match="expects a number or one of auto"):
        build("lower-constraints{penalty=big}")
    with pytest.raises(ir.QselError, match="penalty must be 'auto' or a finite number > 0"):
        build("lower-constraints{penalty=-1}")


def test_redundant_constraints_are_dropped_without_penalty():
    p = ir.Problem.from_qubo_matrix(np.eye(3))
    p = p.replace(constraints=(ir.Constraint.cardinality("c", [0, 1, 2], "<=", 3),))
    out = lowered(p)
    assert out.num_vars == 3 and out.metadata["penalties"] == {"c": 0.0}
    X = all_assignments(3)
    np.testing.assert_array_equal(out.energies(X), p.energies(X))


@settings(max_examples=40)
@given(st.integers(2, 7), st.integers(0, 10**6))
def test_property_feasible_energies_kept_and_ground_state_feasible(n, seed):
    rng = np.random.default_rng(seed)
    p = random_case(rng, seed % 8)
    out = lowered(p)
    infeasible_min, best, feasible_min = ground_truth(p, out)
    assert infeasible_min > best
    assert abs(feasible_min - best) <= 1e-9 * (1 + abs(best))


def test_each_record_carries_the_constant_its_penalty_adds_to_the_offset():
    """offset_out = offset_in + sum_k constant_k, and constant_k = P_k b_k^2 with b_k the integer-form rhs:
    the penalty vanishes on a feasible x, so E_out(x) - constant_k - (the rest) is the objective there."""
    rng = np.random.default_rng(5)
    p = random_objective(rng, 7, "neuron")
    p = p.replace(constraints=(ir.Constraint.cardinality("eq", [0, 1, 2], "==", 2),
                               ir.Constraint("le", np.array([3, 4]), np.array([2.0, 2.0]), ir.Sense.LE, 3.0),
                               ir.Constraint.cardinality("ge", [5, 6], ">=", 1),
                               ir.Constraint.cardinality("always", [0, 6], "<=", 2)))
    scaled = PassManager(build("scale{h-range=-1:1,j-range=-1:1}")).run(p)
    out = lowered(scaled, penalty=3.0)
    rec = {r["label"]: r for r in out.metadata["lowered_constraints"]}
    F = scaled.metadata["scale"]["factor"]
    assert F != 1.0 and all(r["scale_factor"] == F for r in rec.values())
    # integer forms: x0+x1+x2 == 2 (b=2); x3+x4 <= 1 (unit 2, b=1); -(x5+x6) <= -1 (b=-1); redundant (P=0)
    assert [rec[k]["constant"] for k in ("eq", "le", "ge", "always")] == [3.0 * 4, 3.0 * 1, 3.0 * 1, 0.0]
    assert out.offset == pytest.approx(scaled.offset + sum(r["constant"] for r in rec.values()), rel=1e-15)
    # on a feasible x with its best slack the penalties are 0: E_out = E_in
    x = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0], dtype=np.float64)  # slack bits 0: x3 + x4 = 1, x5 + x6 = 1
    assert out.labels[7:] == ["le.s0", "ge.s0"]
    assert out.energy(x) == pytest.approx(scaled.energy(x[:7]), abs=1e-12 * (1 + abs(out.offset)))
