"""Every target's block files carry their own block's constant, so each file's energy is its block's IR energy.

Notation. Let the emitted IR (after the pipeline) be E_IR(x) = c + h.x + sum_{i<j} J_ij x_i x_j and let its
blocks B_1 .. B_m (the manifest's blocks, in manifest order) split its variables. Block b's IR energy is

    E_b(x_b) := E_IR(x with block b at x_b, every other variable at 0) - sum_{b' != b} c_b'
              = c_b + sum_{i in B_b} h_i x_i + sum_{i<j in B_b} J_ij x_i x_j,

so that E_IR(x) = sum_b E_b(x_b) + cross(x) (cross: the couplings between blocks) exactly when
sum_b c_b = c. The block constants c_b are what this test computes *independently* of the emitters, from
the problem's construction and the values the passes chose:

* penalty P (sum x - K_b)^2 of a cardinality constraint lowered inside block b: F * P * K_b^2 (P from the
  IR's ``penalties``, F the scale factor applied after lowering, 1 without a scale pass);
* objective constant c_L = ||T_L||^2/m of layer L: F * c_L in the first block (manifest order) holding a
  variable of L; for an IR without layer provenance the whole objective constant goes to the first block.

Checks, for every registered target, each block file read back with the field's own reader:
  1. scale_b * E_file_b(x_b) + offset_b == E_b(x_b) for random x_b;
  2. on a feasible x_b (sum x_b = K_b) that energy is the block's objective part alone (penalty 0);
  3. the manifest identity E_IR(x) = sum_b (scale_b E_file_b(x_b) + offset_b) + cross(x) on random full x,
     cross(x) read from the manifest's cross-terms file.
Tolerances: 1e-9 times the sum of |c| + sum|h| + sum|J| of the emitted IR (every file writes
shortest-round-trip doubles; the Ising forms add O(n) terms of that size).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qsel import ir
from qsel.frontend.lowering import neuron_terms
from qsel.targets import registry
from qsel.targets.compose import compose
from qsel.targets.convert import coo
from qsel.targets.emit import emit, run_pipeline
from qsel.targets.manifest import Manifest, block_constants

PENALISED = "lower-constraints{penalty=auto}"
# target -> (options, does the pipeline lower constraints to penalties?)
TARGETS = {
    "dimod-bqm": ({}, True),
    "dimod-bqm-coo": ({"format": "coo"}, True),
    "dimod-cqm": ({}, False),
    "qubo": ({}, True),
    "lp": ({}, False),
    "dwave": ({}, True),
    "qiskit-qaoa": ({"backend": "none"}, False),  # cardinality kept per block: XY mixer, no penalty
    "openqaoa": ({}, True),
}


def test_every_registered_target_is_covered():
    assert {name.removesuffix("-coo") for name in TARGETS} == set(registry.builtin_targets())


def _layer(name: str, n: int, K: int, rng: np.random.Generator) -> tuple[ir.Problem, float]:
    """One layer's neuron-selection objective (fit to a random target) with sum x = K; its constant."""
    A = np.maximum(rng.normal(size=(64, n)), 0.0)
    W = rng.normal(size=(5, n))
    h, U, offset = neuron_terms(A, W, 2.0 * rng.normal(size=(64, 5))).ir_arrays()
    variables = ir.Variables.build([f"{name}.n{i}" for i in range(n)], layer=name, unit=np.arange(n),
                                   granularity="neuron")
    return ir.Problem(variables, h, offset, (ir.DenseBlock(np.arange(n), U),),
                      constraints=(ir.Constraint.cardinality(f"keep.{name}", np.arange(n), "==", K),)), offset


def one_layer() -> tuple[ir.Problem, dict[str, float], int]:
    """24 units, keep 6, no layer metadata (the objective constant belongs to the first block); max-vars 8."""
    p, _ = _layer("fc1", 24, 6, np.random.default_rng(11))
    return p, {}, 8


def two_layers() -> tuple[ir.Problem, dict[str, float], int]:
    """Two 12-unit layers (keep 3 and 5) with ``metadata["layers"][L]["offset"]``; max-vars 6: four blocks,
    layer fc2's constant lands in a later block."""
    rng = np.random.default_rng(12)
    (p1, c1), (p2, c2) = _layer("fc1", 12, 3, rng), _layer("fc2", 12, 5, rng)
    layers = {"fc1": {"units": 12, "offset": c1}, "fc2": {"units": 12, "offset": c2}}
    return ir.Problem.concat([p1, p2], metadata={"layers": layers}), {"fc1": c1, "fc2": c2}, 6


