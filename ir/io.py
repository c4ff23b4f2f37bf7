"""Loading and saving IR files; the format follows the suffix (``.qir`` text, ``.qirz`` binary).

Every save is atomic: the data goes to a temporary file in the destination's
folder, is flushed to disk, then renamed over the destination, so a crash or
an error never leaves a half-written output behind. Every load runs the
verifier.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator

from . import binary_format, text_parser, text_printer
from .errors import FormatError, QselError
from .problem import Problem
from .verifier import verify

TEXT_SUFFIXES = (".qir",)
BINARY_SUFFIXES = (".qirz",)
Progress = Callable[[int], None]


def format_of(path: str | os.PathLike, *, sniff: bool = False) -> str:
    """'text' or 'binary' from the suffix; with ``sniff``, from the first bytes when the suffix is unknown."""
    p = Path(path)
    if p.suffix in TEXT_SUFFIXES:
        return "text"
    if p.suffix in BINARY_SUFFIXES:
        return "binary"
    if sniff and p.is_file():
        with open(p, "rb") as fh:
            head = fh.read(len(binary_format.MAGIC))
        if head == binary_format.MAGIC:
            return "binary"
        if head.startswith(text_printer.MAGIC_LINE.encode()[: len(head)]) and head:
            return "text"
    raise QselError(f"{path}: unknown IR file type {p.suffix!r} (use .qir for text or .qirz for binary)")


def default_file_mode() -> int:
    """The mode a plain open() would give a new file: 0o666 minus the umask (mkstemp uses 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


TMP_TAG = "qsel-tmp"  # atomic_write's temporaries: .NAME.qsel-tmp-PID-XXXXXXXX.tmp, PID the writer's
_TMP_NAME = re.compile(r"\.(?P<name>.+)\.qsel-tmp-(?P<pid>[1-9][0-9]{0,9})-[a-z0-9_]{1,32}\.tmp")
_WRITING: set[str] = set()  # names of this process's temporaries being written now
# folder (dev, inode) -> (its mtime when listed or last written by us, leftovers by output name)
_LISTED: dict[tuple[int, int], tuple[int, dict[str, list[str]]]] = {}


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (``kill(pid, 0)``; EPERM is another user's live process)."""
    if os.name != "posix":  # on Windows os.kill terminates the process: never sweep there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def sweep_temporaries(path: str | os.PathLike) -> list[str]:
    """Remove the temporaries that killed writers of ``path`` left beside it; return what was removed.

    ``kill -9`` during :func:`atomic_write` leaves ``.NAME.qsel-tmp-PID-XXXXXXXX.tmp``. A file is removed
    only if its name has exactly that form for this NAME, it is a regular file, and PID is dead (or is
    this process, which is not writing that file: an earlier run killed with the same pid, as in a
    container where every run is pid 1). Files of a live pid and any other name are never touched.
    PID is only meaningful on this host: two hosts (or pid namespaces) writing one output at the same
    moment on a shared file system could see each other's temporary as dead; the writer whose file was
    swept then fails with a one-line "cannot write", nothing is corrupted.

    A folder is listed again only when its mtime differs from the one recorded at the last listing or
    the last write of this process (a folder of n files written one by one would otherwise cost n
    listings of n entries); a leftover made in between by a run that died meanwhile waits for a later run.
    """
    dest = Path(path)
    folder = dest.parent if str(dest.parent) else Path(".")
    removed: list[str] = []
    try:
        st = os.stat(folder)
        key = (st.st_dev, st.st_ino)
        if key not in _LISTED or _LISTED[key][0] != st.st_mtime_ns:
            if len(_LISTED) > 4096:  # a long-lived process writing into many folders
                _LISTED.clear()
            found: dict[str, list[str]] = {}
            with os.scandir(folder) as entries:
                for e in entries:
                    m = _TMP_NAME.fullmatch(e.name)
                    if m and e.is_file(follow_symlinks=False):
                        found.setdefault(m["name"], []).append(e.path)
            _LISTED[key] = (st.st_mtime_ns, found)
        leftovers = _LISTED[key][1].pop(dest.name, [])
    except OSError:
        return removed
    for tmp in leftovers:
        pid = int(_TMP_NAME.fullmatch(os.path.basename(tmp))["pid"])
        if (pid == os.getpid() and os.path.basename(tmp) in _WRITING) or (pid != os.getpid() and _pid_alive(pid)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(tmp)
            removed.append(tmp)
    return removed


def _written(folder: Path) -> None:
    """Record the folder's mtime after our own write, so the next write into it does not list it again."""
    with contextlib.suppress(OSError):
        st = os.stat(folder)
        key = (st.st_dev, st.st_ino)
        if key in _LISTED:
            _LISTED[key] = (st.st_mtime_ns, _LISTED[key][1])


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary sibling of ``path``; on success rename it over ``path``, on error delete it.

    The temporary is ``.NAME.qsel-tmp-PID-XXXXXXXX.tmp`` with this process's pid, so what a ``kill -9``
    leaves is recognised and removed the next time ``path`` is written (:func:`sweep_temporaries`).
    """
    dest = Path(path)
    folder = dest.parent if str(dest.parent) else Path(".")
    if not folder.is_dir():
        raise QselError(f"{path}: cannot write: folder {str(folder)!r} does not exist")
    sweep_temporaries(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.{TMP_TAG}-{os.getpid()}-", suffix=".tmp", dir=folder)
    _WRITING.add(os.path.basename(tmp))
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8", "newline": "\n"} if "b" not in mode else {})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, dest)
        _written(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        _WRITING.discard(os.path.basename(tmp))


def save(problem: Problem, path: str | os.PathLike, *, progress: Progress | None = None) -> None:
    """Verify ``problem`` and write it to ``path`` (text or binary by suffix), atomically."""
    kind = format_of(path)
    verify(problem, context=f"refusing to write {path}")
    try:
        if kind == "text":
            with atomic_write(path, "w") as fh:
                text_printer.dump(problem, fh, progress)
        else:
            with atomic_write(path, "wb") as fh:
                binary_format.write(problem, fh)
    except OSError as exc:
        raise QselError(f"{path}: cannot write: {exc.strerror or exc}") from None


def load(path: str | os.PathLike, *, progress: Progress | None = None, check: bool = True) -> Problem:
    """Read a ``.qir`` or ``.qirz`` file and verify it."""
    kind = format_of(path, sniff=True)
    try:
        if kind == "text":
            with open(path, encoding="utf-8") as fh:
                problem = text_parser.load_lines(fh, str(path), progress)
        else:
            with open(path, "rb") as fh:
                problem = binary_format.read(fh, str(path))
    except FileNotFoundError:
        raise QselError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise QselError(f"{path}: is a folder, expected an IR file") from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 text (byte {exc.start}); is it a binary file without .qirz?") from None
    except OSError as exc:
        raise QselError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return verify(problem, context=str(path)) if check else problem
