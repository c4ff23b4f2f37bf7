"""Helpers the fault tests of qsel's outputs share (tests/test_faults_outputs*.py): running the CLI in
process, the one-error-line check, a folder's contents, whether permission bits bind here, and catching a
child inside its write (:func:`stop_inside`)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from click.testing import CliRunner

from qsel import ir
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


# ways an output file cannot be written: kind -> (tmp, name) -> (the path, what the error says)
def _under_a_file(tmp: Path, name: str) -> tuple[Path, str]:
    (tmp / "plain").write_text("a file, not a folder\n")
    return tmp / "plain" / name, "is a file, not a folder"


def _missing_folder(tmp: Path, name: str) -> tuple[Path, str]:
    return tmp / "no-such-folder" / name, "does not exist"


def _is_a_folder(tmp: Path, name: str) -> tuple[Path, str]:
    (tmp / name).mkdir()
    return tmp / name, "it is a folder"


def _a_fifo(tmp: Path, name: str) -> tuple[Path, str]:
    os.mkfifo(tmp / name)
    return tmp / name, "not a regular file"


def _read_only_folder(tmp: Path, name: str) -> tuple[Path, str]:
    (tmp / "ro").mkdir()
    os.chmod(tmp / "ro", 0o555)
    return tmp / "ro" / name, "Permission denied"


UNWRITABLE_FILE = {"under a file": _under_a_file, "missing folder": _missing_folder, "is a folder": _is_a_folder,
                   "fifo": _a_fifo, "read-only folder": _read_only_folder}


def example_ir(tmp_path: Path) -> Path:
    """The built-in example layer (10 units, keep 0.3) written to tmp_path/in/p.qir."""
    path = tmp_path / "in" / "p.qir"
    path.parent.mkdir()
    ok("example", "--units", "10", "--keep", "0.3", "-o", str(path))
    return path


def dense_qubo(folder: Path, n: int = 1500) -> Path:
    """A dense n-variable QUBO (seeded) in folder/big.qirz: with n = 1,500, writing it as .qubo or IR text
    (22 MB) takes a second or more, long enough to kill the writer."""
    rng = np.random.default_rng(11)
    path = folder / "big.qirz"
    ir.save(ir.Problem.from_qubo_matrix(np.triu(rng.standard_normal((n, n)))), path)
    return path


def _stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rpartition(")")[2].split()[0] in ("T", "t")


def stop_inside(proc: subprocess.Popen, inside: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Stop ``proc`` (SIGSTOP) and say whether ``inside()`` still holds once it is stopped, so that a signal or
    a kill sent now lands there, however loaded the machine (a signal sent to a stopped process waits for
    SIGCONT). Where the run got past it between the caller's poll and the stop, it is let go (SIGCONT) and
    False comes back: the caller lets it finish and tries again."""
    proc.send_signal(signal.SIGSTOP)
    end = time.monotonic() + timeout
    while not _stopped(proc.pid):
        assert time.monotonic() < end, f"process {proc.pid} did not stop in {timeout} s"
        time.sleep(0.001)
    if inside():
        return True
    proc.send_signal(signal.SIGCONT)
    return False
