"""Lower, partition, solve and run the baselines of every layer where it was lowered: only masks come back.

Each selected layer is one executor task (:func:`run_layer`): the chunked
lowering (:mod:`.lower`), the pipeline (``partition`` by default: blocks of the
default topology's clique size, :meth:`qsel.passes.topology.Topology.block_size`), the block solves
(:func:`qsel.targets.solve.solve`: blocks one after another on that worker,
since every worker already has layers of its own), and the baselines on the
same layer problem. The task returns the layer's 0/1 assignment, its energy
and the per-block report; the n x n couplings are freed on the worker when the
task ends. The driver holds the network, the labels and the answers, never
a layer's couplings, so a model whose couplings outgrow every machine still
solves on workers that each hold one layer at a time.

The IR of the whole model is block-diagonal over layers (the independent
schedule), so its energy is the sum of the layer energies and its masks are
the layers' masks: the answer is the same as solving each layer's IR alone,
whichever process ran it (same seed, same result; with and without a cluster).
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from qsel import ir
from qsel.frontend.compile import CompileOptions
from qsel.frontend.data import Dataset
from qsel.frontend.network import Network
from qsel.targets.executor import executor_for

from .compile import layer_tasks
from .lower import LayerTask, lower_layer, memory_hint

LAYER_BASELINES = ("random", "greedy", "exact")  # magnitude needs the whole batch's activations


@dataclass(frozen=True)
class SolvePlan:
    """How every layer is solved: a solver spec, the pipeline that partitions it, the solve settings."""

    solver: str = "sa"
    pipeline: str = "partition"  # blocks of the default topology's block size
    mode: str = "independent"
    num_reads: int = 10
    seed: int = 0
    max_iterations: int = 20
    baselines: tuple[str, ...] = ()

    def check(self) -> None:
        from qsel.passes import build
        from qsel.targets.base import from_spec
        from qsel.targets.registry import get_solver

        from_spec(self.solver, "solver", get_solver)
        build(self.pipeline)
        for m in self.baselines:
            if m not in LAYER_BASELINES:
                raise ir.QselError(f"baseline {m!r} does not run per layer on workers "
                                   f"(choose from {', '.join(LAYER_BASELINES)})")


@dataclass
class LayerOutcome:
    """One layer's answer, as it comes back from its worker (no couplings)."""

    name: str
    units: int
    x: np.ndarray  # int8 (units,), the layer's variables in unit order
    energy: float
    feasible: bool
    blocks: int
    max_block: int
    info: dict[str, Any]  # the layer's compile info (keep count, offset, objective)
    solve: dict[str, Any]  # the solve report (mode, per-block energies and times, iterations)
    baselines: dict[str, tuple[np.ndarray, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    peak_rss: int = 0  # bytes, the worker process's peak so far


def run_layer(task: tuple[LayerTask, SolvePlan, Network, Any]) -> LayerOutcome:
    """Executor task: lower, partition, solve and the baselines of one layer (``task[2]``: the network, a
    shared handle; ``task[3]``: the labels)."""
    from qsel import baselines
    from qsel.passes.mapping import restore
    from qsel.targets.base import from_spec
    from qsel.targets.registry import get_solver
    from qsel.targets.solve import prepare, solve

    lower, plan, network, y = task
    lower = replace(lower, network=network, y=y)
    times: dict[str, float] = {}
    t = time.perf_counter()
    layer = lower_layer(lower)
    problem = layer.problem.with_metadata(layers={lower.name: layer.info})
    times["lower"] = time.perf_counter() - t
    t = time.perf_counter()
    solver = from_spec(plan.solver, "solver", get_solver)
    solved, pass_times, _ = prepare(problem, solver, plan.pipeline)
    times["passes"] = time.perf_counter() - t
    t = time.perf_counter()
    sol = solve(solved, solver, mode=plan.mode, num_reads=plan.num_reads, seed=plan.seed,
                max_iterations=plan.max_iterations)
    x = restore(problem, solved, sol.x[None, :].astype(np.float64))[0]
    times["solve"] = time.perf_counter() - t
    sizes = [p.size for p in solved.partitions] or [solved.num_vars]
    del solved
    out = {}
    t = time.perf_counter()
    for method in plan.baselines:
        if method == "exact" and any(b.index.shape[0] > baselines.EXACT_MAX_VARS
                                     for b in baselines.choices_of(problem)):
            continue  # as select does: exact only where every block of the compiled layer is small
        xb = baselines.solve(problem, method, seed=plan.seed)
        out[method] = (np.asarray(xb, dtype=np.int8), float(problem.energy(xb)))
    times["baselines"] = time.perf_counter() - t
    return LayerOutcome(lower.name, problem.num_vars, x.astype(np.int8), float(problem.energy(x)),
                        bool(problem.feasible(x[None, :])[0]), len(sizes), max(sizes), layer.info,
                        sol.report(), out, times, peak_rss())


def peak_rss() -> int:
    """Peak RSS of this (worker) process in bytes: VmHWM where /proc has it (ru_maxrss also counts the
    process that forked this one), else ru_maxrss."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass
class LayersRun:
    """Every layer's outcome, in network order, and the model totals."""

    layers: list[LayerOutcome]
    objective: str
    chunk: int

    @property
    def energy(self) -> float:
        """The whole IR's energy: the sum of the (independent) layers' energies."""
        return float(sum(o.energy for o in self.layers))

    def masks(self) -> dict[str, np.ndarray]:
        return {o.name: o.x.astype(bool) for o in self.layers}


def solve_layers(network: Network, dataset: Dataset, options: CompileOptions, plan: SolvePlan, *,
                 chunk: int | None = None, progress: Callable[[str], None] | None = None) -> LayersRun:
    """:func:`run_layer` for every selected layer through the executor (the cluster's when one is current)."""
    plan.check()
    tasks, objective = layer_tasks(network, dataset, options, chunk)
    size = tasks[0].chunks.size
    units = {t.name: network.layer(t.name).units for t in tasks}
    with executor_for(1, name=lambda t: f"layer {t[0].name!r}",
                      hint=lambda t: memory_hint(t[0].name, units[t[0].name], size)) as pool:
        shared = pool.share(network)
        labels = pool.share(tasks[0].y) if tasks[0].y is not None else None
        jobs = [(replace(t, network=None, y=None), plan, shared, labels) for t in tasks]  # type: ignore[arg-type]
        outcomes = pool.map(run_layer, jobs)
    if progress is not None:
        for o in outcomes:
            progress(o.name)
    return LayersRun(outcomes, objective, size)
