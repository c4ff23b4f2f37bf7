"""Baselines a user would try without qsel, on the same compiled problem.

* ``random``: K units uniformly at random (seeded).
* ``magnitude``: score_i = ||w_i|| * rms(a_i): outgoing-weight norm times the
  unit's activation scale on the calibration batch; keep the top K.
* ``greedy``: forward selection on the same objective (ThiNet-style): start
  from nothing, K times add the unit that lowers E the most. With the
  symmetric coupling matrix S (S_ij = J_ij for i != j) the gain of adding i to
  the set P is  dE_i = h_i + sum_{j in P} S_ij,  updated in O(n) per step.
* ``exact``: enumerate every assignment of a block with at most
  ``EXACT_MAX_VARS`` variables and keep the best feasible one (the ``exact``
  solver, :class:`qsel.targets.classical.ExactSolver`).
* ``lasso``: He, Zhang & Sun 2017 ("Channel Pruning for Accelerating Very
  Deep Neural Networks", ICCV): per-unit coefficients beta from the LASSO
  min_beta beta^T Q beta - 2 r.beta + alpha ||beta||_1 on the same per-unit
  contributions (Q_ij = <U_i, U_j>/m, r_i = <U_i, T>/m), the penalty alpha
  bisected until exactly K coefficients are non-zero; those units are kept.
* ``obs``: Optimal Brain Surgeon (Hassibi & Stork 1993) on unit coefficients,
  with SparseGPT's dampening (Frantar & Alistarh 2023): start from the
  least-squares beta = H^-1 r, H = Q + delta I, delta = 1 % of mean(diag Q);
  repeatedly remove the unit q of least saliency beta_q^2 / [H^-1]_qq (the
  rise in E when q goes and every other coefficient is re-solved), update
  beta <- beta - beta_q / [H^-1]_qq H^-1 e_q and
  H^-1 <- H^-1 - H^-1 e_q e_q^T H^-1 / [H^-1]_qq (the inverse with q
  eliminated), until K units are left.

lasso and obs need Q and r, not only the IR's h = diag Q - 2 r (+ the
sparsity penalty) and J = 2 Q: the caller passes diag Q (``gram_diag``,
:func:`qsel.frontend.saliency.gram_diagonal`), and then Q = J/2 + diag and
r = (diag Q - h + penalty) / 2 exactly.

All of them choose per block: a layer's variables (neuron/channel) or one
output unit's edges. A block's cardinality constraint gives K; without one,
greedy and exact minimise E freely and random/magnitude keep half.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from qsel import ir
from qsel.targets import base as target_base
from qsel.targets.classical import EXACT_MAX_VARS

if TYPE_CHECKING:
    from qsel.frontend.network import Network

METHODS = ("random", "magnitude", "greedy", "exact", "lasso", "obs")
NEEDS_GRAM_DIAG = ("lasso", "obs")
OBS_DAMPENING = 0.01  # SparseGPT's default: delta = 1 % of the mean diagonal of H
LASSO_BISECTIONS = 60


@dataclass(frozen=True)
class Choice:
    """One independent piece of the problem a baseline chooses in: variable indices and its cardinality target."""

    name: str
    index: np.ndarray
    count: int | None
    sense: str = "=="


def choices_of(problem: ir.Problem) -> list[Choice]:
    """The blocks of :func:`qsel.targets.base.blocks_of` (partitions if any, else one per layer; variables
    outside every partition stay 0), each with K from the cardinality constraint covering exactly it."""
    out = []
    for block in target_base.blocks_of(problem, constraints="ignore", unpartitioned="layers", leftover=False):
        count, sense = None, "=="
        for k in block.constraints:
            c = problem.constraints[k]
            if c.is_cardinality and np.array_equal(np.sort(c.indices), block.indices):
                count, sense = int(c.rhs), c.sense.value
        out.append(Choice(block.name, block.indices, count, sense))
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
    """The lowest-energy assignment of the block (h, S) under its cardinality, by the one exact enumerator
    (:class:`qsel.targets.classical.ExactSolver`; ties: the lowest state index)."""
    from qsel.targets.classical import ExactSolver

    n = h.shape[0]
    if n > EXACT_MAX_VARS:
        raise ir.QselError(f"exact enumeration is limited to {EXACT_MAX_VARS} variables per block, got {n}")
    block = ir.Problem.from_qubo_matrix(np.diag(h) + np.triu(S, 1))
    if count is not None:
        block = block.replace(constraints=(ir.Constraint.cardinality("count", np.arange(n), sense, count),))
    best = ExactSolver().sample(block, num_reads=1)
    if count is not None and best.info["min_violation"] > 0:
        raise ir.QselError(f"no assignment satisfies the block's cardinality {sense} {count}")
    return best.X[0].astype(np.float64)


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


def quadratic_parts(h: np.ndarray, S: np.ndarray, gram_diag: np.ndarray, penalty: float = 0.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(Q, r) of E(s) = s^T Q s - 2 r.s + c from the IR block (h, S = J symmetric) and diag Q:
    Q = S/2 with diag Q on the diagonal, r = (diag Q + penalty - h) / 2."""
    Q = S * 0.5
    np.fill_diagonal(Q, gram_diag)
    return Q, (gram_diag + penalty - h) * 0.5


