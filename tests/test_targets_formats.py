"""Cross-format energies: the IR, dimod BQM / COO / CQM files, qbsolv .qubo and LP (read back with real readers)
give the same energy for random assignments; partitioned emits add up to the IR energy with the cross terms."""

from __future__ import annotations

import itertools
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsel import ir
from qsel.targets.compose import read_block
from qsel.targets.convert import coo, to_bqm, to_cqm
from qsel.targets.dimod_targets import DimodBQMTarget, DimodCQMTarget
from qsel.targets.emit import emit
from qsel.targets.file_targets import LPTarget, QuboTarget, lp_names
from qsel.targets.manifest import Manifest
from strategies import assignments, problems, scale_of


def _tol(problem: ir.Problem) -> float:
    return 1e-9 * scale_of(problem) + 1e-12


def _cross(problem: ir.Problem, manifest: Manifest, X: np.ndarray) -> np.ndarray:
    """Energy of the couplings between blocks, computed from the IR independently of the emitters."""
    owner = np.full(problem.num_vars, -1)
    pos = problem.variables.index
    for b, entry in enumerate(manifest.blocks):
        owner[[pos[lab] for lab in entry.labels]] = b
    r, c, v = coo(problem)
    cut = owner[r] != owner[c]
    return (X[:, r[cut]] * X[:, c[cut]]) @ v[cut]


def _block_sum(problem: ir.Problem, manifest: Manifest, folder: Path, X: np.ndarray) -> np.ndarray:
    pos = problem.variables.index
    total = np.zeros(X.shape[0])
    for entry in manifest.blocks:
        bp = read_block(entry, folder)
        cols = [pos[lab] for lab in entry.labels]
        total += entry.scale * bp.energies(X[:, cols]) + entry.offset
    return total


@pytest.mark.parametrize("target", [DimodBQMTarget(), DimodBQMTarget(format="coo"), QuboTarget()],
                         ids=["bqm", "coo", "qubo"])
@given(problem=problems(max_vars=8))
@settings(max_examples=25)
@pytest.mark.slow
def test_unconstrained_files_add_up_to_the_ir_energy(target, problem):
    problem = problem.replace(constraints=())
    with tempfile.TemporaryDirectory() as tmp:
        out = emit(problem, target, tmp, pipeline="")
        m = Manifest.load(Path(tmp) / "manifest.json")
        assert m.labels and sorted(m.labels) == sorted(problem.labels)
        X = assignments(problem, 32)
        got = _block_sum(problem, m, Path(tmp), X) + _cross(problem, m, X)
        np.testing.assert_allclose(got, problem.energies(X), rtol=0, atol=_tol(problem))
        assert len(m.blocks) == max(len(problem.partitions), 1) + (
            0 < sum(q.size for q in problem.partitions) < problem.num_vars)
        assert out.manifest.cross_terms == int(np.count_nonzero(_cross_mask(problem, m)))


def _cross_mask(problem: ir.Problem, manifest: Manifest) -> np.ndarray:
    owner = np.full(problem.num_vars, -1)
    pos = problem.variables.index
    for b, entry in enumerate(manifest.blocks):
        owner[[pos[lab] for lab in entry.labels]] = b
    r, c, _ = coo(problem)
    return owner[r] != owner[c]


@given(problem=problems(max_vars=8))
@settings(max_examples=25)
def test_bqm_file_is_readable_by_dimod_with_ir_labels(problem):
    problem = problem.replace(constraints=(), partitions=())
    with tempfile.TemporaryDirectory() as tmp:
        emit(problem, DimodBQMTarget(), tmp, pipeline="")
        import dimod

        with open(Path(tmp) / "all.bqm", "rb") as fh:
            bqm = dimod.BinaryQuadraticModel.from_file(fh)
        assert set(bqm.variables) == set(problem.labels)
        X = assignments(problem, 16)
        np.testing.assert_allclose(bqm.energies((X.astype(np.int8), problem.labels)), problem.energies(X),
                                   rtol=0, atol=_tol(problem))


