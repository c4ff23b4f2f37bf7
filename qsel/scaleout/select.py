"""``qsel select --cluster``: the layers lowered and the baselines run on the cluster's workers.

:func:`compile_on_cluster` lowers the layers as tasks (:mod:`.compile`) with
the whole calibration batch as one chunk, which is the same arithmetic as
:func:`qsel.frontend.compile.compile_network` (the IR is bit for bit the same
for reconstruct; fit sums A^T Y instead of forming T W, equal to rounding).
:func:`baselines_on_cluster` runs every baseline as its own task. Block solves
go to the workers by themselves (the executor of :mod:`qsel.targets.solve`).
Both return None / {} when no cluster is current, so select runs as before.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from qsel import ir
from qsel.frontend.compile import CompileOptions
from qsel.frontend.data import Dataset
from qsel.frontend.network import Network
from qsel.targets.executor import current_client, executor_for


def compile_on_cluster(network: Network, calib: Dataset, options: CompileOptions, metadata: dict,
                       chunk: int | None = None) -> ir.Problem | None:
    """The compiled IR from layer tasks on the current cluster; None without one or when the chunked
    lowering does not cover the options (select then compiles here)."""
    if current_client() is None:
        return None
    from .compile import compile_streamed, layer_tasks

    try:
        layer_tasks(network, calib, options, chunk or len(calib))
    except ir.QselError:
        return None  # conv/edge/sequential/discrete: compiled in this process as without --cluster
    return compile_streamed(network, calib, options, chunk=chunk or len(calib), metadata=metadata)


def baselines_on_cluster(run: Callable, methods: list[str], network: Network, calib: Dataset, config: Any,
                         problem: ir.Problem, metadata: dict) -> dict[str, tuple[ir.Problem, Any, float]]:
    """{method: (its problem, its Result, seconds on the worker)} for each method, one task each on the
    current cluster ({} without one): ``run(method, network, calib, config, problem, metadata)`` (the
    driver's ``run_baseline``, passed in so that this module does not import the driver that imports it;
    it travels by reference). The shared inputs travel to each worker once."""
    if current_client() is None or not methods:
        return {}
    with executor_for(1, name=lambda t: f"baseline {t[0]!r}") as pool:
        shared = pool.share((run, network, calib, config, problem, metadata))
        answers = pool.map(_baseline_task, [(m, shared) for m in methods])
    return {m: (problem if p is None else p, res, dt) for m, (p, res, dt) in zip(methods, answers)}


def _baseline_task(task: tuple[str, tuple]) -> tuple[ir.Problem | None, Any, float]:
    """Executor task: one baseline; its problem comes back only when it differs (sequential schedule)."""
    method, (run_baseline, network, calib, config, problem, metadata) = task
    t = time.perf_counter()
    p, res = run_baseline(method, network, calib, config, problem, metadata)
    return (None if p is problem else p), res, time.perf_counter() - t
