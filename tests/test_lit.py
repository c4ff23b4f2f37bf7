"""File-check style pass tests: each ``tests/lit/**/NAME.qir`` has a ``# RUN:`` line and the
exact expected output next to it in ``NAME.expected.qir``.

Regenerate an expected file after an intended change with
``qsel opt tests/lit/x/NAME.qir -p PIPELINE > tests/lit/x/NAME.expected.qir`` and review the diff.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from qsel.cli import main

LIT = Path(__file__).parent / "lit"
CASES = sorted(p for p in LIT.rglob("*.qir") if not p.name.endswith(".expected.qir"))


def run_line(path: Path) -> list[str]:
    for line in path.read_text().splitlines():
        if line.startswith("# RUN:"):
            argv = shlex.split(line[len("# RUN:"):].replace("%s", str(path)))
            assert argv[0] == "qsel", f"{path}: RUN lines start with 'qsel'"
            return argv[1:]
    raise AssertionError(f"{path}: no '# RUN:' line")


@pytest.mark.parametrize("path", CASES, ids=[str(p.relative_to(LIT)) for p in CASES])
def test_lit_case(path: Path):
    result = CliRunner().invoke(main, run_line(path))
    assert result.exit_code == 0, result.output
    expected = path.with_name(path.stem + ".expected.qir").read_text()
    assert result.stdout == expected


def test_there_are_lit_cases():
    assert len(CASES) >= 3