def _pipeline(target: str, max_vars: int, penalised: bool) -> str:
    pipe = f"canonicalize,partition{{max-vars={max_vars}}}"
    if penalised:
        pipe += "," + PENALISED
    if target == "dwave":
        pipe += ",scale{h-range=-4:4,j-range=-1:1}"
    return pipe


def _size(problem: ir.Problem) -> float:
    """|c| + sum|h| + sum|J|: a bound on |E(x)| and the scale of rounding errors in any file."""
    return float(abs(problem.offset) + np.abs(problem.linear).sum() + np.abs(coo(problem)[2]).sum())


# ------------------------------------------------------------------ each field's own reader
def _spins(X: np.ndarray, up_is_one: bool) -> np.ndarray:
    return 2.0 * X - 1.0 if up_is_one else 1.0 - 2.0 * X


def file_energies(entry, folder: Path, X: np.ndarray) -> np.ndarray:
    """E_file(x) of one block file for rows X over ``entry.labels``, read with the format's own reader."""
    import dimod

    path = folder / entry.file
    if entry.format == "dimod-bqm":
        with open(path, "rb") as fh:
            bqm = dimod.BinaryQuadraticModel.from_file(fh)
        return np.asarray(bqm.energies((X.astype(np.int8), entry.labels)))
    if entry.format == "coo":
        from dimod.serialization import coo as dimod_coo

        with open(path) as fh:
            bqm = dimod_coo.load(fh, vartype=dimod.BINARY)
        for i in range(len(entry.labels)):
            bqm.add_variable(i)
        return np.asarray(bqm.energies((X.astype(np.int8), list(range(len(entry.labels))))))
    if entry.format == "dimod-cqm":
        with open(path, "rb") as fh:
            cqm = dimod.ConstrainedQuadraticModel.from_file(fh)
        return np.asarray(cqm.objective.energies((X.astype(np.int8), entry.labels)))
    if entry.format in ("qubo", "lp"):
        from qsel.targets.file_targets import read_lp_file, read_qubo_file

        bp = (read_qubo_file(path, entry.labels) if entry.format == "qubo"
              else read_lp_file(path, entry.labels, entry.extra.get("names")))
        return bp.energies(X)
    if entry.format == "qsel-dwave-embedded":  # logical Ising, s = 2x - 1; and the embedded one, chains intact
        d = json.loads(path.read_text())
        assert d["labels"] == entry.labels
        S = _spins(X, True)
        lg = d["logical"]
        e = lg["offset"] + S @ np.asarray(lg["linear"])
        for i, j, b in lg["quadratic"]:
            e = e + b * S[:, i] * S[:, j]
        qubit_spin = {q: S[:, k] for k, lab in enumerate(entry.labels) for q in d["embedding"][lab]}
        em = d["embedded"]
        e2 = em["offset"] + sum(h * qubit_spin[q] for q, h in em["linear"])
        e2 = e2 + sum(J * qubit_spin[p] * qubit_spin[q] for p, q, J in em["quadratic"])
        np.testing.assert_allclose(e2, e, rtol=0, atol=1e-9 * (abs(em["offset"]) + 1 + sum(
            abs(h) for _, h in em["linear"]) + sum(abs(J) for _, _, J in em["quadratic"])))
        return e
    if entry.format == "openqaoa-json":  # C(z) = constant + sum_t w_t prod_{k in t} z_k, z = 1 - 2x
        d = json.loads((folder / entry.file).read_text())
        Z = _spins(X, False)
        e = np.full(X.shape[0], float(d["constant"]))
        for term, w in zip(d["terms"], d["weights"]):
            e = e + w * np.prod(Z[:, term], axis=1)
        return e
    if entry.format == "qasm3":  # the block's SparsePauliOp JSON: character n-1-i acts on qubit i, z = 1 - 2x
        d = json.loads((folder / entry.extra["files"]["pauli"]).read_text())
        Z = _spins(X, False)
        n = d["num_qubits"]
        e = np.full(X.shape[0], float(d["offset"]))
        for label, coeff in d["terms"]:
            qubits = [n - 1 - k for k, ch in enumerate(label) if ch == "Z"]
            assert set(label) <= {"I", "Z"}
            e = e + coeff * np.prod(Z[:, qubits], axis=1)
        return e
    raise AssertionError(f"no reader for {entry.format}")


