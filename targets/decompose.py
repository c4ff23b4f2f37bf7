"""``decompose``: large-neighbourhood search through hardware-sized subproblems (qbsolv / dwave-hybrid style).

A device that holds B variables (a Pegasus clique less a margin,
:func:`qsel.passes.topology.block_for`; 20 for a simulated
QAOA circuit) still yields a near-optimal selection of a 1,000+-unit layer:

1. **Warm start.** Greedy forward selection (:func:`postprocess.greedy_start`)
   followed by swap descent on the whole problem: feasible, and never worse
   than the greedy baseline.
2. **Subproblem.** Pick at most B variables (``strategy``):

   * ``energy`` (default) — a *seed* variable taken in energy-impact order
     (per group, kept units with the largest field f_i and dropped units with
     the smallest f_j first, interleaved; free variables by flip gain; the
     order is recomputed after every accepted move), plus B - 1 variables
     drawn without replacement with probability proportional to their
     coupling |S_ij| to the seed (Gumbel top-k). Units that interact strongly
     (redundant or complementary neurons) are re-chosen together, which is
     what a block solver can exploit; blocks made of the impact ranking alone
     sit at the swap-local minimum and were measured never to improve.
   * ``coupled`` — the same neighbourhoods around seeds in a seeded random order.
   * ``random`` — B variables uniformly at random.
   * ``partition`` — the given partitions in turn (the IR's by default; what
     ``qsel solve --mode iterate`` asks for).

3. **Clamp.** Everything outside the subproblem keeps its value: with fields
   f = h + S x, the subproblem over B has linear biases f_B - S_BB x_B,
   couplings S_BB (upper triangle), each cardinality group's right-hand side
   shifted to K - (units kept outside B), and an offset that makes its energy
   *equal* the whole problem's energy (``ir.clamp``'s folding, done from f in
   O(n |B|) instead of O(n^2)).
4. **Solve** it with the child (wrapped by :func:`composites.adapt`: lowered
   and polished when the child cannot enforce constraints). The penalty is
   ``penalty-scale`` (0.2) times the provably sufficient auto penalty: the
   polish repairs every sample's count anyway, and a penalty that dwarfs the
   objective leaves an annealer (simulated or on Pegasus) no resolution for
   the objective; measured on a 256-unit layer, scale 1 gave subproblem
   answers that never beat the current state on the Pegasus stand-in.
5. **Accept** the child's best feasible sample if it lowers the whole energy
   (exact change from the fields), then descend by swaps on the whole problem.
   While whole passes find nothing the child is asked for more reads
   (``reads`` doubled per pass, at most 8x).
6. **Stop** after ``patience`` subproblems in a row without improvement
   (default: four passes, one for ``partition``), a ``time-limit`` or
   ``max-subproblems``.

``batch`` subproblems with disjoint variables are built from the same state
and solved through one :class:`qsel.targets.executor.Executor` (in parallel
with ``workers`` > 1); their answers are then applied one after the other, each
re-scored exactly against the current state. The trajectory depends only on
``batch`` and the seed, never on where the subproblems ran, so the same seed
gives the same selection serially, in a process pool or on a cluster.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from qsel import ir
from qsel.passes.topology import block_for

from .base import Samples, Solver
from .composites import Composite, adapt, record_time
from .executor import executor_for
from .postprocess import MoveSet, QuadraticForm, descend, greedy_start, repair

STRATEGIES = ("energy", "coupled", "random", "partition")


@dataclass(frozen=True)
class DecomposeComposite(Composite):
    """Large-neighbourhood search: warm start, clamp everything but a hardware-sized block, solve it, accept."""

    name: ClassVar[str] = "decompose"
    description: ClassVar[str] = ("large-neighbourhood search through hardware-sized subproblems: greedy warm "
                                  "start, energy-impact seeds with their most strongly coupled variables, the "
                                  "rest clamped, count-preserving moves")

    block: int = 0  # variables per subproblem (0: the child's limit, at most the Pegasus block size)
    strategy: str = "energy"  # energy | coupled | random | partition
    reads: int = 4  # reads asked of the child per subproblem (doubled while passes find nothing, at most 8x)
    patience: int = 0  # subproblems without improvement before stopping (0: four passes over the problem)
    time_limit: float = 0.0  # seconds (0: none)
    max_subproblems: int = 0  # 0: no limit
    batch: int = 2  # disjoint subproblems built from the same state (solved in parallel with workers > 1)
    workers: int = 0  # processes solving a batch (0: one per core, at most batch; 1: this process)
    warm_start: str = "greedy"  # greedy | zeros
    penalty_scale: float = 0.2  # a child that needs penalties gets lower{penalty-scale=...} (polish repairs)
    accept: str = "improve"  # improve | anneal (worse answers too, Metropolis, over time-limit/max-subproblems)
    temperature: float = 1.0  # anneal: T0 = temperature x the median energy rise of rejected answers

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.block < 0 or self.block == 1:
            raise ValueError(f"block must be 0 (automatic) or at least 2 variables, got {self.block}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.reads < 1 or self.batch < 1 or self.max_subproblems < 0:
            raise ValueError("reads and batch must be at least 1, max-subproblems >= 0 (0: no limit)")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0: one per core), got {self.workers}")
        if self.patience < 0 or self.time_limit < 0:
            raise ValueError("patience and time-limit must be >= 0 (0: automatic / no limit)")
        if not (np.isfinite(self.penalty_scale) and self.penalty_scale > 0):
            raise ValueError(f"penalty-scale must be a finite number > 0, got {self.penalty_scale}")
        if self.accept not in ("improve", "anneal"):
            raise ValueError(f"accept must be improve or anneal, got {self.accept!r}")
        if self.accept == "anneal" and not (self.time_limit or self.max_subproblems):
            raise ValueError("accept=anneal cools over a budget: give time-limit=SECONDS or max-subproblems=N")
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {self.temperature}")
        if self.warm_start not in ("greedy", "zeros"):
            raise ValueError(f"warm-start must be greedy or zeros, got {self.warm_start!r}")

    @property
    def max_vars(self) -> int | None:  # type: ignore[override]
        return None

    @property
    def handles_constraints(self) -> bool:  # type: ignore[override]
        return True

    def block_size(self) -> int:
        if self.block:
            return self.block
        return block_for(self.require_child().max_vars)

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        child = self.require_child()
        limit = child.max_vars
        size = self.block_size()
        if limit is not None and size > limit:
            raise ir.QselError(f"decompose: block={size} is more than solver '{child.name}' takes ({limit}); "
                               f"use decompose{{block={limit}}}")
        t0 = time.perf_counter()
        x, report = Search(problem, child, size, self, seed).run()
        X = x[None, :]
        out = Samples(X, problem.energies(X), np.ones(1, np.int64), {"decompose": report})
        return record_time(out, self.name, time.perf_counter() - t0, subproblems=report["subproblems"],
                           accepted=report["accepted"])


def _solve_one(task: tuple[Solver, ir.Problem, int, int | None]) -> tuple[np.ndarray, dict, float]:
    """Executor task: (rows best first, the child's info, seconds) for one subproblem."""
    solver, sub, reads, seed = task
    t0 = time.perf_counter()
    s = solver.sample(sub, num_reads=reads, seed=seed)
    order = s.order(sub)
    return np.asarray(s.X, dtype=np.int8)[order], s.info, time.perf_counter() - t0


class Search:
    """The state of one decomposition run (see the module docstring).

    ``partitions`` (index arrays) are the fixed subproblems of ``strategy=partition`` (default: the IR's)."""

    def __init__(self, problem: ir.Problem, child: Solver, size: int, opts: DecomposeComposite,
                 seed: int | None, partitions: list[np.ndarray] | None = None) -> None:
        self.problem, self.child, self.opts, self.size = problem, child, opts, max(2, size)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.qf = QuadraticForm.from_problem(problem)
        self.moves = MoveSet.of(problem)
        self.n = problem.num_vars
        self.group_of = np.full(self.n, -1, dtype=np.int64)
        for g, (idx, _) in enumerate(self.moves.groups):
            self.group_of[idx] = g
        self.movable = self.group_of >= 0
        self.movable[self.moves.free] = True
        if partitions is None:
            partitions = [np.sort(p.indices).astype(np.int64) for p in problem.partitions if p.size]
        self.partitions = partitions
        self.cursor = 0  # next partition
        self.seeds = np.zeros(0, np.int64)  # seed variables of the coupled neighbourhoods, in order
        self.seed_pos = 0
        self.energy = 0.0

    # ---------------------------------------------------------------- subproblems
    def impact_order(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Every movable variable, best first by energy impact: for each group its kept units by f_i
        descending and its dropped units by f_j ascending, interleaved; free variables by flip gain."""
        score = np.where(x == 1, -f, f)  # lower: changing it helps more
        lists = []
        for idx, _ in self.moves.groups:
            on, off = idx[x[idx] == 1], idx[x[idx] == 0]
            lists += [on[np.argsort(score[on], kind="stable")], off[np.argsort(score[off], kind="stable")]]
        lists.append(self.moves.free[np.argsort(score[self.moves.free], kind="stable")])
        width = max(a.size for a in lists)
        table = np.full((len(lists), width), -1, dtype=np.int64)
        for r, a in enumerate(lists):
            table[r, :a.size] = a
        seq = table.T.ravel()
        return seq[seq >= 0]

    def restart_pass(self, x: np.ndarray, f: np.ndarray) -> None:
        """A new pass over the seeds: energy-impact order (``energy``) or a seeded permutation (``coupled``)."""
        if self.opts.strategy == "energy":
            self.seeds = self.impact_order(x, f)
        else:
            self.seeds = self.rng.permutation(np.flatnonzero(self.movable))
        self.seed_pos = 0

    def pick(self, x: np.ndarray, f: np.ndarray, taken: np.ndarray) -> np.ndarray:
        """The next subproblem's variables (none of ``taken``), sorted."""
        free = self.movable & ~taken
        strategy = self.opts.strategy
        if strategy == "partition" and self.partitions:
            for _ in range(len(self.partitions)):
                part = self.partitions[self.cursor % len(self.partitions)]
                self.cursor += 1
                part = part[free[part]]
                if part.size:
                    return part[:self.size]
            return np.zeros(0, np.int64)
        if strategy == "random":
            cand = np.flatnonzero(free)
            return np.sort(self.rng.choice(cand, size=min(self.size, cand.size), replace=False))
        return self.neighbourhood(x, f, free)

    def neighbourhood(self, x: np.ndarray, f: np.ndarray, free: np.ndarray) -> np.ndarray:
        """The next seed variable and size - 1 others drawn without replacement with probability proportional to
        their coupling |S_ij| to it (Gumbel top-k): units that interact strongly are re-chosen together."""
        if self.seed_pos >= self.seeds.size:
            self.restart_pass(x, f)
        while self.seed_pos < self.seeds.size and not free[self.seeds[self.seed_pos]]:
            self.seed_pos += 1
        cand = np.flatnonzero(free)
        if self.seed_pos >= self.seeds.size or not cand.size:
            return np.zeros(0, np.int64)
        i = int(self.seeds[self.seed_pos])
        self.seed_pos += 1
        with np.errstate(divide="ignore"):
            key = np.log(np.abs(self.qf.S[i, cand])) + self.rng.gumbel(size=cand.size)
        key[cand == i] = np.inf
        k = min(self.size, cand.size)
        return np.sort(cand[np.argpartition(-key, k - 1)[:k]])

    def subproblem(self, x: np.ndarray, f: np.ndarray, B: np.ndarray) -> ir.Problem:
        """The problem over B with everything else clamped at x: E_sub(y) == E(x with x_B = y).

        Linear biases f_B - S_BB x_B, couplings triu(S_BB), each group's count shifted by the units it keeps
        outside B, and the offset E(x) - (h_sub . x_B + x_B^T triu(S_BB) x_B)."""
        S_BB = self.qf.S[np.ix_(B, B)]
        xb = x[B]
        h = f[B] - S_BB @ xb
        upper = np.triu(S_BB, 1)
        offset = self.energy - float(h @ xb + xb @ upper @ xb)
        cons = []
        for g, (idx, k) in enumerate(self.moves.groups):
            inside = self.group_of[B] == g
            if inside.any():
                kept_outside = float(x[idx].sum() - xb[inside].sum())
                cons.append(ir.Constraint(f"card_{g}", np.flatnonzero(inside).astype(np.int64),
                                          np.ones(int(inside.sum())), ir.Sense.EQ, float(k) - kept_outside))
        return ir.Problem(self.problem.variables.take(B), h, offset,
                          (ir.DenseBlock(np.arange(B.size, dtype=np.int64), upper),), constraints=tuple(cons))

    def progress(self, t_start: float, subproblems: int) -> float:
        """How far along the schedule the search is, in [0, 1]: time over ``time-limit`` or subproblems over
        ``max-subproblems``, whichever is further."""
        done = subproblems / self.opts.max_subproblems if self.opts.max_subproblems else 0.0
        if self.opts.time_limit:
            done = max(done, (time.perf_counter() - t_start) / self.opts.time_limit)
        return min(1.0, done)

    def best_change(self, x: np.ndarray, f: np.ndarray, B: np.ndarray, rows: np.ndarray,
                    differ: bool = False) -> tuple[float, np.ndarray] | None:
        """(energy change, values) of the best of the child's first rows that keeps every group's count,
        scored exactly against the current x (another subproblem of the batch may have moved since);
        ``differ``: only rows that change something."""
        grouped = self.group_of[B] >= 0
        codes = self.group_of[B][grouped]
        ngroups = len(self.moves.groups)
        before = np.bincount(codes, weights=x[B][grouped], minlength=ngroups)
        best: tuple[float, np.ndarray] | None = None
        for row in rows[:8]:
            y = row.astype(np.float64)
            if differ and np.array_equal(y, x[B]):
                continue
            if not np.array_equal(np.bincount(codes, weights=y[grouped], minlength=ngroups), before):
                continue
            d = self.qf.change(f, B, x[B], y)
            if best is None or d < best[0]:
                best = (d, y)
        return best

    # ---------------------------------------------------------------- the loop
    def start(self, x0: np.ndarray | None) -> np.ndarray:
        if x0 is not None:
            return np.array(x0, dtype=np.float64)
        return greedy_start(self.qf, self.moves) if self.opts.warm_start == "greedy" else np.zeros(self.n)

    def run(self, x0: np.ndarray | None = None, progress: Callable[[int], None] | None = None
            ) -> tuple[np.ndarray, dict[str, Any]]:
        """Search from ``x0`` (default: the warm start); returns the best assignment and a report."""
        opts = self.opts
        t_start = time.perf_counter()
        x = self.start(x0)
        start_energy = self.qf.energy(x)
        start_violation = 0.0 if self.moves.feasible(x) else float(
            sum(abs(c - k) for c, (_, k) in zip(self.moves.counts(x), self.moves.groups)))
        f = self.qf.fields(x)
        repair(self.qf, self.moves, x, f)
        descend(self.qf, self.moves, x, f)
        self.energy = self.qf.energy(x)
        descended = self.energy
        n_movable = int(self.movable.sum())
        if opts.strategy == "partition" and self.partitions:
            pass_len = len(self.partitions)
        else:
            pass_len = max(1, math.ceil(n_movable / self.size))  # subproblems that touch every variable once
        patience = opts.patience or (pass_len if opts.strategy == "partition" else max(4, 4 * pass_len))
        if n_movable <= self.size and opts.strategy != "partition":
            patience = 1  # one subproblem holds every movable variable
        tol = self.qf.tolerance()
        anneal = opts.accept == "anneal"
        rises: list[float] = []  # energy rises of the answers not taken (anneal: the temperature's scale)
        best_x, best_e = x.copy(), self.energy
        subproblems = accepted = stale = 0
        solver_seconds = 0.0
        iterations = [{"iteration": 0, "energy": start_energy, "violation": start_violation,
                       "accepted_blocks": 0, "seconds": 0.0}]
        per_part = [{"solves": 0, "accepted": 0, "seconds": 0.0} for _ in self.partitions]
        last_info: dict[str, Any] = {}
        pass_accepted, t_pass = 0, time.perf_counter()
        stop = "patience"
        workers = opts.workers or min(opts.batch, os.cpu_count() or 1)
        if n_movable <= self.size:
            workers = 1
        with executor_for(workers) as pool:
            while True:
                if opts.max_subproblems and subproblems >= opts.max_subproblems:
                    stop = "max-subproblems"
                    break
                if opts.time_limit and time.perf_counter() - t_start >= opts.time_limit:
                    stop = "time-limit"
                    break
                taken = ~self.movable
                blocks, parts = [], []
                for _ in range(min(opts.batch, opts.max_subproblems - subproblems) if opts.max_subproblems
                               else opts.batch):
                    part = self.cursor % len(self.partitions) if self.partitions else -1
                    B = self.pick(x, f, taken)
                    if B.size < 1 or (B.size < 2 and opts.strategy != "partition"):
                        break
                    taken = taken.copy()
                    taken[B] = True
                    blocks.append(B)
                    parts.append(part if opts.strategy == "partition" else -1)
                if not blocks:
                    stop = "nothing to move"
                    break
                tasks = []
                for k, B in enumerate(blocks):
                    seed = None if self.seed is None else (int(self.seed) * 7919 + subproblems + k) % (2**31 - 1)
                    reads = opts.reads << min(3, stale // pass_len)  # more reads while passes find nothing
                    sub = self.subproblem(x, f, B)
                    tasks.append((adapt(self.child, sub, opts.penalty_scale), sub, reads, seed))
                improved = False
                for B, part, (rows, info, seconds) in zip(blocks, parts, pool.map(_solve_one, tasks)):
                    subproblems += 1
                    solver_seconds += seconds
                    last_info = info
                    change = self.best_change(x, f, B, rows, differ=anneal)
                    ok = change is not None and change[0] < -tol
                    if anneal and change is not None and not ok:
                        rises.append(max(change[0], 0.0))
                        T = opts.temperature * float(np.median(rises[-256:])) * (1.0 - self.progress(
                            t_start, subproblems))
                        ok = T > 0 and self.rng.random() < math.exp(-max(change[0], 0.0) / T)
                    if ok:
                        y = change[1]
                        delta = y - x[B]
                        moved = np.flatnonzero(delta)
                        x[B] = y
                        f += delta[moved] @ self.qf.S[B[moved]]
                        accepted += 1
                        pass_accepted += 1
                        improved = True
                        stale = 0
                    else:
                        stale += 1
                    if part >= 0:
                        per_part[part]["solves"] += 1
                        per_part[part]["accepted"] += int(ok)
                        per_part[part]["seconds"] += seconds
                    if subproblems % pass_len == 0:
                        iterations.append({"iteration": len(iterations), "energy": self.qf.energy(x),
                                           "violation": 0.0, "accepted_blocks": pass_accepted,
                                           "seconds": time.perf_counter() - t_pass})
                        pass_accepted, t_pass = 0, time.perf_counter()
                if progress:
                    progress(len(blocks))
                if improved:
                    descend(self.qf, self.moves, x, f)
                    f = self.qf.fields(x)  # refresh: no drift from many incremental updates
                    self.energy = self.qf.energy(x)
                    if opts.strategy == "energy":
                        self.seed_pos = self.seeds.size  # re-rank by the new fields
                    if self.energy < best_e - tol:
                        best_x, best_e = x.copy(), self.energy
                if stale >= patience and not anneal:
                    break
        if anneal and best_e < self.qf.energy(x) - tol:
            x = best_x
        self.energy = self.qf.energy(x)
        if subproblems % pass_len:
            iterations.append({"iteration": len(iterations), "energy": self.energy, "violation": 0.0,
                               "accepted_blocks": pass_accepted, "seconds": time.perf_counter() - t_pass})
        report = {"block": self.size, "strategy": opts.strategy, "accept": opts.accept, "batch": opts.batch,
                  "workers": workers,
                  "subproblems": subproblems, "accepted": accepted, "stop": stop,
                  "start_energy": start_energy, "after_descent": descended, "energy": self.energy,
                  "solver_seconds": round(solver_seconds, 4), "seconds": round(time.perf_counter() - t_start, 4),
                  "iterations": iterations, "partitions": per_part, "child_info": last_info}
        return x, report


SOLVERS = (DecomposeComposite,)
