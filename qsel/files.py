"""IR file helpers for the driver: load/save with progress bars, '-' for stdout.

Commands check an output with :func:`qsel.ir.outputs.check_file` before their work; :func:`save` writes
atomically (:func:`qsel.ir.save`) and turns a late OSError into a one-line error naming the path.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

from qsel import ir
from qsel.ir.outputs import writing
from qsel.progress import bar

_BIG_TEXT = 50_000_000  # bytes; below this a text file reads in well under a few seconds


def load(path: str) -> ir.Problem:
    """Load and verify an IR file; big text files show a progress bar over their bytes."""
    p = Path(path)
    if ir.format_of(p, sniff=True) != "text" or not p.is_file() or p.stat().st_size < _BIG_TEXT:
        return ir.load(p)
    with bar(f"reading {p.name}", p.stat().st_size) as progress:
        if progress is None:
            return ir.load(p)

        def lines() -> Iterator[str]:
            with open(p, encoding="utf-8") as fh:
                for line in fh:
                    progress(len(line))
                    yield line

        try:
            problem = ir.text_parser.load_lines(lines(), str(p))
        except UnicodeDecodeError as exc:
            raise ir.FormatError(f"{p}: not UTF-8 text (byte {exc.start})") from None
        return ir.verify(problem, context=str(p))


def save(problem: ir.Problem, path: str) -> None:
    """Save atomically by suffix; '-' prints the text form to stdout."""
    if path == "-":
        ir.text_printer.dump(problem, sys.stdout)
        return
    rows = ir.text_printer.dense_rows(problem) if ir.format_of(path) == "text" else 0
    with bar(f"writing {Path(path).name}", rows) as progress, writing(path):
        ir.save(problem, path, progress=progress)
