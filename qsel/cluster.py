"""``--cluster``: run qsel's independent work on Dask distributed (started lazily; no Dask import otherwise).

    local         a LocalCluster with one worker process per CPU core
    local:N       a LocalCluster of N worker processes (one thread each)
    tcp://H:P     a running scheduler (``dask scheduler`` + ``dask worker tcp://H:P``)

:func:`connect` yields a ``distributed.Client`` and makes it current for
:func:`qsel.targets.executor.executor_for`, so block solves, iterate groups,
layers and baselines go to the workers through the one executor interface.
A scheduler that does not answer within :data:`CONNECT_TIMEOUT` seconds is a
``QselError`` naming the address (exit 2), not a hang.

Workers run with one thread each: the work is already split into as many
independent tasks as there are layers or blocks, and BLAS threads inside a
worker would fight over the same cores (Dask's nanny also pins
OMP/OPENBLAS/MKL threads to 1).

Workers also run with :data:`WORKER_CONFIG`: qsel's tasks are long CPU-bound
solves, so Dask's statistical profiler (a stack sample every 10 ms) and its
20 ms event-loop tick buy nothing and take CPU from the solves. Measured on
this 2-vCPU machine: an idle 2-worker cluster used 13.5 % of a CPU with the
defaults and 4.5 % with these; per-block solve time on the workers fell from
about 1.19x to 1.11x the one-process time (median of 8 runs each).
``local[:N]`` applies it to the cluster it starts; for workers started by
hand, :func:`worker_env` gives the same settings as environment variables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Iterator

from qsel import ir

CONNECT_TIMEOUT = 5  # seconds
_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc)://[^\s:/]+(:\d+)?/?$")


WORKER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,  # no 10 ms stack sampling of the solving thread
    "distributed.admin.tick.interval": "200ms",  # event-loop watchdog tick (default 20 ms)
}


def worker_env() -> dict[str, str]:
    """:data:`WORKER_CONFIG` as ``DASK_*`` environment variables, for ``dask scheduler`` / ``dask worker``
    processes started outside qsel (Dask reads ``DASK_A__B__C`` as the config key ``a.b.c``)."""
    return {"DASK_" + key.replace(".", "__").replace("-", "_").upper(): str(value)
            for key, value in WORKER_CONFIG.items()}


@dataclass(frozen=True)
class ClusterSpec:
    """Where work runs: ``workers`` local processes (``address`` None), or a scheduler at ``address``."""

    text: str
    workers: int | None = None
    address: str | None = None


def parse(text: str) -> ClusterSpec:
    """``local``, ``local:N`` or ``tcp://HOST:PORT`` as a :class:`ClusterSpec` (a QselError otherwise)."""
    t = text.strip()
    if t == "local":
        return ClusterSpec(t, workers=max(1, os.cpu_count() or 1))
    if t.startswith("local:"):
        n = t[len("local:"):]
        if not n.isdigit() or int(n) < 1:
            raise ir.QselError(f"--cluster {text!r}: local:N needs a number of worker processes N >= 1")
        return ClusterSpec(t, workers=int(n))
    if _ADDRESS.match(t):
        return ClusterSpec(t, address=t.rstrip("/"))
    raise ir.QselError(f"--cluster {text!r}: expected local, local:N or a scheduler address tcp://HOST:PORT")


@contextlib.contextmanager
def connect(spec: str | ClusterSpec | None, *, memory_limit: str | int | None = None) -> Iterator[Any]:
    """A Dask client for ``spec``, current for qsel's executors inside the block; None: yields None (one
    process, Dask never imported). A LocalCluster started here is shut down on exit."""
    if spec is None:
        yield None
        return
    if isinstance(spec, str):
        spec = parse(spec)
    from qsel.targets.executor import use_client

    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - dask[distributed] is a dependency
        raise ir.QselError("--cluster needs dask[distributed]: pip install 'dask[distributed]'") from None
    if spec.address is not None:
        try:
            client = Client(spec.address, timeout=f"{CONNECT_TIMEOUT}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ir.QselError(f"--cluster {spec.address}: no Dask scheduler answered within {CONNECT_TIMEOUT} s "
                               f"({type(exc).__name__}); start one with `dask scheduler` and workers with "
                               f"`dask worker {spec.address}`, or use --cluster local:N") from None
        with client, use_client(client):
            yield client
        return
    kwargs: dict[str, Any] = {}
    if memory_limit is not None:
        kwargs["memory_limit"] = memory_limit
    import dask

    try:
        with dask.config.set(WORKER_CONFIG):  # nannies hand the config to the worker processes they start
            cluster = LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR, **kwargs)
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise ir.QselError(f"--cluster {spec.text}: could not start {spec.workers} local worker process(es) "
                           f"({exc}); try fewer workers, or start them with `dask scheduler` / "
                           f"`dask worker` and pass --cluster tcp://HOST:PORT") from None
    try:
        with Client(cluster, set_as_default=False) as client, use_client(client):
            yield client
    finally:
        cluster.close()


def describe(client: Any) -> str:
    """'N worker(s) at ADDRESS, L GiB each' for messages and reports."""
    from qsel.targets.executor import worker_memory_limit

    info = client.scheduler_info(n_workers=-1)
    limit = worker_memory_limit(client)
    each = f", {limit / 2**30:.1f} GiB each" if limit else ""
    return f"{len(info.get('workers', {}))} worker(s) at {info.get('address', '?')}{each}"
