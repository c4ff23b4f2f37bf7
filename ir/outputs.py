"""Outputs the user named: checked before the work, written all or nothing, never stale, never shared.

Every command that writes calls one of these before it starts working, so a
path it cannot write is a ``qsel: error:`` naming the path (exit 2) within a
second, not a PermissionError after minutes of solving:

* :func:`check_file` — one file (``result.json``, ``p.qir``, ``plot.png``,
  ``pruned.npz``): its folder exists, is a folder and takes a new file (a
  real probe: a file is created and removed there, which also catches
  read-only mounts and ACLs that mode bits do not show); the path is not a
  folder or a device. The file itself is written later with
  :func:`qsel.ir.atomic_write` (temporary sibling, then rename) inside
  :func:`writing`, which turns an ``OSError`` at write time into the same
  one-line error.
* :func:`replace_folder` — a folder (``emit``, ``select``): the new contents
  are written into a staging folder beside it and swapped in at the end, so
  the folder holds either the previous run's complete output or this run's,
  nothing from both (a ``select -t qubo`` after ``-t dimod-bqm`` leaves no
  ``target/all.bqm``), and a failed run leaves no folder, empty or partial.

**Locking.** A folder output is locked for the whole run by ``<OUT>.lock``
beside it: a second run into the same folder exits 2 naming the holder (pid,
host, start time, command line). The lock is an ``flock`` on that file, so a
run killed with ``kill -9`` holds nothing: the next run takes the lock over
and removes what the dead run left (staging folders named
``.<OUT>.qsel-stage-*``, a folder set aside mid-swap). Hand-written rather
than ``filelock``/``fasteners`` because neither records who holds a lock (the
message has to name the holder) and because the file is removed on release,
which needs the inode check in :class:`FolderLock` to stay race-free.

**Signals.** While a folder is staged or a file is written, SIGTERM and SIGHUP
raise :class:`Terminated` (exit status 128 + signal) and SIGINT raises
KeyboardInterrupt, so the ``finally`` clauses remove staging folders and
temporary files; the swap and the cleanup itself run with signals deferred.
Outside those moments the signals keep their default action; a disposition
someone set to "ignore" (``nohup``) is left alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import secrets
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from qsel import ir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

STAGE = "qsel-stage"  # .<name>.qsel-stage-<random>: this run's new folder, beside the output
ASIDE = "qsel-old"  # .<name>.qsel-old-<random>: the previous folder during the fallback swap
# what earlier qsel versions left inside an emit folder: staging folders and atomic-write temporaries
_LEGACY_PREFIXES = (".qsel-emit-",)


class Terminated(SystemExit):
    """SIGTERM/SIGHUP during a write: unwinds like an exception (cleanup runs), exits 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


# ---------------------------------------------------------------- signals

_sig = {"installed": False, "owner": 0, "active": 0, "shield": 0, "pending": None}


def _handler(signum: int, frame) -> None:
    if os.getpid() != _sig["owner"]:  # a forked worker: behave as if no handler were installed
        signal.signal(signum, signal.SIG_DFL if signum != signal.SIGINT else signal.default_int_handler)
        os.kill(os.getpid(), signum)
        return
    if _sig["shield"]:
        _sig["pending"] = signum
        return
    _raise_for(signum)


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    if not _sig["active"]:  # nothing of ours half-written: the default action (terminate)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    os.write(2, f"qsel: terminated by signal {signum}; removing partial outputs\n".encode())
    raise Terminated(signum)


def _install() -> None:
    """Route SIGINT/SIGTERM/SIGHUP through :func:`_handler` (main thread only; 'ignore' is kept)."""
    if _sig["installed"] and _sig["owner"] == os.getpid():
        return
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        current = signal.getsignal(signum)
        if current in (signal.SIG_DFL, signal.default_int_handler) or current is _handler:
            signal.signal(signum, _handler)
    _sig.update(installed=True, owner=os.getpid())