def lasso_block(Q: np.ndarray, r: np.ndarray, count: int) -> np.ndarray:
    """He et al. 2017's LASSO selection with alpha bisected (on a log scale) to exactly ``count`` non-zeros.

    scikit-learn's coordinate-descent :class:`sklearn.linear_model.Lasso` minimises
    1/(2 p) ||y - X beta||^2 + alpha ||beta||_1; with the eigendecomposition Q = V D V^T (D > 0 kept)
    X = D^{1/2} V^T and y = D^{-1/2} V^T r give ||y - X beta||^2 = beta^T Q beta - 2 r.beta + const
    (r lies in the range of Q: r = U^T t / m). The count of non-zeros falls as alpha grows but not strictly
    monotonically; if no alpha gives exactly ``count`` within the bisection, the smallest support
    larger than ``count`` is cut to its ``count`` largest |beta| (He et al. raise alpha "until" the
    support is small enough)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    n = Q.shape[0]
    if count >= n:
        return np.ones(n)
    d, V = np.linalg.eigh((Q + Q.T) * 0.5)
    keep = d > max(float(d.max()), 0.0) * 1e-12
    if not np.any(keep):
        return top_k(np.zeros(n), count)
    X = np.sqrt(d[keep])[:, None] * V[:, keep].T
    y = (V[:, keep].T @ r) / np.sqrt(d[keep])
    p = X.shape[0]
    hi = float(np.max(np.abs(X.T @ y))) / p  # every coefficient is 0 at alpha >= hi
    lo = hi * 1e-8
    model = Lasso(alpha=hi, fit_intercept=False, max_iter=5000, tol=1e-6, warm_start=True, selection="cyclic")
    best_over: tuple[int, np.ndarray] | None = None

    def fit(alpha: float) -> np.ndarray:
        model.set_params(alpha=alpha)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
        return model.coef_.copy()

    beta = fit(lo)
    for _ in range(LASSO_BISECTIONS):
        nz = int(np.count_nonzero(beta))
        if nz == count:
            return (beta != 0).astype(np.float64)
        if nz > count:  # alpha too small
            if best_over is None or nz < best_over[0]:
                best_over = (nz, beta)
            lo = float(model.alpha)
        else:
            hi = float(model.alpha)
        beta = fit(float(np.sqrt(lo * hi)))
    if int(np.count_nonzero(beta)) == count:
        return (beta != 0).astype(np.float64)
    if best_over is None:  # even the smallest alpha leaves fewer: fill up by |r| (alignment with the target)
        x = (beta != 0).astype(np.float64)
        order = np.argsort(-np.abs(r), kind="stable")
        x[order[x[order] == 0][: count - int(x.sum())]] = 1.0
        return x
    return top_k(np.abs(best_over[1]), count)


def obs_block(Q: np.ndarray, r: np.ndarray, count: int, dampening: float = OBS_DAMPENING) -> np.ndarray:
    """Optimal-Brain-Surgeon unit removal (module docstring), n - count steps of O(n^2) rank-1 updates."""
    n = Q.shape[0]
    if count >= n:
        return np.ones(n)
    delta = dampening * max(float(np.mean(np.diag(Q))), 1e-300)
    H = Q + delta * np.eye(n)
    Hinv = np.linalg.inv(H)
    Hinv = (Hinv + Hinv.T) * 0.5
    beta = Hinv @ r
    alive = np.ones(n, dtype=bool)
    for _ in range(n - count):
        diag = np.diag(Hinv)
        sal = np.where(alive, beta * beta / np.where(alive, diag, 1.0), np.inf)
        q = int(np.argmin(sal))
        col = Hinv[:, q].copy()
        beta -= (beta[q] / col[q]) * col
        Hinv -= np.outer(col, col) / col[q]
        alive[q] = False
        beta[q] = 0.0
        Hinv[q, :] = 0.0
        Hinv[:, q] = 0.0
        Hinv[q, q] = 1.0  # keeps the division harmless; q is out of the saliency by ``alive``
    return alive.astype(np.float64)


def solve(problem: ir.Problem, method: str, *, seed: int = 0, magnitude_scores: np.ndarray | None = None,
          gram_diag: np.ndarray | None = None, sparsity_penalty: float = 0.0) -> np.ndarray:
    """An assignment of every variable of ``problem`` chosen by ``method``, block by block.

    ``gram_diag`` (diag Q per variable) is needed by lasso and obs; blocks without a count keep half."""
    if method not in METHODS:
        raise ir.QselError(f"unknown baseline method {method!r} (expected one of: {', '.join(METHODS)})")
    x = np.zeros(problem.num_vars)
    rng = np.random.default_rng(seed)
    for block in choices_of(problem):
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
            elif method in NEEDS_GRAM_DIAG:
                if gram_diag is None:
                    raise ir.QselError(f"{method} selection needs the network's per-unit contributions "
                                       "(diag of the Gram matrix)")
                Q, r = quadratic_parts(h, S, gram_diag[block.index], sparsity_penalty)
                k = block.count if block.count is not None else max(1, n // 2)
                xb = lasso_block(Q, r, k) if method == "lasso" else obs_block(Q, r, k)
            else:
                xb = exact_block(h, S, block.count, block.sense)
        x[block.index] = xb
    return x


def chooser(method: str, network: "Network", X: np.ndarray, *, seed: int = 0,
            sparsity_penalty: float = 0.0) -> Callable[[ir.Problem], np.ndarray]:
    """A baseline as a solver callback: :func:`solve` with what the method needs from the network.

    Called once on a whole problem (independent schedule) or once per layer in network order (sequential):
    the masks chosen so far are applied before the next layer's activations are read."""
    from qsel.frontend.masks import Selection
    from qsel.frontend.saliency import gram_diagonal
    from qsel.frontend.scores import magnitude_scores

    unit_masks: dict[str, np.ndarray] = {}
    weight_masks: dict[str, np.ndarray] = {}

    def choose(p: ir.Problem) -> np.ndarray:
        scores = diag = None
        if method == "magnitude":
            scores = magnitude_scores(network, X, p)
        if method in NEEDS_GRAM_DIAG:
            diag = gram_diagonal(network, X, p, unit_masks, weight_masks)
        x = solve(p, method, seed=seed, magnitude_scores=scores, gram_diag=diag, sparsity_penalty=sparsity_penalty)
        sel = Selection.from_assignment(p, x)
        unit_masks.update(sel.unit_masks())
        weight_masks.update(sel.weight_masks())
        return x

    return choose
