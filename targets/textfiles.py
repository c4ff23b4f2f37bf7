"""Reading the text and bytes of an input file with errors that name it (shared by the file-format readers)."""

from __future__ import annotations

import re
from pathlib import Path

from qsel import ir


def text_of(path: Path | str, data: bytes, what: str) -> str:
    """``data`` as text: UTF-8 without control characters other than tab, CR and LF, else a FormatError
    located at ``path:line:column``. dimod's C++ LP reader loops forever on a NUL byte, so LP bytes go
    through this before it sees them."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ir.FormatError(f"{path}:{line}:{col}: not {what} (byte {exc.start} is not UTF-8)") from None
    bad = _CONTROL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise ir.FormatError(f"{path}:{line}:{col}: not {what} (control character {bad.group()!r})")
    return text


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def read_bytes(path: Path | str, purpose: str = "") -> bytes:
    """The bytes of ``path``, or a QselError naming it (``purpose``: what the file is for, e.g. "to import")."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ir.QselError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ir.QselError(f"{path}: is a folder, expected a file{' ' + purpose if purpose else ''}") from None
    except OSError as exc:
        raise ir.QselError(f"{path}: cannot read: {exc.strerror or exc}") from None
