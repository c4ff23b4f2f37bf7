"""Faults in outputs, continued (issue 11, items 3 and 5): the commands that tests/test_faults_outputs.py does
not cover (``init``, ``train``, ``import``, ``add-terms``, ``submit``), and what ``kill -9`` leaves beside a
single-file output.

An output these commands cannot write is refused before the work (the inputs below do not exist, so an
error about them would mean the work had started; ``submit`` does not reach its credentials check): exit 2,
one ``qsel: error:`` line naming the path, no traceback, nothing created. A write that fails after the check
is the same one line. A single file is written through a temporary ``.NAME.qsel-tmp-PID-XXXXXXXX.tmp``
beside it; ``kill -9`` leaves that file, and the next write of the same output removes it when PID is dead,
never a live process's file or a file of another name.

Cases counted (43 bad outputs and faults; 7 of them, the read-only folders, are skipped where permission
bits do not bind, as root):
  35 unwritable outputs: 7 command lines (init, init --conv, train, import, add-terms, submit --local,
     submit to a device) x 5 kinds (under a file, missing folder, a folder, a fifo, read-only folder);
   5 writes failing after the check (init, train, import, add-terms, submit --local);
   3 kills: kill -9 mid-write then a re-run (which sweeps the dead pid's temporary and leaves a live pid's,
     an older-style name and another output's alone), SIGTERM mid-write, a leftover carrying this process's
     own pid (an earlier run killed with the same pid, as in containers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qsel import ir
from cli_faults import ROOT, UNWRITABLE_FILE, dense_qubo, example_ir, invoke, ok, one_error, stop_inside, tree

# ---------------------------------------------------------------- helpers


def temporaries(folder: Path) -> list[str]:
    """atomic_write's temporaries and check_file's probes anywhere under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.endswith(".tmp"))


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return example_ir(tmp_path)


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    return dense_qubo(tmp_path_factory.mktemp("big"))


# ---------------------------------------------------------------- unwritable outputs, before the work

MISSING = "/nonexistent-qsel-input"

# command line -> (argument list with OUT for the output path, suffix of the output)
FILE_COMMANDS = {
    "init": (["init", "--sizes", "2,4,2", "-o", "OUT"], ".npz"),
    "init --conv": (["init", "--conv", "2", "--input-shape", "1,8,8", "--sizes", "10", "-o", "OUT"], ".npz"),
    "train": (["train", f"{MISSING}.npz", "--data", "moons", "--epochs", "1", "-o", "OUT"], ".npz"),
    "import": (["import", f"{MISSING}.lp", "-o", "OUT"], ".qirz"),
    "add-terms": (["add-terms", f"{MISSING}.qir", f"{MISSING}.py", "-o", "OUT"], ".qir"),
    "submit --local": (["submit", f"{MISSING}.qir", "--to", "dwave", "--local", "-o", "OUT"], ".json"),
    # no --local: the output is refused before the credentials are looked for, so no account is needed
    "submit": (["submit", f"{MISSING}.qir", "--to", "ibm", "-o", "OUT"], ".json"),
}


def _args(template: list[str], out: Path) -> list[str]:
    return [str(out) if a == "OUT" else a for a in template]


