"""Classical solvers for one block: exact enumeration and dwave-samplers' SA, tabu and steepest descent.

* ``exact`` enumerates all 2^n assignments of a block (n <= 24), vectorised:
  with the variables split into the low L = min(n, 16) and the high H = n - L
  bits, state s = lo + 2^L * hi has x_i = (s >> i) & 1 and

      E(s) = E_lo(lo) + E_hi(hi) + x_lo . G[:, hi],   G = U[lo, hi] Y_hi^T

  (U the strictly upper coupling matrix, Y_hi every high assignment), so a
  chunk of 2^L x B states costs one (2^L x L) @ (L x B) product. Constraints
  are enforced natively: it returns the k best assignments of the lowest total
  violation (0: feasible), and summarises the energies of every feasible
  assignment (of all of them when nothing is feasible or there is no
  constraint) in ``info["distribution"]``.
* ``sa``, ``tabu``, ``steepest``: dwave-samplers on the block as a dimod BQM
  (labels kept); constraints must be lowered to penalties first. Returned
  energies are recomputed with the IR (they agree with dimod's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from qsel import ir

from .base import VIOLATION_TOL, Samples, Solver, energy_summary
from .basis import basis_bits, bits_of
from .convert import require_unconstrained, to_bqm

EXACT_MAX_VARS = 24
_LOW_BITS = 16
_CHUNK_STATES = 1 << 20  # states per vectorised chunk (2^L x B)


def _quadratic(X: np.ndarray, U: np.ndarray) -> np.ndarray:
    return np.einsum("sb,sb->s", X @ U, X) if U.size else np.zeros(X.shape[0])


@dataclass(frozen=True)
class ExactSolver(Solver):
    """Enumerate every assignment (<= 24 variables), constraints enforced; the k best and the energy landscape."""

    name: ClassVar[str] = "exact"
    description: ClassVar[str] = ("exhaustive enumeration, vectorised; returns the num-reads best assignments and "
                                  "the energy distribution of every feasible one")
    max_vars: ClassVar[int | None] = EXACT_MAX_VARS
    handles_constraints: ClassVar[bool] = True

    bins: int = 20  # histogram bins of the energy distribution

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        n = problem.num_vars
        if n > EXACT_MAX_VARS:
            raise ir.QselError(f"solver 'exact' enumerates at most {EXACT_MAX_VARS} variables, the block has {n}; "
                               f"partition it first, e.g. -p 'partition{{max-vars={EXACT_MAX_VARS}}}'")
        k = max(1, int(num_reads))
        h = problem.linear
        U = problem.to_dense_upper()
        L = min(n, _LOW_BITS)
        H = n - L
        lo, hi = slice(0, L), slice(L, n)
        Xlo = basis_bits(L)
        Yhi = basis_bits(H)
        e_lo = Xlo @ h[lo] + _quadratic(Xlo, U[lo, lo])
        e_hi = float(problem.offset) + Yhi @ h[hi] + _quadratic(Yhi, U[hi, hi])
        G = U[lo, hi] @ Yhi.T  # (L, 2^H)
        cons = problem.constraints
        c_lo = np.stack([_dense_coeffs(c, n)[lo] for c in cons], axis=1) if cons else np.zeros((L, 0))
        c_hi = np.stack([_dense_coeffs(c, n)[hi] for c in cons], axis=1) if cons else np.zeros((H, 0))
        lhs_lo = Xlo @ c_lo  # (2^L, m)
        lhs_hi = Yhi @ c_hi  # (2^H, m)
        rhs = np.array([c.rhs for c in cons])
        senses = [c.sense for c in cons]

        total = 1 << n
        energies = np.empty(total)
        feasible = np.ones(total, dtype=bool) if cons else None
        best_viol = np.inf
        cand_idx = np.zeros(0, np.int64)
        cand_e = np.zeros(0)
        batch = max(1, _CHUNK_STATES >> L)
        for start in range(0, 1 << H, batch):
            stop = min(start + batch, 1 << H)
            # (B, 2^L): row b = high assignment start + b, column = low assignment; flat index = state s
            E = (e_lo[None, :] + (Xlo @ G[:, start:stop]).T + e_hi[start:stop, None]).ravel()
            s0 = start << L
            energies[s0:s0 + E.shape[0]] = E
            if cons:
                viol = np.zeros(E.shape[0])
                for j, sense in enumerate(senses):
                    d = (lhs_lo[None, :, j] + lhs_hi[start:stop, None, j]).ravel() - rhs[j]
                    viol += np.abs(d) if sense is ir.Sense.EQ else (
                        np.maximum(d, 0.0) if sense is ir.Sense.LE else np.maximum(-d, 0.0))
                viol[viol <= VIOLATION_TOL] = 0.0
                feasible[s0:s0 + E.shape[0]] = viol == 0.0
                level = float(viol.min())
                if level > best_viol + VIOLATION_TOL:
                    continue
                if level < best_viol - VIOLATION_TOL:
                    best_viol, cand_idx, cand_e = level, np.zeros(0, np.int64), np.zeros(0)
                rows = np.flatnonzero(viol <= level + VIOLATION_TOL)
            else:
                best_viol = 0.0
                rows = np.arange(E.shape[0])
            if rows.size > k:
                rows = rows[np.argpartition(E[rows], k - 1)[:k]]
            cand_idx = np.concatenate([cand_idx, rows + s0])
            cand_e = np.concatenate([cand_e, E[rows]])
            if cand_idx.size > k:
                keep = np.argpartition(cand_e, k - 1)[:k]
                cand_idx, cand_e = cand_idx[keep], cand_e[keep]
        order = np.lexsort((cand_idx, cand_e))
        chosen = cand_idx[order]
        X = bits_of(chosen, n, np.int8)
        exact_e = problem.energies(X) if n else np.full(X.shape[0], float(problem.offset))
        landscape = energies if feasible is None or not feasible.any() else energies[feasible]
        info: dict[str, Any] = {
            "enumerated": total,
            "distribution": {**energy_summary(landscape, bins=self.bins),
                             "of": "every feasible assignment" if feasible is not None and feasible.any()
                             else "every assignment"},
        }
        if cons:
            info["feasible_assignments"] = int(feasible.sum())
            info["min_violation"] = float(best_viol)
        return Samples(X, exact_e, np.ones(X.shape[0], np.int64), info)


def _dense_coeffs(c: ir.Constraint, n: int) -> np.ndarray:
    out = np.zeros(n)
    np.add.at(out, c.indices, c.coeffs)
    return out


# ------------------------------------------------------------------ dwave-samplers
def _seed(seed: int | None) -> int | None:
    return None if seed is None else int(seed) % (2**32 - 1)


def run_dimod_sampler(problem: ir.Problem, sampler, solver_name: str, **params: Any) -> Samples:
    """Sample ``problem`` (unconstrained) with a dimod sampler; rows come back in the IR's variable order."""
    require_unconstrained(problem, solver_name)
    n = problem.num_vars
    if n == 0:
        return Samples(np.zeros((1, 0), np.int8), np.array([float(problem.offset)]), np.ones(1, np.int64), {})
    bqm = to_bqm(problem, check=False)
    ss = sampler.sample(bqm, **{k: v for k, v in params.items() if v is not None})
    pos = {v: i for i, v in enumerate(ss.variables)}
    cols = np.array([pos[lab] for lab in problem.labels], dtype=np.int64)
    X = np.asarray(ss.record.sample, dtype=np.int8)[:, cols]
    energies = problem.energies(X)
    dimod_e = np.asarray(ss.record.energy, dtype=np.float64)
    info = {"sampler": type(sampler).__name__, "params": {k: v for k, v in params.items() if k != "seed"},
            "max_abs_energy_difference_vs_dimod": float(np.max(np.abs(energies - dimod_e))) if len(dimod_e) else 0.0}
    timing = ss.info.get("timing") if isinstance(ss.info, dict) else None
    if isinstance(timing, dict):
        info["timing"] = {k: v for k, v in timing.items() if isinstance(v, (int, float))}
    return Samples(X, energies, np.asarray(ss.record.num_occurrences, dtype=np.int64), info)


