"""Helpers the fault tests of qsel's outputs share (tests/test_faults_outputs*.py): running the CLI in
process, the one-error-line check, a folder's contents, and whether permission bits bind here."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from click.testing import CliRunner

from qsel.cli import main


def _permissions_bind() -> bool:
    """False as root (or with CAP_DAC_OVERRIDE): then a read-only folder takes files and cannot be tested."""
    with tempfile.TemporaryDirectory() as tmp:
        ro = Path(tmp) / "ro"
        ro.mkdir()
        os.chmod(ro, 0o555)
        try:
            (ro / "x").write_text("")
        except PermissionError:
            return True
        finally:
            os.chmod(ro, 0o755)
        return False


ROOT = not _permissions_bind()  # root ignores permission bits: read-only cases are skipped there


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def ok(*args: str):
    r = invoke(*args)
    assert r.exit_code == 0, (r.output, r.exception)
    return r


def one_error(r, *needles: str) -> str:
    """Exit 2, one stderr line 'qsel: error: ...' (the last; notes may come before it) holding every needle,
    no traceback."""
    assert r.exit_code == 2, (r.output, r.exception)
    lines = r.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("qsel: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], r.stderr
    assert "Traceback" not in r.output
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` (hidden ones too) with its bytes (None for folders and fifos)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}
