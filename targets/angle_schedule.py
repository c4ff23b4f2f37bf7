"""The QAOA angle schedule both statevector paths use: qsel's own (:mod:`qsel.targets.qaoa.optimise`) and the
OpenQAOA bridge (``openqaoa_runner.py``, which runs in OpenQAOA's Python 3.10 / numpy 1 environment and loads
this file by its path).

So this module imports only numpy and scipy, nothing of qsel, and keeps to Python 3.10.

* :func:`cvar_value` — CVaR_alpha (Barkoutsos et al. 2020) of a distribution over basis states;
* :func:`interpolate` — INTERP (Zhou et al. 2020), depth-(p+1) angles from depth-p ones;
* :func:`search` — the schedule: a grid scan at depth 1, local refinement, INTERP to the next depth, restarts.
"""

from __future__ import annotations

from typing import Any, Callable, Tuple

import numpy as np

OPTIMIZERS = {"bfgs": "BFGS", "cobyla": "COBYLA", "nelder-mead": "Nelder-Mead"}  # option -> scipy method


def interpolate(values: np.ndarray, p: int) -> np.ndarray:
    """INTERP (Zhou et al. 2020): angles [gammas, betas] for depth p + 1 from optimised depth-p angles,

        x_i^(p+1) = (i - 1)/p x_(i-1)^(p) + (p - i + 1)/p x_i^(p),   i = 1..p+1,   x_0 = x_(p+1) = 0."""
    out = []
    for ang in (values[:p], values[p:]):
        padded = np.concatenate([[0.0], ang, [0.0]])
        i = np.arange(1, p + 2)
        out.append((i - 1) / p * padded[i - 1] + (p - i + 1) / p * padded[i])
    return np.concatenate(out)


def cvar_value(probs: np.ndarray, energies: np.ndarray, alpha: float, order: np.ndarray | None = None) -> float:
    """CVaR_alpha (Barkoutsos et al. 2020): the mean energy of the lowest alpha share of the probability mass,

        CVaR_alpha = (1/alpha) sum_k w_k E_(k),   w_k = min(p_(k), max(0, alpha - sum_{j<k} p_(j)))

    over the states sorted by energy (``order``: that sort, computed once). alpha = 1 is the expectation."""
    if alpha >= 1.0:
        return float(probs @ energies)
    order = np.argsort(energies, kind="stable") if order is None else order
    ps = probs[order]
    before = np.cumsum(ps) - ps
    w = np.clip(alpha - before, 0.0, ps)
    return float(w @ energies[order] / alpha)


def scipy_options(optimizer: str, maxiter: int) -> Tuple[str, dict]:
    """(scipy method, its options) for an ``optimizer`` name of :data:`OPTIMIZERS` (KeyError otherwise)."""
    method = OPTIMIZERS[optimizer]
    return method, {"maxiter": int(maxiter), **({"rhobeg": 0.2} if method == "COBYLA" else {})}


def search(objective_at: Callable[[int], Tuple[Callable[[np.ndarray], float], Any]], p: int, *, grid: int,
           half_period: float, starts: int, restarts: int, method: str, options: dict,
           rng: np.random.Generator) -> Tuple[float, np.ndarray, Any]:
    """Minimise a depth-p QAOA objective over the angles v = [gammas, betas] (2 p numbers).

    ``objective_at(depth)`` gives (objective of v at that depth, a handle the caller wants back for depth p).
    Depth 1: a ``grid`` x ``grid`` scan of (gamma, beta), gamma in (0, 2] and beta over one period of the mixer
    (``half_period`` on each side of 0; (gamma, beta) -> (-gamma, -beta) gives the same probabilities), then
    scipy's ``method`` from the ``starts`` best grid points. Depth d > 1: each of the ``starts`` best angle
    sets of depth d - 1 is extended by :func:`interpolate` and refined. At depth p, ``restarts - 1`` extra runs
    start from random perturbations (sigma 0.3) of the best. Returns (objective value, angles, the handle)."""
    from scipy.optimize import minimize

    candidates: list = []
    handle = None
    for depth in range(1, p + 1):
        objective, handle = objective_at(depth)
        if depth == 1:
            gs = np.linspace(2.0 / grid, 2.0, grid)
            bs = np.linspace(-half_period, half_period, grid, endpoint=False) + half_period / grid
            points = np.stack(np.meshgrid(gs, bs, indexing="ij"), axis=-1).reshape(-1, 2)
            scan = np.array([objective(v) for v in points])
            x0s = [points[i] for i in np.argsort(scan, kind="stable")[:max(1, starts)]]
        else:
            x0s = [interpolate(v, depth - 1) for _, v in candidates]
        runs = [minimize(objective, x0, method=method, options=options) for x0 in x0s]
        if depth == p:
            best = min(runs, key=lambda r: r.fun).x
            runs += [minimize(objective, best + rng.normal(scale=0.3, size=best.shape), method=method,
                              options=options) for _ in range(max(1, restarts) - 1)]
        candidates = sorted(((float(r.fun), np.asarray(r.x, dtype=np.float64)) for r in runs),
                            key=lambda t: t[0])[:max(1, starts)]
    value, values = candidates[0]
    return value, values, handle
