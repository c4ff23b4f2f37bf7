"""qsel submit: ``qsel solve`` with a remote device as the block solver (or its local stand-in with --local).

    qsel submit IN --to dwave|dwave-hybrid|ibm -o result.json [--local] [-s SPEC] [-p PIPELINE]
                [--mode auto|independent|iterate] [--num-reads N] [--seed S]

This module only reads the options, checks them and the output path, runs and writes: the solver stack
(the destination's device, or its local stand-in, inside the default composites or the ``-s`` spec) is
built by :mod:`qsel.targets.submission`, which lists the default stacks; the device solvers are in
:mod:`qsel.targets.remote`. The run goes through :func:`qsel.solving.solve_to_result`, the code path of
``qsel solve``, so the device gets the same decomposition and polish as the local solvers, and
``submit --local`` gives what ``qsel solve`` gives with the spec the result file records under ``solver``.

Credentials come only from the libraries' usual places (dwave-cloud-client's
config file or ``DWAVE_API_TOKEN``; qiskit-ibm-runtime's saved account or its
``QISKIT_IBM_*`` variables) and are checked for presence, without network,
before anything runs. qsel never takes a token on the command line, never
reads its value and never writes it anywhere.
"""

from __future__ import annotations

import click

from qsel import ir
from qsel.cli_base import main
from qsel.targets.solve import MODES
from qsel.ir.outputs import check_file, writing
from qsel.targets.submission import DESTINATIONS, IBM_BLOCK, build_solver, device_for, submission_record


@main.command()
@click.argument("input_path", metavar="IN")
@click.option("--to", "to", required=True, type=click.Choice(DESTINATIONS),
              help="dwave (QPU, embedded), dwave-hybrid (Leap CQM), ibm (QAOA on IBM Quantum).")
@click.option("-o", "--output", required=True, metavar="RESULT.json", help="Where to write the result.")
@click.option("--local", is_flag=True, help="Use the local stand-ins (no account, no network).")
@click.option("-s", "--solver-spec", "spec", default=None, metavar="SPEC",
              help="Full solver spec instead of the default, e.g. 'decompose{block=100}(dwave-qpu)'.")
@click.option("-p", "--pipeline", default="", metavar="PIPELINE", help="Passes to run first (as qsel solve).")
@click.option("--mode", type=click.Choice(MODES), default="auto", show_default=True,
              help="Partitioned IR: blocks independently, or iterated with the others clamped (as qsel solve).")
@click.option("--block", type=int, default=None,
              help=f"Variables per subproblem (default: dwave the Pegasus clique less a margin, or the "
                   f"topology's clique if smaller; ibm {IBM_BLOCK}).")
@click.option("--solver", "solver", metavar="NAME", help="D-Wave solver name (default: the client's choice).")
@click.option("--backend", "backend", metavar="NAME",
              help=f"IBM backend (default: least busy; with --local a fake one, default fake_sherbrooke).")
@click.option("--topology", default="pegasus", show_default=True,
              help="--to dwave: the chip's topology (pegasus, zephyr, chimera or family:shape).")
@click.option("--p", "depth", default=2, show_default=True, help="QAOA depth for --to ibm.")
@click.option("--num-reads", default=100, show_default=True,
              help="Reads (D-Wave) or shots (IBM) per subproblem.")
@click.option("--seed", default=None, type=int, help="Seed (the stand-ins, decomposition, QAOA optimiser).")
@click.option("--max-iterations", default=20, show_default=True, help="--mode iterate: most sweeps.")
@click.option("--label", default="qsel", show_default=True, help="Problem label shown in the D-Wave dashboard.")
def submit(input_path: str, to: str, output: str, local: bool, spec: str | None, pipeline: str, mode: str,
           block: int | None, solver: str | None, backend: str | None, topology: str, depth: int, num_reads: int,
           seed: int | None, max_iterations: int, label: str) -> None:
    """Solve IN on D-Wave or IBM (or their local stand-ins) through qsel solve's composites; write RESULT.json."""
    from qsel import files
    from qsel.passes import build
    from qsel.solving import solve_to_result

    if not output.endswith(".json"):
        raise ir.QselError(f"-o {output!r}: the result file must end in .json")
    check_file(output)  # before credentials, input and the (possibly paid) device run
    if num_reads < 1:
        raise ir.QselError(f"--num-reads must be >= 1, got {num_reads}")
    if block is not None and block < 2:
        raise ir.QselError(f"--block must be at least 2, got {block}")
    ctx = click.get_current_context()
    given = [f"--{name}" for name, param in (("solver", "solver"), ("backend", "backend"), ("block", "block"),
                                             ("topology", "topology"), ("p", "depth"), ("label", "label"))
             if ctx.get_parameter_source(param) == click.core.ParameterSource.COMMANDLINE]
    if spec and given:
        raise ir.QselError(f"{', '.join(given)} cannot be combined with -s: write the options inside the spec")
    device = device_for(to, solver=solver, backend=backend, topology=topology, depth=depth, label=label)
    run_solver, leaf = build_solver(to, local, spec, device, num_reads=num_reads, block=block)
    if hasattr(leaf, "check"):
        leaf.check()  # credentials present (or the fake backend exists) before any work, without network
    build(pipeline)
    original = files.load(input_path)
    run = solve_to_result(original, run_solver, pipeline=pipeline, mode=mode, num_reads=num_reads, seed=seed,
                          max_iterations=max_iterations)
    result = run.result
    result.extra["submission"] = submission_record(to, local, run_solver, leaf)
    with writing(output):
        result.save(output)
    state = "feasible" if result.feasible else f"INFEASIBLE (breaks {', '.join(result.broken_constraints)})"
    click.echo(f"{output}: {to}{' (local)' if local else ''} via {run_solver.spec()}: energy {result.energy:.6g}, "
               f"{state}, {result.extra['timings']['total']:.2f} s", err=True)
    for note in run.solution.notes:
        click.echo(f"qsel: note: {note}", err=True)