def objective_beta_range(problem: ir.Problem) -> tuple[float, float] | None:
    """An annealing range from the *objective* of a problem whose cardinality constraints were lowered, or
    None when it has no lowered penalty (then dwave-samplers' own default applies).

    dwave-samplers derives the range from every bias; under a penalty P (sum_C x - K)^2 the biases are
    dominated by P, and with dense real-valued couplings its cold end (the smallest |J|) is ~0: the anneal
    is hot for the objective and then frozen. Here the penalty's terms (P (1 - 2K) on each linear bias of C,
    2P on each coupling inside C) are taken out first; then, in the Ising form J = S/4,
    h^s = h/2 + S 1/4, the same rules as dwave-samplers' ``_default_ising_beta_range`` give

        beta_hot  = ln 2 / (2 max_i (|h^s_i| + sum_j |J_ij|))      (every flip accepted w.p. >= 1/2)
        beta_cold = ln(100 n) / (2 median_{J_ij != 0} |J_ij|)       (typical excitations rare at the end)

    with the median, not the minimum, of the couplings for the cold end. Samples stay penalised; the
    ``polish`` composite repairs their counts and descends by swaps."""
    from .postprocess import QuadraticForm, lowered_penalties

    groups = lowered_penalties(problem)
    if not groups or problem.num_vars < 2:
        return None
    qf = QuadraticForm.from_problem(problem)
    for idx, k, P in groups:
        qf.h[idx] -= P * (1 - 2 * k)
        qf.S[np.ix_(idx, idx)] -= 2 * P
    np.fill_diagonal(qf.S, 0.0)
    J = np.abs(qf.S) / 4
    hs = np.abs(qf.h / 2 + qf.S.sum(axis=1) / 4)
    field = float((hs + J.sum(axis=1)).max())
    couplings = J[np.triu_indices(problem.num_vars, 1)]
    couplings = couplings[couplings > 0]
    if field <= 0 or not couplings.size:
        return None
    hot = float(np.log(2) / (2 * field))
    cold = float(np.log(100 * problem.num_vars) / (2 * np.median(couplings)))
    return hot, max(cold, hot)