@contextlib.contextmanager
def _active() -> Iterator[None]:
    """While inside: SIGTERM/SIGHUP raise Terminated instead of killing the process outright."""
    _install()
    _sig["active"] += 1
    try:
        yield
    finally:
        _sig["active"] -= 1


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Defer signals (renames, cleanup); a signal that arrived meanwhile is raised on the way out."""
    _sig["shield"] += 1
    done = False
    try:
        yield
        done = True
    finally:
        _sig["shield"] -= 1
        pending = _sig["pending"]
        if not _sig["shield"] and pending is not None:
            _sig["pending"] = None
            if done:  # an error already unwinding goes on; the process exits through it
                _raise_for(pending)


# ---------------------------------------------------------------- single files


def _fail(path: str | os.PathLike, what: str) -> ir.QselError:
    return ir.QselError(f"{path}: cannot write: {what}")


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _probe(folder: Path, path: str | os.PathLike) -> None:
    """Create and remove a file in ``folder``: the only test that sees ACLs, read-only mounts, quotas."""
    probe = folder / f".{Path(path).name or 'qsel'}.{os.getpid()}.probe.tmp"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(probe)  # left by a killed process with our pid
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise _fail(path, f"{_reason(exc)} (in folder '{folder}')") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_file(path: str | os.PathLike, *, stdout_ok: bool = False) -> None:
    """Refuse, before any work, a file output that cannot be written ('-' is stdout where ``stdout_ok``)."""
    if stdout_ok and str(path) == "-":
        return
    p = Path(path)
    if not str(path) or not p.name:
        raise _fail(path, "not a file name")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.exists():
        anc = _nearest_existing(folder)
        if anc is not None and not anc.is_dir():
            raise _fail(path, f"'{anc}' is a file, not a folder")
        raise _fail(path, f"folder '{folder}' does not exist")
    if not folder.is_dir():
        raise _fail(path, f"'{folder}' is a file, not a folder")
    if p.is_dir():
        raise _fail(path, "it is a folder")
    if p.exists() and not p.is_file():
        raise _fail(path, "it is not a regular file (a device, pipe or socket); qsel replaces outputs "
                          "by renaming a new file over them")
    _probe(folder, path)
    _install()


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Write ``path`` in here: an OSError becomes 'PATH: cannot write: REASON'; signals clean up."""
    with _active():
        try:
            yield
        except OSError as exc:
            raise _fail(path, _reason(exc)) from None


def _nearest_existing(p: Path) -> Path | None:
    for q in (p, *p.parents):
        if os.path.lexists(q):
            return q
    return None


# ---------------------------------------------------------------- folders


@dataclass
class LockInfo:
    """Who holds a folder's lock (what the lock file says)."""

    pid: int | None
    host: str
    started: str
    command: str

    def describe(self) -> str:
        if self.pid is None:
            return "a qsel run that is just starting"
        return f"pid {self.pid} on {self.host}, started {self.started}: {self.command}"