# ------------------------------------------------------------------ expected constants, independently
def expected_constants(manifest: Manifest, out: ir.Problem, pre: ir.Problem, objective: float,
                       layer_constants: dict[str, float], penalised: bool) -> np.ndarray:
    """c_b from the construction (module docstring): penalties F P K_b^2 inside b, objective constants."""
    F = float(out.metadata.get("scale", {}).get("factor", 1.0))
    pos = out.variables.index
    c = np.zeros(len(manifest.blocks))
    for b, entry in enumerate(manifest.blocks):
        labels = set(entry.labels)
        for con in pre.constraints:
            if penalised and {pre.labels[i] for i in con.indices} <= labels:
                c[b] += F * out.metadata["penalties"][con.label] * con.rhs ** 2
    if layer_constants:
        for name, value in layer_constants.items():
            first = min(b for b, e in enumerate(manifest.blocks)
                        if any(out.variables.layer_of(pos[lab]) == name for lab in e.labels))
            c[first] += F * value
    else:
        c[0] += F * objective
    return c


@pytest.mark.parametrize("case", [one_layer, two_layers], ids=["one-layer", "two-layers"])
@pytest.mark.parametrize("key", list(TARGETS))
def test_each_block_file_has_its_blocks_ir_energy(key, case, tmp_path):
    name = key.removesuffix("-coo")
    options, penalised = TARGETS[key]
    problem, layer_constants, max_vars = case()
    pipe = _pipeline(name, max_vars, penalised)
    out = emit(problem, registry.get_target(name)(**options), tmp_path, pipeline=pipe)
    pre, _ = run_pipeline(problem, f"canonicalize,partition{{max-vars={max_vars}}}")
    manifest = Manifest.load(tmp_path / "manifest.json")
    P = out.problem
    assert len(manifest.blocks) >= 3 and manifest.cross_terms > 0
    tol = 1e-9 * _size(P)
    c = expected_constants(manifest, P, pre, problem.offset, layer_constants, penalised)
    assert c.sum() == pytest.approx(P.offset, abs=tol)  # the construction accounts for the whole offset
    if penalised or layer_constants:
        assert np.abs(c[1:]).max() > 100 * tol  # later blocks own constants: one global offset would fail

    rng = np.random.default_rng(0)
    pos = P.variables.index
    zero = P.replace(constraints=())
    for b, entry in enumerate(manifest.blocks):
        cols = np.array([pos[lab] for lab in entry.labels])
        # 1. random x_b: E_b(x_b) = E_IR(x_b, others 0) - sum_{b' != b} c_b'
        Xb = rng.integers(0, 2, size=(64, cols.size)).astype(np.float64)
        full = np.zeros((64, P.num_vars))
        full[:, cols] = Xb
        want = zero.energies(full) - (c.sum() - c[b])
        got = entry.scale * file_energies(entry, tmp_path, Xb) + entry.offset
        np.testing.assert_allclose(got, want, rtol=0, atol=tol, err_msg=f"{key}: block {entry.name}")
        assert entry.extra["constant"]["value"] == pytest.approx(c[b], abs=tol)
        if name == "qiskit-qaoa":
            assert entry.extra["mixer"] == "xy"
        # 2. a feasible x_b reads as the block's objective part: the penalty constant cancels inside the block
        (con,) = [k for k in pre.constraints if {pre.labels[i] for i in k.indices} <= set(entry.labels)]
        members = np.array([entry.labels.index(pre.labels[i]) for i in con.indices])
        feas = np.zeros((16, cols.size))
        for r in range(16):
            feas[r, rng.choice(members, size=int(con.rhs), replace=False)] = 1.0
        pre_cols = np.array([pre.variables.index[lab] for lab in entry.labels])
        whole = np.zeros((16, pre.num_vars))
        whole[:, pre_cols] = feas
        F = float(P.metadata.get("scale", {}).get("factor", 1.0))
        objective_part = F * (pre.replace(constraints=()).energies(whole) - pre.offset)
        own = c[b] - (F * P.metadata["penalties"][con.label] * con.rhs ** 2 if penalised else 0.0)
        got = entry.scale * file_energies(entry, tmp_path, feas) + entry.offset
        np.testing.assert_allclose(got, objective_part + own, rtol=0, atol=tol)

    # 3. the manifest identity, cross terms from the manifest's own file
    X = rng.integers(0, 2, size=(64, P.num_vars)).astype(np.float64)
    total = np.zeros(64)
    for entry in manifest.blocks:
        cols = [pos[lab] for lab in entry.labels]
        total += entry.scale * file_energies(entry, tmp_path, X[:, cols]) + entry.offset
    cross = manifest.cross_energies(tmp_path, X[:, [pos[lab] for lab in manifest.labels]])
    assert cross is not None and manifest.energy["cross_file"] == "cross_terms.npz"
    np.testing.assert_allclose(total + cross, P.energies(X) if not P.constraints else zero.energies(X),
                               rtol=0, atol=tol)
    assert np.abs(cross).max() > 100 * tol  # the cut is not empty, so the file is really used


