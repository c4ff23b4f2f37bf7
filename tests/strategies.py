"""Hypothesis strategies: random but valid IR problems, including awkward labels and values."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from qsel import ir

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False, width=64)
# Awkward but exactly representable values: -0.0, subnormals, many digits.
awkward = st.one_of(finite, st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 0.1, 1 / 3, 123456789.123456789]))

bare_label = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,6}", fullmatch=True)
# Printable in Python's sense (str.isprintable): no control, format, private, unassigned or
# separator characters except the plain space.
printable = st.one_of(st.just(" "), st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")))
quoted_label = st.text(alphabet=printable, min_size=1, max_size=6)
label = st.one_of(bare_label, bare_label, quoted_label)
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), finite, st.text(max_size=5)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=4), children, max_size=3)),
    max_leaves=6,
)


@st.composite
def problems(draw, max_vars: int = 10, canonical_only: bool = False) -> ir.Problem:
    """A valid problem. Unless ``canonical_only``, sparse couplings may repeat and point r > c,
    and dense blocks may list their variables out of order (inputs canonicalize must handle)."""
    labels = draw(st.lists(label, min_size=1, max_size=max_vars, unique=True))
    n = len(labels)
    layer_pool = ["fc1", "fc2", "conv 1"]
    layer = draw(st.lists(st.one_of(st.none(), st.sampled_from(layer_pool)), min_size=n, max_size=n))
    group = draw(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b c"])), min_size=n, max_size=n))
    unit = draw(st.lists(st.integers(-1, 5000), min_size=n, max_size=n))
    output = draw(st.lists(st.integers(-1, 50), min_size=n, max_size=n))
    gran = draw(st.lists(st.sampled_from(list(ir.Granularity)), min_size=n, max_size=n))
    variables = ir.Variables.build(labels, layer=layer, unit=unit, output=output, granularity=gran, group=group)
    linear = np.array(draw(st.lists(awkward, min_size=n, max_size=n)))

    dense = []
    for _ in range(draw(st.integers(0, 2))):
        idx = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
        if canonical_only:
            idx = sorted(idx)
        b = len(idx)
        vals = draw(st.lists(awkward, min_size=b * b, max_size=b * b))
        dense.append(ir.DenseBlock(np.array(idx, dtype=np.int64), np.triu(np.array(vals).reshape(b, b), 1)))

    pairs = []
    if n >= 2:
        pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), awkward)
                              .filter(lambda t: t[0] != t[1]), max_size=3 * n))
    sparse = ir.Couplings.from_arrays([p[0] for p in pairs], [p[1] for p in pairs], [p[2] for p in pairs])

    constraints = []
    for k in range(draw(st.integers(0, 2))):
        idx = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
        if draw(st.booleans()):
            con = ir.Constraint.cardinality(f"keep{k}", idx, draw(st.sampled_from(list(ir.Sense))),
                                            draw(st.integers(0, len(idx))))
        else:
            coeffs = draw(st.lists(st.floats(-10, 10, allow_nan=False), min_size=len(idx), max_size=len(idx)))
            con = ir.Constraint(f"lin {k}", np.array(idx), np.array(coeffs), draw(st.sampled_from(list(ir.Sense))),
                                draw(st.floats(-20, 20, allow_nan=False)))
        constraints.append(con)

    perm = draw(st.permutations(range(n)))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    partitions = []
    bounds = [0, *cuts, n]
    for k in range(len(bounds) - 1):
        chunk = perm[bounds[k]:bounds[k + 1]]
        if chunk:
            partitions.append(ir.Partition(f"p{k}", np.array(chunk, dtype=np.int64)))

    metadata = draw(st.dictionaries(st.text(min_size=1, max_size=6), json_value, max_size=3))
    return ir.Problem(variables, linear, draw(awkward), tuple(dense), sparse, tuple(constraints),
                      tuple(partitions), metadata)


def assignments(problem: ir.Problem, count: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=(count, problem.num_vars)).astype(np.float64)


def scale_of(problem: ir.Problem) -> float:
    """Sum of absolute coefficients: the natural yardstick for rounding differences in energies."""
    return (abs(problem.offset) + float(np.abs(problem.linear).sum())
            + sum(float(np.abs(b.matrix).sum()) for b in problem.dense) + float(np.abs(problem.sparse.vals).sum()))


def assert_swap_optimal(problem: ir.Problem, X: np.ndarray, tol: float) -> None:
    """No single exchange of a kept unit (x_i = 1) for a dropped one (x_j = 0) lowers any row's energy."""
    for x in np.atleast_2d(X):
        on, off = np.flatnonzero(x == 1), np.flatnonzero(x == 0)
        e = problem.energy(x)
        for i in on:
            for j in off:
                y = x.copy()
                y[i], y[j] = 0, 1
                assert problem.energy(y) >= e - tol, (i, j)
