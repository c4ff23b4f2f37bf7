"""Faults in outputs (issue 11, items 3, 5 and 7): unwritable outputs, stale and mixed output folders, kills
and concurrent runs, and ``-`` for stdout.

Every bad output gets exit 2 and one ``qsel: error:`` line naming the path, before any input is read (the
inputs below do not exist, so an error about them would mean the work had started), and nothing is left
on disk. Output folders (``emit``, ``select``) are replaced as a whole at the end of a run, locked while it
runs, and cleaned after a signal or, after ``kill -9``, by the next run.

Cases counted (85 bad outputs and faults; 11 of them, the read-only folders, are skipped where permission
bits do not bind, as root):
  69 bad outputs: 9 file commands x 5 kinds (under a file, missing folder, a folder, a fifo, read-only) = 45,
     2 folder commands x 4 kinds (under a file, a file, foreign files, read-only parent) = 8, the current
     folder or one above it (2 x 3), a mount point, 4 writes failing after the check, 1 inside a folder
     output, apply/baseline refusing before loading (2), '-' where no IR text is written (2);
  16 faults: a failed emit into a new and into an old folder (2), stale files of an earlier emit or select
     (2), select failing early, late, into a new folder (3), a kill between the fallback swap's renames (1),
     SIGTERM, SIGINT and kill -9 mid-write (3), a busy folder for emit and select across processes (2) and
     in-process (2), a stale lock (1).
Every one exits 2 with one 'qsel: error:' line (or 143/130 for a signal), no traceback, and leaves no
temporary, staging or lock file (after kill -9: once the next run has swept) and no partial or stale output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qsel import ir
from qsel.ir import outputs
from qsel.frontend.init import init_network
from qsel.frontend.models import save_model
from cli_faults import ROOT, UNWRITABLE_FILE, dense_qubo, example_ir, invoke, ok, one_error, stop_inside, tree

# ---------------------------------------------------------------- helpers


def leftovers(folder: Path) -> list[str]:
    """qsel's temporaries and staging folders anywhere under ``folder``."""
    return [str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.name.endswith((".tmp", ".lock")) or ".qsel-stage-" in p.name or ".qsel-old-" in p.name
            or p.name.startswith(".qsel-emit-")]


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return example_ir(tmp_path)


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("net") / "net.npz"
    save_model(init_network([2, 8, 2], "relu", "kaiming-uniform", 0), path)
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    return dense_qubo(tmp_path_factory.mktemp("big"))


# ---------------------------------------------------------------- item 3: unwritable outputs

MISSING = "/nonexistent-qsel-input"

# command -> (argument list with OUT for the output path, suffix of the output)
FILE_COMMANDS = {
    "solve": (["solve", f"{MISSING}.qir", "-s", "tabu", "-o", "OUT"], ".json"),
    "compose": (["compose", f"{MISSING}/manifest.json", f"{MISSING}/r.json", "-o", "OUT"], ".json"),
    "baseline": (["baseline", f"{MISSING}.npz", "--data", "moons", "--keep", "0.5", "--method", "random",
                  "-o", "OUT"], ".json"),
    "inspect --plot": (["inspect", f"{MISSING}.qir", "--plot", "OUT"], ".png"),
    "compile": (["compile", f"{MISSING}.npz", "--data", "moons", "--keep", "0.5", "-o", "OUT"], ".qir"),
    "apply": (["apply", f"{MISSING}.npz", f"{MISSING}.json", "-o", "OUT"], ".npz"),
    "convert": (["convert", f"{MISSING}.qir", "OUT"], ".qirz"),
    "opt": (["opt", f"{MISSING}.qir", "-p", "canonicalize", "-o", "OUT"], ".qir"),
    "example": (["example", "-o", "OUT"], ".qir"),
}
FOLDER_COMMANDS = {
    "emit": ["emit", f"{MISSING}.qir", "-t", "qubo", "-o", "OUT"],
    "select": ["select", f"{MISSING}.npz", "--data", "moons", "--keep", "0.5", "-o", "OUT"],
}


def _folder_is_a_file(tmp: Path, name: str) -> tuple[Path, str]:
    (tmp / name).write_text("a file\n")
    return tmp / name, "exists and is not a folder"


