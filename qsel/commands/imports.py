"""Import commands: ``qsel import`` (BQM / qbsolv / LP files -> IR) and ``qsel add-terms`` (pyqubo terms -> IR)."""

from __future__ import annotations

import math

import click

from qsel import ir
from qsel.cli_base import main
from qsel.ir.outputs import check_file


@main.command(name="import")
@click.argument("input_path", metavar="MODEL")
@click.option("-o", "--output", default="-", metavar="OUT", help="Output IR file (.qir text, .qirz binary; '-' stdout).")
@click.option("--dense-threshold", default=0.5, show_default=True, metavar="F",
              help="Store the couplings as one dense block when this fraction of all pairs is coupled.")
def import_command(input_path: str, output: str, dense_threshold: float) -> None:
    """Import MODEL (.bqm dimod BQM file, .qubo qbsolv file, .lp LP file over binaries) into the IR.

    SPIN models are converted to BINARY exactly (s = 2x - 1); LP constraints
    stay first-class constraints. The source file's name and SHA-256 are
    recorded in the metadata.
    """
    from qsel import files
    from qsel.importers import import_problem

    if output != "-":
        ir.format_of(output)  # a bad output suffix fails before the input is read
    check_file(output, stdout_ok=True)  # files.save writes it inside outputs.writing
    if not (0.0 <= dense_threshold and math.isfinite(dense_threshold)):
        raise ir.QselError(f"--dense-threshold: expected a number >= 0, got {dense_threshold}")
    files.save(import_problem(input_path, dense_threshold=dense_threshold), output)


def parse_params(items: tuple[str, ...]) -> dict[str, float]:
    """``NAME=VALUE`` strings -> {NAME: float(VALUE)}; QselError naming the bad item."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ir.QselError(f"--param {item!r}: expected NAME=VALUE")
        try:
            value = float(text)
        except ValueError:
            raise ir.QselError(f"--param {item!r}: value {text!r} is not a number") from None
        if not math.isfinite(value):
            raise ir.QselError(f"--param {item!r}: value must be finite")
        if name in out:
            raise ir.QselError(f"--param: {name!r} is given twice")
        out[name] = value
    return out


@main.command(name="add-terms")
@click.argument("input_path", metavar="IN")
@click.argument("terms_path", metavar="TERMS.py")
@click.option("-o", "--output", default="-", metavar="OUT", help="Output IR file (.qir text, .qirz binary; '-' stdout).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Value of a pyqubo Placeholder used by the terms (repeatable).")
def add_terms_command(input_path: str, terms_path: str, output: str, params: tuple[str, ...]) -> None:
    """Add objectives / constraints written with pyqubo in TERMS.py to the IR IN.

    TERMS.py defines `def terms(x, problem)`: x maps IR labels to pyqubo Binary
    variables; it returns a pyqubo expression, or (expression or None,
    [constraints]) with qsel.extra_terms.at_least / at_most / exactly.
    TERMS.py is executed as Python code: only use files you trust.
    """
    from qsel import files
    from qsel.extra_terms import add_terms, load_terms_file

    values = parse_params(params)
    if output != "-":
        ir.format_of(output)
    check_file(output, stdout_ok=True)  # files.save writes it inside outputs.writing
    problem = files.load(input_path)
    build = load_terms_file(terms_path)
    files.save(add_terms(problem, build, values, source=build.path.name), output)
