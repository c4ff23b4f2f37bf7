"""``decompose``: large-neighbourhood search through hardware-sized subproblems (qbsolv / dwave-hybrid style).

A device that holds B variables (177 for a Pegasus clique, 20 for a simulated
QAOA circuit) still yields a near-optimal selection of a 1,000+-unit layer:

1. **Warm start.** Greedy forward selection (:func:`postprocess.greedy_start`)
   followed by swap descent on the whole problem: feasible, and never worse
   than the greedy baseline.
2. **Subproblem.** Pick at most B variables (``strategy``):

   * ``energy`` — energy impact: kept units of a cardinality group ranked by
     their field f_i (the most expensive to keep first), dropped units by -f_j
     (the most wanted first), half the block each, so that the block holds the
     most promising swap pairs; free variables by their flip gain. Successive
     subproblems roll along that ranking (dwave-hybrid's rolling
     EnergyImpactDecomposer) and the ranking is recomputed after each pass or
     accepted move; a seeded jitter breaks ties between passes.
   * ``random`` — B variables uniformly at random (same on/off balance).
   * ``partition`` — the IR's partitions in turn (a fixed partition; what
     ``qsel solve --mode iterate`` asks for).

3. **Clamp.** Everything outside the subproblem keeps its value: with fields
   f = h + S x, the subproblem over B has linear biases f_B - S_BB x_B,
   couplings S_BB (upper triangle), each cardinality group's right-hand side
   shifted to K - (units kept outside B), and an offset that makes its energy
   *equal* the whole problem's energy (``ir.clamp``'s folding, done from f in
   O(n |B|) instead of O(n^2)).
4. **Solve** it with the child (wrapped by :func:`composites.adapt`: lowered
   and polished when the child cannot enforce constraints).
5. **Accept** the child's best feasible sample if it lowers the whole energy
   (exact change from the fields), then descend by swaps on the whole problem.
6. **Stop** after ``patience`` subproblems in a row without improvement, a
   ``time-limit`` or ``max-subproblems``.

``batch`` subproblems with disjoint variables are built from the same state
and solved through one :class:`qsel.targets.executor.Executor` (in parallel
with ``workers`` > 1); their answers are then applied one after the other, each
re-scored exactly against the current state. The trajectory depends only on
``batch`` and the seed, never on where the subproblems ran, so the same seed
gives the same selection serially, in a process pool or on a cluster.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from qsel import ir

from .base import Samples, Solver
from .composites import Composite, adapt, record_time
from .executor import executor_for
from .postprocess import MoveSet, QuadraticForm, descend, greedy_start

STRATEGIES = ("energy", "coupled", "random", "partition")
DEFAULT_BLOCK = 177  # the Pegasus P16 clique size with a margin for missing qubits


@dataclass(frozen=True)
class DecomposeComposite(Composite):
    """Large-neighbourhood search: warm start, clamp everything but a hardware-sized block, solve it, accept."""

    name: ClassVar[str] = "decompose"
    description: ClassVar[str] = ("large-neighbourhood search through hardware-sized subproblems: greedy warm "
                                  "start, energy-impact blocks, the rest clamped, count-preserving moves")

    block: int = 0  # variables per subproblem (0: the child's limit, at most 177)
    strategy: str = "energy"  # energy | random | partition
    reads: int = 10  # reads asked of the child per subproblem
    patience: int = 0  # subproblems without improvement before stopping (0: two passes over the problem)
    time_limit: float = 0.0  # seconds (0: none)
    max_subproblems: int = 2000
    batch: int = 2  # disjoint subproblems built from the same state (solved in parallel with workers > 1)
    workers: int = 1  # processes solving a batch (1: this process)
    warm_start: str = "greedy"  # greedy | zeros

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.block < 0 or self.block == 1:
            raise ValueError(f"block must be 0 (automatic) or at least 2 variables, got {self.block}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.reads < 1 or self.batch < 1 or self.workers < 1 or self.max_subproblems < 1:
            raise ValueError("reads, batch, workers and max-subproblems must be at least 1")
        if self.patience < 0 or self.time_limit < 0:
            raise ValueError("patience and time-limit must be >= 0 (0: automatic / no limit)")
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
        limit = self.require_child().max_vars
        return min(limit, DEFAULT_BLOCK) if limit else DEFAULT_BLOCK

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        child = self.require_child()
        limit = child.max_vars
        size = self.block_size()
        if limit is not None and size > limit:
            raise ir.QselError(f"decompose: block={size} is more than solver '{child.name}' takes ({limit}); "
                               f"use decompose{{block={limit}}}")
        t0 = time.perf_counter()
        search = Search(problem, child, size, self, seed)
        x, report = search.run()
        X = x[None, :]
        out = Samples(X, problem.energies(X), np.ones(1, np.int64), {"decompose": report})
        return record_time(out, self.name, time.perf_counter() - t0, subproblems=report["subproblems"],
                           accepted=report["accepted"])


def _solve_one(task: tuple[Solver, ir.Problem, int, int | None]) -> tuple[np.ndarray, np.ndarray, float]:
    """Executor task: (rows, energies, seconds) of the child's samples of one subproblem, best first."""
    solver, sub, reads, seed = task
    t0 = time.perf_counter()
    s = solver.sample(sub, num_reads=reads, seed=seed)
    order = s.order(sub)
    return np.asarray(s.X, dtype=np.int8)[order], s.energies[order], time.perf_counter() - t0