def _foreign_folder(tmp: Path, name: str) -> tuple[Path, str]:
    (tmp / name).mkdir()
    (tmp / name / "thesis.tex").write_text("not qsel's\n")
    return tmp / name, "it holds thesis.tex but no "


UNWRITABLE_FOLDER = {"under a file": UNWRITABLE_FILE["under a file"], "is a file": _folder_is_a_file,
                     "foreign files": _foreign_folder, "read-only parent": UNWRITABLE_FILE["read-only folder"]}


def _args(template: list[str], out: Path) -> list[str]:
    return [str(out) if a == "OUT" else a for a in template]


@pytest.mark.parametrize("kind", list(UNWRITABLE_FILE))
@pytest.mark.parametrize("command", list(FILE_COMMANDS))
def test_an_unwritable_output_file_is_refused_before_the_work(command, kind, tmp_path):
    if kind == "read-only folder" and ROOT:
        pytest.skip("root writes into read-only folders; the other kinds provoke ENOTDIR, ENOENT, EISDIR")
    template, suffix = FILE_COMMANDS[command]
    out, reason = UNWRITABLE_FILE[kind](tmp_path, "out" + suffix)
    before = tree(tmp_path)
    one_error(invoke(*_args(template, out)), str(out), "cannot write", reason)
    assert tree(tmp_path) == before  # nothing written, no probe or temporary file left


@pytest.mark.parametrize("kind", list(UNWRITABLE_FOLDER))
@pytest.mark.parametrize("command", list(FOLDER_COMMANDS))
def test_an_unwritable_output_folder_is_refused_before_the_work(command, kind, tmp_path):
    if kind == "read-only parent" and ROOT:
        pytest.skip("root writes into read-only folders")
    out, reason = UNWRITABLE_FOLDER[kind](tmp_path, "out")
    before = tree(tmp_path)
    one_error(invoke(*_args(FOLDER_COMMANDS[command], out)), str(out), "cannot write", reason)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("command", ["emit", "select"])
def test_the_current_folder_is_never_an_output_folder(command, tmp_path, monkeypatch):
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "manifest.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    for out in (".", str(tmp_path), ".."):
        one_error(invoke(*_args(FOLDER_COMMANDS[command], Path(out))), "current folder")


def test_a_mount_point_is_refused_as_an_output_folder(small, tmp_path, monkeypatch):
    """A mounted folder (a container's bind mount) cannot be renamed: refused before the work, not at the end."""
    out = tmp_path / "mnt"
    out.mkdir()
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: os.fspath(p) == str(out) or real_ismount(p))
    one_error(invoke("emit", str(small), "-t", "qubo", "-o", str(out)), str(out), "mount point")
    assert list(out.iterdir()) == [] and leftovers(tmp_path) == []


