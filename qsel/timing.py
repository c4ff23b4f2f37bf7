"""``--timing``: a wall-clock report of each stage of a ``qsel`` command, MLIR style."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Iterator, TextIO


@dataclass
class Timer:
    entries: list[tuple[str, float]] = field(default_factory=list)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.entries.append((name, time.perf_counter() - start))

    def add(self, name: str, seconds: float) -> None:
        self.entries.append((name, seconds))

    def report(self, out: TextIO) -> None:
        total = sum(s for _, s in self.entries) or 1e-12
        rule = "===" + "-" * 66 + "==="
        print(rule, file=out)
        print("qsel execution time report".center(len(rule)), file=out)
        print(rule, file=out)
        print(f"  Total wall time: {total:.4f} seconds\n", file=out)
        print("  ----Wall Time----  ----Stage----", file=out)
        for name, secs in self.entries:
            print(f"  {secs:9.4f} ({100 * secs / total:5.1f}%)  {name}", file=out)
        print(f"  {total:9.4f} (100.0%)  Total", file=out)