@given(problem=problems(max_vars=8), data=st.data())
@settings(max_examples=25)
def test_coo_text_reads_back_with_dimods_own_coo_reader(problem, data):
    from dimod.serialization import coo as dimod_coo

    problem = problem.replace(constraints=(), partitions=())
    with tempfile.TemporaryDirectory() as tmp:
        emit(problem, DimodBQMTarget(format="coo"), tmp, pipeline="")
        entry = Manifest.load(Path(tmp) / "manifest.json").blocks[0]
        with open(Path(tmp) / entry.file) as fh:
            bqm = dimod_coo.load(fh)
        X = assignments(problem, 16)
        order = [entry.labels.index(lab) for lab in problem.labels]  # IR variable k -> file index
        Xf = np.zeros_like(X)
        Xf[:, order] = X
        e = bqm.energies((Xf.astype(np.int8)[:, sorted(bqm.variables)], sorted(bqm.variables))) + entry.offset
        np.testing.assert_allclose(e, problem.energies(X), rtol=0, atol=_tol(problem))


@pytest.mark.parametrize("target", [DimodCQMTarget(), LPTarget()], ids=["cqm", "lp"])
@given(problem=problems(max_vars=8))
@settings(max_examples=30)
@pytest.mark.slow
def test_constrained_files_keep_objective_and_constraints(target, problem):
    problem = problem.replace(partitions=())
    with tempfile.TemporaryDirectory() as tmp:
        emit(problem, target, tmp, pipeline="")
        m = Manifest.load(Path(tmp) / "manifest.json")
        (entry,) = m.blocks
        bp = read_block(entry, Path(tmp))
        pos = problem.variables.index
        cols = [pos[lab] for lab in entry.labels]
        X = assignments(problem, 32)
        np.testing.assert_allclose(bp.energies(X[:, cols]) + entry.offset, problem.energies(X), rtol=0,
                                   atol=_tol(problem))
        assert sorted(c.label for c in bp.constraints) == sorted(c.label for c in problem.constraints)
        order = [[c.label for c in bp.constraints].index(c.label) for c in problem.constraints]
        np.testing.assert_allclose(bp.violations(X[:, cols])[:, order], problem.violations(X), rtol=0, atol=1e-7)
        assert [c["label"] for c in m.constraints] == [c.label for c in problem.constraints]


def test_lp_file_reads_back_with_qiskit_when_cplex_is_installed(tmp_path):
    pytest.importorskip("cplex", reason="qiskit-optimization's LP reader needs CPLEX (not a qsel dependency)")
    from qiskit_optimization import QuadraticProgram

    problem = _neuron_like(9, seed=3)
    emit(problem, LPTarget(), tmp_path, pipeline="")
    qp = QuadraticProgram()
    qp.read_from_lp_file(str(tmp_path / "all.lp"))
    X = assignments(problem, 16)
    names = [v.name for v in qp.variables]
    cols = [names.index(lab) for lab in problem.labels]
    for x in X:
        v = np.zeros(len(names))
        v[cols] = x
        assert qp.objective.evaluate(v) == pytest.approx(problem.energy(x), abs=1e-9)


def test_lp_uses_ir_labels_when_safe_and_indices_otherwise():
    assert lp_names(["fc1.n0", "fc1.n1"], "x") == ["fc1.n0", "fc1.n1"]
    assert lp_names(["fc1.n0", "odd label"], "x") == ["x0", "x1"]
    assert lp_names(["e1", "a"], "x") == ["x0", "x1"]  # 'e1' reads as an exponent in LP
    assert lp_names(["end", "a"], "x") == ["x0", "x1"]  # keyword