@pytest.mark.slow
def test_an_output_that_fails_at_write_time_is_one_line_naming_it(small, tmp_path, monkeypatch):
    """The folder was writable when checked but the write fails (disk full, permissions changed): the
    OSError becomes 'PATH: cannot write: REASON', exit 2, no temporary file left."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)  # what ir.atomic_write creates its temporary file with
    out = tmp_path / "o"
    out.mkdir()
    cases = [("solve", str(small), "-s", "steepest", "-o", str(out / "r.json")),
             ("opt", str(small), "-o", str(out / "p.qir")),
             ("inspect", str(small), "--plot", str(out / "c.png")),
             ("convert", str(small), str(out / "p.qirz"))]
    for args in cases:
        one_error(invoke(*args), args[-1], "cannot write: Permission denied")
    assert list(out.iterdir()) == []


def test_write_time_failure_inside_a_folder_output_keeps_the_previous_folder(small, tmp_path, monkeypatch):
    out = tmp_path / "e"
    ok("emit", str(small), "-t", "qubo", "-o", str(out))
    before = tree(out)
    from qsel.targets.file_targets import QuboTarget

    def full_disk(self, problem, folder):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(QuboTarget, "emit", full_disk)
    one_error(invoke("emit", str(small), "-t", "qubo", "-o", str(out)), str(out), "No space left on device")
    assert tree(out) == before and leftovers(tmp_path) == []


def test_apply_and_baseline_refuse_their_output_before_loading_anything(net, tmp_path):
    r = invoke("apply", str(net), f"{MISSING}.json", "-o", str(tmp_path / "pruned.txt"))
    one_error(r, "pruned.txt", "unknown model file type")
    r = invoke("baseline", str(net), "--data", "moons", "--keep", "0.5", "--method", "random",
               "-o", str(tmp_path / "nowhere" / "m.json"))
    one_error(r, "m.json", "does not exist")


# ---------------------------------------------------------------- item 5: stale and mixed outputs


def test_a_failed_emit_leaves_no_folder_and_nothing_beside_it(small, tmp_path):
    out = tmp_path / "new" / "deeper" / "out"
    one_error(invoke("emit", str(small), "-t", "qubo", "-p", "", "-o", str(out)), "lower-constraints")
    assert not (tmp_path / "new").exists()  # not the folder, not the parents it would have created
    assert leftovers(tmp_path) == []


def test_a_failed_emit_leaves_the_previous_folder_byte_for_byte(small, tmp_path):
    out = tmp_path / "out"
    ok("emit", str(small), "-t", "dimod-bqm", "-o", str(out))
    before = tree(out)
    one_error(invoke("emit", str(small), "-t", "qubo", "-p", "", "-o", str(out)), "lower-constraints")
    assert tree(out) == before and leftovers(tmp_path) == []


def test_a_new_emit_leaves_no_file_of_the_old_one(small, tmp_path):
    out = tmp_path / "out"
    ok("emit", str(small), "-t", "dimod-bqm", "-p", "canonicalize,lower-constraints,partition{max-vars=4}",
       "-o", str(out))
    assert len(list(out.glob("*.bqm"))) >= 3
    # what earlier qsel versions left inside after a kill: a staging folder and a temporary file
    (out / ".qsel-emit-x1y2").mkdir()
    (out / ".qsel-emit-x1y2" / "block_0.bqm").write_bytes(b"half")
    (out / ".all.qubo.abc123.tmp").write_text("half")
    ok("emit", str(small), "-t", "qubo", "-o", str(out))
    assert sorted(p.name for p in out.iterdir()) == ["all.qubo", "manifest.json"]
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_select_into_an_old_folder_has_only_the_new_targets_files(net, tmp_path):
    out = tmp_path / "sel"
    args = ["select", str(net), "--data", "moons", "--keep", "0.5", "-s", "exact", "--baselines", "random"]
    ok(*args, "-o", str(out))
    assert (out / "target" / "all.bqm").is_file()
    (out / "notes.txt").write_text("written by hand inside a select folder: replaced with the folder\n")
    ok(*args, "-t", "qubo", "-o", str(out))
    assert sorted(p.name for p in (out / "target").iterdir()) == ["all.qubo", "manifest.json"]
    assert not (out / "notes.txt").exists() and leftovers(tmp_path) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["options"]["target"] == "qubo"


@pytest.mark.slow
def test_a_select_failing_late_or_early_keeps_the_previous_folder(net, tmp_path, monkeypatch):
    out = tmp_path / "sel"
    args = ["select", str(net), "--data", "moons", "--keep", "0.5", "-s", "exact", "--baselines", "random"]
    ok(*args, "-o", str(out))
    before = tree(out)
    # early: the data does not fit the model (after the lock, before any file)
    one_error(invoke("select", str(net), "--data", "digits", "--keep", "0.5", "-o", str(out)), "digits")
    assert tree(out) == before and leftovers(tmp_path) == []
    # late: problem, target/, result, pruned model and baselines are written, then the plot fails
    from qsel import plots

    def broken_plot(problem, path):
        raise ir.QselError(f"{path}: cannot draw")

    monkeypatch.setattr(plots, "plot", broken_plot)
    one_error(invoke(*args, "-t", "qubo", "-o", str(out)), "couplings.png: cannot draw")
    assert tree(out) == before and leftovers(tmp_path) == []
    one_error(invoke(*args, "-o", str(tmp_path / "new")), "cannot draw")
    assert not (tmp_path / "new").exists()


def test_the_new_folder_takes_the_old_folders_mode(small, tmp_path):
    out = tmp_path / "out"
    ok("emit", str(small), "-t", "qubo", "-o", str(out))
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~mask  # a new folder: the umask's mode, not mkdtemp's 0700
    assert (out / "all.qubo").stat().st_mode & 0o777 == 0o666 & ~mask
    os.chmod(out, 0o750)
    ok("emit", str(small), "-t", "qubo", "-o", str(out))
    assert out.stat().st_mode & 0o777 == 0o750


def test_the_swap_without_renameat2_and_its_repair_after_a_kill(small, tmp_path, monkeypatch):
    """Where the atomic exchange is missing, two renames; a run killed between them left no folder and the
    old one set aside: the next run puts it back before anything else."""
    monkeypatch.setattr(outputs, "_EXCHANGE", None)
    out = tmp_path / "out"
    ok("emit", str(small), "-t", "dimod-bqm", "-o", str(out))
    ok("emit", str(small), "-t", "qubo", "-o", str(out))
    assert sorted(p.name for p in out.iterdir()) == ["all.qubo", "manifest.json"] and leftovers(tmp_path) == []
    before = tree(out)
    aside = tmp_path / ".out.qsel-old-4242-deadbeef"
    os.rename(out, aside)  # the state kill -9 leaves between the two renames
    (tmp_path / ".out.qsel-stage-abc").mkdir()
    one_error(invoke("emit", str(small), "-t", "qubo", "-p", "", "-o", str(out)), "lower-constraints")
    assert tree(out) == before and leftovers(tmp_path) == []


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()}"
        assert time.monotonic() < end, f"no {what} after {timeout} s"
        time.sleep(0.002)


def _staging(parent: Path, name: str) -> list[Path]:
    return list(parent.glob(f".{name}.qsel-stage-*"))


def _start_emit(big: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qsel.cli", "emit", str(big), "-t", "qubo", "-p", "",
                             "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_from_a_terminal)


def _as_from_a_terminal() -> None:
    """The child takes SIGINT as a user's Ctrl-C would: a run under CI or nohup inherits SIGINT ignored,
    and qsel rightly keeps an inherited ignore."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _writing(out: Path) -> bool:
    """The run is inside the target's write: a temporary file in its staging folder."""
    return any(s.is_dir() and any(s.glob(".*.tmp")) for s in _staging(out.parent, out.name))


