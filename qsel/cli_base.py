"""The ``qsel`` command group and its error handling; commands live in ``qsel/commands/``.

Every user error (bad file, bad option, bad pipeline) prints one clear
message to stderr and exits with code 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

from typing import Any

import click

from qsel import ir

EXIT_USAGE = 2


class QselGroup(click.Group):
    """Turns QselError into 'qsel: error: ...' + exit 2, and internal errors into exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ir.QselError as exc:
            if ctx.meta.get("qsel.debug"):
                raise
            click.echo(f"qsel: error: {exc}", err=True)
            ctx.exit(EXIT_USAGE)
        except KeyboardInterrupt:
            click.echo("qsel: interrupted", err=True)
            ctx.exit(130)
        except MemoryError:
            click.echo("qsel: error: out of memory (try a smaller problem or partition it first)", err=True)
            ctx.exit(1)


@click.group(cls=QselGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.version_option(package_name="qsel")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """qsel: compile neuron selection into QUBOs for annealers, QAOA and classical solvers."""
    ctx.meta["qsel.debug"] = debug