@pytest.mark.parametrize("kind", list(UNWRITABLE_FILE))
@pytest.mark.parametrize("command", list(FILE_COMMANDS))
def test_an_unwritable_output_is_refused_before_the_work(command, kind, tmp_path, monkeypatch):
    if kind == "read-only folder" and ROOT:
        pytest.skip("root writes into read-only folders; the other kinds provoke ENOTDIR, ENOENT, EISDIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # submit: no saved account, and nothing written there
    template, suffix = FILE_COMMANDS[command]
    out, reason = UNWRITABLE_FILE[kind](tmp_path, "out" + suffix)
    before = tree(tmp_path)
    one_error(invoke(*_args(template, out)), str(out), "cannot write", reason)
    assert tree(tmp_path) == before  # nothing written, no probe or temporary file left


# ---------------------------------------------------------------- writes failing after the check

LP = "Minimize\n obj: x + y\nSubject To\n c1: x + y >= 1\nBinary\n x y\nEnd\n"
TERMS = "def terms(x, problem):\n    return 0.5 * x['fc1.n0'] * x['fc1.n1']\n"


def _late_args(command: str, small: Path, tmp: Path, out: Path) -> list[str]:
    if command == "init":
        return ["init", "--sizes", "2,4,2", "-o", str(out / "m.npz")]
    if command == "train":
        ok("init", "--sizes", "2,4,2", "-o", str(tmp / "m.npz"))
        return ["train", str(tmp / "m.npz"), "--data", "moons", "--samples", "64", "--epochs", "1",
                "-o", str(out / "t.npz")]
    if command == "import":
        (tmp / "p.lp").write_text(LP)
        return ["import", str(tmp / "p.lp"), "-o", str(out / "p.qirz")]
    if command == "add-terms":
        (tmp / "terms.py").write_text(TERMS)
        return ["add-terms", str(small), str(tmp / "terms.py"), "-o", str(out / "p.qir")]
    return ["submit", str(small), "--to", "dwave-hybrid", "--local", "--seed", "1", "-o", str(out / "r.json")]


@pytest.mark.parametrize("command", ["init", "train", "import", "add-terms",
                                     pytest.param("submit", marks=pytest.mark.slow)])
def test_a_write_failing_after_the_check_is_one_line_naming_the_output(command, small, tmp_path, monkeypatch):
    """The folder took the probe, then the write fails (disk full, permissions changed meanwhile): the OSError
    becomes 'PATH: cannot write: REASON', exit 2, nothing left in the folder."""
    import tempfile

    out = tmp_path / "o"
    out.mkdir()
    args = _late_args(command, small, tmp_path, out)

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # what ir.atomic_write creates its temporary file with
    one_error(invoke(*args), args[-1], "cannot write: Permission denied")
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    ok(*args)  # the same command line works once the folder takes files
    assert [p.name for p in out.iterdir()] == [Path(args[-1]).name]


# ---------------------------------------------------------------- kills during a single-file write


def _start_convert(big: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qsel.cli", "convert", str(big), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _own_temporaries(out: Path, pid: int) -> list[Path]:
    return list(out.parent.glob(f".{out.name}.{ir.io.TMP_TAG}-{pid}-*.tmp"))


def _wait_for_temporary(out: Path, proc: subprocess.Popen, timeout: float = 120.0) -> Path:
    end = time.monotonic() + timeout
    while not (found := _own_temporaries(out, proc.pid)):
        assert proc.poll() is None, f"the run ended before writing a temporary file: {proc.communicate()}"
        assert time.monotonic() < end, f"no temporary file after {timeout} s"
        time.sleep(0.002)
    return found[0]


def _stopped_mid_write(big: Path, small: Path, out: Path, attempts: int = 5) -> tuple[subprocess.Popen, Path, bytes]:
    """A previous ``out`` converted from ``small`` (its bytes), and a convert of ``big`` into it stopped while
    its temporary exists (:func:`stop_inside`); a run that finished first is let go and the attempt repeated."""
    for _ in range(attempts):
        ok("convert", str(small), str(out))
        before = out.read_bytes()
        proc = _start_convert(big, out)
        tmp = _wait_for_temporary(out, proc)
        if stop_inside(proc, tmp.exists):
            return proc, tmp, before
        proc.communicate(timeout=120)
    pytest.fail(f"no run was caught inside its write in {attempts} attempts")


@pytest.mark.slow
def test_kill_9_mid_write_leaves_a_temporary_that_the_next_write_removes(big, small, tmp_path):
    out = tmp_path / "o" / "p.qir"
    out.parent.mkdir()
    proc, tmp, before = _stopped_mid_write(big, small, out)  # the temporary's name carries the writer's pid
    proc.kill()
    proc.communicate(timeout=60)
    assert out.read_bytes() == before  # the output itself is untouched
    assert tmp.exists() and temporaries(tmp_path) == [f"o/{tmp.name}"]  # what the dead run left beside it

    # files the sweep must leave alone: a live writer's temporary, other names, another output's leftover
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        keep = [out.parent / f".p.qir.{ir.io.TMP_TAG}-{live.pid}-abcd1234.tmp",  # a live process writing it now
                out.parent / ".p.qir.abc123.tmp",  # an older qsel's name: no pid to test
                out.parent / f".p.qir.{ir.io.TMP_TAG}-x{dead_pid()}-abcd1234.tmp",  # not the pattern
                out.parent / f".other.qir.{ir.io.TMP_TAG}-{dead_pid()}-abcd1234.tmp",  # another output
                out.parent / "notes.txt"]
        for p in keep:
            p.write_text("not this run's to remove\n")
        r = subprocess.run([sys.executable, "-m", "qsel.cli", "convert", str(small), str(out)], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert not tmp.exists()
        assert sorted(p.name for p in out.parent.iterdir()) == sorted([out.name, *(p.name for p in keep)])
        assert all(p.read_text() == "not this run's to remove\n" for p in keep)
        assert out.read_bytes() == before
    finally:
        live.kill()
        live.wait()


@pytest.mark.slow
def test_sigterm_mid_write_removes_the_temporary_and_keeps_the_previous_file(big, small, tmp_path):
    out = tmp_path / "p.qir"
    proc, _, before = _stopped_mid_write(big, small, out)
    proc.send_signal(signal.SIGTERM)  # pending while stopped; delivered inside the write when the run continues
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert out.read_bytes() == before and temporaries(tmp_path) == []


def test_a_leftover_with_this_processs_own_pid_is_removed(small, tmp_path):
    """In a container every run may have the same pid (1): a temporary carrying it that this process is not
    writing was left by an earlier, killed run, and is removed; a dead pid's too."""
    out = tmp_path / "o" / "r.qirz"
    out.parent.mkdir()
    mine = out.parent / f".r.qirz.{ir.io.TMP_TAG}-{os.getpid()}-zz99zz99.tmp"
    dead = out.parent / f".r.qirz.{ir.io.TMP_TAG}-{dead_pid()}-a_b_c_d_.tmp"
    for p in (mine, dead):
        p.write_bytes(b"half a file")
    ok("convert", str(small), str(out))
    assert [p.name for p in out.parent.iterdir()] == ["r.qirz"]
    assert ir.load(out).num_vars == ir.load(small).num_vars
