"""``qsel select``: the main job — from a network to a pruned, evaluated network in one command.

    compile -> the target's pipeline -> emit -> solve -> compose -> apply -> eval

plus the baselines a user would try without qsel (random, magnitude, greedy,
lasso, obs, and exact enumeration where every block has <= 20 variables) on
the same objective and keep ratio, so the table says what qsel's subnetwork
is worth; with ``refit`` every selection is also shown with its next layers
re-solved by least squares (qsel's own selection then refined for the refit,
:mod:`qsel.frontend.refit_select`).
Everything lands in OUTDIR: ``problem.qir`` (the compiled IR), ``target/``
(the emitted files + manifest.json), ``result.json``, the pruned model,
``baselines/*.json``, ``summary.json`` and the plots.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from qsel import ir
from qsel.baselines import EXACT_MAX_VARS, choices_of
from qsel.frontend.compile import CompileOptions, chosen_assignment, compile_network
from qsel.frontend.data import Dataset
from qsel.frontend.metrics import scores_metrics
from qsel.frontend.network import Network
from qsel.frontend.objective import layer_energies, measure
from qsel.result import Result
from qsel.scaleout.select import baselines_on_cluster, compile_on_cluster

BASELINES = ("random", "magnitude", "greedy", "exact", "lasso", "obs")
MODE = "iterate"  # partitioned IR: re-solve blocks with the others clamped; same as independent for one block
SOLVE_PIPELINE = "canonicalize"  # what the decomposition solves: the compiled problem, constraints native
DEVICE_READS = 10  # reads per subproblem for a device-sized solver that needs penalties (local-pegasus: 0.77 %
                   # from the best known on the 1,024-unit bench layer with 10, 1.0-1.4 % with 4)


@dataclass
class SelectConfig:
    options: CompileOptions
    target: str = "dimod-bqm"
    solver: str = "decompose(tabu)"
    pipeline: str | None = None  # None: the target's default pipeline
    num_reads: int = 100
    seed: int = 0
    baselines: tuple[str, ...] = BASELINES
    sweep: tuple[float, ...] = ()  # extra keep ratios for the accuracy-vs-keep plot
    refit: bool = False  # also re-solve each selection's next layer by ridge least squares (qsel.frontend.refit)
    ridge: float = 1e-3  # relative ridge of the refit


@dataclass
class Row:
    """One line of the table: a method's subnetwork and what it is worth."""

    method: str
    keep: float | None
    accuracy: float | None
    loss: float | None
    objective: float  # measured by running the masked network on the calibration batch
    energy: float | None  # the IR energy of the selection
    feasible: bool | None
    seconds: float
    kept: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Selected:
    problem: ir.Problem
    result: Result
    rows: list[Row]
    dense: dict[str, Any]
    timings: dict[str, float]
    sweep: list[Row] = field(default_factory=list)


def _metrics(network: Network, test: Dataset, masks: dict) -> tuple[float | None, float | None]:
    m = scores_metrics(network, test, **masks)
    return m["accuracy"], m["loss"]


def _masks(result: Result) -> dict:
    return {"unit_masks": result.selection.unit_masks(), "weight_masks": result.selection.weight_masks()}


def _row(method: str, keep: float | None, network: Network, calib: Dataset, test: Dataset, result: Result,
         problem: ir.Problem, seconds: float) -> Row:
    acc, loss = _metrics(network, test, _masks(result))
    objective = float(sum(measure(network, calib.X, calib.y, result.selection, problem.metadata).values()))
    kept = {k: f"{m.kept}/{m.mask.size}" for k, m in result.selection.masks.items()}
    return Row(method, keep, acc, loss, objective, result.energy, result.feasible, seconds, kept)


TRAINS_READOUT = " (trains the read-out)"


def refit_row(row: Row, network: Network, calib: Dataset, test: Dataset, result: Result, problem: ir.Problem,
              ridge: float) -> tuple[Row, Network]:
    """The same selection with each next layer re-solved by ridge least squares (:mod:`qsel.frontend.refit`).

    Its objective is the refit error against the same target; there is no IR energy for it. When a layer
    was compiled with ``fit`` (a random network), the refit trains that read-out: the method's name says so."""
    from qsel.frontend.refit import refit

    t = time.perf_counter()
    net, done = refit(network, calib.X, calib.y, result.selection, problem.metadata, ridge=ridge)
    acc, loss = _metrics(net, test, _masks(result))
    label = f"{row.method} + refit" + (TRAINS_READOUT if any(d.objective == "fit" for d in done) else "")
    return Row(label, row.keep, acc, loss, float(sum(d.error_after for d in done)), None, row.feasible,
               row.seconds + time.perf_counter() - t, dict(row.kept)), net


def refit_aware_result(network: Network, calib: Dataset, config: SelectConfig, problem: ir.Problem,
                       result: Result) -> Result:
    """qsel's selection for a refit network (:mod:`qsel.frontend.refit_select`): starting from ``result``,
    QUBOs of the error with the refit read-out, solved by the same solver, until the refit error stops
    falling. Its IR energy is that of the compiled (no-refit) objective."""
    from qsel.frontend.refit_select import assignment_of, refit_aware

    sel, rounds = refit_aware(network, calib.X, calib.y, result.selection, problem.metadata,
                              _solver_callback(config), ridge=config.ridge)
    return Result.from_assignment(problem, assignment_of(problem, sel), f"{result.solver}, refit-aware",
                                  refit_rounds={r.layer: list(r.errors) for r in rounds})


