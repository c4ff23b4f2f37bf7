"""Baselines a user would try without qsel, on the same compiled problem.

* ``random``: K units uniformly at random (seeded).
* ``magnitude``: score_i = ||w_i|| * rms(a_i): outgoing-weight norm times the
  unit's activation scale on the calibration batch; keep the top K.
* ``greedy``: forward selection on the same objective (ThiNet-style): start
  from nothing, K times add the unit that lowers E the most. With the
  symmetric coupling matrix S (S_ij = J_ij for i != j) the gain of adding i to
  the set P is  dE_i = h_i + sum_{j in P} S_ij,  updated in O(n) per step.
* ``exact``: enumerate every assignment of a block with <= 20 variables
  (vectorised, 2^n rows in chunks) and keep the best feasible one.

All of them choose per block: a layer's variables (neuron/channel) or one
output unit's edges. A block's cardinality constraint gives K; without one,
greedy and exact minimise E freely and random/magnitude keep half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsel import ir

EXACT_MAX_VARS = 20
METHODS = ("random", "magnitude", "greedy", "exact")


@dataclass(frozen=True)
class Block:
    """One independent piece of the problem: variable indices and its cardinality target."""

    name: str
    index: np.ndarray
    count: int | None
    sense: str = "=="


def blocks_of(problem: ir.Problem) -> list[Block]:
    """Blocks = partitions if any, else one per layer; K from the cardinality constraint covering the block."""
    if problem.partitions:
        groups = [(p.name, np.sort(p.indices)) for p in problem.partitions]
    else:
        v = problem.variables
        groups = []
        for code in np.unique(v.layer):
            name = v.layer_names[code] if code >= 0 else "(no layer)"
            groups.append((name, np.flatnonzero(v.layer == code)))
    out = []
    for name, idx in groups:
        count, sense = None, "=="
        for c in problem.constraints:
            if c.is_cardinality and np.array_equal(np.sort(c.indices), idx):
                count, sense = int(c.rhs), c.sense.value
        out.append(Block(name, idx, count, sense))
    return out


def sub_problem(problem: ir.Problem, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(h, S) of the block: linear biases and the symmetric coupling matrix among idx (others at 0).

    S is built in place (:class:`qsel.targets.postprocess.QuadraticForm`): one n x n array, no temporaries."""
    from qsel.targets.postprocess import QuadraticForm

    whole = idx.shape[0] == problem.num_vars and np.array_equal(idx, np.arange(problem.num_vars))
    sub = problem if whole else ir.restrict(problem.replace(constraints=(), partitions=()), idx)
    qf = QuadraticForm.from_problem(sub)
    return qf.h, qf.S


def greedy_block(h: np.ndarray, S: np.ndarray, count: int | None) -> np.ndarray:
    """Forward selection (:func:`qsel.targets.postprocess.greedy_start`): K units by smallest gain, or, with
    no count, units while the best gain is negative."""
    from qsel.targets.postprocess import MoveSet, QuadraticForm, greedy_start

    n = h.shape[0]
    every = np.arange(n, dtype=np.int64)
    moves = MoveSet([(every, count)], np.zeros(0, np.int64)) if count is not None else MoveSet([], every)
    return greedy_start(QuadraticForm(h, S, 0.0), moves)


def exact_block(h: np.ndarray, S: np.ndarray, count: int | None, sense: str = "==") -> np.ndarray:
    n = h.shape[0]
    if n > EXACT_MAX_VARS:
        raise ir.QselError(f"exact enumeration is limited to {EXACT_MAX_VARS} variables per block, got {n}")
    U = np.triu(S, 1)
    best_e, best_x = np.inf, None
    chunk = 1 << min(n, 16)
    bits = np.arange(n)
    for start in range(0, 1 << n, chunk):
        codes = np.arange(start, min(start + chunk, 1 << n))
        X = ((codes[:, None] >> bits[None, :]) & 1).astype(np.float64)
        if count is not None:
            k = X.sum(1)
            ok = (k == count) if sense == "==" else (k <= count) if sense == "<=" else (k >= count)
            X = X[ok]
            if not len(X):
                continue
        e = X @ h + np.einsum("si,si->s", X @ U, X)
        j = int(np.argmin(e))
        if e[j] < best_e:
            best_e, best_x = float(e[j]), X[j].copy()
    if best_x is None:
        raise ir.QselError(f"no assignment satisfies the block's cardinality {sense} {count}")
    return best_x


def random_block(n: int, count: int | None, rng: np.random.Generator) -> np.ndarray:
    k = count if count is not None else max(1, n // 2)
    x = np.zeros(n)
    x[rng.choice(n, size=min(k, n), replace=False)] = 1.0
    return x


def top_k(score: np.ndarray, count: int | None) -> np.ndarray:
    k = count if count is not None else max(1, score.shape[0] // 2)
    x = np.zeros(score.shape[0])
    x[np.argsort(-score, kind="stable")[:k]] = 1.0
    return x


def solve(problem: ir.Problem, method: str, *, seed: int = 0, magnitude_scores: np.ndarray | None = None) -> np.ndarray:
    """An assignment of every variable of ``problem`` chosen by ``method``, block by block."""
    if method not in METHODS:
        raise ir.QselError(f"unknown baseline method {method!r} (expected one of: {', '.join(METHODS)})")
    x = np.zeros(problem.num_vars)
    rng = np.random.default_rng(seed)
    for block in blocks_of(problem):
        n = block.index.shape[0]
        if method == "random":
            xb = random_block(n, block.count, rng)
        elif method == "magnitude":
            if magnitude_scores is None:
                raise ir.QselError("magnitude selection needs the network's weights and activations")
            xb = top_k(magnitude_scores[block.index], block.count)
        else:
            h, S = sub_problem(problem, block.index)
            if method == "greedy":
                xb = greedy_block(h, S, block.count)
            else:
                xb = exact_block(h, S, block.count, block.sense)
        x[block.index] = xb
    return x