def test_constants_without_a_single_block_go_to_the_first_block(tmp_path):
    """A cardinality constraint kept global and lowered anyway couples the blocks: its P K^2 has no block and
    joins the rest (objective constant) in the first block; the identity still holds exactly."""
    problem, _, _ = one_layer()
    pipe = "canonicalize,partition{max-vars=8,budgets=keep},lower-constraints{penalty=auto,spanning=lower}"
    out = emit(problem, registry.get_target("dimod-bqm")(format="coo"), tmp_path, pipeline=pipe)
    manifest = Manifest.load(tmp_path / "manifest.json")
    P = out.problem
    (rec,) = P.metadata["lowered_constraints"]
    assert rec["constant"] == pytest.approx(rec["penalty"] * 6 ** 2)
    offsets = np.array([e.offset for e in manifest.blocks])
    tol = 1e-9 * _size(P)
    np.testing.assert_allclose(offsets, [problem.offset + rec["constant"]] + [0.0] * (len(offsets) - 1), atol=tol)
    assert manifest.blocks[0].extra["constant"]["rest"] == pytest.approx(offsets[0], abs=tol)
    assert manifest.energy["rest_block"] == manifest.blocks[0].name and "first block" in manifest.energy[
        "block_constant"]
    X = np.random.default_rng(1).integers(0, 2, size=(32, P.num_vars)).astype(np.float64)
    pos = P.variables.index
    total = sum(file_energies(e, tmp_path, X[:, [pos[lab] for lab in e.labels]]) + e.offset for e in manifest.blocks)
    total = total + manifest.cross_energies(tmp_path, X[:, [pos[lab] for lab in manifest.labels]])
    np.testing.assert_allclose(total, P.energies(X), rtol=0, atol=tol)


def test_block_constants_sum_to_the_offset_after_fixing_and_scaling():
    """The split is exact for any IR: whatever provenance cannot place goes to the first block."""
    problem, layer_constants, _ = two_layers()
    P, _ = run_pipeline(problem, "canonicalize,partition{max-vars=6},lower-constraints,scale{h-range=-1:1}")
    P = P.replace(offset=P.offset + 2.5)  # e.g. folded in by clamping: no provenance
    parts = [q.indices for q in P.partitions]
    bc = block_constants(P, parts)
    assert bc.values.sum() == pytest.approx(P.offset, abs=1e-12 * _size(P))
    F = P.metadata["scale"]["factor"]
    assert sum(sum(p["layers"].values()) for p in bc.parts) == pytest.approx(F * sum(layer_constants.values()))
    assert bc.parts[0]["rest"] == pytest.approx(2.5, abs=1e-9 * _size(P))


def test_compose_without_the_ir_gives_the_emitted_irs_exact_energy(tmp_path):
    """Per-block sample sets composed with only the manifest: the block files' energies plus cross(x)."""
    import dimod

    problem, _, _ = two_layers()
    out = emit(problem, registry.get_target("dimod-bqm")(), tmp_path,
               pipeline="canonicalize,partition{max-vars=6}," + PENALISED)
    manifest = Manifest.load(tmp_path / "manifest.json")
    results = []
    for entry in manifest.blocks:
        with open(tmp_path / entry.file, "rb") as fh:
            bqm = dimod.BinaryQuadraticModel.from_file(fh)
        ss = dimod.ExactSolver().sample(bqm).truncate(3)
        path = tmp_path / f"{Path(entry.file).stem}.samples.json"
        path.write_text(json.dumps(ss.to_serializable()))
        results.append(str(path))
        assert float(ss.first.energy) == pytest.approx(float(bqm.energy(ss.first.sample)))
    c = compose(tmp_path / "manifest.json", results)
    pos = out.problem.variables.index
    x = np.zeros(out.problem.num_vars)
    x[[pos[lab] for lab in c.problem.labels]] = c.x
    assert c.energy == pytest.approx(out.problem.energy(x), abs=1e-9 * _size(out.problem))
    assert not any("excludes" in note for note in c.report["notes"])
