"""The qsel driver: opt, inspect, convert, passes, example — and how it fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main


def qsel(*args: str) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess (exit codes, stderr, no traceback)."""
    return subprocess.run([sys.executable, "-m", "qsel.cli", *args], capture_output=True, text=True)


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    path = tmp_path / "layer.qir"
    result = CliRunner().invoke(main, ["example", "--units", "12", "--keep", "0.5", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_opt_runs_a_pipeline_and_writes_binary(layer, tmp_path):
    out = tmp_path / "out.qirz"
    result = CliRunner().invoke(main, ["opt", str(layer), "-p", "canonicalize,stats,verify", "-o", str(out),
                                       "--timing", "--verify-each"])
    assert result.exit_code == 0, result.output
    assert "qsel execution time report" in result.stderr and "pass canonicalize" in result.stderr
    before, after = ir.load(layer), ir.load(out)
    X = np.random.default_rng(0).integers(0, 2, size=(32, before.num_vars))
    np.testing.assert_allclose(after.energies(X), before.energies(X), rtol=1e-12)
    assert [h["pass"] for h in after.history] == ["canonicalize"]


def test_print_ir_after_named_pass_and_after_all(layer):
    r = CliRunner().invoke(main, ["opt", str(layer), "-p", "canonicalize,stats", "--print-ir-after", "canonicalize",
                                  "-o", "-"])
    assert r.exit_code == 0
    assert r.stderr.count("# ----- IR after") == 1 and "IR after canonicalize" in r.stderr
    assert r.stdout.startswith("qsel-ir 1.0\n")
    r = CliRunner().invoke(main, ["opt", str(layer), "-p", "canonicalize,stats", "--print-ir-after-all"])
    assert r.stderr.count("# ----- IR after") == 2


def test_convert_text_binary_text_is_byte_identical(layer, tmp_path):
    for args in (["convert", str(layer), str(tmp_path / "a.qirz")],
                 ["convert", str(tmp_path / "a.qirz"), str(tmp_path / "b.qir")]):
        assert CliRunner().invoke(main, args).exit_code == 0
    assert (tmp_path / "b.qir").read_bytes() == layer.read_bytes()


def test_inspect_json_has_the_documented_keys(layer, tmp_path):
    p = ir.load(layer)
    halves = (ir.Partition("left", np.arange(0, 6)), ir.Partition("right", np.arange(6, 12)))
    ir.save(p.replace(partitions=halves), tmp_path / "parted.qirz")
    r = CliRunner().invoke(main, ["inspect", str(tmp_path / "parted.qirz"), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["num_vars"] == 12 and d["num_constraints"] == 1 and d["partitions"] == [6, 6]
    assert d["num_couplings"] == ir.compute_stats(p).num_couplings > 0
    assert d["constraints"][0] == {"label": "keep.fc1", "kind": "cardinality", "sense": "==", "rhs": 6.0, "size": 12}


def test_inspect_text_plot_and_dump(layer, tmp_path):
    png = tmp_path / "c.png"
    r = CliRunner().invoke(main, ["inspect", str(layer), "--plot", str(png), "--dump"])
    assert r.exit_code == 0, r.output
    assert "dynamic range" in r.stdout and "keep.fc1: cardinality over 12 variables == 6" in r.stdout
    assert "\nqsel-ir 1.0\n" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_passes_lists_builtins():
    r = CliRunner().invoke(main, ["passes"])
    assert r.exit_code == 0
    assert "canonicalize" in r.stdout and "exact" in r.stdout and "analysis" in r.stdout


@pytest.mark.parametrize("args,fragment", [
    (["opt", "missing.qir", "-p", "canonicalize"], "missing.qir: no such file"),
    (["opt", "{layer}", "-p", "canonicalise"], "unknown pass 'canonicalise'; did you mean 'canonicalize'?"),
    (["opt", "{layer}", "-p", "canonicalize{x=1}"], "pass 'canonicalize' has no option 'x'"),
    (["opt", "{layer}", "-o", "{tmp}/out.txt"], "unknown IR file type '.txt'"),
    (["opt", "{layer}", "--print-ir-after", "nope"], "--print-ir-after: unknown pass 'nope'"),
    (["opt", "{bad}"], "bad.qir:3:7: expected the linear bias"),
    (["convert", "{layer}", "{tmp}/no/such/dir/x.qirz"], "folder"),
    (["inspect", "{layer}", "--plot", "{tmp}/x.jpg"], "must end in .png"),
    (["example", "--keep", "1.5"], "--keep must be in (0, 1]"),
])
def test_user_errors_exit_2_with_one_clear_message(layer, tmp_path, args, fragment):
    bad = tmp_path / "bad.qir"
    bad.write_text("qsel-ir 1.0\nvar a 1.0\nvar b x\n")
    argv = [a.replace("{layer}", str(layer)).replace("{tmp}", str(tmp_path)).replace("{bad}", str(bad))
            for a in args]
    proc = qsel(*argv)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("qsel: error: ") and fragment in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_debug_flag_shows_the_traceback(tmp_path):
    proc = qsel("--debug", "opt", str(tmp_path / "missing.qir"))
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_failed_run_leaves_existing_output_untouched(layer, tmp_path):
    out = tmp_path / "keep.qirz"
    out.write_bytes(b"previous contents")
    bad = tmp_path / "bad.qir"
    bad.write_text("qsel-ir 1.0\nvar a nan\n")
    assert qsel("opt", str(bad), "-o", str(out)).returncode == 2
    assert out.read_bytes() == b"previous contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["bad.qir", "keep.qirz", "layer.qir"])


def test_save_is_atomic_when_writing_fails_midway(tmp_path, monkeypatch):
    target = tmp_path / "t.qir"
    target.write_text("old")
    p = ir.Problem.from_qubo_matrix(np.eye(3))

    def boom(*_a, **_k):
        yield "qsel-ir 1.0"
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ir.text_printer, "iter_lines", boom)
    with pytest.raises(RuntimeError):
        ir.save(p, target)
    assert target.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["t.qir"]