def solve_plan(config: SelectConfig, num_vars: int) -> tuple[Any, str]:
    """(solver, pipeline) that select solves with.

    The emitted files follow the target's pipeline (hardware-sized blocks for a device). Solving goes through
    the decomposition instead, on the compiled problem with its constraints native, so that hardware-sized
    pieces still give a selection of the whole layer: a solver spec that is not already a composite is
    wrapped as ``decompose{block=B}(SOLVER)`` when the target cuts blocks of B variables (its ``partition``
    pass), or the solver takes at most B variables and either the problem is larger or the solver needs
    penalties; any other spec (``tabu``: whole-layer
    tabu, ``decompose{...}(...)``) runs as written, with the target's pipeline when it was asked for."""
    from qsel.targets.base import from_spec
    from qsel.targets.composites import Composite
    from qsel.targets.decompose import DecomposeComposite
    from qsel.targets.registry import get_solver

    solver = from_spec(config.solver, "solver", get_solver)
    if isinstance(solver, Composite):
        return solver, SOLVE_PIPELINE if config.pipeline is None else config.pipeline
    cut = target_block_size(config.target)
    limits = [b for b in (cut, solver.max_vars) if b]
    # a device-sized solver runs inside the decomposition even when one block holds the problem (greedy warm
    # start; its answer is kept only when better); an exact or native-constraint solver that fits runs as is
    if limits and (cut or min(limits) < num_vars or not solver.handles_constraints):
        # an annealer's samples of a penalised block are noisier: ask it for more reads per subproblem
        reads = DEVICE_READS if not solver.handles_constraints else DecomposeComposite.reads
        return DecomposeComposite(child=solver, block=min(limits), reads=reads), \
            SOLVE_PIPELINE if config.pipeline is None else config.pipeline
    return solver, _pipeline(config)


def target_block_size(target_spec: str) -> int | None:
    """max-vars of the ``partition`` pass in the target's default pipeline (None: the target takes it whole)."""
    from qsel.passes.pipeline import build
    from qsel.targets.base import from_spec
    from qsel.targets.registry import get_target

    target = from_spec(target_spec, "target", get_target)
    for p in build(type(target).default_pipeline):
        if p.name == "partition":
            return int(getattr(p, "max_vars"))
    return None


def _solver_callback(config: SelectConfig) -> Callable[[ir.Problem], np.ndarray]:
    """Sequential schedule: each layer's problem is solved as :func:`solve_plan` says."""
    from qsel.solving import solve_to_result

    def solve_layer(p: ir.Problem) -> np.ndarray:
        solver, pipeline = solve_plan(config, p.num_vars)
        run = solve_to_result(p, solver, pipeline=pipeline, mode=MODE, num_reads=config.num_reads,
                              seed=config.seed)
        return np.array([run.result.assignment[label] for label in p.labels], dtype=np.float64)

    return solve_layer


def _pipeline(config: SelectConfig) -> str:
    from qsel.targets.registry import get_target

    return get_target(config.target).default_pipeline if config.pipeline is None else config.pipeline


def run_qsel(network: Network, calib: Dataset, config: SelectConfig, outdir: Path | None,
             metadata: dict, progress: Callable[[str], None] | None = None) -> tuple[ir.Problem, Result, dict]:
    """compile -> pipeline -> (emit) -> solve -> result, for one keep setting."""
    from qsel.targets.base import from_spec
    from qsel.targets.registry import get_target
    from qsel.solving import solve_to_result

    timings: dict[str, float] = {}
    t = time.perf_counter()
    cb = _solver_callback(config) if config.options.schedule == "sequential" else None
    problem = compile_on_cluster(network, calib, config.options, metadata)  # layer tasks; None without --cluster
    if problem is None:
        problem = compile_network(network, calib.X, calib.y, config.options, solver=cb, metadata=metadata,
                                  progress=None if progress is None else (lambda layer: progress(f"compile {layer}")))
    timings["compile"] = time.perf_counter() - t
    if outdir is not None:
        from qsel import files
        from qsel.targets.emit import emit

        t = time.perf_counter()
        files.save(problem, str(outdir / ("problem.qir" if problem.num_vars <= 2048 else "problem.qirz")))
        target = from_spec(config.target, "target", get_target)
        emit(problem, target, outdir / "target", pipeline=config.pipeline)
        timings["emit"] = time.perf_counter() - t
    t = time.perf_counter()
    solver, pipeline = solve_plan(config, problem.num_vars)
    if config.options.schedule == "sequential":
        x = chosen_assignment(problem)
        result = Result.from_assignment(problem, x, f"{solver.spec()} (sequential, in the loop)")
    else:
        solves = [0]

        def block_done(k: int) -> None:
            solves[0] += k
            if progress:
                progress(f"{solver.name}: {solves[0]} block solve(s)")

        run = solve_to_result(problem, solver, pipeline=pipeline, mode=MODE,
                              num_reads=config.num_reads, seed=config.seed, progress=block_done)
        result = run.result
    timings["solve"] = time.perf_counter() - t
    return problem, result, timings


