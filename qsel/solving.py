"""Solving an IR for the driver: the targets layer's :func:`qsel.targets.solve.solve` plus a result file.

:func:`solve_to_result` is the one path ``qsel solve``, ``qsel submit``, ``qsel select`` and the
benchmarks take from an IR to a :class:`qsel.result.Result`: run the pipeline (and
``lower-constraints`` when the solver cannot enforce the constraints), solve per block, then map the
assignment back to the original IR's variables (fixed values restored, slack bits dropped). It lives in
the driver, not in ``targets``, because a ``Result`` is a driver record: the layers below the driver
never import it (tests/test_import_graph.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from qsel import ir
from qsel.result import Result
from qsel.targets.base import Solver
from qsel.targets.solve import Mode, OriginalSolve, Progress, solve_original


@dataclass
class SolveRun(OriginalSolve):
    """``solve_to_result``'s answer: the result on the original IR, and how it was obtained (the fields of
    :class:`qsel.targets.solve.OriginalSolve`)."""

    result: Result


def solve_to_result(original: ir.Problem, solver: Solver, *, pipeline: str = "", mode: Mode = "independent",
                    num_reads: int = 100, seed: int | None = None, max_iterations: int = 20,
                    progress: Progress | None = None,
                    prepared: tuple[ir.Problem, dict[str, float], str] | None = None) -> SolveRun:
    """:func:`qsel.targets.solve.solve_original` (pipeline, solve, the assignment mapped back to ``original``'s
    variables) recorded as a :class:`qsel.result.Result`."""
    t_start = time.perf_counter()
    got = solve_original(original, solver, pipeline=pipeline, mode=mode, num_reads=num_reads, seed=seed,
                         max_iterations=max_iterations, progress=progress, prepared=prepared)
    problem, pass_times, auto, nblocks, sol, x = (got.solved, got.pass_times, got.auto_pipeline, got.blocks,
                                                 got.solution, got.x)
    extra = {
        "solved": {"pipeline": ",".join(p for p in (pipeline, auto) if p), "lowered_by_solve": bool(auto),
                   "num_vars": problem.num_vars, "blocks": nblocks, "energy": sol.energy,
                   "violation": sol.violation,
                   "energy_of": "the solved problem (after the pipeline: penalties and scale included)"},
        **sol.report(),
        "num_reads": num_reads, "seed": seed,
        "timings": {"passes": float(sum(pass_times.values())), **dict(pass_times),
                    "solve": sol.timings["solve"], "solver": sol.timings["solver"],
                    "total": time.perf_counter() - t_start},
    }
    result = Result.from_assignment(original, x, solver.spec(), **extra)
    return SolveRun(**vars(got), result=result)
