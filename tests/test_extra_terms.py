"""qsel.extra_terms: pyqubo expressions and first-class constraints merged into the IR."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import pyqubo
from pyqubo import Binary, Constraint, Placeholder

from qsel import ir
from qsel.extra_terms import (LabelledConstraint, TermVariables, add_terms, at_least, at_most,
                              broken_extra_constraints, exactly, extra_constraint_energies, load_terms_file)


def small_problem(n: int = 8, seed: int = 0) -> ir.Problem:
    """A random dense problem whose variables carry groups: g = the first three, h = the rest."""
    rng = np.random.default_rng(seed)
    labels = [f"fc1.n{i}" for i in range(n)]
    variables = ir.Variables.build(labels, layer="fc1", unit=range(n), granularity="neuron",
                                   group=["g"] * 3 + ["h"] * (n - 3))
    Q = rng.normal(size=(n, n))
    p = ir.Problem.from_qubo_matrix(Q, variables=variables, offset=0.25)
    return p


def all_states(n: int) -> np.ndarray:
    return (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1


def pyqubo_energies(expr, labels, X, feed=None) -> np.ndarray:
    model = expr.compile()
    names = model.variables
    pos = {lab: i for i, lab in enumerate(labels)}
    return np.array([model.energy({v: int(x[pos[v]]) for v in names}, vartype="BINARY", feed_dict=feed or {})
                     for x in X])


def test_merged_energy_is_ir_energy_plus_pyqubo_energy():
    p = small_problem(10, seed=1)
    rng = np.random.default_rng(2)
    labels = p.labels
    picks = [(labels[i], labels[j], float(w)) for i, j, w in zip(rng.integers(0, 10, 15), rng.integers(0, 10, 15),
                                                                  rng.normal(size=15))]
    kept = []

    def build(x):
        expr = Placeholder("alpha") * Constraint((x["fc1.n1"] + x["fc1.n4"] - 1) ** 2, label="one_of_1_4")
        for u, v, w in picks:
            expr = expr + w * x[u] * x[v]
        expr = expr + 0.5 * x["fc1.n9"] - 1.75
        kept.append(expr)
        return expr

    merged = add_terms(p, build, {"alpha": 2.5})
    X = rng.integers(0, 2, size=(64, 10))
    expected = p.energies(X) + pyqubo_energies(kept[0], labels, X, {"alpha": 2.5})
    np.testing.assert_allclose(merged.energies(X), expected, rtol=1e-12, atol=1e-12)
    assert merged.metadata["parameters"] == {"alpha": 2.5}
    assert merged.labels == p.labels and len(merged.dense) == 1  # the original block stays; new terms are COO
    entry = merged.metadata["extra_terms"][0]
    assert entry["source"] == "build" and entry["pyqubo_constraints"] == ["one_of_1_4"]


def test_binaries_are_made_lazily_for_used_labels_only():
    n = 4096
    p = ir.Problem(ir.Variables.from_labels([f"v{i}" for i in range(n)]), np.zeros(n))
    seen = {}

    def build(x):
        seen["x"] = x
        assert len(x) == n and "v17" in x and "nope" not in x
        return x["v1"] * x["v2"] + x["v4095"] - x["v1"]

    merged = add_terms(p, build)
    assert sorted(seen["x"].used) == ["v1", "v2", "v4095"]
    e = np.zeros((3, n))
    e[1, [1, 2]] = 1
    e[2, 4095] = 1
    np.testing.assert_allclose(merged.energies(e), [0.0, 0.0, 1.0])
    assert len(merged.sparse) == 1


def discouraged_group(n: int = 8, seed: int = 3) -> ir.Problem:
    """small_problem with +3 on the biases of group g, so that the free optimum keeps at most one of g."""
    p = small_problem(n, seed)
    p = p.replace(linear=p.linear + np.r_[3.0, 3.0, 3.0, np.zeros(n - 3)])
    assert all_states(n)[np.argmin(p.energies(all_states(n)))][:3].sum() < 2
    return p


def test_at_least_2_of_group_g_penalty_changes_the_exhaustive_optimum():
    p = discouraged_group()
    X = all_states(8)
    g = [0, 1, 2]
    free_best = X[np.argmin(p.energies(X))]

    def build(x):
        k = sum(x[lab] for lab in x.group("g"))  # |g| = 3, so (k - 2)(k - 3) >= 0 and == 0 iff k >= 2
        return Placeholder("P") * Constraint((k - 2) * (k - 3), label="g_at_least_2")

    merged = add_terms(p, build, {"P": 50.0})
    e = merged.energies(X)
    best = X[np.argmin(e)]
    assert best[g].sum() >= 2 and not np.array_equal(best, free_best)
    ok = X[:, g].sum(axis=1) >= 2
    np.testing.assert_allclose(e[ok], p.energies(X[ok]), rtol=1e-12)  # satisfied states keep their energy
    assert best.tolist() == X[ok][np.argmin(p.energies(X[ok]))].tolist()
    # decoding reports the broken constraint by label, as pyqubo's decode_sample does
    assert broken_extra_constraints(merged, free_best) == ["g_at_least_2"]
    assert broken_extra_constraints(merged, best) == []


def test_first_class_at_least_constraint_changes_the_feasible_optimum():
    p = discouraged_group()
    X = all_states(8)
    merged = add_terms(p, lambda x: (None, [at_least(x.group("g"), 2, "g_at_least_2")]))
    (con,) = merged.constraints
    assert isinstance(con, ir.Constraint) and con.kind == "cardinality" and con.indices.tolist() == [0, 1, 2]
    np.testing.assert_allclose(merged.energies(X), p.energies(X))  # a constraint adds no energy
    feasible = merged.feasible(X)
    best = X[feasible][np.argmin(merged.energies(X[feasible]))]
    assert best[:3].sum() >= 2 and not np.array_equal(best, X[np.argmin(p.energies(X))])


def test_recorded_pyqubo_constraints_match_pyqubo_decode():
    p = small_problem(8, seed=4)
    holder = {}

    def build(x):
        a, b, c, d = (x[f"fc1.n{i}"] for i in range(4))
        one_hot = Constraint((a + b + c - 1) ** 2, label="one_hot")
        pair = Constraint(a * d, label="not_both")  # only a quadratic term, no linear one
        weighted = Constraint(Placeholder("w") * (0.1 * b + 0.2 * c - 0.3 * d) ** 2, label="balance")
        expr = 3.0 * one_hot + 2.0 * pair + weighted + 0.5 * x["fc1.n7"]
        holder["model"] = expr.compile()
        return expr

    merged = add_terms(p, build, {"w": 1.5})
    recorded = merged.metadata["extra_constraints"]
    assert sorted(recorded) == ["balance", "not_both", "one_hot"]
    assert recorded["not_both"] == {"condition": "energy == 0", "offset": 0.0, "linear": {},
                                    "quadratic": [["fc1.n0", "fc1.n3", 1.0]]}
    model = holder["model"]
    X = np.random.default_rng(5).integers(0, 2, size=(40, 8))
    energies = extra_constraint_energies(merged, X)
    for k, x in enumerate(X):
        dec = model.decode_sample({v: int(x[merged.index(v)]) for v in model.variables}, vartype="BINARY",
                                  feed_dict={"w": 1.5})
        for lab, (_, e) in dec.constraints().items():
            assert energies[lab][k] == pytest.approx(e, abs=1e-12)
        assert broken_extra_constraints(merged, x) == sorted(dec.constraints(only_broken=True))


def test_custom_pyqubo_condition_is_refused():
    p = small_problem(4)
    with pytest.raises(ir.QselError, match=r"pyqubo constraint 'loose' uses a custom condition"):
        add_terms(p, lambda x: Constraint(x["fc1.n0"] + x["fc1.n1"], label="loose", condition=lambda e: e <= 1))


def test_placeholders_missing_unused_and_conflicting():
    p = small_problem(4)

    def build(x):
        return Placeholder("lam") * x["fc1.n0"] * x["fc1.n1"]

    with pytest.raises(ir.QselError, match=r"placeholder 'lam' has no value"):
        add_terms(p, build)
    with pytest.raises(ir.QselError, match=r"parameter 'lamb' is not a placeholder of the extra terms "
                                           r"\(placeholders used: lam\)"):
        add_terms(p, build, {"lam": 1.0, "lamb": 2.0})
    with pytest.raises(ir.QselError, match=r"parameter 'lam': value must be finite"):
        add_terms(p, build, {"lam": float("inf")})
    once = add_terms(p, build, {"lam": 1.0})
    twice = add_terms(once, build, {"lam": 1.0})
    assert twice.metadata["parameters"] == {"lam": 1.0} and len(twice.metadata["extra_terms"]) == 2
    with pytest.raises(ir.QselError, match=r"parameter 'lam' is already recorded with value 1.0"):
        add_terms(once, build, {"lam": 3.0})


def test_unknown_labels_are_named():
    p = small_problem(4)
    with pytest.raises(ir.QselError, match=r"unknown variable 'fc1.n17': not a label of the problem; did you mean"):
        add_terms(p, lambda x: x["fc1.n17"])
    with pytest.raises(ir.QselError, match=r"unknown variable 'stranger'"):
        add_terms(p, lambda x: x["fc1.n0"] + Binary("stranger"))
    with pytest.raises(ir.QselError, match=r"degree > 2"):
        add_terms(p, lambda x: x["fc1.n0"] * x["fc1.n1"] * x["fc1.n2"])
    with pytest.raises(ir.QselError, match=r"no group 'nope' in the problem \(its groups: g, h\)"):
        add_terms(p, lambda x: sum(x[lab] for lab in x.group("nope")))
    with pytest.raises(ir.QselError, match=r"constraint 'c': unknown variable 'zz'"):
        add_terms(p, lambda x: (None, [at_most(["fc1.n0", "zz"], 1, "c")]))


def test_cardinality_helpers_and_their_errors():
    p = small_problem(6)
    cons = [at_least(["fc1.n0", "fc1.n1"], 1, "a"), at_most(["fc1.n2", "fc1.n3", "fc1.n4"], 1, "b"),
            exactly(["fc1.n5", "fc1.n0"], 2, "c")]
    assert all(isinstance(c, ir.Constraint) and isinstance(c, LabelledConstraint) for c in cons)
    merged = add_terms(p, lambda x: (x["fc1.n0"] * 0.0, cons))
    assert [(c.label, c.sense.value, c.rhs, c.indices.tolist()) for c in merged.constraints] == [
        ("a", ">=", 1.0, [0, 1]), ("b", "<=", 1.0, [2, 3, 4]), ("c", "==", 2.0, [5, 0])]
    x = np.array([1, 0, 1, 1, 0, 1])
    assert merged.broken_constraints(x) == ["b"]
    with pytest.raises(ir.QselError, match=r"constraint 'c' already exists"):
        add_terms(merged, lambda x: (None, [exactly(["fc1.n1"], 1, "c")]))
    with pytest.raises(ir.QselError, match=r"'d' can never hold: >= 3 of 2 variables"):
        at_least(["fc1.n0", "fc1.n1"], 3, "d")
    with pytest.raises(ir.QselError, match=r"variable 'fc1.n0' is listed twice"):
        exactly(["fc1.n0", "fc1.n0"], 1, "e")
    with pytest.raises(ir.QselError, match=r"the count must be an integer"):
        at_most(["fc1.n0"], 0.5, "f")


def test_constants_none_and_bad_returns():
    p = small_problem(4)
    X = all_states(4)
    np.testing.assert_allclose(add_terms(p, lambda x: 2.5).energies(X), p.energies(X) + 2.5)
    np.testing.assert_allclose(add_terms(p, lambda x: None).energies(X), p.energies(X))
    with pytest.raises(ir.QselError, match=r"returned str; expected a pyqubo expression"):
        add_terms(p, lambda x: "x0 + x1")
    with pytest.raises(ir.QselError, match=r"tuple of 3 items"):
        add_terms(p, lambda x: (None, [], 1))
    with pytest.raises(ir.QselError, match=r"expected qsel constraints"):
        add_terms(p, lambda x: (None, ["keep 2"]))


def test_term_variables_mapping_protocol():
    p = small_problem(5)
    x = TermVariables(p)
    assert list(x) == p.labels and len(x) == 5 and x.get("missing") is None
    assert x.group("g") == ["fc1.n0", "fc1.n1", "fc1.n2"] and x.layer("fc1") == p.labels
    assert isinstance(x["fc1.n3"], pyqubo.Binary) and x["fc1.n3"] is x["fc1.n3"] and x.used == ["fc1.n3"]


# ---------------------------------------------------------------------- terms files
def write(tmp_path, name: str, body: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_terms_file_runs_with_x_and_problem(tmp_path):
    path = write(tmp_path, "terms.py", """\
        from pyqubo import Constraint, Placeholder
        from qsel.extra_terms import at_least

        def terms(x, problem):
            g = x.group("g")
            k = sum(x[lab] for lab in g)
            assert problem.num_vars == 6
            return Placeholder("P") * Constraint((k - 2) * (k - 3), label="g2"), [at_least(g, 1, "g1")]
        """)
    build = load_terms_file(path)
    merged = add_terms(small_problem(6), build, {"P": 4.0}, source=path.name)
    assert [c.label for c in merged.constraints] == ["g1"] and list(merged.metadata["extra_constraints"]) == ["g2"]
    assert merged.metadata["extra_terms"][0]["source"] == "terms.py"


@pytest.mark.parametrize("body, pattern", [
    ("def other(x, problem):\n    return None\n", r"terms\.py: defines no function 'terms\(x, problem\)'"),
    ("terms = 3\n", r"terms\.py: 'terms' is a int"),
    ("def terms(x, problem)\n    return None\n", r"terms\.py:1: syntax error"),
    ("import math\nraise RuntimeError('boom at load')\n", r"terms\.py:2: error while loading: RuntimeError: boom at load"),
    ("def terms(x, problem):\n    y = 1\n    return 1 / 0\n", r"terms\.py:3: error in terms\(\): ZeroDivisionError"),
    ("def terms(x, problem):\n    return x['fc1.n99']\n",
     r"terms\.py:2: error in terms\(\): unknown variable 'fc1.n99'"),
    ("def terms(x, problem):\n    a, b = x['fc1.n0'], x['fc1.n1']\n    return a * b + (a + b)\n",
     r"terms\.py:3: error in terms\(\): TypeError: .*write the sum first"),
])
def test_terms_file_errors_name_the_file_and_line(tmp_path, body, pattern):
    path = write(tmp_path, "terms.py", body)
    with pytest.raises(ir.QselError, match=pattern):
        add_terms(small_problem(4), load_terms_file(path))


def test_missing_terms_file(tmp_path):
    with pytest.raises(ir.QselError, match=r"absent\.py: no such file"):
        load_terms_file(tmp_path / "absent.py")


def test_constraints_over_too_many_variables_are_listed_but_not_recorded():
    p = ir.Problem(ir.Variables.from_labels(["a", "b", "c"]), np.zeros(3))
    merged = add_terms(p, lambda x: Constraint((x["a"] + x["b"] + x["c"] - 1) ** 2, label="oh"), record_limit=2)
    assert merged.metadata["extra_constraints"]["oh"]["terms"] is None
    assert "limit 2" in merged.metadata["extra_constraints"]["oh"]["note"]
    assert broken_extra_constraints(merged, np.array([1, 1, 0])) == []  # unknown, so not reported
    np.testing.assert_allclose(merged.energies(all_states(3)), (all_states(3).sum(axis=1) - 1) ** 2)
