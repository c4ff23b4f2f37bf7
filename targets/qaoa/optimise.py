"""QAOA angles: a depth-1 grid scan, local refinement, INTERP up the depths; expectation or CVaR.

Angles: a grid x grid scan at depth 1, the ``starts`` best points refined by BFGS (or COBYLA /
Nelder-Mead, scipy), each carried up a level by INTERP (Zhou et al. 2020) and refined again, on the
expected IR energy or CVaR_alpha (``cvar=ALPHA``, Barkoutsos et al. 2020).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qsel import ir

from ..basis import basis_bits, basis_energies
from .circuits import MAX_QUBITS, QUBIT_ORDER, Plan, plan, qaoa_circuit
from .simulate import simulator_for


OPTIMIZERS = {"bfgs": "BFGS", "cobyla": "COBYLA", "nelder-mead": "Nelder-Mead"}  # option -> scipy method


def interpolate(values: np.ndarray, p: int) -> np.ndarray:
    """INTERP (Zhou et al. 2020): angles for depth p + 1 from optimised depth-p angles."""
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


def check_cvar(alpha: float) -> None:
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"cvar must be in (0, 1] (1: the expectation), got {alpha}")


@dataclass
class QAOARun:
    plan: Plan
    p: int
    circuit: Any  # the parameterised circuit with measurements
    params: list
    values: np.ndarray
    expected_energy: float
    optimum_probability: float  # probability of the original problem's (feasible) optimum
    feasible_probability: float
    evaluations: int
    seconds: float
    history: list[float] = field(default_factory=list)
    cvar: float = 1.0  # the alpha of the objective (1: expectation)
    objective: float = float("nan")  # CVaR_alpha of the final state (the expectation when alpha = 1)
    optimum_energy: float = float("nan")  # the lowest (feasible) energy over the basis the simulator tabulates
    probabilities: np.ndarray | None = None  # final state's probabilities over the cost problem's basis

    def bound(self):
        return self.circuit.assign_parameters(dict(zip(self.params, self.values.tolist())))

    def info(self) -> dict[str, Any]:
        p = self.p
        return {"p": p, "mixer": self.plan.mixer, "hamming_weight": self.plan.k, "qubits": self.plan.num_qubits,
                "gammas": self.values[:p].tolist(), "betas": self.values[p:].tolist(),
                "cost_scale": self.plan.cost_scale, "objective": "expectation" if self.cvar >= 1 else "cvar",
                "cvar": self.cvar, "objective_value": self.objective, "expected_energy": self.expected_energy,
                "optimum_energy": self.optimum_energy, "optimum_probability": self.optimum_probability,
                "feasible_probability": self.feasible_probability, "evaluations": self.evaluations,
                "optimise_seconds": round(self.seconds, 3), "qubit_order": QUBIT_ORDER}


def optimise(problem: ir.Problem, *, p: int = 3, mixer: str = "auto", maxiter: int = 200, seed: int | None = None,
             simulator: str = "numpy", restarts: int = 1, connectivity: str = "ring",
             max_qubits: int = MAX_QUBITS, grid: int = 12, starts: int = 3, cvar: float = 1.0,
             optimizer: str = "bfgs") -> QAOARun:
    """Optimise the QAOA angles of one block on a statevector, minimising CVaR_alpha of the cost energy
    (alpha = ``cvar``; 1: the expected energy <H_C> + c').

    Depth 1: a ``grid`` x ``grid`` scan of (gamma, beta) (gamma in (0, 2], beta over one period of the mixer;
    (gamma, beta) -> (-gamma, -beta) gives the same probabilities), then the local ``optimizer`` (``bfgs``:
    BFGS on finite-difference gradients, ``cobyla`` or ``nelder-mead``) from the ``starts`` best grid points.
    Depth d > 1: each of the ``starts`` best angle sets of depth d - 1 is extended by INTERP (Zhou et al. 2020)
    and refined. At depth p, ``restarts - 1`` extra runs start from random perturbations of the best.
    Returns the best angles of depth p."""
    from scipy.optimize import minimize

    t0 = time.perf_counter()
    if p < 1:
        raise ir.QselError(f"QAOA depth p must be >= 1, got {p}")
    check_cvar(cvar)
    pl = plan(problem, mixer, max_qubits=max_qubits)
    diag = basis_energies(pl.cost)
    order = np.argsort(diag, kind="stable")
    history: list[float] = []
    rng = np.random.default_rng(seed)
    half_period = np.pi / 2 if pl.mixer == "x" else np.pi
    if optimizer not in OPTIMIZERS:
        raise ir.QselError(f"unknown QAOA optimizer {optimizer!r} (expected {', '.join(OPTIMIZERS)})")
    method = OPTIMIZERS[optimizer]
    options = {"maxiter": int(maxiter), **({"rhobeg": 0.2} if optimizer == "cobyla" else {})}

    candidates: list[tuple[float, np.ndarray]] = []
    for depth in range(1, p + 1):
        sim = simulator_for(pl, depth, simulator, connectivity, energies=diag)

        def objective(v: np.ndarray, sim=sim) -> float:
            e = cvar_value(sim.probabilities(v), diag, cvar, order)
            history.append(e)
            return e

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
            best_x = min(runs, key=lambda r: r.fun).x
            runs += [minimize(objective, best_x + rng.normal(scale=0.3, size=best_x.shape), method=method,
                              options=options) for _ in range(max(1, restarts) - 1)]
        candidates = sorted(((float(r.fun), np.asarray(r.x, dtype=np.float64)) for r in runs),
                            key=lambda t: t[0])[:max(1, starts)]
    best_obj, values = candidates[0]
    probs = sim.probabilities(values)
    circuit, gammas, betas = qaoa_circuit(pl, p, connectivity=connectivity)
    n = pl.num_qubits
    opt_p = feas_p = 0.0
    opt = float("nan")
    energies, feas = [], []
    for start in range(0, 1 << n, 1 << 15):
        stop = min(start + (1 << 15), 1 << n)
        X = basis_bits(n, start, stop)[:, pl.columns]
        energies.append(problem.energies(X))
        feas.append(problem.feasible(X) if problem.constraints else np.ones(stop - start, dtype=bool))
    e_all, f_all = np.concatenate(energies), np.concatenate(feas)
    if f_all.any():
        opt = float(e_all[f_all].min())
        tol = 1e-9 * max(1.0, abs(opt))
        opt_p = float(probs[f_all & (e_all <= opt + tol)].sum())
        feas_p = float(probs[f_all].sum())
    return QAOARun(pl, p, circuit, gammas + betas, values, float(probs @ diag), opt_p, feas_p, len(history),
                   time.perf_counter() - t0, history, cvar=float(cvar), objective=best_obj, optimum_energy=opt,
                   probabilities=probs)
