"""Target commands: emit (files + manifest), solve (classical/quantum solvers -> result.json), compose, targets."""

from __future__ import annotations

import dataclasses

import sys
import time

import click

from qsel import ir
from qsel.cli_base import main
from qsel.scaleout.cli import cluster_option
from qsel.ir.outputs import check_file, writing
from qsel.targets.solve import MODES


def _check_json_output(output: str) -> None:
    if not output.endswith(".json"):
        raise ir.QselError(f"-o {output!r}: the result file must end in .json")


def _bar(description: str, total: int):
    from qsel.progress import bar

    return bar(description, total, enabled=sys.stderr.isatty() and total > 1)


@main.command()
@click.argument("input_path", metavar="IN")
@click.option("-t", "--target", "target_spec", required=True, metavar="NAME[{opts}]",
              help="Target, e.g. dimod-bqm, 'dimod-bqm{format=coo}', dimod-cqm, qubo, lp. See `qsel targets`.")
@click.option("-o", "--output", "outdir", required=True, metavar="OUTDIR",
              help="Folder for the block files and manifest.json (created if missing).")
@click.option("-p", "--pipeline", default=None, metavar="PIPELINE",
              help="Passes to run before emitting (default: the target's own pipeline; '' for none).")
@click.option("--timing", is_flag=True, help="Report load, pass and emit times on stderr.")
def emit(input_path: str, target_spec: str, outdir: str, pipeline: str | None, timing: bool) -> None:
    """Compile IN for a target: one file per subproblem plus manifest.json in OUTDIR."""
    from qsel import files
    from qsel.ir.outputs import replace_folder
    from qsel.passes import build
    from qsel.targets.base import from_spec
    from qsel.targets.emit import MANIFEST, write_files
    from qsel.targets.registry import get_target
    from qsel.timing import Timer

    target = from_spec(target_spec, "target", get_target)
    pipe = target.default_pipeline if pipeline is None else pipeline
    build(pipe)  # pipeline errors before any file is read
    timer = Timer()
    # OUTDIR is checked and locked before the IR is read; it is replaced only when everything is written
    with replace_folder(outdir, marker=MANIFEST, what="qsel emit") as staging:
        with timer.stage(f"load {input_path}"):
            problem = files.load(input_path)
        out = write_files(problem, target, staging, pipeline=pipe)
    for name, seconds in out.timings.items():
        timer.add(name, seconds)
    m = out.manifest
    click.echo(f"{outdir}: {len(m.blocks)} file(s) for target {target.spec()} ({out.problem.num_vars} variables"
               f"{f', {m.cross_terms} couplings between blocks' if m.cross_terms else ''}; pipeline "
               f"{pipe or '(none)'}) + {MANIFEST}", err=True)
    for b in m.blocks[:20]:
        click.echo(f"  {b.file}  {len(b.labels)} variables  [{b.format}]", err=True)
    if len(m.blocks) > 20:
        click.echo(f"  ... and {len(m.blocks) - 20} more", err=True)
    if timing:
        timer.report(sys.stderr)


@main.command()
@click.argument("input_path", metavar="IN")
@click.option("-s", "--solver", "solver_spec", required=True, metavar="NAME[{opts}]",
              help="Solver, e.g. exact, sa, 'sa{num-sweeps=2000}', tabu, steepest. See `qsel targets`.")
@click.option("-o", "--output", required=True, metavar="RESULT.json", help="Result file (masks, energy, ...).")
@click.option("-p", "--pipeline", default="", metavar="PIPELINE",
              help="Passes to run first, e.g. 'partition{max-vars=20}'.")
@click.option("--mode", type=click.Choice(MODES), default="auto", show_default=True,
              help="Partitioned IR: solve blocks independently, or iterate with the other blocks clamped; "
                   "auto: iterate when couplings or constraints join the blocks.")
