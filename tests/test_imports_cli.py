"""`qsel import` and `qsel add-terms` on the command line: outputs, exit codes, messages, atomic files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import dimod
import numpy as np
import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main

QUBO = "c tiny\np qubo 0 3 3 2\n0 0 -1\n1 1 2.5\n2 2 -0.5\n0 1 1.5\n1 2 -3\n"
TERMS = """\
from pyqubo import Constraint, Placeholder
from qsel.extra_terms import at_most


def terms(x, problem):
    k = x["x0"] + x["x2"]
    return Placeholder("P") * Constraint((k - 1) ** 2, label="one_of_0_2"), [at_most(["x0", "x1"], 1, "cap")]
"""


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def qubo_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.qubo"
    path.write_text(QUBO)
    return path


def states(n: int) -> np.ndarray:
    return (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1


@pytest.mark.parametrize("suffix", [".qir", ".qirz"])
def test_import_qubo_writes_the_ir(qubo_file, tmp_path, suffix):
    out = tmp_path / f"p{suffix}"
    r = run("import", str(qubo_file), "-o", str(out))
    assert r.exit_code == 0, r.output
    p = ir.load(out)
    assert p.labels == ["x0", "x1", "x2"] and p.metadata["source"]["path"] == "tiny.qubo"
    expected = [-x0 + 2.5 * x1 - 0.5 * x2 + 1.5 * x0 * x1 - 3 * x1 * x2 for x0, x1, x2 in states(3)]
    np.testing.assert_allclose(p.energies(states(3)), expected)


def test_import_bqm_and_lp_and_stdout(tmp_path):
    bqm = dimod.BinaryQuadraticModel({"a": 1.0, "b": -2.0}, {("a", "b"): 0.5}, 0.25, "SPIN")
    (tmp_path / "m.bqm").write_bytes(bqm.to_file().read())
    r = run("import", str(tmp_path / "m.bqm"), "-o", str(tmp_path / "m.qir"))
    assert r.exit_code == 0, r.output
    p = ir.load(tmp_path / "m.qir")
    np.testing.assert_allclose(p.energies(states(2)), bqm.energies((2 * states(2) - 1, ["a", "b"])))
    (tmp_path / "m.lp").write_text("Minimize\n obj: a - b + [ 2 a * b ]/2\nSubject To\n one: a + b = 1\n"
                                   "Binary\n a b\nEnd\n")
    r = run("import", str(tmp_path / "m.lp"))
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("qsel-ir 1.0\n") and "constraint one == 1.0 : a b" in r.stdout


def test_import_errors_exit_2_and_name_the_problem(tmp_path, qubo_file):
    r = run("import", str(tmp_path / "model.mps"), "-o", str(tmp_path / "p.qir"))
    assert r.exit_code == 2 and "supported: .bqm, .lp, .qubo" in r.stderr
    r = run("import", str(tmp_path / "missing.qubo"), "-o", str(tmp_path / "p.qir"))
    assert r.exit_code == 2 and "missing.qubo: no such file" in r.stderr
    r = run("import", str(qubo_file), "-o", str(tmp_path / "p.txt"))
    assert r.exit_code == 2 and "unknown IR file type '.txt'" in r.stderr


def test_bad_qubo_in_a_real_process_exits_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.qubo"
    bad.write_text("c header\np qubo 0 3 2 1\n0 0 1.0\n1 1 oops\n0 1 2.0\n")
    out = tmp_path / "x.qir"
    proc = subprocess.run([sys.executable, "-m", "qsel.cli", "import", str(bad), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("qsel: error: ") and f"{bad}:4:5: value must be a number, found 'oops'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_add_terms_merges_and_records(tmp_path, qubo_file):
    (tmp_path / "terms.py").write_text(TERMS)
    base = tmp_path / "p.qir"
    assert run("import", str(qubo_file), "-o", str(base)).exit_code == 0
    out = tmp_path / "q.qirz"
    r = run("add-terms", str(base), str(tmp_path / "terms.py"), "-o", str(out), "--param", "P=4")
    assert r.exit_code == 0, r.output
    p, q = ir.load(base), ir.load(out)
    X = states(3)
    penalty = 4.0 * (X[:, 0] + X[:, 2] - 1) ** 2
    np.testing.assert_allclose(q.energies(X), p.energies(X) + penalty)
    assert q.metadata["parameters"] == {"P": 4.0} and list(q.metadata["extra_constraints"]) == ["one_of_0_2"]
    assert [c.label for c in q.constraints] == ["cap"]
    assert q.metadata["extra_terms"][0]["source"] == "terms.py"


@pytest.mark.parametrize("extra, fragment", [
    ([], "placeholder 'P' has no value"),
    (["--param", "P"], "--param 'P': expected NAME=VALUE"),
    (["--param", "P=big"], "value 'big' is not a number"),
    (["--param", "P=1", "--param", "P=2"], "'P' is given twice"),
    (["--param", "P=1", "--param", "Q=2"], "parameter 'Q' is not a placeholder"),
])
def test_add_terms_parameter_errors(tmp_path, qubo_file, extra, fragment):
    (tmp_path / "terms.py").write_text(TERMS)
    base = tmp_path / "p.qir"
    assert run("import", str(qubo_file), "-o", str(base)).exit_code == 0
    out = tmp_path / "q.qir"
    out.write_text("keep me")
    r = run("add-terms", str(base), str(tmp_path / "terms.py"), "-o", str(out), *extra)
    assert r.exit_code == 2 and fragment in r.stderr, r.output
    assert out.read_text() == "keep me"  # a failing run never clobbers the output


def test_add_terms_file_errors_name_file_and_line(tmp_path, qubo_file):
    base = tmp_path / "p.qir"
    assert run("import", str(qubo_file), "-o", str(base)).exit_code == 0
    terms = tmp_path / "terms.py"
    terms.write_text(textwrap.dedent("""\
        def terms(x, problem):
            return x["x0"] + x["x7"]
        """))
    r = run("add-terms", str(base), str(terms), "-o", str(tmp_path / "q.qir"))
    assert r.exit_code == 2
    assert f"{terms}:2: error in terms(): unknown variable 'x7'" in r.stderr
    assert not (tmp_path / "q.qir").exists()
