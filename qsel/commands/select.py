"""qsel select: network -> pruned, evaluated network, with baselines and plots, in one command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from qsel import ir
from qsel.cli_base import main
from qsel.scaleout.cli import cluster_option
from qsel.commands.frontend import _compile_options


def _floats(text: str | None, what: str) -> tuple[float, ...]:
    if not text:
        return ()
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ir.QselError(f"{what}: expected comma-separated numbers, got {text!r}") from None
    for v in values:
        if not 0 < v <= 1:
            raise ir.QselError(f"{what}: every keep ratio must be in (0, 1], got {v}")
    return values


@main.command(name="select")
@click.argument("model", metavar="MODEL")
@_compile_options
@click.option("-t", "--target", default="dimod-bqm", show_default=True, metavar="NAME[{opts}]",
              help="Target whose pipeline and files the problem goes through (see `qsel targets`).")
@click.option("-s", "--solver", default="decompose(tabu)", show_default=True, metavar="NAME[{opts}]",
              help="Solver spec, composites nest: decompose(tabu), tabu, sa, local-pegasus, qaoa, ... "
                   "(a device-sized solver or target is run as decompose{block=B}(SOLVER)).")
@click.option("-p", "--pipeline", default=None, metavar="PIPELINE", help="Override the target's default pipeline.")
@click.option("--baselines", default="random,magnitude,greedy,exact,lasso,obs", show_default=True,
              help="Baselines to compare with (exact only where every block has <= 20 variables).")
@click.option("--refit", is_flag=True,
              help="Also re-solve the layer after each selection by ridge least squares (qsel's and every "
                   "baseline's), write pruned_refit.*, and add a '+ refit' row per method.")
@click.option("--ridge", default=1e-3, show_default=True, metavar="R",
              help="--refit: ridge lambda relative to the mean diagonal of the input Gram matrix.")
@click.option("--sweep", default=None, metavar="K1,K2,...",
              help="Also run qsel and the baselines at these keep ratios for the accuracy-vs-keep plot.")
@click.option("--num-reads", default=100, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("-o", "--output", "outdir", required=True, metavar="OUTDIR")
@cluster_option
def select_cmd(model, data, split, samples, objective, granularity, layers, keep, keep_count, sparsity_penalty,
               schedule, target_scale, trust_pickle, target, solver, pipeline, baselines, refit, ridge, sweep, num_reads,
               seed, outdir, cluster):
    """Select a subnetwork of MODEL: compile, solve, apply, evaluate, compare with baselines, plot."""
    from rich.console import Console

    from qsel import plots, select_plots
    from qsel.cluster import connect, parse as parse_cluster
    from qsel.frontend.compile import CompileOptions
    from qsel.frontend.data import check_compatible, load_dataset
    from qsel.frontend.models import load_model
    from qsel.ir.outputs import replace_folder
    from qsel.passes import build
    from qsel.select import BASELINES, SelectConfig, select
    from qsel.targets.base import from_spec
    from qsel.targets.registry import get_solver, get_target

    methods = tuple(m.strip() for m in baselines.split(",") if m.strip())
    for m in methods:
        if m not in BASELINES:
            raise ir.QselError(f"--baselines: unknown method {m!r} (expected some of: {', '.join(BASELINES)})")
    sweep_keeps = _floats(sweep, "--sweep")
    from_spec(target, "target", get_target)
    from_spec(solver, "solver", get_solver)
    if pipeline is not None:
        build(pipeline)
    if keep is None and keep_count is None and sparsity_penalty == 0:
        raise ir.QselError("say how much to keep: --keep F, --keep-count K or --sparsity-penalty LAMBDA")
    options = CompileOptions(objective=objective, granularity=granularity,
                             layers=tuple(s.strip() for s in layers.split(",") if s.strip()) if layers else None,
                             keep=keep, keep_count=keep_count, sparsity_penalty=sparsity_penalty,
                             schedule=schedule, target_scale=target_scale)
    options.validate()
    spec = None if cluster is None else parse_cluster(cluster)
    console = Console(stderr=True)
    # OUTDIR is checked and locked before any work, written in a staging folder beside it and swapped in
    # as a whole at the end: a failed run leaves the previous folder as it was, a new one no file of an old one
    with replace_folder(outdir, marker="summary.json", what="qsel select") as out:
        network = load_model(model, trust_pickle=trust_pickle)
        calib = check_compatible(network, load_dataset(data, split, limit=samples))
        test = check_compatible(network, load_dataset(data, "test"))
        metadata = {
            "source": {"model": model, **network.metadata.get("source", {})},
            "calibration": {"dataset": data, "split": split, "samples": int(calib.X.shape[0]), "limit": samples,
                            "fingerprint": calib.fingerprint, "standardisation": calib.standardisation},
        }
        config = SelectConfig(options, target=target, solver=solver, pipeline=pipeline, num_reads=num_reads,
                              seed=seed, baselines=methods, sweep=sweep_keeps, refit=refit, ridge=ridge)
        with connect(spec), console.status("selecting", spinner="dots") as status:  # --cluster: Dask workers
            def progress(stage: str) -> None:
                status.update(f"selecting: {stage}")

            sel = select(network, calib, test, config, out, metadata=metadata, model_path=model, progress=progress)

        plots.plot(sel.problem, str(out / "couplings.png"))
        written = ["couplings.png"]
        if select_plots.energy_histogram(sel.result.extra.get("distribution", {}), out / "energies.png",
                                         f"{solver}: sample energies"):
            written.append("energies.png")
        curve = sel.sweep + [r for r in sel.rows if r.keep is not None]
        if curve:
            select_plots.accuracy_vs_keep(curve, sel.dense["accuracy"], out / "accuracy_vs_keep.png",
                                          f"{Path(model).name} on {data}: {sel.problem.metadata['objective']['kind']}")
            written.append("accuracy_vs_keep.png")
        summary = {"model": model, "data": data, "options": {"keep": keep, "keep_count": keep_count,
                                                            "objective": sel.problem.metadata["objective"]["kind"],
                                                            "granularity": granularity, "schedule": schedule,
                                                            "target": target, "solver": solver},
                   "dense": sel.dense, "rows": [r.as_dict() for r in sel.rows],
                   "sweep": [r.as_dict() for r in sel.sweep], "timings": sel.timings}
        with ir.atomic_write(out / "summary.json", "w") as fh:
            fh.write(json.dumps(summary, indent=1, allow_nan=False) + "\n")
    print_table(sel, model, data, Console(file=sys.stdout, width=120))
    click.echo(f"\noutputs in {outdir}/: problem.qir(z), target/ (files + manifest.json), result.json, pruned model, "
               f"baselines/, summary.json, plots: {', '.join(written)}")


def print_table(sel, model: str, data: str, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    meta = sel.problem.metadata["objective"]
    table = Table(title=f"{Path(model).name} on {data}: {meta['kind']} objective, {meta['granularity']} "
                        f"granularity, {meta['schedule']} schedule")
    for col in ("method", "kept", "test acc", "test loss", "objective", "IR energy", "feasible", "time s"):
        table.add_column(col, justify="left" if col in ("method", "kept") else "right")
    d = sel.dense
    table.add_row("dense network", "all", _fmt(d["accuracy"]), _fmt(d["loss"]), "-", "-", "-", "-")
    for r in sel.rows:
        table.add_row(escape(r.method), ", ".join(f"{k} {v}" for k, v in r.kept.items()), _fmt(r.accuracy), _fmt(r.loss),
                      _fmt(r.objective, 6), _fmt(r.energy, 6), "yes" if r.feasible else "NO", f"{r.seconds:.2f}")
    console.print(table)
    t = sel.timings
    console.print("time per stage: " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))


def _fmt(v, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}g}" if digits > 4 else f"{v:.4f}"
