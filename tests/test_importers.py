"""qsel.importers: .bqm / .qubo / .lp files into the IR, energies checked against dimod and by hand."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dimod
import numpy as np
import pytest

from qsel import ir
from qsel.importers import import_problem, label_strings, problem_from_coo, spin_to_binary
from qsel.targets.convert import to_bqm, to_cqm

QBSOLV_EXAMPLE = """\
c
c  This is a sample .qubo file
c  with 4 nodes and 6 couplers
c
p  qubo  0  4  4  6
c ------------------
0  0   3.4
1  1   4.5
2  2   2.1
3  3   -2.4
c ------------------
0  1   2.2
0  2   3.4
1  2   4.5
0  3   -2
1  3   4.5678
2  3   -3.22
"""


def random_assignments(n: int, k: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=(k, n))


def normal(seed: int):
    """A bias generator for dimod.generators: size -> standard normal draws."""
    rng = np.random.default_rng(seed)
    return lambda size: rng.normal(size=size)


def write_bqm(bqm: dimod.BinaryQuadraticModel, path: Path) -> Path:
    path.write_bytes(bqm.to_file().read())
    return path


def write_qubo(problem: ir.Problem, path: Path) -> Path:
    """Test-only writer: an IR over labels x0..x{n-1} as a qbsolv file (nodes first, couplers i < j)."""
    from qsel.targets.convert import coo

    r, c, v = coo(problem)
    lines = ["c written by the qsel tests", f"p qubo 0 {problem.num_vars} {problem.num_vars} {len(v)}"]
    lines += [f"{i} {i} {h!r}" for i, h in enumerate(problem.linear.tolist())]
    lines += [f"{i} {j} {b!r}" for i, j, b in zip(r.tolist(), c.tolist(), v.tolist())]
    path.write_text("\n".join(lines) + "\n")
    return path


def random_problem(n: int, density: float, seed: int, offset: float = 0.0) -> ir.Problem:
    rng = np.random.default_rng(seed)
    U = np.triu(rng.normal(size=(n, n)), 1) * (rng.random((n, n)) < density)
    r, c = np.nonzero(U)
    return problem_from_coo([f"x{i}" for i in range(n)], rng.normal(size=n), r, c, U[r, c], offset)


# ---------------------------------------------------------------------- .bqm
def test_binary_bqm_energies_labels_and_source(tmp_path):
    rng = np.random.default_rng(1)
    n = 30
    bqm = dimod.generators.gnp_random_bqm(n, 0.1, "BINARY", random_state=3)
    bqm.offset = 1.25
    bqm.relabel_variables({i: f"v{i}" for i in range(n)})
    path = write_bqm(bqm, tmp_path / "m.bqm")
    p = import_problem(path)
    assert p.labels == [f"v{i}" for i in range(n)]
    assert not p.dense and len(p.sparse) == bqm.num_interactions  # 10 % of the pairs: sparse COO
    X = rng.integers(0, 2, size=(100, n))
    np.testing.assert_allclose(p.energies(X), bqm.energies((X, p.labels)), rtol=1e-12, atol=1e-12)
    src = p.metadata["source"]
    assert src == {"format": "bqm", "path": "m.bqm", "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                   "vartype": "BINARY"}


def test_spin_bqm_is_converted_exactly_and_dense_when_dense(tmp_path):
    n = 12
    bqm = dimod.generators.gnp_random_bqm(n, 0.9, "SPIN", random_state=7, bias_generator=normal(2))
    bqm.offset = -3.5
    p = import_problem(write_bqm(bqm, tmp_path / "spin.bqm"))
    assert len(p.dense) == 1 and len(p.sparse) == 0
    assert p.metadata["source"]["vartype"] == "SPIN"
    X = random_assignments(n, 200)
    # s = 2x - 1 maps the binary sample onto the spin sample dimod evaluates.
    np.testing.assert_allclose(p.energies(X), bqm.energies((2 * X - 1, list(bqm.variables))), rtol=1e-12, atol=1e-11)
    # Every one of the 2^n states agrees on a smaller model, offset included.
    small = dimod.generators.gnp_random_bqm(6, 0.5, "SPIN", random_state=1, bias_generator=normal(3))
    small.offset = 0.75
    q = import_problem(write_bqm(small, tmp_path / "small.bqm"))
    allx = (np.arange(64)[:, None] >> np.arange(6)) & 1
    np.testing.assert_allclose(q.energies(allx), small.energies((2 * allx - 1, list(small.variables))), atol=1e-12)


def test_spin_to_binary_matches_dimod_change_vartype():
    bqm = dimod.generators.gnp_random_bqm(9, 0.6, "SPIN", random_state=4, bias_generator=normal(5))
    bqm.offset = 2.0
    order = list(bqm.variables)
    v = bqm.to_numpy_vectors(variable_order=order)
    a, b, c = spin_to_binary(v.linear_biases, v.quadratic.row_indices, v.quadratic.col_indices,
                             v.quadratic.biases, v.offset)
    ref = bqm.change_vartype("BINARY", inplace=False)
    np.testing.assert_allclose(a, [ref.get_linear(u) for u in order], atol=1e-12)
    np.testing.assert_allclose(b, [ref.get_quadratic(order[i], order[j]) for i, j in
                                   zip(v.quadratic.row_indices, v.quadratic.col_indices)], atol=1e-12)
    assert c == pytest.approx(ref.offset, abs=1e-12)


def test_non_string_labels_map_to_unique_strings_deterministically(tmp_path):
    labels = [0, "0", (0, 1), ("a", (1, 2)), "x\ty", "", 1.5, "plain", 7]
    bqm = dimod.BinaryQuadraticModel({lab: float(k) for k, lab in enumerate(labels)}, {(0, "0"): 1.5}, 0.0, "BINARY")
    path = write_bqm(bqm, tmp_path / "mixed.bqm")
    p = import_problem(path)
    assert p.labels == ["0#1", "0", "(0, 1)", "('a', (1, 2))", '"x\\ty"', '""', "1.5", "plain", "7"]
    assert p.metadata["source"]["renamed_labels"] == {"0#1": "0"}
    assert import_problem(path).labels == p.labels  # deterministic
    X = random_assignments(len(labels))
    np.testing.assert_allclose(p.energies(X), bqm.energies((X, labels)))
    again, renamed = label_strings(["a", "a#1", 5, "5"])
    assert again == ["a", "a#1", "5#1", "5"] and renamed == {"5#1": "5"}


def test_bad_bqm_files_name_the_file(tmp_path):
    (tmp_path / "junk.bqm").write_bytes(b"not a dimod file at all")
    with pytest.raises(ir.QselError, match=r"junk\.bqm: not a readable dimod BQM file"):
        import_problem(tmp_path / "junk.bqm")
    good = dimod.generators.gnp_random_bqm(20, 0.5, "BINARY", random_state=1).to_file().read()
    (tmp_path / "cut.bqm").write_bytes(good[: len(good) // 2])
    with pytest.raises(ir.QselError, match=r"cut\.bqm: not a readable dimod BQM file"):
        import_problem(tmp_path / "cut.bqm")


def test_dense_threshold_picks_the_storage_but_not_the_energies():
    from qsel.targets.convert import coo

    p = random_problem(10, 0.7, seed=2)
    r, c, v = coo(p)
    dense = problem_from_coo(p.labels, p.linear, r, c, v, 0.5, dense_threshold=0.5)
    sparse = problem_from_coo(p.labels, p.linear, r, c, v, 0.5, dense_threshold=1.01)
    assert len(dense.dense) == 1 and len(sparse.dense) == 0
    # diagonal terms fold into the linear biases, reversed pairs are stored upper
    folded = problem_from_coo(["a", "b"], [1.0, 2.0], [0, 1, 1], [0, 0, 1], [0.5, 3.0, -1.0], 0.0)
    assert folded.linear.tolist() == [1.5, 1.0] and folded.dense[0].matrix[0, 1] == 3.0
    X = random_assignments(10)
    np.testing.assert_allclose(dense.energies(X), sparse.energies(X), rtol=1e-12)


# ---------------------------------------------------------------------- .qubo
def test_qbsolv_readme_example(tmp_path):
    path = tmp_path / "example.qubo"
    path.write_text(QBSOLV_EXAMPLE)
    p = import_problem(path)
    assert p.labels == ["x0", "x1", "x2", "x3"]
    Q = {(0, 0): 3.4, (1, 1): 4.5, (2, 2): 2.1, (3, 3): -2.4, (0, 1): 2.2, (0, 2): 3.4, (1, 2): 4.5, (0, 3): -2.0,
         (1, 3): 4.5678, (2, 3): -3.22}
    allx = (np.arange(16)[:, None] >> np.arange(4)) & 1
    expected = [sum(q * x[i] * x[j] for (i, j), q in Q.items()) for x in allx]
    np.testing.assert_allclose(p.energies(allx), expected, rtol=1e-12)
    assert p.metadata["source"]["format"] == "qubo" and p.metadata["source"]["topology"] == "0"


def test_qubo_node_numbers_need_not_be_contiguous(tmp_path):
    path = tmp_path / "gaps.qubo"
    path.write_text("p qubo 0 100 2 2\n7 7 1.0\n42 42 -2\nC upper-case comment\n\n7 42 0.5\n7 99 3\n")
    p = import_problem(path)
    assert p.labels == ["x7", "x42", "x99"]  # x99 only appears in a coupler: kept, as qbsolv does
    assert p.energy([1, 1, 1]) == pytest.approx(1 - 2 + 0.5 + 3)


BAD_QUBO = [
    # (body, line, column, message fragment)
    ("0 0 1\np qubo 0 2 1 0\n", 1, 1, "expected the program line"),
    ("p qubo 0 2 x 0\n", 1, 12, "NNODES must be a non-negative integer, found 'x'"),
    ("p qubo 0 2 1\n", 1, 13, "needs 6 fields"),
    ("p qubx 0 2 1 0\n", 1, 3, "expected file type 'qubo'"),
    ("p qubo 0 2 3 0\n", 1, 12, "NNODES (3) exceeds MAXNODES (2)"),
    ("p qubo 0 2 1 0\n0 0 1\np qubo 0 2 1 0\n", 3, 1, "a second program line (the first is on line 1)"),
    ("p qubo 0 2 2 0\n0 0 1\n1 1 abc\n", 3, 5, "value must be a number, found 'abc'"),
    ("p qubo 0 2 2 0\n0 0 1\n1 1 nan\n", 3, 5, "value must be finite"),
    ("p qubo 0 2 1 0\n0.5 0 1\n", 2, 1, "node number must be an integer, found '0.5'"),
    ("p qubo 0 2 2 0\n0 0 1\n2 2 1\n", 3, 1, "node number 2 out of range 0..1"),
    ("p qubo 0 3 2 1\n0 0 1\n  1   2 1\n", 3, 3, "coupler before the nodes"),
    ("p qubo 0 3 1 0\n  0   5 1\n", 2, 7, "node number 5 out of range 0..2 (MAXNODES = 3 on line 1)"),
    ("p qubo 0 3 2 1\n0 0 1\n0 1 1\n", 3, 1, "coupler before the nodes section is complete"),
    ("p qubo 0 3 1 1\n0 0 1\n0 1 1\n1 1 2\n", 4, 1, "node line after coupler lines (first coupler on line 3)"),
    ("p qubo 0 3 1 1\n0 0 1\n1 0 1\n", 3, 1, "must list the smaller node first"),
    ("p qubo 0 3 1 0\n0 0 1\n1 1 1\n", 3, 1, "more node lines than the 1 declared"),
    ("p qubo 0 3 1 1\n0 0 1\n0 1 1\n0 2 1\n", 4, 1, "more coupler lines than the 1 declared"),
    ("p qubo 0 3 2 0\n0 0 1\n", 1, 12, "declares 2 node lines but the file has 1"),
    ("c header\np qubo 0 3 1 2\n0 0 1\n0 1 1\n", 2, 14, "declares 2 coupler lines but the file has 1"),
    ("p qubo 0 3 2 0\n0 0 1\n0 0 2\n", 3, 1, "node 0 is listed twice (first on line 2)"),
    ("p qubo 0 3 1 2\n0 0 1\n0 1 1\n0 1 2\n", 4, 1, "coupler '0 1' is listed twice (first on line 3)"),
    ("p qubo 0 3 1 0\n0 0 1 7\n", 2, 7, "expected 'i j value' (3 fields), found 4"),
    ("c only comments\n", 1, 1, "no program line"),
]


@pytest.mark.parametrize("body, line, column, fragment", BAD_QUBO)
def test_qubo_errors_name_file_line_and_column(tmp_path, body, line, column, fragment):
    path = tmp_path / "bad.qubo"
    path.write_text(body)
    with pytest.raises(ir.ParseError) as info:
        import_problem(path)
    err = info.value
    assert (err.source, err.line, err.column) == (str(path), line, column), str(err)
    assert fragment in err.message
    assert str(err).startswith(f"{path}:{line}:{column}: ")


def test_qubo_that_is_not_text(tmp_path):
    (tmp_path / "bin.qubo").write_bytes(b"p qubo 0 1 1 0\n0 0 \xff\n")
    with pytest.raises(ir.FormatError, match=r"bin\.qubo: not a text file"):
        import_problem(tmp_path / "bin.qubo")


# ---------------------------------------------------------------------- .lp
LP = """\
\\ a small selection problem
Minimize
 obj: x + 2 y - z + [ 4 x * y - 2 y * z + 2 x ^ 2 ]/2 + 3
