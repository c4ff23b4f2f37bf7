"""qsel emit / solve / compose / targets on the command line: files, result.json, composing results from
elsewhere (dimod SampleSet, qiskit counts, OpenQAOA JSON), and errors that name the file and the problem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dimod
import numpy as np
import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main


def run(*args: str, ok: bool = True):
    r = CliRunner().invoke(main, list(args))
    if ok:
        assert r.exit_code == 0, (r.output, r.exception)
    return r


def fail(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 2, (r.output, r.exception)
    assert "Traceback" not in r.output
    return r.stderr


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    path = tmp_path / "layer.qir"
    run("example", "--units", "12", "--keep", "0.34", "-o", str(path))
    return path


def test_solve_exact_writes_a_full_result(layer, tmp_path):
    out = tmp_path / "r.json"
    run("solve", str(layer), "--solver", "exact", "-o", str(out), "--num-reads", "5")
    d = json.loads(out.read_text())
    p = ir.load(layer)
    x = np.array([d["assignment"][lab] for lab in p.labels], float)
    assert d["energy"] == pytest.approx(p.energy(x)) and d["feasible"] is True
    assert d["masks"]["fc1"]["granularity"] == "neuron" and len(d["masks"]["fc1"]["keep"]) == 4
    # brute force over the feasible set
    import itertools

    X = np.array(list(itertools.product((0, 1), repeat=12)), float)
    E = p.energies(X)[p.feasible(X)]
    assert d["energy"] == pytest.approx(E.min(), abs=1e-12)
    assert d["solver"] == "exact" and d["mode"] == "independent" and d["iterations"][0]["energy"] == d["energy"]
    assert d["distribution"]["count"] == E.size and d["distribution"]["min"] == pytest.approx(E.min())
    assert {"load", "solve", "total"} <= set(d["timings"]) and d["constraints"][0]["label"] == "keep.fc1"


def test_solve_sa_lowers_constraints_itself_and_reports_it(layer, tmp_path):
    out = tmp_path / "r.json"
    r = run("solve", str(layer), "-s", "sa{num-sweeps=200}", "-o", str(out), "--seed", "3", "--num-reads", "20")
    assert "ran lower-constraints" in r.stderr
    d = json.loads(out.read_text())
    assert d["solved"]["lowered_by_solve"] and "lower-constraints" in d["solved"]["pipeline"]
    assert d["solver"] == "sa{num-sweeps=200}" and set(d["assignment"]) == set(ir.load(layer).labels)
    assert d["constraints"][0]["label"] == "keep.fc1" and d["feasible"] == d["constraints"][0]["satisfied"]
    assert d["distribution"]["count"] == 20


def test_solve_partitioned_iterate_reports_energy_per_iteration(layer, tmp_path):
    out = tmp_path / "r.json"
    run("solve", str(layer), "-s", "exact", "-p", "partition{max-vars=5,budgets=keep}", "--mode", "iterate",
        "-o", str(out), "--num-reads", "3")
    d = json.loads(out.read_text())
    energies = [it["energy"] for it in d["iterations"]]
    assert len(d["blocks"]) == 3 and len(energies) >= 2
    assert all(b <= a + 1e-12 or it["violation"] < prev["violation"]
               for a, b, it, prev in zip(energies, energies[1:], d["iterations"][1:], d["iterations"]))
    assert d["feasible"] is True


def test_solve_errors_are_clear(layer, tmp_path):
    assert "takes at most 24 variables" not in fail("solve", str(layer), "-s", "exakt", "-o", str(tmp_path / "r.json"))
    big = tmp_path / "big.qir"
    run("example", "--units", "30", "-o", str(big))
    err = fail("solve", str(big), "-s", "exact", "-o", str(tmp_path / "r.json"))
    assert "at most 24 variables per block" in err and "partition{max-vars=24}" in err
    assert "must end in .json" in fail("solve", str(layer), "-s", "exact", "-o", str(tmp_path / "r.txt"))
    assert "has no option" in fail("solve", str(layer), "-s", "sa{sweeps=3}", "-o", str(tmp_path / "r.json"))
    assert not (tmp_path / "r.json").exists()


def _solve_blocks_with_dimod(outdir: Path) -> list[Path]:
    """What a user does elsewhere: load each .bqm, sample, save the SampleSet as JSON."""
    paths = []
    for f in sorted(outdir.glob("*.bqm")):
        with open(f, "rb") as fh:
            bqm = dimod.BinaryQuadraticModel.from_file(fh)
        ss = dimod.ExactSolver().sample(bqm).truncate(10)
        path = f.with_suffix(".samples.json")
        path.write_text(json.dumps(ss.to_serializable()))
        paths.append(path)
    return paths


def test_compose_dimod_samplesets_reproduces_direct_solving(layer, tmp_path):
    pipe = "canonicalize,partition{max-vars=5},lower-constraints{penalty=auto}"
    out = tmp_path / "bqm"
    run("emit", str(layer), "--target", "dimod-bqm", "-o", str(out), "-p", pipe)
    samples = _solve_blocks_with_dimod(out)
    assert len(samples) == 3
    composed = tmp_path / "composed.json"
    # files given in reverse order: labelled sample sets find their own block
    run("compose", str(out / "manifest.json"), *map(str, reversed(samples)), "-o", str(composed), "--ir", str(layer))
    direct = tmp_path / "direct.json"
    run("solve", str(layer), "-s", "exact", "-p", pipe, "-o", str(direct))
    c, d = json.loads(composed.read_text()), json.loads(direct.read_text())
    assert c["masks"] == d["masks"] and c["energy"] == pytest.approx(d["energy"]) and c["feasible"] is True
    assert c["energy_exact"] is True and [b["kind"] for b in c["blocks"]] == ["dimod-sampleset"] * 3
    # without --ir: masks from the manifest, energy from the block files (cross terms excluded, said so)
    loose = tmp_path / "loose.json"
    r = run("compose", str(out), *map(str, samples), "-o", str(loose))
    ld = json.loads(loose.read_text())
    assert ld["masks"] == d["masks"] and ld["energy_exact"] is False and "couplings between blocks" in r.stderr
    assert ld["feasible"] is True
    assert {c["label"] for c in ld["constraints"]} == {"keep.fc1@b0", "keep.fc1@b1", "keep.fc1@b2"}


def test_compose_qiskit_counts_are_little_endian(tmp_path):
    p = ir.Problem.from_terms(["a", "b", "c"], {"a": 1.0, "b": -2.0, "c": -1.0}, {("a", "c"): 0.5})
    ir.save(p, tmp_path / "p.qir")
    run("emit", str(tmp_path / "p.qir"), "-t", "qubo", "-o", str(tmp_path / "q"), "-p", "")
    counts = tmp_path / "counts.json"
    # key "110": qubit 0 (a) is the rightmost bit -> a=0, b=1, c=1 ; "011" -> a=1, b=1, c=0
    counts.write_text(json.dumps({"110": 30, "011": 5, "000": 2}))
    out = tmp_path / "r.json"
    run("compose", str(tmp_path / "q" / "manifest.json"), str(counts), "-o", str(out))
    d = json.loads(out.read_text())
    assert d["assignment"] == {"a": 0, "b": 1, "c": 1} and d["energy"] == pytest.approx(-3.0)
    assert d["blocks"][0]["kind"] == "qiskit-counts" and d["blocks"][0]["reads"] == 37
    assert d["distribution"]["count"] == 37
    counts.write_text(json.dumps({"11": 1}))
    err = fail("compose", str(tmp_path / "q" / "manifest.json"), str(counts), "-o", str(out))
    assert str(counts) in err and "has 2 bits" in err and "3 variables" in err


def test_compose_openqaoa_layouts(tmp_path):
    p = ir.Problem.from_terms(["a", "b", "c"], {"a": 1.0, "b": -2.0, "c": -1.0}, {("a", "c"): 0.5})
    ir.save(p, tmp_path / "p.qir")
    run("emit", str(tmp_path / "p.qir"), "-t", "dimod-bqm", "-o", str(tmp_path / "q"), "-p", "")
    simple = tmp_path / "oq.json"
    simple.write_text(json.dumps({"solution": {"a": 1, "b": 1, "c": 0}}))
    run("compose", str(tmp_path / "q"), str(simple), "-o", str(tmp_path / "r1.json"))
    assert json.loads((tmp_path / "r1.json").read_text())["assignment"] == {"a": 1, "b": 1, "c": 0}
    dump = tmp_path / "oq2.json"  # OpenQAOA: variable 0 leftmost
    dump.write_text(json.dumps({"header": {}, "data": {"result": {"most_probable_states": {
        "solutions_bitstrings": ["100", "011"], "bitstring_energy": 0.0}}}}))
    run("compose", str(tmp_path / "q"), str(dump), "-o", str(tmp_path / "r2.json"))
    d = json.loads((tmp_path / "r2.json").read_text())
    assert d["assignment"] == {"a": 0, "b": 1, "c": 1} and d["energy"] == pytest.approx(-3.0)
    runner = tmp_path / "oq3.json"  # qsel's OpenQAOA runner output: samples with counts and energies
    runner.write_text(json.dumps({"ok": True, "samples": [{"bitstring": "110", "count": 9, "energy": -1.0},
                                                          {"bitstring": "011", "count": 2, "energy": -3.0}]}))
    run("compose", str(tmp_path / "q"), str(runner), "-o", str(tmp_path / "r3.json"))
    d = json.loads((tmp_path / "r3.json").read_text())
    assert d["assignment"] == {"a": 0, "b": 1, "c": 1} and d["blocks"][0]["reads"] == 11


def test_compose_errors_name_the_file_and_the_problem(layer, tmp_path):
    out = tmp_path / "bqm"
    run("emit", str(layer), "-t", "dimod-bqm", "-o", str(out), "-p", "canonicalize,lower-constraints")
    (samples,) = _solve_blocks_with_dimod(out)
    res = str(tmp_path / "r.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert f"{bad}:1:2: not valid JSON" in fail("compose", str(bad), str(samples), "-o", res)
    assert f"{bad}:1:2: not valid JSON" in fail("compose", str(out), str(bad), "-o", res)
    bad.write_text(json.dumps({"format": "qsel-manifest", "version": 1, "target": "x", "options": {},
                               "num_vars": 1, "blocks": [{"name": "b", "file": "b.bqm", "format": "dimod-bqm",
                                                          "labels": "a"}]}))
    err = fail("compose", str(bad), str(samples), "-o", res)
    assert str(bad) in err and "block 0 ('b')" in err and "'labels' must be a list" in err
    bad.write_text(json.dumps({"hello": 1}))
    err = fail("compose", str(out), str(bad), "-o", res)
    assert str(bad) in err and "not a recognised result file" in err
    err = fail("compose", str(out), str(samples), str(samples), "-o", res)
    assert "lists 1 block(s)" in err and "2 result file(s)" in err
    other = tmp_path / "other.json"
    ss = dimod.SampleSet.from_samples([{"zz": 1}], "BINARY", energy=[0.0])
    other.write_text(json.dumps(ss.to_serializable()))
    err = fail("compose", str(out), str(other), "-o", res)
    assert str(other) in err and "'zz' is not one of block 'all'" in err
    nope = tmp_path / "nope.json"
    assert f"{nope}: no such file" in fail("compose", str(out), str(nope), "-o", res)
    ir.save(ir.Problem.from_terms(["q"], {"q": 1.0}), tmp_path / "wrong.qir")
    err = fail("compose", str(out), str(samples), "-o", res, "--ir", str(tmp_path / "wrong.qir"))
    assert "no value to 'q'" in err
    assert not Path(res).exists()


def test_emit_cli_creates_the_folder_and_lists_files(layer, tmp_path):
    out = tmp_path / "a" / "b"
    r = run("emit", str(layer), "-t", "lp", "-o", str(out), "--timing")
    assert (out / "all.lp").is_file() and (out / "manifest.json").is_file()
    assert "all.lp" in r.stderr and "qsel execution time report" in r.stderr
    assert not any(p.name.startswith(".qsel-emit") for p in out.iterdir())
    r = run("emit", str(layer), "-t", "dimod-bqm{format=coo}", "-o", str(tmp_path / "coo"))
    assert (tmp_path / "coo" / "all.coo").is_file()
    m = json.loads((tmp_path / "coo" / "manifest.json").read_text())
    assert m["penalties"] and m["lowered_constraints"][0]["label"] == "keep.fc1"
    assert m["extra"]["pipeline"] == "canonicalize,lower-constraints{penalty=auto}"
    err = fail("emit", str(layer), "-t", "dimod-bqn", "-o", str(tmp_path / "x"))
    assert "unknown target 'dimod-bqn'; did you mean 'dimod-bqm'" in err and not (tmp_path / "x").exists()
    assert "unknown pass" in fail("emit", str(layer), "-t", "lp", "-p", "canonicalise", "-o", str(tmp_path / "y"))


def test_targets_lists_every_target_and_solver():
    r = run("targets")
    for name in ("dimod-bqm", "dimod-cqm", "qubo", "lp", "exact", "sa", "tabu", "steepest"):
        assert f"  {name} " in r.output
    assert "max 24 variables/block" in r.output


def test_real_console_entry_point_exits_2_without_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "qsel.cli", "compose", str(tmp_path / "none.json"), "x.json",
                        "-o", str(tmp_path / "r.json")], capture_output=True, text=True)
    assert r.returncode == 2 and "qsel: error:" in r.stderr and "Traceback" not in r.stderr