@dataclass(frozen=True)
class SimulatedAnnealingSolver(Solver):
    """Simulated annealing (dwave-samplers); constraints must be lowered to penalties first. Without a
    ``beta-range`` a penalised problem anneals over :func:`objective_beta_range`."""

    name: ClassVar[str] = "sa"
    description: ClassVar[str] = "simulated annealing (dwave-samplers SimulatedAnnealingSampler)"

    num_sweeps: int = 1000
    beta_range: tuple[float, float] | None = None  # default: from the biases (dwave-samplers' heuristic)
    schedule: str = "geometric"  # geometric | linear

    def __post_init__(self) -> None:
        if self.num_sweeps < 1:
            raise ValueError(f"num-sweeps must be at least 1, got {self.num_sweeps}")
        if self.beta_range is not None and not 0 < self.beta_range[0] <= self.beta_range[1]:
            raise ValueError(f"beta-range must be LOW:HIGH with 0 < LOW <= HIGH, got {self.beta_range}")
        if self.schedule not in ("geometric", "linear"):
            raise ValueError(f"schedule must be geometric or linear, got {self.schedule!r}")

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        from dwave.samplers import SimulatedAnnealingSampler

        if self.schedule not in ("geometric", "linear"):
            raise ir.QselError(f"solver 'sa': schedule must be geometric or linear, got {self.schedule!r}")
        beta_range = self.beta_range or objective_beta_range(problem)
        samples = run_dimod_sampler(problem, SimulatedAnnealingSampler(), self.name, num_reads=int(num_reads),
                                    num_sweeps=int(self.num_sweeps), seed=_seed(seed),
                                    beta_range=list(beta_range) if beta_range else None,
                                    beta_schedule_type=self.schedule)
        samples.info["beta_range"] = list(beta_range) if beta_range else "dwave-samplers default"
        return samples


@dataclass(frozen=True)
class TabuSolver(Solver):
    """Multistart tabu search (dwave-samplers); constraints must be lowered to penalties first."""

    name: ClassVar[str] = "tabu"
    description: ClassVar[str] = "multistart tabu search (dwave-samplers TabuSampler), timeout per read in ms"

    timeout: int = 20  # milliseconds per read
    tenure: int | None = None
    # restarts per read (TabuSampler's num_restarts); a read stops at whichever of restarts and timeout comes
    # first, so with restarts set and a timeout that does not bind, a seed gives the same samples on a busy
    # machine too (the timeout alone makes the work done depend on the load)
    restarts: int | None = None

    def __post_init__(self) -> None:
        if self.timeout < 1:
            raise ValueError(f"timeout must be at least 1 ms per read, got {self.timeout}")
        if self.tenure is not None and self.tenure < 0:
            raise ValueError(f"tenure must be >= 0, got {self.tenure}")
        if self.restarts is not None and self.restarts < 0:
            raise ValueError(f"restarts must be >= 0, got {self.restarts}")

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        from dwave.samplers import TabuSampler

        extra = {} if self.restarts is None else {"num_restarts": int(self.restarts)}
        return run_dimod_sampler(problem, TabuSampler(), self.name, num_reads=int(num_reads),
                                 timeout=int(self.timeout), tenure=self.tenure, seed=_seed(seed), **extra)


@dataclass(frozen=True)
class SteepestDescentSolver(Solver):
    """Steepest descent from random states (dwave-samplers): a fast local-minimum baseline."""

    name: ClassVar[str] = "steepest"
    description: ClassVar[str] = "steepest descent from random states (dwave-samplers SteepestDescentSolver)"

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        from dwave.samplers import SteepestDescentSolver as Steepest

        return run_dimod_sampler(problem, Steepest(), self.name, num_reads=int(num_reads), seed=_seed(seed))


SOLVERS = (ExactSolver, SimulatedAnnealingSolver, TabuSolver, SteepestDescentSolver)