def run_baseline(method: str, network: Network, calib: Dataset, config: SelectConfig, problem: ir.Problem,
                 metadata: dict) -> tuple[ir.Problem, Result]:
    """A baseline on the same objective: on the same IR (independent) or in the loop (sequential)."""
    from qsel.baselines import chooser

    choose = chooser(method, network, calib.X, seed=config.seed, sparsity_penalty=config.options.sparsity_penalty)
    if config.options.schedule == "sequential":
        p = compile_network(network, calib.X, calib.y, config.options, solver=choose, metadata=metadata)
        return p, Result.from_assignment(p, chosen_assignment(p), f"baseline:{method}")
    return problem, Result.from_assignment(problem, choose(problem), f"baseline:{method}")


def exact_possible(problem: ir.Problem) -> bool:
    return all(b.index.shape[0] <= EXACT_MAX_VARS for b in choices_of(problem))


def select(network: Network, calib: Dataset, test: Dataset, config: SelectConfig, outdir: Path, *,
           metadata: dict, model_path: str, progress: Callable[[str], None] | None = None) -> Selected:
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "baselines").mkdir(exist_ok=True)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    problem, result, stage = run_qsel(network, calib, config, outdir, metadata, progress)
    timings.update(stage)
    result.extra["energy_per_layer"] = layer_energies(problem, result.assignment)
    result.save(outdir / "result.json")
    keep = config.options.keep
    rows = [_row(f"qsel ({result.solver})", keep, network, calib, test, result, problem, stage["solve"])]
    t = time.perf_counter()
    _apply(network, result, outdir, model_path)
    timings["apply"] = time.perf_counter() - t
    if config.refit:
        t = time.perf_counter()
        aware = refit_aware_result(network, calib, config, problem, result)
        aware.save(outdir / "result_refit.json")
        base = _row(rows[0].method, keep, network, calib, test, aware, problem, stage["solve"])
        row, refit_net = refit_row(base, network, calib, test, aware, problem, config.ridge)
        rows.append(row)
        _apply(refit_net, result, outdir, model_path, name="pruned_refit")
        timings["refit"] = time.perf_counter() - t
    t = time.perf_counter()
    ran = baselines_on_cluster(run_baseline, [m for m in config.baselines if m != "exact" or exact_possible(problem)],
                               network, calib, config, problem, metadata)  # {} without --cluster
    for method in config.baselines:
        if method == "exact" and not exact_possible(problem):
            continue
        if progress:
            progress(f"baseline {method}")
        tb = time.perf_counter()
        p, res = ran[method][:2] if method in ran else run_baseline(method, network, calib, config, problem, metadata)
        tb -= ran[method][2] if method in ran else 0.0  # the row shows the seconds the worker took
        res.extra["energy_per_layer"] = layer_energies(p, res.assignment)
        res.save(outdir / "baselines" / f"{method}.json")
        rows.append(_row(method, keep, network, calib, test, res, p, time.perf_counter() - tb))
        if config.refit:
            rows.append(refit_row(rows[-1], network, calib, test, res, p, config.ridge)[0])
    timings["baselines"] = time.perf_counter() - t
    acc, loss = _metrics(network, test, {})
    dense = {"accuracy": acc, "loss": loss, "params": network.num_params()}
    sweep_rows: list[Row] = []
    if config.sweep:
        t = time.perf_counter()
        for k in config.sweep:
            if progress:
                progress(f"sweep keep={k}")
            cfg = replace(config, options=replace(config.options, keep=k, keep_count=None))
            p, res, st = run_qsel(network, calib, cfg, None, metadata)
            sweep_rows.append(_row(f"qsel ({res.solver})", k, network, calib, test, res, p, st["solve"]))
            if config.refit:
                sweep_rows.append(refit_row(sweep_rows[-1], network, calib, test, res, p, config.ridge)[0])
            for method in config.baselines:
                if method == "exact" and not exact_possible(p):
                    continue
                bp, bres = run_baseline(method, network, calib, cfg, p, metadata)
                sweep_rows.append(_row(method, k, network, calib, test, bres, bp, 0.0))
                if config.refit:
                    sweep_rows.append(refit_row(sweep_rows[-1], network, calib, test, bres, bp, config.ridge)[0])
        timings["sweep"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return Selected(problem, result, rows, dense, timings, sweep_rows)


def _apply(network: Network, result: Result, outdir: Path, model_path: str, name: str = "pruned") -> Path:
    from qsel.frontend.models import save_model
    from qsel.frontend.prune import apply_selection

    suffix = Path(model_path).suffix if Path(model_path).suffix in (".npz", ".onnx", ".pt", ".pth") else ".npz"
    path = outdir / f"{name}{suffix}"
    save_model(apply_selection(network, result.selection), path)
    return path
