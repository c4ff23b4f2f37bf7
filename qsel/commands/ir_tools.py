"""IR commands: opt, inspect, convert, passes, example."""

from __future__ import annotations

import sys

import click

from qsel import ir
from qsel.cli_base import main
from qsel.ir.outputs import check_file, writing


@main.command()
@click.argument("input_path", metavar="IN")
@click.option("-p", "--pipeline", "pipeline", default="", metavar="PIPELINE",
              help="Passes to run, e.g. 'canonicalize,stats'. See `qsel passes`.")
@click.option("-o", "--output", default="-", metavar="OUT", help="Output file (.qir text, .qirz binary; '-' stdout).")
@click.option("--print-ir-after-all", is_flag=True, help="Print the IR to stderr after every pass.")
@click.option("--print-ir-after", "print_after", multiple=True, metavar="NAME",
              help="Print the IR to stderr after each pass called NAME (repeatable).")
@click.option("--timing", is_flag=True, help="Report wall time of load, every pass and save on stderr.")
@click.option("--verify-each", is_flag=True, help="Run the IR verifier after every pass.")
def opt(input_path: str, pipeline: str, output: str, print_ir_after_all: bool, print_after: tuple[str, ...],
        timing: bool, verify_each: bool) -> None:
    """Run a pass pipeline over IN and write the result to OUT."""
    from qsel import files
    from qsel.passes import PassManager, build, registry
    from qsel.timing import Timer

    passes = build(pipeline)  # syntax and option errors before any file is read
    known = registry.available()
    for name in print_after:
        if name not in known:
            raise ir.QselError(f"--print-ir-after: unknown pass '{name}' (available: {', '.join(sorted(known))})")
    if output != "-":
        ir.format_of(output)
    check_file(output, stdout_ok=True)
    timer = Timer()

    def dump_after(p, problem, props, seconds) -> None:
        if print_ir_after_all or p.name in print_after:
            click.echo(f"# ----- IR after {p.spec()} -----", err=True)
            ir.text_printer.dump(problem, sys.stderr)

    with timer.stage(f"load {input_path}"):
        problem = files.load(input_path)
    manager = PassManager(passes, verify_each=verify_each, callbacks=[dump_after])
    problem = manager.run(problem)
    for t in manager.timings:
        timer.add(f"pass {t.name}", t.seconds)
    with timer.stage(f"save {output}"):
        files.save(problem, output)
    if timing:
        timer.report(sys.stderr)


@main.command()
@click.argument("input_path", metavar="IN")
@click.option("--dump", is_flag=True, help="Also print the whole IR in text form.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--plot", "plot_path", metavar="FILE.png", help="Draw the coupling heatmap and partition sizes.")
def inspect(input_path: str, dump: bool, as_json: bool, plot_path: str | None) -> None:
    """Summarise IN: counts, density, coefficient ranges, dynamic range, constraints, partitions."""
    from qsel import files, report

    if plot_path is not None:
        if not plot_path.lower().endswith(".png"):
            raise ir.QselError(f"--plot: {plot_path!r} must end in .png")
        check_file(plot_path)
    problem = files.load(input_path)
    click.echo(report.to_json(problem) if as_json else report.to_text(problem, input_path))
    if dump:
        ir.text_printer.dump(problem, sys.stdout)
    if plot_path is not None:
        from qsel import plots

        with writing(plot_path):
            plots.plot(problem, plot_path)
        if not as_json:
            click.echo(f"  plot written to {plot_path}")


@main.command()
@click.argument("input_path", metavar="IN")
@click.argument("output_path", metavar="OUT")
def convert(input_path: str, output_path: str) -> None:
    """Convert between the text (.qir) and binary (.qirz) IR formats, losslessly ('-' for OUT: text to stdout)."""
    from qsel import files

    if output_path != "-":
        ir.format_of(output_path)
    check_file(output_path, stdout_ok=True)
    files.save(files.load(input_path), output_path)


@main.command(name="passes")
def list_passes() -> None:
    """List the available passes and their options."""
    from qsel.passes import AnalysisPass, registry

    for name in sorted(registry.available()):
        cls = registry.get(name)
        kind = "analysis" if issubclass(cls, AnalysisPass) else ("exact" if cls.exact else "lossy")
        opts = ", ".join(f"{f.name.replace('_', '-')}={f.default!r}" for f in cls.option_fields())
        click.echo(f"{name:<20} {kind:<9} {cls.summary()}" + (f"\n{'':<31}options: {opts}" if opts else ""))


@main.command()
@click.option("-o", "--output", default="-", metavar="OUT", help="Where to write the example IR.")
@click.option("--units", default=32, show_default=True, help="Hidden units of the example layer.")
@click.option("--keep", default=0.25, show_default=True, help="Fraction of units to keep (cardinality constraint).")
@click.option("--seed", default=0, show_default=True)
def example(output: str, units: int, keep: float, seed: int) -> None:
    """Write a built-in neuron-selection problem (a random ReLU layer on scikit-learn digits)."""
    from qsel import examples, files

    if output != "-":
        ir.format_of(output)
    check_file(output, stdout_ok=True)
    files.save(examples.random_layer_problem(units=units, keep=keep, seed=seed), output)
