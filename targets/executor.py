"""One small executor interface for independent solving work (block solves, subproblem batches).

    with executor_for(workers) as pool:
        results = pool.map(fn, tasks)      # results[i] = fn(tasks[i]), in order

* ``workers == 1``: :class:`SerialExecutor`, this process, nothing imported.
* ``workers > 1``: :class:`ProcessExecutor`, a ``concurrent.futures``
  process pool (fork where the platform has it); ``fn`` and the tasks must
  pickle (solvers are frozen dataclasses, problems are arrays).

A distributed back end (Dask) plugs in by implementing the same two methods
(``map`` and the context manager); callers never know where work ran, and
results must not depend on it: any randomness lives in the tasks' seeds.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterable, Protocol, Sequence


class Executor(Protocol):
    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> list[Any]: ...

    def __enter__(self) -> "Executor": ...

    def __exit__(self, *exc: object) -> None: ...


class SerialExecutor:
    """Runs every task here, in order."""

    def map(self, fn: Callable[[Any], Any], tasks: Iterable[Any]) -> list[Any]:
        return [fn(t) for t in tasks]

    def __enter__(self) -> "SerialExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class ProcessExecutor:
    """A local process pool of ``workers`` processes, started on entry and shut down on exit."""

    def __init__(self, workers: int) -> None:
        self.workers = int(workers)
        self.pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable[[Any], Any], tasks: Sequence[Any]) -> list[Any]:
        tasks = list(tasks)
        if self.pool is None or len(tasks) <= 1:
            return [fn(t) for t in tasks]
        return list(self.pool.map(fn, tasks))

    def __enter__(self) -> "ProcessExecutor":
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def executor_for(workers: int) -> SerialExecutor | ProcessExecutor:
    """The executor for ``workers`` processes (1: serial)."""
    return SerialExecutor() if int(workers) <= 1 else ProcessExecutor(int(workers))