def test_lp_objective_uses_the_bracket_over_two_convention(tmp_path):
    problem = ir.Problem.from_terms(["a", "b"], {"a": 1.0}, {("a", "b"): -3.0}, offset=0.5)
    emit(problem, LPTarget(), tmp_path, pipeline="")
    text = (tmp_path / "all.lp").read_text()
    assert re.search(r"\[ - 6 (a \* b|b \* a) \]/2", text) and "+ 0.5" in text  # dimod.lp.dumps writes 2J
    import dimod

    cqm = dimod.lp.load(str(tmp_path / "all.lp"))
    assert cqm.objective.energy({"a": 1, "b": 1}) == pytest.approx(problem.energy([1, 1]))


def test_lp_keeps_every_double_and_declares_every_variable(tmp_path):
    """Biases read back bit for bit; a variable with no term still appears outside the Binary section
    (SCIP refuses a Binary name it has not seen in the objective, a constraint or Bounds)."""
    import dimod

    vals = [0.1 + 0.2, 1 / 3, 5e-324, 1e-300, 123456789.123456789, -1e12]
    labels = ["a", "b", "c", "d", "g", "f", "idle"]
    problem = ir.Problem.from_terms(labels, dict(zip(labels, vals)), {("a", "b"): 2 / 3, ("c", "f"): -1e-300},
                                    offset=1e-17)
    problem = problem.replace(constraints=(ir.Constraint("cap", np.array([0, 1, 1]), np.array([0.1, 1 / 3, 1 / 3]),
                                                         ir.Sense.LE, 0.7),))
    emit(problem, LPTarget(), tmp_path, pipeline="")
    text = (tmp_path / "all.lp").read_text()
    cqm = dimod.lp.loads(text)
    assert {v: cqm.objective.get_linear(v) for v in labels[:6]} == dict(zip(labels[:6], vals))
    assert cqm.objective.get_quadratic("a", "b") == 2 / 3 and cqm.objective.get_quadratic("c", "f") == -1e-300
    assert cqm.objective.offset == 1e-17 and cqm.constraints["cap"].rhs == 0.7
    assert cqm.constraints["cap"].lhs.linear == {"a": 0.1, "b": 2 / 3}  # a repeated variable's coefficients add
    head, binary = text.split("\nBinary\n")
    assert set(binary.split("\n")[0].split()) == set(labels)
    assert all(re.search(rf"(?<![\w.]){re.escape(v)}(?![\w.])", head) for v in labels)
    assert " 0 <= idle <= 1" in head


def test_lp_all_zero_objective_still_reads_back_through_compose(tmp_path):
    problem = ir.Problem.from_terms(["a", "b"], {}, {}).replace(
        constraints=(ir.Constraint.cardinality("one", [0, 1], ir.Sense.EQ, 1),))
    emit(problem, LPTarget(), tmp_path, pipeline="")
    assert (tmp_path / "all.lp").read_text().count("Minimize\n") == 1
    (entry,) = Manifest.load(tmp_path / "manifest.json").blocks
    bp = read_block(entry, tmp_path)
    X = np.array([[0, 0], [0, 1], [1, 1]])
    assert bp.energies(X).tolist() == [0.0, 0.0, 0.0] and bp.violations(X)[:, 0].tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("quadratic", [True, False], ids=["miqp", "milp"])
def test_lp_run_hint_names_a_solver_that_solves_the_block(tmp_path, quadratic):
    """HiGHS reads our LP but refuses a quadratic objective over binaries; SCIP solves both kinds."""
    problem = ir.Problem.from_terms(["a", "b"], {"a": 1.0}, {("a", "b"): -3.0} if quadratic else {})
    emit(problem, LPTarget(), tmp_path, pipeline="")
    (entry,) = Manifest.load(tmp_path / "manifest.json").blocks
    assert "`scip -f FILE`" in entry.run and "`gurobi_cl FILE`" in entry.run
    assert ("`highs FILE`" in entry.run) is not quadratic


