"""Partition-aware solving with any registered solver: blocks independently, or iterated like qbsolv.

Blocks are the IR's partitions (:func:`qsel.targets.base.blocks_of`; the whole
problem is one block when it has none). Every block's solver goes through
:func:`qsel.targets.composites.adapt` first: a solver that cannot enforce the
block's constraints gets them lowered to penalties (``lower``) and its samples
repaired and descended by count-preserving swaps (``polish``); so does a
solver whose samples come from a problem already lowered by a pass.

* ``independent``: each block is solved on its own with its own constant
  (:func:`qsel.targets.manifest.block_constants`), everything else clamped to
  0 (``ir.restrict``: cross terms dropped; a constraint spanning blocks is not
  enforced per block and is reported in ``notes``); blocks run through one
  executor (:mod:`qsel.targets.executor`). The composed assignment is then
  scored with the *true* energy of the whole IR, cross terms included.
* ``iterate``: the decomposition (:mod:`qsel.targets.decompose`) over the
  fixed partition, started from the independent solution: cardinality
  repaired, swap descent on the whole problem, then sweeps over the blocks,
  each solved with every other block clamped at its current values (cross
  terms folded into linear biases, each cardinality count shifted) and
  accepted only when the whole energy gets strictly lower. It stops after a
  sweep with no accepted block, or after ``max_iterations`` sweeps; the energy
  never increases after the repair, so iterate never ends worse than
  independent on a feasible start. Each sweep's energy is recorded.
* ``auto`` (the CLI default): ``iterate`` when a coupling or a constraint joins two blocks
  (:func:`qsel.targets.groups.block_groups`), else ``independent``, which is then exact and the same. A
  partitioned dense layer is the case it is for: its cut holds most of |J| (0.95 on the bench's 4,096-unit
  layer), so blocks solved blind to each other compose to a selection worse than a random one (139.5
  against 38.2 on a 2,048-unit reconstruct layer; one iterate sweep: 7.05). The solution records the mode
  that ran.

The solved problem's energy is what is compared; ``solve`` returns the
assignment plus everything a result file reports (per-block timings, energies
per iteration, the samples' energy distribution).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np

from qsel import ir

from .base import VIOLATION_TOL, Block, Samples, Solver, block_problem, blocks_of, energy_summary

Mode = Literal["independent", "iterate", "auto"]
MODES = ("auto", "independent", "iterate")
Progress = Callable[[int], None]


@dataclass
class Solution:
    """What :func:`solve` found for the problem it was given (assignment in that problem's variable order)."""

    x: np.ndarray
    energy: float
    violation: float
    mode: str
    blocks: list[dict[str, Any]]
    iterations: list[dict[str, Any]]
    distribution: dict[str, Any]
    timings: dict[str, float]
    notes: list[str] = field(default_factory=list)
    samples: list[Samples] = field(default_factory=list)  # last samples of each block

    def report(self) -> dict[str, Any]:
        """The fields a result file carries about the solve itself."""
        return {"mode": self.mode, "blocks": self.blocks, "iterations": self.iterations,
                "distribution": self.distribution, "notes": self.notes}


def total_violation(problem: ir.Problem, X: np.ndarray) -> np.ndarray:
    if not problem.constraints:
        return np.zeros(np.atleast_2d(X).shape[0])
    v = problem.violations(X).sum(axis=1)
    return np.where(v <= VIOLATION_TOL, 0.0, v)


def check_solver_fits(problem: ir.Problem, solver: Solver, blocks: list[Block]) -> None:
    """A clear error for a block too big for the solver."""
    limit = solver.max_vars
    if limit is not None:
        big = [b for b in blocks if b.size > limit]
        if big:
            b = max(big, key=lambda blk: blk.size)
            where = "the IR is not partitioned" if b.name == "all" else f"block {b.name!r} has {b.size} variables"
            raise ir.QselError(f"solver '{solver.name}' takes at most {limit} variables per block but {where} "
                               f"({b.size} variables); decompose it, e.g. -s 'decompose({solver.spec()})', or "
                               f"partition it first, e.g. -p 'partition{{max-vars={limit}}}'")


def _block_seed(seed: int | None, sweep: int, b: int, nblocks: int) -> int | None:
    return None if seed is None else int(seed) + sweep * max(nblocks, 1) + b


def compose_rows(problem: ir.Problem, blocks: list[Block], samples: list[Samples], base: np.ndarray,
                 max_rows: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Full assignments whose row r takes each block's r-th best sample (its best when it has fewer rows);
    variables outside every block keep ``base``. Returns (X, weights)."""
    if len(blocks) == 1 and blocks[0].size == problem.num_vars:
        s = samples[0]
        X = np.tile(base.astype(np.int8), (len(s.energies), 1))
        X[:, blocks[0].indices] = s.X
        return X, s.weights
    rows = min(max((len(s.energies) for s in samples), default=1), max_rows)
    X = np.tile(base.astype(np.int8), (rows, 1))
    for blk, s in zip(blocks, samples):
        if not len(s.energies):
            continue
        order = s.order()
        take = order[np.minimum(np.arange(rows), order.shape[0] - 1)]
        X[:, blk.indices] = s.X[take]
    return X, np.ones(rows, np.int64)


def _sample_block(task: tuple[Solver, ir.Problem, Block, float, int, int | None]) -> tuple[Samples, int, float]:
    """Executor task: one block's problem cut from ``source`` (where the task runs: with a cluster the
    extraction is parallel too), its samples, the position of the best one, and the seconds it all took."""
    from .composites import adapt

    solver, source, blk, offset, reads, seed = task
    t0 = time.perf_counter()
    sub = block_problem(source, blk, offset=offset)
    s = adapt(solver, sub).sample(sub, num_reads=reads, seed=seed)
    best = int(s.order(sub)[0]) if len(s.energies) else -1
    return s, best, time.perf_counter() - t0


def solve(problem: ir.Problem, solver: Solver, *, mode: Mode = "independent", num_reads: int = 100,
          seed: int | None = None, max_iterations: int = 20, progress: Progress | None = None,
          bins: int = 20, workers: int = 1) -> Solution:
    """Solve ``problem`` block by block with ``solver`` (see the module docstring for the two modes).

    Every block's solver is :func:`qsel.targets.composites.adapt`-ed: constraints it cannot enforce are
    lowered for it and its samples polished. Independent blocks run through one executor (``workers``
    processes; 1: here; a cluster's workers when one is current)."""
    from .decompose import DecomposeComposite
    from .executor import executor_for
    from .groups import block_diagonal, iterate
    from .manifest import block_constants

    if mode not in MODES:
        raise ir.QselError(f"unknown solve mode {mode!r} (expected {', '.join(MODES)})")
    if num_reads < 1:
        raise ir.QselError(f"--num-reads must be at least 1, got {num_reads}")
    blocks = blocks_of(problem, constraints="ignore")
    check_solver_fits(problem, solver, blocks)
    n = problem.num_vars
    notes: list[str] = []
    if mode == "auto":
        mode = resolve_mode(problem, blocks)
        if mode == "iterate":
            notes.append("mode auto: iterate, since couplings or constraints join the blocks")
    spanning = [c.label for k, c in enumerate(problem.constraints)
                if not any(k in b.constraints for b in blocks) and c.indices.size]
    if spanning and mode == "independent":
        notes.append(f"constraints spanning several blocks are not enforced when blocks are solved independently: "
                     f"{', '.join(spanning)} (use --mode iterate)")
    start_all = time.perf_counter()
    consts = block_constants(problem, [b.indices for b in blocks]).values if len(blocks) > 1 else [problem.offset]
    with executor_for(workers if len(blocks) > 1 else 1,
                      name=lambda t: f"the solve of block {t[2].name!r} ({t[2].size} variables)") as pool:
        # blocks are cut from the block-diagonal part (the same terms: cross terms are dropped anyway), sent once
        source = pool.share(block_diagonal(problem, blocks))
        tasks = [(solver, source, blk, float(consts[b]), num_reads, _block_seed(seed, 0, b, len(blocks)))
                 for b, blk in enumerate(blocks)]
        answers = pool.map(_sample_block, tasks)
    x = np.zeros(n, dtype=np.int8)
    block_info: list[dict[str, Any]] = []
    last: list[Samples] = []
    for blk, (s, best, dt) in zip(blocks, answers):
        if not len(s.energies):
            raise ir.QselError(f"solver '{solver.name}' returned no sample for block {blk.name!r}")
        x[blk.indices] = s.X[best]
        last.append(s)
        block_info.append({"name": blk.name, "size": blk.size, "energy": float(s.energies[best]),
                           "seconds": dt, "solves": 1, "accepted": 1, "info": _jsonable(s.info)})
    if progress:
        progress(len(blocks))
    X1 = x[None, :]
    energy = float(problem.energies(X1)[0]) if n else float(problem.offset)
    viol = float(total_violation(problem, X1)[0])
    iterations = [{"iteration": 0, "energy": energy, "violation": viol, "accepted_blocks": len(blocks),
                   "seconds": time.perf_counter() - start_all}]
    if mode == "iterate" and len(blocks) > 1:
        # the decomposition over the fixed partition: sweeps of clamped block solves, accepted when better
        # (groups of blocks that share no couplings run concurrently: qsel.targets.groups)
        def opts_for(nb: int) -> DecomposeComposite:
            return DecomposeComposite(child=solver, strategy="partition", reads=num_reads, batch=1, workers=1,
                                      patience=nb, max_subproblems=max_iterations * nb)

        x_new, report = iterate(problem, solver, blocks, x, opts_for, seed, progress, workers)
        x = x_new.astype(np.int8)
        X1 = x[None, :]
        energy = float(problem.energies(X1)[0])
        viol = float(total_violation(problem, X1)[0])
        iterations = [{**iterations[0]}] + [dict(it) for it in report["iterations"][1:]]
        for it in iterations[1:]:
            it["violation"] = viol if it is iterations[-1] else 0.0
        for info, stats in zip(block_info, report["partitions"]):
            info["seconds"] += stats["seconds"]
            info["solves"] += stats["solves"]
            info["accepted"] += stats["accepted"]
        if report["stop"] == "max-subproblems":
            notes.append(f"iterate stopped after --max-iterations {max_iterations} sweeps while still improving")
    total = time.perf_counter() - start_all
    X, w = compose_rows(problem, blocks, last, x)
    if len(blocks) == 1 and "distribution" in last[0].info:
        dist = dict(last[0].info["distribution"])
    else:
        E = problem.energies(X) if n else np.full(X.shape[0], float(problem.offset))
        dist = {**energy_summary(E, w, bins=bins),
                "of": "the solver's samples" if len(blocks) == 1 else
                "full assignments composed row by row from each block's samples (row r = each block's r-th best)"}
    return Solution(x=x, energy=energy, violation=viol, mode=mode, blocks=block_info, iterations=iterations,
                    distribution=dist, timings={"solve": total,
                                                "solver": float(sum(b["seconds"] for b in block_info))},
                    notes=notes, samples=last)


def resolve_mode(problem: ir.Problem, blocks: list[Block]) -> Mode:
    """``auto``'s choice: iterate when a coupling or a constraint joins two of ``blocks``, else independent.

    The coupling graph is :func:`qsel.passes.quadratic.components`'s, O(n + nnz): a dense block joins every
    variable it stores a non-zero entry for, so one dense block with zeros between the partitions still counts
    as joined (iterate then costs one sweep more and never ends worse)."""
    from .groups import block_groups

    if len(blocks) <= 1:
        return "independent"
    joined = len(block_groups(problem, [b.indices for b in blocks])) < len(blocks)
    return "iterate" if joined else "independent"


def _jsonable(info: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe scalar part of a solver's info (numbers, strings, small dicts/lists of those)."""
    out: dict[str, Any] = {}
    for k, v in info.items():
        if k == "distribution":
            continue
        if isinstance(v, (bool, int, float, str)) or v is None:
            if isinstance(v, float) and not np.isfinite(v):
                continue
            out[k] = v
        elif isinstance(v, (np.integer, np.floating)):
            out[k] = v.item()
        elif isinstance(v, dict):
            sub = _jsonable(v)
            if sub:
                out[k] = sub
        elif isinstance(v, (list, tuple)) and len(v) <= 64 and all(isinstance(e, (int, float, str)) for e in v):
            out[k] = list(v)
    return out


def prepare(original: ir.Problem, solver: Solver, pipeline: str = "") -> tuple[ir.Problem, dict[str, float], str]:
    """Run ``pipeline``, then ``lower-constraints`` if the IR still has constraints the solver cannot
    enforce: (problem to solve, seconds per pass, the automatic pipeline added or "")."""
    from .emit import run_pipeline

    problem, pass_times = run_pipeline(original, pipeline) if pipeline else (original, {})
    auto = ""
    if problem.constraints and not solver.handles_constraints:
        auto = "lower-constraints{penalty=auto,spanning=lower}"
        problem, more = run_pipeline(problem, auto)
        pass_times.update(more)
    return problem, pass_times, auto


@dataclass
class OriginalSolve:
    """:func:`solve_original`'s answer: the assignment of the original IR and how it was obtained."""

    x: np.ndarray  # 0/1 per variable of the original IR (fixed values restored, slack bits dropped)
    solution: Solution
    solved: ir.Problem  # the problem the solver saw (after the pipeline)
    pass_times: dict[str, float]
    auto_pipeline: str
    blocks: int


def solve_original(original: ir.Problem, solver: Solver, *, pipeline: str = "", mode: Mode = "independent",
                   num_reads: int = 100, seed: int | None = None, max_iterations: int = 20,
                   progress: Progress | None = None,
                   prepared: tuple[ir.Problem, dict[str, float], str] | None = None) -> OriginalSolve:
    """Prepare (:func:`prepare`, unless ``prepared`` is given), solve, and map the assignment back to
    ``original``'s variables with :func:`qsel.passes.mapping.restore`."""
    from qsel.passes.mapping import restore

    problem, pass_times, auto = prepared if prepared is not None else prepare(original, solver, pipeline)
    nblocks = len(blocks_of(problem, constraints="ignore"))
    sol = solve(problem, solver, mode=mode, num_reads=num_reads, seed=seed, max_iterations=max_iterations,
                progress=progress)
    x = restore(original, problem, sol.x[None, :].astype(np.float64))[0]
    return OriginalSolve(x, sol, problem, pass_times, auto, nblocks)
