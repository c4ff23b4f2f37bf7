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

from ..angle_schedule import OPTIMIZERS, cvar_value, scipy_options, search
from ..basis import basis_bits, basis_energies
from .circuits import MAX_QUBITS, QUBIT_ORDER, Plan, plan, qaoa_circuit
from .simulate import simulator_for


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
    method, options = scipy_options(optimizer, maxiter)

    def objective_at(depth: int):
        sim = simulator_for(pl, depth, simulator, connectivity, energies=diag)

        def objective(v: np.ndarray) -> float:
            e = cvar_value(sim.probabilities(v), diag, cvar, order)
            history.append(e)
            return e

        return objective, sim

    best_obj, values, sim = search(objective_at, p, grid=grid, half_period=half_period, starts=starts,
                                   restarts=restarts, method=method, options=options, rng=rng)
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