@pytest.mark.parametrize("k", [None, 4], ids=["unconstrained", "keep-4"])
def test_scip_reads_our_lp_and_finds_the_exact_minimum(tmp_path, k):
    """SCIP (the solver the run hint names first) reads the emitted LP, including a variable with no term,
    and its optimum is the IR's minimum by enumeration, at the same assignment's energy."""
    pyscipopt = pytest.importorskip("pyscipopt")
    rng = np.random.default_rng(5)
    A = rng.normal(size=(30, 10))
    A[:, 9] = 0.0  # variable 9 has no term at all: the LP must still declare it
    labels = [f"fc1.n{i}" for i in range(10)]
    problem = ir.Problem.from_qubo_matrix(A.T @ A / 30, variables=ir.Variables.build(labels), offset=1.0)
    problem = problem.replace(linear=problem.linear - np.append(rng.uniform(0, 2, 9), 0.0))
    if k is not None:
        problem = problem.replace(constraints=(ir.Constraint.cardinality("keep.fc1", np.arange(10), "==", k),))
    emit(problem, LPTarget(), tmp_path, pipeline="")
    model = pyscipopt.Model()
    model.hideOutput()
    model.readProblem(str(tmp_path / "all.lp"))
    model.optimize()
    assert model.getStatus() == "optimal"
    names = lp_names(problem.labels, "x")
    values = {v.name: model.getVal(v) for v in model.getVars()}
    x = np.array([round(values[name]) for name in names])
    X = np.array(list(itertools.product([0, 1], repeat=10)))
    E = problem.energies(X)
    if k is not None:
        E = np.where(X.sum(axis=1) == k, E, np.inf)
    assert k is None or x.sum() == k
    assert problem.energy(x) == pytest.approx(E.min(), abs=1e-6 * (1 + abs(E.min())))
    assert model.getObjVal() == pytest.approx(E.min(), abs=1e-6 * (1 + abs(E.min())))


def _neuron_like(n: int, seed: int, k: int | None = None) -> ir.Problem:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(30, n))
    Q = A.T @ A / 30
    labels = [f"fc1.n{i}" for i in range(n)]
    v = ir.Variables.build(labels, layer="fc1", unit=np.arange(n), granularity="neuron")
    p = ir.Problem.from_qubo_matrix(Q, variables=v, offset=1.0)
    p = p.replace(linear=p.linear - rng.uniform(0, 2, n), metadata={"layers": {"fc1": {"units": n}}})
    if k is not None:
        p = p.replace(constraints=(ir.Constraint.cardinality("keep.fc1", np.arange(n), "==", k),))
    return p