class Search:
    """The state of one decomposition run (see the module docstring)."""

    def __init__(self, problem: ir.Problem, child: Solver, size: int, opts: DecomposeComposite,
                 seed: int | None) -> None:
        self.problem, self.opts, self.size = problem, opts, max(2, size)
        self.qf = QuadraticForm.from_problem(problem)
        self.moves = MoveSet.of(problem)
        self.n = problem.num_vars
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.group_of = np.full(self.n, -1, dtype=np.int64)
        for g, (idx, _) in enumerate(self.moves.groups):
            self.group_of[idx] = g
        self.movable = np.zeros(self.n, dtype=bool)
        for idx, _ in self.moves.groups:
            self.movable[idx] = True
        self.movable[self.moves.free] = True
        self.child = child
        self.partitions = [np.sort(p.indices).astype(np.int64) for p in problem.partitions if p.size]
        self.order: list[np.ndarray] = []  # the rolling queue of the current pass

    # ---------------------------------------------------------------- subproblems
    def ranking(self, x: np.ndarray, f: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Per group (kept ranked, dropped ranked) interleaved, and free variables ranked, best first."""
        jitter = 1e-9 * (np.abs(f).max(initial=0.0) + 1.0) * self.rng.random(self.n)
        score = np.where(x == 1, -f, f) + jitter  # lower = flipping it helps more
        per_group = []
        for idx, _ in self.moves.groups:
            on, off = idx[x[idx] == 1], idx[x[idx] == 0]
            per_group.append((on[np.argsort(score[on], kind="stable")], off[np.argsort(score[off], kind="stable")]))
        free = self.moves.free[np.argsort(score[self.moves.free], kind="stable")]
        return per_group, free

    def pick(self, x: np.ndarray, f: np.ndarray, taken: np.ndarray) -> np.ndarray:
        """The next subproblem's variables (none of ``taken``), sorted."""
        strategy = self.opts.strategy
        if strategy == "partition" and self.partitions:
            part = self.partitions[self.cursor % len(self.partitions)]
            self.cursor += 1
            part = part[self.movable[part] & ~taken[part]]
            return part[:self.size] if part.size > self.size else part
        if strategy == "random":
            cand = np.flatnonzero(self.movable & ~taken)
            return self._balanced(x, [cand[self.rng.permutation(cand.size)]], taken)
        if strategy == "coupled":
            return self._coupled(x, f, taken, None)
        if strategy == "energy":
            return self._coupled(x, f, taken, self._impact_seeds(x, f))
        if not self.order:
            per_group, free = self.ranking(x, f)
            self.order = [a for pair in per_group for a in pair] + [free]
            self.offsets = [0] * len(self.order)
        return self._rolling(x, taken)

    def _impact_seeds(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        per_group, free = self.ranking(x, f)
        lists = [a for pair in per_group for a in pair] + [free]
        width = max(len(a) for a in lists)
        inter = np.full((len(lists), width), -1, dtype=np.int64)
        for r, a in enumerate(lists):
            inter[r, :a.size] = a
        seq = inter.T.ravel()
        return seq[seq >= 0]

    def _coupled(self, x: np.ndarray, f: np.ndarray, taken: np.ndarray, ranked: np.ndarray | None) -> np.ndarray:
        """A seed variable (rolling over a seeded permutation) and the variables most strongly coupled to it."""
        free = self.movable & ~taken
        if not hasattr(self, "seeds") or self.seed_pos >= self.seeds.size or (ranked is not None and not self.order):
            self.seeds = self.rng.permutation(np.flatnonzero(self.movable)) if ranked is None else ranked
            self.seed_pos = 0
            self.order = [np.zeros(0)]
        while self.seed_pos < self.seeds.size and not free[self.seeds[self.seed_pos]]:
            self.seed_pos += 1
        if self.seed_pos >= self.seeds.size:
            return np.zeros(0, np.int64)
        i = int(self.seeds[self.seed_pos])
        self.seed_pos += 1
        with np.errstate(divide="ignore"):
            score = np.log(np.abs(self.qf.S[i])) + self.rng.gumbel(size=self.n)  # sample prop. to |S_ij|
        score[~free] = -np.inf
        score[i] = np.inf
        cand = np.flatnonzero(free)
        k = min(self.size, cand.size)
        top = cand[np.argpartition(-score[cand], k - 1)[:k]]
        return np.sort(top)

    def _balanced(self, x: np.ndarray, pools: list[np.ndarray], taken: np.ndarray) -> np.ndarray:
        """Up to ``size`` variables from ``pools`` with kept and dropped units of each group in equal numbers."""
        cand = np.concatenate(pools) if pools else np.zeros(0, np.int64)
        cand = cand[~taken[cand]]
        on, off = cand[x[cand] == 1], cand[x[cand] == 0]
        half = self.size // 2
        n_on = min(on.size, max(half, self.size - off.size))
        n_off = min(off.size, self.size - n_on)
        return np.sort(np.concatenate([on[:n_on], off[:n_off]]))

    def _rolling(self, x: np.ndarray, taken: np.ndarray) -> np.ndarray:
        """The next window of the energy-impact ranking: kept and dropped units of the groups in equal shares,
        free variables filling what is left."""
        lists = self.order
        ngroups = len(self.moves.groups)
        want = self.size
        chosen: list[np.ndarray] = []
        if ngroups:
            # equal shares per (group, kept/dropped) list, re-offered to the others when one runs short
            shares = [0] * (2 * ngroups)
            remaining = [lists[i].size - self.offsets[i] for i in range(2 * ngroups)]
            budget = want
            while budget > 0 and any(r > 0 for r in remaining):
                live = [i for i in range(2 * ngroups) if remaining[i] > 0]
                each = max(1, budget // len(live))
                for i in live:
                    take = min(each, remaining[i], budget)
                    shares[i] += take
                    remaining[i] -= take
                    budget -= take
                    if budget == 0:
                        break
            for i, s in enumerate(shares):
                seg = lists[i][self.offsets[i]:self.offsets[i] + s]
                self.offsets[i] += s
                chosen.append(seg)
            want = budget
        free = lists[-1]
        if want > 0 and free.size:
            seg = free[self.offsets[-1]:self.offsets[-1] + want]
            self.offsets[-1] += seg.size
            chosen.append(seg)
        out = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
        out = out[~taken[out]]
        if all(self.offsets[i] >= lists[i].size for i in range(len(lists))) or out.size < 2:
            self.order = []  # pass over: re-rank next time
        return np.sort(out)

    def subproblem(self, x: np.ndarray, f: np.ndarray, B: np.ndarray) -> ir.Problem:
        """The problem over B with everything else clamped at x: E_sub(y) == E(x with x_B = y)."""
        S_BB = self.qf.S[np.ix_(B, B)]
        xb = x[B]
        h = f[B] - S_BB @ xb
        upper = np.triu(S_BB, 1)
        e_x = self.energy
        offset = e_x - float(h @ xb + xb @ upper @ xb)
        cons = []
        for g, (idx, k) in enumerate(self.moves.groups):
            inside = self.group_of[B] == g
            if inside.any():
                outside_on = float(x[idx].sum() - xb[inside].sum())
                cons.append(ir.Constraint(f"card_{g}", np.flatnonzero(inside).astype(np.int64),
                                          np.ones(int(inside.sum())), ir.Sense.EQ, float(k) - outside_on))
        return ir.Problem(self.problem.variables.take(B), h, offset, (ir.DenseBlock(np.arange(B.size, dtype=np.int64), upper),),
                          constraints=tuple(cons))

    # ---------------------------------------------------------------- the loop
    def run(self) -> tuple[np.ndarray, dict[str, Any]]:
        opts = self.opts
        t_start = time.perf_counter()
        x = greedy_start(self.qf, self.moves) if opts.warm_start == "greedy" else np.zeros(self.n)
        f = self.qf.fields(x)
        warm_energy = self.qf.energy(x)
        descend(self.qf, self.moves, x, f)
        self.energy = self.qf.energy(x)
        polished_energy = self.energy
        n_movable = int(self.movable.sum())
        pass_len = max(1, math.ceil(n_movable / self.size))  # subproblems that touch every variable once
        patience = opts.patience or max(4, 4 * pass_len)
        if n_movable <= self.size:
            patience = 1  # one subproblem holds every movable variable
        self.cursor = 0
        tol = self.qf.tolerance()
        subproblems = accepted = stale = 0
        solver_seconds = 0.0
        trace = [(0.0, self.energy)]
        stop = "patience"
        with executor_for(opts.workers) as pool:
            while True:
                if subproblems >= opts.max_subproblems:
                    stop = "max-subproblems"
                    break
                if opts.time_limit and time.perf_counter() - t_start >= opts.time_limit:
                    stop = "time-limit"
                    break
                taken = ~self.movable.copy()
                blocks = []
                for _ in range(min(opts.batch, opts.max_subproblems - subproblems)):
                    B = self.pick(x, f, taken)
                    if B.size < 2:
                        break
                    taken[B] = True
                    blocks.append(B)
                if not blocks:
                    stop = "nothing to move"
                    break
                tasks = []
                for k, B in enumerate(blocks):
                    seed = None if self.seed is None else (int(self.seed) * 7919 + subproblems + k) % (2**31 - 1)
                    sub = self.subproblem(x, f, B)
                    reads = opts.reads << min(3, stale // pass_len)  # more reads while a pass finds nothing
                    tasks.append((adapt(self.child, sub), sub, reads, seed))
                results = pool.map(_solve_one, tasks)
                improved_round = False
                for B, (rows, energies, seconds) in zip(blocks, results):
                    subproblems += 1
                    solver_seconds += seconds
                    gain = self._best_change(x, f, B, rows)
                    if gain is not None and gain[0] < -tol:
                        d, y = gain
                        delta = y - x[B]
                        moved = np.flatnonzero(delta)
                        x[B] = y
                        f += delta[moved] @ self.qf.S[B[moved]]
                        accepted += 1
                        improved_round = True
                        stale = 0
                    else:
                        stale += 1
                if improved_round:
                    descend(self.qf, self.moves, x, f)
                    f = self.qf.fields(x)  # refresh: no drift from thousands of incremental updates
                    self.energy = self.qf.energy(x)
                    self.order = []
                    trace.append((time.perf_counter() - t_start, self.energy))
                if stale >= patience:
                    break
        report = {"block": self.size, "strategy": opts.strategy, "batch": opts.batch, "workers": opts.workers,
                  "subproblems": subproblems, "accepted": accepted, "stop": stop,
                  "warm_start": opts.warm_start, "warm_start_energy": warm_energy,
                  "after_warm_start_descent": polished_energy, "energy": self.energy,
                  "solver_seconds": round(solver_seconds, 4), "seconds": round(time.perf_counter() - t_start, 4),
                  "trace": [[round(t, 4), e] for t, e in trace[-64:]]}
        return x, report

    def _best_change(self, x: np.ndarray, f: np.ndarray, B: np.ndarray,
                     rows: np.ndarray) -> tuple[float, np.ndarray] | None:
        """(energy change, values) of the best row that keeps every group's count, scored on the current x."""
        counts_before = np.bincount(self.group_of[B][self.group_of[B] >= 0], weights=x[B][self.group_of[B] >= 0],
                                    minlength=len(self.moves.groups))
        best: tuple[float, np.ndarray] | None = None
        grouped = self.group_of[B] >= 0
        for row in rows[:8]:
            y = row.astype(np.float64)
            counts = np.bincount(self.group_of[B][grouped], weights=y[grouped], minlength=len(self.moves.groups))
            if not np.allclose(counts, counts_before):
                continue
            d = self.qf.change(f, B, x[B], y)
            if best is None or d < best[0]:
                best = (d, y)
        return best
