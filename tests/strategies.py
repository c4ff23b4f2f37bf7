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


# ---------------------------------------------------------------------- hostile inputs
# Mutation-based fuzzing: start from a file qsel itself wrote, then damage it the way disks, networks,
# hand edits and attackers do. Every mutated input must either load or raise QselError.
AWKWARD_NUMBERS = ["0", "-0", "-1", "1e309", "-1e309", "nan", "inf", "1e-320", "18446744073709551616",
                   "9223372036854775807", "-9223372036854775808", "4294967296", "1.5", "0x10", "1_000", "", "--1"]
AWKWARD_JSON = [None, True, -1, 0, 1.5, 2**63, 2**64 - 1, 2**70, -(2**63), 1e308, "", "x", "../../etc/passwd",
                "/dev/zero", "|O", "<U8", [], [1], [2**40, 2**40], {}, {"a": 1}, "\u202e\u0000"]


@st.composite
def mutated_bytes(draw, seed: bytes, max_ops: int = 4) -> bytes:
    """``seed`` after 1..max_ops byte-level edits: flip a bit, overwrite, insert, delete, truncate, repeat a slice."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "repeat"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0, 0xFF, 0x7F, 0x80, ord("\n"), ord('"'), ord("-"), ord("9")]))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[pos:]
        elif op == "repeat" and data:
            data[pos:pos] = data[pos:pos + draw(st.integers(1, 64))]
    return bytes(data)


@st.composite
def mutated_lines(draw, seed: str, max_ops: int = 3) -> bytes:
    """``seed`` (a text file) after 1..max_ops line or token edits: a number made awkward, a token dropped or
    doubled, a line deleted, duplicated, swapped or cut."""
    lines = seed.split("\n")
    for _ in range(draw(st.integers(1, max_ops))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["number", "token", "drop_token", "dup_token", "del", "dup", "swap", "cut"]))
        tokens = lines[i].split(" ")
        if op == "number":
            spots = [k for k, t in enumerate(tokens) if t[:1].isdigit() or t[:1] in "-."]
            if spots:
                tokens[draw(st.sampled_from(spots))] = draw(st.sampled_from(AWKWARD_NUMBERS))
            lines[i] = " ".join(tokens)
        elif op == "token" and tokens:
            tokens[draw(st.integers(0, len(tokens) - 1))] = draw(st.sampled_from(
                ["", "x", "\"", "{", "}", "[", "]", "=", ":", "#", "var", "p", "qubo", "Binary", "End", "<=", "\t"]))
            lines[i] = " ".join(tokens)
        elif op == "drop_token" and tokens:
            del tokens[draw(st.integers(0, len(tokens) - 1))]
            lines[i] = " ".join(tokens)
        elif op == "dup_token" and tokens:
            k = draw(st.integers(0, len(tokens) - 1))
            tokens.insert(k, tokens[k])
            lines[i] = " ".join(tokens)
        elif op == "del":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "cut":
            lines[i] = lines[i][:draw(st.integers(0, len(lines[i])))]
    return "\n".join(lines).encode("utf-8")


def _json_paths(doc, prefix=()) -> list[tuple]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _json_paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for k, v in enumerate(doc[:8]):
            out += _json_paths(v, prefix + (k,))
    return out


@st.composite
def mutated_json(draw, seed, max_ops: int = 3):
    """A deep copy of the JSON document ``seed`` with 1..max_ops fields replaced by awkward values
    (wrong types, huge or negative numbers, paths that leave the folder) or deleted, or lists emptied."""
    import copy

    doc = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, max_ops))):
        paths = [p for p in _json_paths(doc) if p]
        if not paths:
            return copy.deepcopy(draw(st.sampled_from(AWKWARD_JSON)))
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if draw(st.integers(0, 4)) == 0:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(AWKWARD_JSON)))  # never edit the shared value
    return doc


class Tally:
    """How many hostile inputs the suite tried and how each ended, per reader (printed by bench/fuzz_report.py)."""

    counts: dict[str, dict[str, int]] = {}

    @classmethod
    def add(cls, reader: str, outcome: str) -> None:
        row = cls.counts.setdefault(reader, {"tried": 0, "loaded": 0, "refused": 0, "other": 0, "crash": 0})
        row["tried"] += 1
        row[outcome] += 1


def loads_or_refuses(reader: str, load, source: str):
    """Run ``load()`` on one hostile input: it must return or raise QselError whose message names ``source``.

    Any other exception is a reader bug; it is counted, then re-raised so the test fails with its traceback.
    Returns the loaded object or the QselError."""
    from qsel.ir import QselError

    try:
        value = load()
    except QselError as exc:
        Tally.add(reader, "refused")
        first = str(exc).split("\n", 1)[0]
        assert source in first, f"the error does not name {source!r}: {first!r}"
        return exc
    except BaseException:
        Tally.add(reader, "other")
        raise
    Tally.add(reader, "loaded")
    return value


def cli_loads_or_refuses(reader: str, args: list[str], source: str) -> int:
    """Run ``qsel ARGS`` in-process on one hostile input: it must exit 0, or exit 2 printing one
    ``qsel: error: ...`` line that names ``source`` (a parse error may add the offending line and a caret
    below it), with no traceback. Anything else is counted, then fails the test. Returns the exit code."""
    from click.testing import CliRunner

    from qsel.cli import main

    result = CliRunner().invoke(main, args)
    err = result.stderr
    if result.exit_code == 0:
        Tally.add(reader, "loaded")
        return 0
    # warnings ("qsel: warning: ...") may come first; then the one error line, maybe with the offending line
    # and a caret, or a list of verifier findings below it
    lines = err.split("\n")
    at = next((k for k, line in enumerate(lines) if line.startswith("qsel: error: ")), None)
    ok = (result.exit_code == 2 and at is not None and source in lines[at] and "Traceback" not in err
          and err.count("qsel: error:") == 1 and all(line.startswith("qsel: ") for line in lines[:at]))
    if not ok:
        Tally.add(reader, "other")
        import traceback

        tb = "".join(traceback.format_exception(result.exception)) if result.exception else ""
        raise AssertionError(f"qsel {' '.join(args)}: exit {result.exit_code}\n{err}\n{tb}")
    Tally.add(reader, "refused")
    return 2


# metadata keys the passes own: random JSON there is not valid pass input
PASS_RESERVED = ("fixed", "fixed_provenance", "scale", "penalties", "lowered_constraints", "split_constraints")


def pass_problems(**kwargs):
    """problems() without the metadata keys that passes own (random JSON there is not valid input)."""
    return problems(**kwargs).map(
        lambda p: p.replace(metadata={k: v for k, v in p.metadata.items() if k not in PASS_RESERVED}))


def run_pipeline(problem: ir.Problem, pipeline: str) -> ir.Problem:
    """Run a pipeline string with the verifier after every pass."""
    from qsel.passes import PassManager, build

    return PassManager(build(pipeline), verify_each=True).run(problem)


def all_states(n: int) -> np.ndarray:
    """Every 0/1 assignment of n variables, one per row (2^n x n; an independent oracle for small tests)."""
    import itertools

    return np.array(list(itertools.product((0, 1), repeat=n)), dtype=np.float64).reshape(-1, n)


def feasible_minimum(problem: ir.Problem) -> float:
    """The lowest energy of a feasible assignment, by enumerating all of them."""
    X = all_states(problem.num_vars)
    ok = problem.feasible(X) if problem.constraints else np.ones(len(X), bool)
    return float(problem.energies(X[ok]).min())