Subject To
 pick2: x + y + z + w >= 2
 x + y <= 1
 mix: 2 x - y + 0.5 w + 1 = 1
Bounds
 w = 1
General
 w
Binary
 x y z
End
"""


def test_lp_objective_follows_the_half_bracket_convention(tmp_path):
    path = tmp_path / "sel.lp"
    path.write_text(LP)
    p = import_problem(path)
    assert p.labels == ["x", "y", "z", "w"]
    # [ 4 x y - 2 y z + 2 x^2 ]/2 = 2 x y - y z + x (x^2 = x for binary x)
    for x, y, z, w in (np.arange(16)[:, None] >> np.arange(4)) & 1:
        expected = x + 2 * y - z + 2 * x * y - y * z + x + 3
        assert p.energy([x, y, z, w]) == pytest.approx(expected)
    cqm = dimod.lp.load(str(path))
    X = random_assignments(4, 50)
    np.testing.assert_allclose(p.energies(X), cqm.objective.energies((X, p.labels)), rtol=1e-12)
    assert p.metadata["source"]["objective"] == "minimize"
    assert p.metadata["source"]["integer_as_binary"] == ["w"]


def test_lp_constraints_become_first_class(tmp_path):
    path = tmp_path / "sel.lp"
    path.write_text(LP)
    p = import_problem(path)
    cons = {c.label: c for c in p.constraints}
    assert list(cons) == ["pick2", "c2", "mix", "bound.w"]  # unnamed row 2 -> c2 (1-based, like CPLEX)
    assert cons["pick2"].kind == "cardinality" and cons["pick2"].sense is ir.Sense.GE and cons["pick2"].rhs == 2
    assert cons["c2"].kind == "cardinality" and cons["c2"].sense is ir.Sense.LE
    assert cons["mix"].kind == "linear" and cons["mix"].rhs == 0.0  # the lhs constant 1 moved to the right
    assert cons["mix"].coeffs.tolist() == [2.0, -1.0, 0.5]
    assert cons["bound.w"].sense is ir.Sense.EQ and cons["bound.w"].rhs == 1.0
    cqm = dimod.lp.load(str(path))
    allx = (np.arange(16)[:, None] >> np.arange(4)) & 1
    for x in allx:
        sample = dict(zip(p.labels, x.tolist()))
        expected = cqm.check_feasible(sample) and x[3] == 1
        assert bool(p.feasible(x[None, :])[0]) == expected


def test_lp_round_trip_of_an_ir_problem_through_dimod_writer(tmp_path):
    p = random_problem(8, 0.5, seed=3, offset=-1.5)
    p = p.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(8), "==", 3),
                               ir.Constraint("budget", np.array([0, 2, 5]), np.array([1.5, -2.0, 0.25]), ir.Sense.LE, 1.0)))
    path = tmp_path / "p.lp"
    path.write_text(dimod.lp.dumps(to_cqm(p)))
    q = import_problem(path)
    perm = [q.labels.index(lab) for lab in p.labels]
    X = random_assignments(8, 100)
    Xq = np.zeros_like(X)
    Xq[:, perm] = X
    np.testing.assert_allclose(q.energies(Xq), p.energies(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(q.feasible(Xq), p.feasible(X))
    assert {c.label: c.kind for c in q.constraints} == {"keep": "cardinality", "budget": "linear"}


def test_lp_maximize_is_negated(tmp_path):
    path = tmp_path / "max.lp"
    path.write_text("Maximize\n obj: 3 a - b + [ 2 a * b ]/2\nBinary\n a b\nEnd\n")
    p = import_problem(path)
    assert p.metadata["source"]["objective"] == "maximize (negated)"
    assert p.energy([1, 1]) == pytest.approx(-(3 - 1 + 1))


@pytest.mark.parametrize("body, fragment", [
    ("Minimize\n obj: x + w\nBounds\n 0 <= w <= 1\nBinary\n x\nEnd\n",
     r"variable 'w' is continuous with bounds \[0, 1\]"),
    ("Minimize\n obj: x + n\nBounds\n 0 <= n <= 3\nGeneral\n n\nBinary\n x\nEnd\n",
     r"variable 'n' is general integer with bounds \[0, 3\]"),
    ("Minimize\n obj: x + y\nSubject To\n quad: [ x * y ] <= 1\nBinary\n x y\nEnd\n",
     r"constraint 'quad' is quadratic \(it has the term x \* y\)"),
    ("Minimize\n obj: [ 4 x * y ]\nBinary\n x y\nEnd\n", r"not a readable LP file.*\[ \.\.\. \]/2"),
    ("Minimize\n obj: x\nSubject To\n c: x >= 0\n c: x <= 1\nBinary\n x\nEnd\n", r"not a readable LP file"),
])
def test_lp_errors_name_the_file_and_the_culprit(tmp_path, body, fragment):
    path = tmp_path / "bad.lp"
    path.write_text(body)
    with pytest.raises(ir.QselError, match=rf"bad\.lp: .*{fragment}"):
        import_problem(path)


# ---------------------------------------------------------------------- across formats
def test_the_same_problem_in_every_format_has_the_same_energies(tmp_path):
    p = random_problem(16, 0.3, seed=11, offset=0.0)
    files = {
        "bqm": write_bqm(to_bqm(p), tmp_path / "p.bqm"),
        "qubo": write_qubo(p, tmp_path / "p.qubo"),
        "lp": tmp_path / "p.lp",
    }
    files["lp"].write_text(dimod.lp.dumps(to_cqm(p)))
    X = random_assignments(16, 200, seed=5)
    for fmt, path in files.items():
        q = import_problem(path)
        assert q.metadata["source"]["format"] == fmt
        perm = [q.labels.index(lab) for lab in p.labels]
        Xq = np.zeros_like(X)
        Xq[:, perm] = X
        np.testing.assert_allclose(q.energies(Xq), p.energies(X), rtol=1e-12, atol=1e-12, err_msg=fmt)


def test_unknown_suffix_and_missing_files(tmp_path):
    with pytest.raises(ir.QselError, match=r"m\.txt: cannot import files of type '\.txt' \(supported: \.bqm, \.lp, \.qubo\)"):
        import_problem(tmp_path / "m.txt")
    with pytest.raises(ir.QselError, match=r"gone\.qubo: no such file"):
        import_problem(tmp_path / "gone.qubo")
    (tmp_path / "dir.bqm").mkdir()
    with pytest.raises(ir.QselError, match=r"dir\.bqm: is a folder"):
        import_problem(tmp_path / "dir.bqm")