@click.option("--num-reads", default=100, show_default=True, help="Samples per block solve.")
@click.option("--seed", type=int, default=None, help="Random seed (reproducible runs).")
@click.option("--max-iterations", default=20, show_default=True, help="Iterate: most sweeps over the blocks.")
@click.option("--timing", is_flag=True, help="Report load, pass and solve times on stderr.")
@cluster_option
def solve(input_path: str, solver_spec: str, output: str, pipeline: str, mode: str, num_reads: int,
          seed: int | None, max_iterations: int, timing: bool, cluster: str | None) -> None:
    """Solve IN with a solver (per partition block) and write masks, energy and statistics to RESULT.json."""
    from qsel import files
    from qsel.passes import build
    from qsel.targets.base import blocks_of, from_spec
    from qsel.targets.registry import get_solver
    from qsel.cluster import connect, parse as parse_cluster
    from qsel.solving import solve_to_result
    from qsel.targets.solve import prepare, resolve_mode
    from qsel.timing import Timer

    solver = from_spec(solver_spec, "solver", get_solver)
    _check_json_output(output)
    check_file(output)
    if num_reads < 1:
        raise ir.QselError(f"--num-reads must be at least 1, got {num_reads}")
    if max_iterations < 1:
        raise ir.QselError(f"--max-iterations must be at least 1, got {max_iterations}")
    build(pipeline)
    spec = None if cluster is None else parse_cluster(cluster)
    timer = Timer()
    with timer.stage(f"load {input_path}"):
        original = files.load(input_path)
    prepared = prepare(original, solver, pipeline)
    blocks = blocks_of(prepared[0], constraints="ignore")  # after the pipeline, which may partition
    nblocks = len(blocks)
    if mode == "auto":
        mode = resolve_mode(prepared[0], blocks)
    total = nblocks * (1 + (max_iterations if mode == "iterate" and nblocks > 1 else 0))
    with connect(spec), _bar(f"{solver.name}: blocks", total) as progress:  # blocks on the cluster's workers
        run = solve_to_result(original, solver, pipeline=pipeline, mode=mode, num_reads=num_reads, seed=seed,
                              max_iterations=max_iterations, progress=progress, prepared=prepared)
    if run.auto_pipeline:
        click.echo(f"qsel: solver '{solver.name}' takes no constraints: ran {run.auto_pipeline}", err=True)
    for name, seconds in run.pass_times.items():
        timer.add(name, seconds)
    timer.add("solve", run.solution.timings["solve"])
    result, sol, nblocks, extra = run.result, run.solution, run.blocks, run.result.extra
    result.extra["timings"]["load"] = timer.entries[0][1]
    with timer.stage(f"save {output}"), writing(output):
        result.save(output)
    its = len(sol.iterations) - 1
    click.echo(f"{output}: {solver.spec()} ({mode}, {nblocks} block(s){f', {its} iteration(s)' if its else ''}), "
               f"energy {result.energy:.6g}, feasible {result.feasible}, "
               f"{extra['timings']['total']:.2f} s", err=True)
    for note in sol.notes:
        click.echo(f"qsel: note: {note}", err=True)
    if timing:
        timer.report(sys.stderr)


@main.command()
@click.argument("manifest_path", metavar="MANIFEST")
@click.argument("results", nargs=-1, required=True, metavar="RESULT...")
@click.option("-o", "--output", required=True, metavar="RESULT.json", help="The composed result file.")
@click.option("--ir", "ir_path", default=None, metavar="IN.qir",
              help="The IR (as emitted, or the original): exact energies with cross terms, and feasibility.")
@click.option("--force", is_flag=True, help="Use an --ir from another model or calibration batch than the manifest's.")
def compose(manifest_path: str, results: tuple[str, ...], output: str, ir_path: str | None, force: bool) -> None:
    """Compose per-block results produced elsewhere (dimod SampleSet JSON, qiskit counts, OpenQAOA JSON)."""
    from qsel import files
    from qsel.result import Result
    from qsel.targets.compose import compose as run_compose

    _check_json_output(output)
    check_file(output)
    problem = files.load(ir_path) if ir_path else None
    t0 = time.perf_counter()
    c = run_compose(manifest_path, list(results), problem=problem, ir_path=ir_path, force=force,
                    warn=lambda message: click.echo(f"qsel: warning: {message}", err=True))
    report = dict(c.report)
    report["energy_exact"] = c.exact_energy
    report["timings"] = {"compose": time.perf_counter() - t0}
    result = Result.from_assignment(c.problem, c.x, f"compose:{report['target']}", energy=c.energy, **report)
    with writing(output):
        result.save(output)
    energy = "unknown" if result.energy is None else f"{result.energy:.6g}"
    click.echo(f"{output}: composed {len(report['blocks'])} block(s), energy {energy}"
               f"{'' if c.exact_energy else ' (from the block files)'}, feasible {result.feasible}", err=True)
    for note in report["notes"]:
        click.echo(f"qsel: note: {note}", err=True)


@main.command(name="targets")
def list_targets() -> None:
    """List the targets and solvers, their options, and whether they load here."""
    from qsel.targets import registry
    from qsel.targets.base import option_fields

    for kind, table, getter in (("targets", registry.available_targets(), registry.get_target),
                                ("solvers", registry.available_solvers(), registry.get_solver)):
        click.echo(f"{kind}:")
        for name in sorted(table):
            try:
                cls = getter(name)
            except Exception as exc:  # a target whose module is missing or broken: say so, keep listing
                click.echo(f"  {name:<14} (not available: {type(exc).__name__}: {exc})")
                continue
            extra = ""
            if kind == "targets":
                extra = f"\n  {'':<14} pipeline: {cls.default_pipeline}"
            elif any(f.metadata.get("child") for f in dataclasses.fields(cls)):
                extra = f"; composite: {name}{{...}}(SOLVER)"
            else:
                limits = [f"max {cls.max_vars} variables/block" if cls.max_vars else "",
                          "enforces constraints" if cls.handles_constraints else ""]
                extra = "".join(f"; {t}" for t in limits if t)
            opts = ", ".join(f"{k}={v!r}" for k, v in option_fields(cls))
            click.echo(f"  {name:<14} {cls.description}{extra}" + (f"\n  {'':<14} options: {opts}" if opts else ""))
