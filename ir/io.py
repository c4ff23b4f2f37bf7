"""Loading and saving IR files; the format follows the suffix (``.qir`` text, ``.qirz`` binary).

Every save is atomic: the data goes to a temporary file in the destination's
folder, is flushed to disk, then renamed over the destination, so a crash or
an error never leaves a half-written output behind. Every load runs the
verifier.
"""

from __future__ import annotations

import contextlib
import os
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


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary sibling of ``path``; on success rename it over ``path``, on error delete it."""
    dest = Path(path)
    folder = dest.parent if str(dest.parent) else Path(".")
    if not folder.is_dir():
        raise QselError(f"{path}: cannot write: folder {str(folder)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8", "newline": "\n"} if "b" not in mode else {})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
