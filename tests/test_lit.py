"""FileCheck-style pass and diagnostic tests, as LLVM, MLIR and xDSL write them.

Each ``tests/lit/**/NAME.qir`` is both the input and the expectations. Its ``# RUN:`` line says what to
run and pipes the output into `filecheck <https://pypi.org/project/filecheck/>`_ (LLVM FileCheck's
Python port), which matches the file's ``# CHECK:`` lines against it::

    # RUN: qsel opt %s -p canonicalize | filecheck %s
    # CHECK:      coupling a b 0.25
    # CHECK-NEXT: coupling a c 2.5

    # RUN: not qsel opt %s -p bogus 2>&1 | filecheck %s
    # CHECK: qsel: error: unknown pass 'bogus'

Only the lines a case is about are checked, so a change to the printer's summary comments or to an
unrelated field touches no expectation. ``%s`` is the file's path. ``not`` expects the bad-input exit
status 2 (and no traceback); ``2>&1`` checks stderr with stdout (without it only stdout is checked).
``qsel`` runs in this process (click's runner), ``filecheck`` as its own command.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from qsel.cli import main

LIT = Path(__file__).parent / "lit"
CASES = sorted(LIT.rglob("*.qir"))


@dataclass(frozen=True)
class RunLine:
    """A parsed ``# RUN: [not] qsel ARGS [2>&1] | filecheck %s [OPTIONS]``."""

    qsel_args: list[str]
    expect_failure: bool
    with_stderr: bool
    filecheck_args: list[str]


def run_line(path: Path) -> RunLine:
    lines = [line[len("# RUN:"):] for line in path.read_text().splitlines() if line.startswith("# RUN:")]
    assert len(lines) == 1, f"{path}: needs exactly one '# RUN:' line"
    words = shlex.split(lines[0].replace("%s", shlex.quote(str(path))))
    assert words.count("|") == 1, f"{path}: the RUN line pipes qsel into filecheck: 'qsel ... | filecheck %s'"
    bar = words.index("|")
    left, right = words[:bar], words[bar + 1:]
    expect_failure = left[:1] == ["not"]
    left = left[1:] if expect_failure else left
    with_stderr = left[-1:] == ["2>&1"]
    left = left[:-1] if with_stderr else left
    assert left[:1] == ["qsel"], f"{path}: the RUN line runs 'qsel', got {left[:1]}"
    assert right[:1] == ["filecheck"], f"{path}: the RUN line pipes into 'filecheck', got {right[:1]}"
    return RunLine(left[1:], expect_failure, with_stderr, right[1:])


def filecheck(args: list[str], text: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "filecheck", *args], input=text, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("path", CASES, ids=[str(p.relative_to(LIT)) for p in CASES])
def test_lit_case(path: Path):
    run = run_line(path)
    result = CliRunner().invoke(main, run.qsel_args)
    if run.expect_failure:
        assert result.exit_code == 2, f"expected the bad-input status 2, got {result.exit_code}:\n{result.output}"
        assert "Traceback" not in result.output
    else:
        assert result.exit_code == 0, result.output
    checked = filecheck(run.filecheck_args, result.output if run.with_stderr else result.stdout)
    assert checked.returncode == 0, f"filecheck failed:\n{checked.stdout}{checked.stderr}"


def test_there_are_lit_cases_for_passes_and_diagnostics():
    assert len(CASES) >= 10
    assert sum(run_line(p).expect_failure for p in CASES) >= 5
    for path in CASES:
        assert "CHECK" in path.read_text().replace("# RUN:", ""), f"{path}: no CHECK lines"


def test_a_check_that_does_not_match_fails(tmp_path):
    # the harness must be able to fail: filecheck refuses a wrong line, a wrong order and a missing line
    case = tmp_path / "case.qir"
    case.write_text("# CHECK: var a 1.0\n# CHECK-NEXT: var b 2.0\n")
    assert filecheck([str(case)], "var a 1.0\nvar b 2.0\n").returncode == 0
    assert filecheck([str(case)], "var a 1.0\nvar b 3.0\n").returncode != 0
    assert filecheck([str(case)], "var b 2.0\nvar a 1.0\n").returncode != 0
    assert filecheck([str(case)], "").returncode != 0