@given(seed=st.integers(0, 10_000), n=st.integers(3, 8), data=st.data())
@settings(max_examples=20)
@pytest.mark.slow
def test_penalised_bqm_equals_cqm_objective_plus_penalty(seed, n, data):
    """BQM (after lower-constraints) = CQM objective + P * (integer-form violation)^2, minimised over slack."""
    rng = np.random.default_rng(seed)
    p = _neuron_like(n, seed)
    k = data.draw(st.integers(0, n))
    sense = data.draw(st.sampled_from(["==", "<=", ">="]))
    half = np.arange(n // 2 + 1)
    cons = (ir.Constraint.cardinality("keep.fc1", np.arange(n), sense, k),
            ir.Constraint("budget", half, np.full(half.size, 2.0), ir.Sense.LE, float(2 * (half.size // 2))))
    p = p.replace(constraints=cons)
    with tempfile.TemporaryDirectory() as tmp:
        cqm_out = emit(p, DimodCQMTarget(), Path(tmp) / "cqm", pipeline="canonicalize")
        bqm_out = emit(p, DimodBQMTarget(), Path(tmp) / "bqm")  # default pipeline lowers the constraints
        import dimod

        with open(Path(tmp) / "cqm" / "all.cqm", "rb") as fh:
            cqm = dimod.ConstrainedQuadraticModel.from_file(fh)
        with open(Path(tmp) / "bqm" / "all.bqm", "rb") as fh:
            bqm = dimod.BinaryQuadraticModel.from_file(fh)
    assert cqm_out.manifest.constraints and not bqm_out.manifest.constraints
    records = bqm_out.manifest.lowered_constraints
    assert {r["label"] for r in records} == {"keep.fc1", "budget"}
    slack = [v for v in bqm.variables if v not in set(p.labels)]
    X = rng.integers(0, 2, size=(12, n))
    for x in X:
        sample = dict(zip(p.labels, x.tolist()))
        obj = cqm.objective.energy(sample)
        penalty = 0.0
        for r in records:
            c = cqm.constraints[r["label"]]
            d = (c.lhs.energy(sample) - c.rhs) / r["unit"]
            d = abs(d) if r["sense"] == "==" else (max(d, 0.0) if r["sense"] == "<=" else max(-d, 0.0))
            penalty += r["penalty"] * d * d
        best = min(bqm.energy({**sample, **dict(zip(slack, bits))})
                   for bits in itertools.product((0, 1), repeat=len(slack)))
        assert best == pytest.approx(obj + penalty, rel=1e-9, abs=1e-9)
        assert obj == pytest.approx(p.energy(x), rel=1e-12, abs=1e-12)


def test_emit_writes_manifest_with_provenance_constraints_and_run_hints(tmp_path):
    p = _neuron_like(6, 0, k=2).with_metadata(source={"model": "t"})
    out = emit(p, DimodCQMTarget(), tmp_path / "new" / "dir")
    d = json.loads((tmp_path / "new" / "dir" / "manifest.json").read_text())
    assert d["format"] == "qsel-manifest" and d["target"] == "dimod-cqm"
    assert d["provenance"]["fc1.n3"] == {"layer": "fc1", "unit": 3, "output": -1, "granularity": "neuron"}
    assert d["constraints"][0]["label"] == "keep.fc1" and d["constraints"][0]["rhs"] == 2.0
    assert d["compile"]["source"] == {"model": "t"} and d["extra"]["pipeline"] == "canonicalize"
    assert d["blocks"][0]["run"] and out.files == [tmp_path / "new" / "dir" / "all.cqm"]
    skel = Manifest.load(tmp_path / "new" / "dir" / "manifest.json").skeleton()
    x = np.array([1, 1, 0, 0, 0, 0], float)
    assert skel.labels == p.labels and skel.feasible(x[None])[0]
    assert not skel.feasible(np.ones((1, 6)))[0]


def test_cqm_refuses_a_constraint_spanning_blocks(tmp_path):
    parts = (ir.Partition("a", np.arange(3)), ir.Partition("b", np.arange(3, 6)))
    p = _neuron_like(6, 0, k=2).replace(partitions=parts)
    with pytest.raises(ir.QselError, match="spans several blocks"):
        emit(p, DimodCQMTarget(), tmp_path / "out", pipeline="")
    assert list(tmp_path.iterdir()) == []  # no folder, no staging folder beside it, no lock file


def test_bqm_target_refuses_constraints_without_lowering(tmp_path):
    with pytest.raises(ir.QselError, match="lower-constraints"):
        emit(_neuron_like(5, 0, k=2), DimodBQMTarget(), tmp_path, pipeline="canonicalize")
    assert not (tmp_path / "manifest.json").exists()


def test_a_failed_emit_leaves_the_previous_one_intact(tmp_path):
    good = _neuron_like(5, 0)
    emit(good, QuboTarget(), tmp_path, pipeline="")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ir.QselError):
        emit(_neuron_like(5, 1, k=2), QuboTarget(), tmp_path, pipeline="")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_qubo_file_follows_qbsolv_layout(tmp_path):
    p = ir.Problem.from_terms(["a", "b", "c"], {"a": 1.5, "c": -2.0}, {("a", "c"): 0.25, ("c", "b"): -1.0},
                              offset=3.0)
    emit(p, QuboTarget(), tmp_path, pipeline="")
    lines = [ln for ln in (tmp_path / "all.qubo").read_text().splitlines() if not ln.startswith("c")]
    assert lines == ["p qubo 0 3 3 2", "0 0 1.5", "1 1 0.0", "2 2 -2.0", "0 2 0.25", "1 2 -1.0"]
    assert Manifest.load(tmp_path / "manifest.json").blocks[0].offset == 3.0


def test_to_bqm_and_to_cqm_keep_labels_and_energies():
    p = _neuron_like(5, 2, k=2)
    X = assignments(p, 8)
    bqm = to_bqm(p, check=False)
    cqm = to_cqm(p)
    for x in X:
        s = dict(zip(p.labels, x.astype(int).tolist()))
        assert bqm.energy(s) == pytest.approx(p.energy(x)) and cqm.objective.energy(s) == pytest.approx(p.energy(x))
        assert cqm.check_feasible(s) == bool(p.feasible(x[None])[0])


_BLOCK = {"name": "b", "file": "b.bqm", "format": "dimod-bqm", "labels": ["a"]}


@pytest.mark.parametrize("change, message", [
    ({"format": "other"}, "not a qsel manifest"),
    ({"version": 7}, "manifest version 7 is not supported"),
    ({"blocks": None}, "'blocks' must be a list"),
    ({"num_vars": "3"}, "'num_vars' must be a non-negative integer"),
    ({"blocks": [_BLOCK, _BLOCK]}, "two blocks are named 'b'"),
    ({"blocks": [_BLOCK, {**_BLOCK, "name": "c"}]}, "variable 'a' is in blocks 'b' and 'c'"),
    ({"blocks": [{**_BLOCK, "scale": 0}]}, "block 0 ('b'): 'scale' must not be 0"),
    ({"blocks": [{**_BLOCK, "offset": "x"}]}, "block 0 ('b'): 'offset' must be a finite number"),
    ({"blocks": [{**_BLOCK, "colour": 1}]}, "unknown field(s) 'colour'"),
    ({"blocks": [{**_BLOCK, "labels": ["a", "a"]}]}, "lists a variable twice"),
    ({"fixed": {"z": 2}}, "'fixed' values must be 0 or 1"),
    ({"constraints": [{"label": "k", "labels": ["a"], "coeffs": [], "sense": "==", "rhs": 1}]}, "constraint 0 needs"),
    ({"energy": []}, "'energy' must be an object"),
    ({"energy": {"cross_file": "../x.npz"}}, "energy.cross_file must be a file name next to it"),
])
def test_malformed_manifests_are_refused_with_the_file_and_the_reason(tmp_path, change, message):
    d = {"format": "qsel-manifest", "version": 1, "target": "dimod-bqm", "options": {}, "num_vars": 1,
         "blocks": [_BLOCK], **change}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ir.QselError) as exc:
        Manifest.load(path)
    assert str(path) in str(exc.value) and message in str(exc.value)


def test_cross_terms_file_is_checked_against_the_manifest(tmp_path):
    """cross(x) is read only from a file whose labels are the manifest's blocks' labels, in order."""
    p = ir.Problem.from_terms(["a", "b", "c"], {"a": 1.0}, {("a", "b"): 2.0, ("b", "c"): -3.0, ("a", "c"): 0.5})
    p = p.replace(partitions=(ir.Partition("p0", np.array([0])), ir.Partition("p1", np.array([1, 2]))))
    out = emit(p, QuboTarget(), tmp_path, pipeline="")
    m = Manifest.load(tmp_path / "manifest.json")
    assert m.cross_terms == 2 and m.energy["cross_file"] == "cross_terms.npz"
    assert (tmp_path / "cross_terms.npz") in out.files
    X = assignments(p, 8)
    pos = p.variables.index
    np.testing.assert_allclose(m.cross_energies(tmp_path, X[:, [pos[lab] for lab in m.labels]]),
                               2.0 * X[:, 0] * X[:, 1] + 0.5 * X[:, 0] * X[:, 2], rtol=0, atol=1e-12)
    m.blocks.reverse()
    with pytest.raises(ir.QselError, match="do not match the manifest's blocks"):
        m.cross_energies(tmp_path, X)