class FolderLock:
    """An exclusive ``flock`` on ``<folder>.lock`` holding the holder's pid, host, start time and command.

    The kernel drops an ``flock`` when its process dies, so a lock left by ``kill -9`` is simply taken
    over. The file is removed on release; a run that opened the file just before that removal would
    lock an unlinked inode, so after locking we check that the path still names our inode and retry
    otherwise.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder.parent / f"{folder.name}.lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        if fcntl is None:  # pragma: no cover - Windows: no locking
            return
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise _fail(self.folder, f"cannot create the lock file {self.path}: {_reason(exc)}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = self._read(fd)
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise _fail(self.folder, f"cannot lock {self.path}: {_reason(exc)}") from None
                raise ir.QselError(f"{self.folder}: another qsel run is writing this folder ({holder.describe()}); "
                                   f"wait for it or choose another folder (lock file {self.path})") from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the holder removed the file between our open and our lock: take the new one
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv)[:300]}
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(info) + "\n").encode())
        self.fd = fd

    @staticmethod
    def _read(fd: int) -> LockInfo:
        try:
            d = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "null")
        except (OSError, ValueError):
            d = None
        if not isinstance(d, dict):
            return LockInfo(None, "", "", "")
        pid = d.get("pid")
        return LockInfo(pid if isinstance(pid, int) else None, str(d.get("host", "?")), str(d.get("started", "?")),
                        str(d.get("command", "?")))

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # while still locked: nobody can hold this inode now
        os.close(self.fd)
        self.fd = None

    def holder(self) -> LockInfo | None:
        """Who holds the lock now (None: nobody); for messages and tests."""
        if fcntl is None or not self.path.exists():  # pragma: no cover
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return self._read(fd)
        finally:
            os.close(fd)
        return None


def _final_path(path: str | os.PathLike) -> Path:
    """Absolute, normalised; a symlink to a folder is replaced at its target (the link stays)."""
    p = Path(os.path.abspath(path))
    return Path(os.path.realpath(p)) if p.is_symlink() else p


def _is_ours(entry: os.DirEntry) -> bool:
    """A leftover of an earlier qsel run inside an output folder (staging folder or temporary file)."""
    return entry.name.startswith(_LEGACY_PREFIXES) or (entry.name.startswith(".") and entry.name.endswith(".tmp"))


def check_folder(path: str | os.PathLike, *, marker: str, what: str) -> Path:
    """Refuse, before any work, a folder output that cannot be written or that holds someone else's files.

    The folder is replaced as a whole, so an existing one must be empty, hold ``marker`` (it is an earlier
    ``what`` output) or hold only qsel leftovers; anything else would be deleted, so it is refused.
    """
    if str(path) in ("", "-"):
        raise _fail(path or "''", "an output folder needs a name ('-', stdout, is for IR text)")
    final = _final_path(path)
    if final == final.parent:
        raise _fail(path, "the root folder cannot be an output folder")
    cwd, real = Path(os.path.realpath(os.getcwd())), Path(os.path.realpath(final))
    if real == cwd or real in cwd.parents:
        raise _fail(path, "it is the current folder or holds it; choose a folder below it")
    if os.path.lexists(final):
        if not final.is_dir():
            raise _fail(path, "exists and is not a folder")
        if os.path.ismount(final):  # rename would fail with EBUSY after all the work
            raise _fail(path, "it is a mount point, which cannot be replaced; choose a folder inside it")
        try:
            entries = list(os.scandir(final))
        except OSError as exc:
            raise _fail(path, _reason(exc)) from None
        if entries and not (final / marker).exists() and not all(_is_ours(e) for e in entries):
            foreign = sorted(e.name for e in entries if not _is_ours(e))
            names = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise _fail(path, f"it holds {names} but no {marker}, so it is not a {what} output; qsel replaces "
                              f"the whole folder: choose a new or empty folder")
        _probe(final.parent, path)
    else:
        anc = _nearest_existing(final.parent)
        if anc is None or not anc.is_dir():
            raise _fail(path, f"'{anc}' is a file, not a folder")
        _probe(anc, path)
    _install()
    return final


def _sweep(final: Path) -> None:
    """Remove what dead runs left beside ``final`` (we hold its lock, so no live run owns any of it).

    A run killed between the two renames of the fallback swap left no folder and the previous one set
    aside: that one is put back first.
    """
    parent = final.parent
    prefix = f".{final.name}."
    try:
        entries = [e for e in os.scandir(parent) if e.name.startswith(prefix)
                   and e.name[len(prefix):].startswith((STAGE + "-", ASIDE + "-"))]
    except OSError:
        return
    aside = sorted((e for e in entries if e.name[len(prefix):].startswith(ASIDE)), key=lambda e: e.stat().st_mtime)
    if aside and not os.path.lexists(final):
        os.rename(aside[-1].path, final)
        entries = [e for e in entries if e.path != aside[-1].path]
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            shutil.rmtree(e.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(e.path)


def _exchange_fn():
    """renameat2(RENAME_EXCHANGE) from libc: swaps two folders in one atomic step (Linux >= 3.15)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_EXCHANGE = _exchange_fn()
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap folders ``a`` and ``b``; False where the system or file system cannot."""
    if _EXCHANGE is None:
        return False
    if _EXCHANGE(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_in(staged: Path, final: Path) -> None:
    """Put folder ``staged`` at ``final``; the previous ``final`` (if any) is removed.

    No previous folder: one ``rename``, atomic. A previous folder: ``rename`` cannot replace a non-empty
    folder, so on Linux ``renameat2(RENAME_EXCHANGE)`` swaps the two in one atomic step (readers see the
    old folder or the new one, never neither) and the old one, now at the staging name, is removed. Where
    that call is missing (other systems, some file systems) it takes two renames: the old folder is set
    aside as ``.<name>.qsel-old-*``, then the staged one is renamed in. Between those two renames ``final``
    does not exist; signals are deferred across them, and a run killed there (kill -9) is repaired by the
    next run, which puts the set-aside folder back before anything else (:func:`_sweep`).
    """
    with _shielded():
        if not os.path.lexists(final):
            os.rename(staged, final)
            return
        if _exchange(staged, final):
            shutil.rmtree(staged, ignore_errors=True)
            return
        aside = final.parent / f".{final.name}.{ASIDE}-{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(final, aside)
        os.rename(staged, final)
        shutil.rmtree(aside, ignore_errors=True)


def _default_dir_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def _finish_modes(staged: Path, final: Path) -> None:
    """mkdtemp/mkstemp create 0700/0600: give the new folder the old one's mode (or the umask's) and its
    files the mode a plain open() would."""
    mode = stat.S_IMODE(final.stat().st_mode) if final.is_dir() else _default_dir_mode()
    os.chmod(staged, mode)
    file_mode = ir.io.default_file_mode()
    for root, dirs, names in os.walk(staged):
        for name in names:
            p = os.path.join(root, name)
            if not os.path.islink(p) and stat.S_IMODE(os.stat(p).st_mode) == 0o600:
                os.chmod(p, file_mode)


@contextlib.contextmanager
def replace_folder(path: str | os.PathLike, *, marker: str, what: str = "qsel") -> Iterator[Path]:
    """Stage a folder output: yields an empty folder beside ``path``; on success it replaces ``path``.

    Before yielding: :func:`check_folder`, the lock (:class:`FolderLock`), removal of dead runs' leftovers.
    On an error or a signal the staging folder (and any parent folders this created) is removed and the
    previous folder is untouched; the lock is released either way.
    """
    final = check_folder(path, marker=marker, what=what)
    created: list[Path] = []
    for q in reversed([final.parent, *final.parent.parents]):
        if not os.path.lexists(q):
            try:
                q.mkdir()
            except FileExistsError:
                continue  # another run made it meanwhile: not ours to remove
            except OSError as exc:
                _rmdirs(created)
                raise _fail(path, f"cannot create folder '{q}': {_reason(exc)}") from None
            created.append(q)
    lock = FolderLock(final)
    staged: Path | None = None
    with _active():
        try:
            lock.acquire()
            _sweep(final)
            try:
                staged = Path(tempfile.mkdtemp(prefix=f".{final.name}.{STAGE}-", dir=final.parent))
            except OSError as exc:
                raise _fail(path, _reason(exc)) from None
            try:
                yield staged
                if not (staged / marker).exists():
                    raise ir.QselError(f"{path}: internal error: the run wrote no {marker}; the previous "
                                       f"folder is kept")
                _finish_modes(staged, final)
                swap_in(staged, final)
            except OSError as exc:
                raise _fail(path, _reason(exc)) from None
            staged = None
        finally:
            with _shielded():
                if staged is not None:
                    shutil.rmtree(staged, ignore_errors=True)
                lock.release()
                if staged is not None or not final.exists():
                    _rmdirs(created)


def _rmdirs(created: list[Path]) -> None:
    for q in reversed(created):
        with contextlib.suppress(OSError):
            q.rmdir()