def _stopped_mid_write(big: Path, small: Path, out: Path, attempts: int = 5) -> tuple[subprocess.Popen, dict]:
    """A previous folder from ``small`` (and its tree), and an emit of ``big`` stopped (SIGSTOP) while a temporary
    file of its staging folder exists, so a signal sent now lands inside the write, however loaded the machine.
    A run that finished its write between the poll and the stop is let go and the attempt repeated."""
    for _ in range(attempts):
        ok("emit", str(small), "-t", "qubo", "-o", str(out))
        before = tree(out)
        proc = _start_emit(big, out)
        _wait_for(lambda: _writing(out), proc, "temporary file in the staging folder")
        if stop_inside(proc, lambda: _writing(out)):
            return proc, before
        proc.communicate(timeout=120)
    pytest.fail(f"no run was caught inside its write in {attempts} attempts")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_write_cleans_up_and_keeps_the_previous_folder(big, small, sig, tmp_path):
    out = tmp_path / "out"
    proc, before = _stopped_mid_write(big, small, out)
    proc.send_signal(sig)  # pending while stopped; delivered inside the write when the run continues
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (128 + sig if sig == signal.SIGTERM else 130), err
    assert "Traceback" not in err
    assert tree(out) == before
    assert leftovers(tmp_path) == []  # staging folder, its .tmp files and the lock file are gone


