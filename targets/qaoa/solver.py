"""The ``qaoa`` solver: depth-p QAOA simulated on a statevector, angles optimised, then shots.

``num_reads`` shots (seeded) are returned best first, with the best sample, the exact optimum over the
simulated basis and its probability in ``info``. With the XY mixer every shot is feasible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qsel import ir

from ..base import Samples, Solver
from .circuits import MAX_QUBITS
from .optimise import OPTIMIZERS, check_cvar, optimise
from .simulate import SIMULATORS, counts_to_samples, run_shots, sample_probabilities


def best_of_samples(problem: ir.Problem, samples: Samples, optimum: float | None = None) -> Samples:
    """``samples`` with rows sorted best first (feasible before infeasible, then by energy) and the best-of-samples
    report in ``info``: ``best_energy`` (of the first row), ``best_feasible``, ``shots``; with ``optimum`` (the
    block's exact lowest feasible energy, known to a statevector simulator): ``optimum_shots`` (shots that
    returned an optimal assignment) and ``optimum_sampled`` (the best sample is optimal, within 1e-9 relative)."""
    order = samples.order(problem)
    occ = samples.weights[order]
    out = Samples(samples.X[order], samples.energies[order], occ, dict(samples.info))
    info = out.info
    info["shots"] = int(occ.sum())
    if not len(out.energies):
        return out
    feasible = problem.feasible(out.X) if problem.constraints else np.ones(len(out.energies), dtype=bool)
    info["best_energy"] = float(out.energies[0])
    info["best_feasible"] = bool(feasible[0])
    info["feasible_shots"] = int(occ[feasible].sum())
    if optimum is not None and np.isfinite(optimum):
        hit = feasible & (out.energies <= optimum + 1e-9 * max(1.0, abs(optimum)))
        info["optimum_shots"] = int(occ[hit].sum())
        info["optimum_sampled"] = bool(hit[0])
    return out


@dataclass(frozen=True)
class QAOASolver(Solver):
    """Depth-p QAOA simulated on a statevector, angles by grid scan + INTERP + COBYLA on the expected energy
    (or CVaR_alpha with ``cvar=ALPHA``), then ``num_reads`` shots, returned best first."""

    name: ClassVar[str] = "qaoa"
    description: ClassVar[str] = ("QAOA on a statevector (numpy, or qiskit-aer / qiskit Statevector; <= 20 qubits), "
                                  "angles by grid scan + INTERP + COBYLA on the expectation or CVaR; XY mixer from "
                                  "a Dicke state keeps a single cardinality ==K constraint exactly")
    max_vars: ClassVar[int | None] = MAX_QUBITS
    handles_constraints: ClassVar[bool] = True  # XY mixer for one cardinality ==K; anything else is lowered here

    p: int = 3
    mixer: str = "auto"
    connectivity: str = "ring"  # XY mixer pairs: ring | complete
    maxiter: int = 200
    restarts: int = 1
    starts: int = 3  # angle sets kept from the depth-1 grid and carried up through INTERP
    grid: int = 12  # depth-1 grid of grid x grid (gamma, beta) points
    cvar: float = 1.0  # alpha of the CVaR objective; 1 = the expected energy
    optimizer: str = "bfgs"  # bfgs | cobyla | nelder-mead
    simulator: str = "numpy"  # numpy | aer | statevector

    def __post_init__(self) -> None:
        for name in ("p", "maxiter", "restarts", "starts", "grid"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        check_cvar(self.cvar)
        if self.simulator not in SIMULATORS:
            raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, got {self.simulator!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.connectivity not in ("ring", "complete"):
            raise ValueError(f"connectivity must be ring or complete, got {self.connectivity!r}")

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        run = optimise(problem, p=self.p, mixer=self.mixer, maxiter=self.maxiter, seed=seed,
                       simulator=self.simulator, restarts=self.restarts, connectivity=self.connectivity,
                       grid=self.grid, starts=self.starts, cvar=self.cvar, optimizer=self.optimizer)
        if self.simulator == "numpy":
            X, occ = sample_probabilities(run.probabilities, run.plan, int(num_reads), seed)
        else:
            X, occ = counts_to_samples(run_shots(run.bound(), int(num_reads), seed, self.simulator), run.plan)
        samples = Samples(X, problem.energies(X) if X.shape[0] else np.zeros(0), occ,
                          {**run.info(), "num_reads": int(num_reads), "simulator": self.simulator})
        return best_of_samples(problem, samples, run.optimum_energy)


SOLVERS = (QAOASolver,)
