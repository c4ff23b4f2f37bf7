"""Progress bars (rich) for work that can take more than a few seconds.

Bars go to stderr, only when it is a terminal, and only for work big enough
to be worth one; otherwise the callback is a no-op. IR functions take a plain
``progress(k)`` callback, so ``qsel.ir`` itself never depends on rich.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

ProgressFn = Callable[[int], None]
_MIN_TOTAL = 512


@contextlib.contextmanager
def bar(description: str, total: int, *, enabled: bool | None = None) -> Iterator[ProgressFn | None]:
    if enabled is None:
        enabled = sys.stderr.isatty() and total >= _MIN_TOTAL
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda k: progress.advance(task, k)