@pytest.mark.slow
def test_kill_9_mid_write_leaves_the_folder_intact_and_the_next_run_sweeps(big, small, tmp_path):
    out = tmp_path / "out"
    proc, before = _stopped_mid_write(big, small, out)
    proc.kill()
    proc.communicate(timeout=60)
    assert tree(out) == before  # nothing inside the output folder changed: no .tmp, no staging folder
    assert _staging(tmp_path, "out") and (tmp_path / "out.lock").exists()  # what the dead run left beside it
    assert outputs.FolderLock(out).holder() is None  # its lock died with it
    ok("emit", str(small), "-t", "dimod-bqm", "-o", str(out))  # takes the lock over and sweeps
    assert sorted(p.name for p in out.iterdir()) == ["all.bqm", "manifest.json"]
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_a_second_run_into_a_busy_folder_exits_2_naming_the_first(big, small, net, tmp_path):
    out = tmp_path / "out"
    proc = _start_emit(big, out)
    lock = tmp_path / "out.lock"
    _wait_for(lambda: lock.exists() and f'"pid": {proc.pid}' in lock.read_text(), proc, "lock file")
    proc.send_signal(signal.SIGSTOP)  # holds the lock for as long as the test needs
    try:
        for cmd in ("emit", "select"):
            args = (["emit", str(small), "-t", "qubo"] if cmd == "emit" else
                    ["select", str(net), "--data", "moons", "--keep", "0.5"])
            r = subprocess.run([sys.executable, "-m", "qsel.cli", *args, "-o", str(out)], capture_output=True,
                               text=True, timeout=120)
            assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
            assert f"another qsel run is writing this folder (pid {proc.pid} on " in r.stderr
            assert str(lock) in r.stderr and "Traceback" not in r.stderr
    finally:
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err  # the first run was not disturbed
    assert sorted(p.name for p in out.iterdir()) == ["all.qubo", "manifest.json"] and leftovers(tmp_path) == []


def test_a_held_lock_refuses_emit_and_select_in_process(small, net, tmp_path):
    out = tmp_path / "out"
    held = outputs.FolderLock(outputs._final_path(out))
    held.acquire()
    try:
        line = one_error(invoke("emit", str(small), "-t", "qubo", "-o", str(out)), "another qsel run",
                         f"pid {os.getpid()}")
        assert str(tmp_path / "out.lock") in line
        one_error(invoke("select", str(net), "--data", "moons", "--keep", "0.5", "-o", str(out)),
                  "another qsel run", f"pid {os.getpid()}")
        assert not out.exists()
    finally:
        held.release()
    assert not (tmp_path / "out.lock").exists()
    ok("emit", str(small), "-t", "qubo", "-o", str(out))


def test_a_stale_lock_of_a_dead_process_is_taken_over(small, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "out.lock").write_text(json.dumps({"pid": dead.pid, "host": "h", "started": "t",
                                                   "command": "qsel emit"}) + "\n")
    ok("emit", str(small), "-t", "qubo", "-o", str(tmp_path / "out"))
    assert not (tmp_path / "out.lock").exists() and leftovers(tmp_path) == []


def test_emit_through_a_symlink_replaces_the_folder_it_points_to(small, tmp_path):
    real = tmp_path / "real"
    ok("emit", str(small), "-t", "dimod-bqm", "-o", str(real))
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    ok("emit", str(small), "-t", "qubo", "-o", str(tmp_path / "link"))
    assert (tmp_path / "link").is_symlink()
    assert sorted(p.name for p in real.iterdir()) == ["all.qubo", "manifest.json"] and leftovers(tmp_path) == []


# ---------------------------------------------------------------- item 7: '-' prints IR text


def test_compile_dash_prints_the_ir_text_it_would_write(net, tmp_path):
    args = ["compile", str(net), "--data", "moons", "--keep", "0.5"]
    r = ok(*args, "-o", "-")
    ok(*args, "-o", str(tmp_path / "p.qir"))
    assert r.stdout == (tmp_path / "p.qir").read_text()
    assert ir.text_parser.load_lines(r.stdout.splitlines(True), "<stdout>").num_vars == 8
    assert list(tmp_path.iterdir()) == [tmp_path / "p.qir"]


def test_convert_dash_prints_text_equal_to_the_qir_file(small, tmp_path):
    ok("convert", str(small), str(tmp_path / "p.qirz"))
    r = ok("convert", str(tmp_path / "p.qirz"), "-")
    ok("convert", str(tmp_path / "p.qirz"), str(tmp_path / "back.qir"))
    assert r.stdout == (tmp_path / "back.qir").read_text() and r.stdout.startswith("qsel-ir ")


def test_dash_is_refused_where_the_output_is_not_ir_text(small, tmp_path):
    one_error(invoke("solve", str(small), "-s", "tabu", "-o", "-"), "must end in .json")
    one_error(invoke("emit", str(small), "-t", "qubo", "-o", "-"), "-: cannot write")
