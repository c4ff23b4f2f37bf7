"""OpenQAOA: its QUBO JSON, and a solver that runs OpenQAOA 0.2.6 in its own Python 3.10 environment.

**Format** (``NAME.openqaoa.json``): exactly what ``openqaoa.problems.QUBO.asdict()``
writes and ``QUBO.from_dict`` reads in openqaoa-core 0.2.6::

    {"terms": [[0], [1], [0, 1], ...], "weights": [a_0, a_1, b_01, ...], "constant": c',
     "n": n, "problem_instance": {"problem_type": "generic_qubo"},
     "metadata": {"qsel": {"labels": [...], "spin": "z_k = 1 - 2 x_k", ...}}}

Despite the class name, OpenQAOA's QUBO holds an *Ising* cost function over
spins z_k in {+1, -1}: C(z) = constant + sum_t weights[t] prod_{k in terms[t]} z_k.
qsel writes the block's Ising form with x_k = (1 - z_k)/2 (``convert.to_ising``),
so bit 0 <-> z = +1 <-> x = 0, and C(z(x)) equals the IR energy of x. OpenQAOA
bitstrings put qubit k at character k (``bitstring_energy`` uses
z_k = (-1)^bitstring[k]), so x_k = int(bitstring[k]) and ``labels[k]`` names it.

**Process boundary.** openqaoa 0.2.6 needs Python < 3.11, numpy < 2 and
qiskit < 1, so it lives in ``.venv-openqaoa`` (``make openqaoa-env``); the
environment variable ``QSEL_OPENQAOA_PYTHON`` points at another interpreter.
qsel writes an input JSON, runs ``targets/openqaoa_runner.py IN OUT`` there
(``python -I``: isolated from PYTHONPATH and user site-packages) with a timeout, and reads the output JSON (see the runner's docstring).

**Solver** ``openqaoa``: a block whose only constraint is sum x == K runs with OpenQAOA's XY mixer
from the Dicke state |D^n_K> (given to OpenQAOA as ``prepend_state``); other constraints are lowered
here. On statevector devices the runner chooses the angles like the ``qaoa`` solver (depth-1 grid,
INTERP up to depth p, a local optimiser, expectation or CVaR_alpha) with OpenQAOA's simulator doing
every evaluation. Starting the 3.10 interpreter and importing OpenQAOA costs about 4 s per block.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from qsel import ir

from .base import Block, Samples, Solver, Target
from .convert import require_unconstrained, to_ising
from .manifest import BlockEntry

ENV_VAR = "QSEL_OPENQAOA_PYTHON"
RUNNER = Path(__file__).resolve().parent / "openqaoa_runner.py"
SPIN = "z_k = 1 - 2 x_k (bit 0 <-> z = +1 <-> x = 0); bitstring character k = qubit k = labels[k]"


def repo_root() -> Path:
    """The source checkout holding ``targets/`` (qsel is installed editable from it)."""
    return Path(__file__).resolve().parent.parent


def openqaoa_python() -> Path:
    """The OpenQAOA interpreter: $QSEL_OPENQAOA_PYTHON, else <repo>/.venv-openqaoa/bin/python."""
    override = os.environ.get(ENV_VAR, "").strip()
    path = Path(override) if override else repo_root() / ".venv-openqaoa" / "bin" / "python"
    if not path.exists():
        if override:
            raise ir.QselError(f"{ENV_VAR}={override}: no such interpreter; point it at a Python 3.10 with "
                               f"openqaoa-core==0.2.6 and openqaoa-qiskit==0.2.6, or unset it to use .venv-openqaoa "
                               f"(`make openqaoa-env`)")
        raise ir.QselError(f".venv-openqaoa not found ({path}): run `make openqaoa-env` in {repo_root()} "
                           f"(or set {ENV_VAR} to a Python 3.10 interpreter with openqaoa-core==0.2.6 and "
                           f"openqaoa-qiskit==0.2.6)")
    return path


def qubo_dict(problem: ir.Problem, name: str = "block") -> dict[str, Any]:
    """OpenQAOA's QUBO.asdict() layout for an unconstrained block (Ising terms, see the module docstring)."""
    require_unconstrained(problem, "openqaoa")
    a, (r, c, b), const = to_ising(problem)
    terms: list[list[int]] = [[i] for i in range(problem.num_vars) if a[i] != 0.0]
    weights = [float(a[i]) for i in range(problem.num_vars) if a[i] != 0.0]
    for i, j, w in zip(r.tolist(), c.tolist(), b.tolist()):
        if w != 0.0:
            terms.append([int(i), int(j)])
            weights.append(float(w))
    return {"terms": terms, "weights": weights, "constant": float(const), "n": int(max(problem.num_vars, 1)),
            "problem_instance": {"problem_type": "generic_qubo"},
            "metadata": {"qsel": {"block": name, "labels": problem.labels, "spin": SPIN,
                                  "energy": "IR energy of x = constant + sum_t weights[t] prod_{k in t} z_k"}}}


def bitstring_of(x: np.ndarray) -> str:
    return "".join("1" if v else "0" for v in np.asarray(x).astype(int).tolist())


def run_runner(payload: dict, *, timeout: float = 600.0) -> dict[str, Any]:
    """Run the OpenQAOA runner on ``payload`` in the OpenQAOA environment; return its output JSON."""
    python = openqaoa_python()
    with tempfile.TemporaryDirectory(prefix="qsel-openqaoa-") as tmp:
        src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(payload), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env["PYTHONNOUSERSITE"] = "1"
        env.setdefault("MPLBACKEND", "Agg")
        try:
            proc = subprocess.run([str(python), "-I", str(RUNNER), str(src), str(dst)], capture_output=True, text=True,
                                  timeout=timeout, env=env, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise ir.QselError(f"the OpenQAOA run did not finish within {timeout:g} s "
                               f"(raise the solver's timeout option or use a smaller block)") from None
        except OSError as exc:
            raise ir.QselError(f"cannot start the OpenQAOA interpreter {python}: {exc}") from None
        out = None
        if dst.exists():
            try:
                out = json.loads(dst.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                out = None
        if proc.returncode != 0 or not out or not out.get("ok"):
            tail = "\n".join((proc.stderr or "").strip().splitlines()[-8:])
            err = (out or {}).get("error") or f"exit status {proc.returncode}"
            raise ir.QselError(f"the OpenQAOA runner failed ({python}): {err}" + (f"\n{tail}" if tail else ""))
        return out


def evaluate(problem: ir.Problem, X: np.ndarray, *, timeout: float = 300.0) -> np.ndarray:
    """Energies of assignments X computed inside the OpenQAOA environment by OpenQAOA's own QUBO Hamiltonian."""
    return evaluate_many([(problem, X)], timeout=timeout)[0]


def evaluate_many(items: list[tuple[ir.Problem, np.ndarray]], *, timeout: float = 300.0) -> list[np.ndarray]:
    """:func:`evaluate` for several problems in one run of the OpenQAOA environment."""
    payload = {"task": "evaluate", "items": [
        {"qubo": qubo_dict(problem), "bitstrings": [bitstring_of(x) for x in np.atleast_2d(X)]}
        for problem, X in items]}
    out = run_runner(payload, timeout=timeout)
    return [np.asarray(item["energies"], dtype=np.float64) for item in out["items"]]


@dataclass(frozen=True)
class OpenQAOATarget(Target):
    """One OpenQAOA QUBO JSON per block."""

    name: ClassVar[str] = "openqaoa"
    description: ClassVar[str] = ("OpenQAOA 0.2.6 QUBO JSON per block (QUBO.from_dict; Ising terms with "
                                  "z = 1 - 2x), run in its own Python 3.10 environment")
    default_pipeline: ClassVar[str] = "canonicalize,partition{max-vars=20},lower-constraints{penalty=auto}"
    block_constraints: ClassVar[str] = "none"

    def emit_block(self, block: Block, sub: ir.Problem, outdir: Path, stem: str) -> BlockEntry:
        from qsel.ir.jsonfile import write_json

        fname = f"{stem}.openqaoa.json"
        write_json(Path(outdir) / fname, qubo_dict(sub, block.name))
        return BlockEntry(
            name=block.name, file=fname, format="openqaoa-json", labels=sub.labels, offset=0.0, scale=1.0,
            run=("openqaoa.problems.QUBO.from_dict(json.load(f)) in the OpenQAOA env (qsel solve --solver "
                 "openqaoa runs it); bitstring character k = labels[k]"),
            extra={"spin_mapping": SPIN, "qubits": sub.num_vars, "openqaoa": "0.2.6"})


@dataclass(frozen=True)
class OpenQAOASolver(Solver):
    """QAOA by OpenQAOA 0.2.6 in .venv-openqaoa, driven through files and a subprocess.

    A block whose only constraint is sum_i x_i == K over all its variables runs with OpenQAOA's XY mixer
    over the ``connectivity`` pairs (the same ring or complete pairs as the ``qaoa`` solver) from the Dicke
    state |D^n_K> (``prepend_state``, no Hadamards): every sample is feasible and no penalty is needed. Any
    other constraint is lowered to a penalty here (``lower-constraints{penalty=auto}``; slack qubits for
    inequalities) and runs with the X mixer from |+>^n. On statevector devices the angles follow the
    schedule of the ``qaoa`` solver (depth-1 grid, INTERP to depth p, local ``optimizer``; objective CVaR_alpha
    with alpha = ``cvar``, 1 = expectation), evaluated by OpenQAOA's own simulator."""

    name: ClassVar[str] = "openqaoa"
    description: ClassVar[str] = ("OpenQAOA 0.2.6 QAOA in its own Python 3.10 environment (.venv-openqaoa, or "
                                  "$QSEL_OPENQAOA_PYTHON), via subprocess and JSON files; XY mixer from a Dicke "
                                  "state for one cardinality ==K, angles by grid + INTERP + COBYLA, optional CVaR")
    max_vars: ClassVar[int | None] = 20
    handles_constraints: ClassVar[bool] = True  # XY mixer for one cardinality ==K; anything else is lowered here

    p: int = 3
    mixer: str = "auto"  # auto | x | xy (as the qaoa solver: auto = xy for one all-variable cardinality ==K)
    connectivity: str = "ring"  # XY mixer pairs: ring | complete
    device: str = "vectorized"  # OpenQAOA local devices: vectorized, qiskit.statevector_simulator, qiskit.qasm_simulator
    optimizer: str = "cobyla"  # cobyla | bfgs | nelder-mead (statevector devices); OpenQAOA's name on shot devices
    maxiter: int = 100
    grid: int = 8  # depth-1 grid of grid x grid (gamma, beta) points
    starts: int = 1  # angle sets kept from the grid and carried up through INTERP
    restarts: int = 1
    cvar: float = 1.0  # alpha of the CVaR objective; 1 = the expected energy
    # shots per cost evaluation on shot-based devices (qiskit.qasm_simulator); their samples are the last
    # evaluation's shots. 0: statevector devices, whose final state is sampled num_reads times (seeded)
    n_shots: int = 0
    timeout: float = 600.0

    def __post_init__(self) -> None:
        for name in ("p", "maxiter", "grid", "starts", "restarts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.n_shots < 0 or not self.timeout > 0:
            raise ValueError(f"n-shots must be >= 0 and timeout > 0, got {self.n_shots} and {self.timeout}")
        if not 0.0 < self.cvar <= 1.0:
            raise ValueError(f"cvar must be in (0, 1] (1: the expectation), got {self.cvar}")
        if self.mixer not in ("auto", "x", "xy"):
            raise ValueError(f"mixer must be auto, x or xy, got {self.mixer!r}")
        if self.connectivity not in ("ring", "complete"):
            raise ValueError(f"connectivity must be ring or complete, got {self.connectivity!r}")
        if self.n_shots == 0 and self.optimizer not in ("bfgs", "cobyla", "nelder-mead"):
            raise ValueError(f"optimizer must be bfgs, cobyla or nelder-mead on statevector devices, "
                             f"got {self.optimizer!r}")

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        from .qaoa import best_of_samples, plan, xy_pairs

        if problem.num_vars > (self.max_vars or problem.num_vars):
            raise ir.QselError(f"the openqaoa solver takes blocks of at most {self.max_vars} variables, got "
                               f"{problem.num_vars}; partition first, e.g. `-p 'partition{{max-vars={self.max_vars}}}'`")
        pl = plan(problem, self.mixer, max_qubits=self.max_vars)
        qubo = qubo_dict(pl.cost)
        n = pl.num_qubits
        if not qubo["terms"]:  # a constant: every assignment of the cost problem is optimal
            X = np.zeros((1, n)) if pl.mixer == "x" else (np.arange(n) >= n - (pl.k or 0)).astype(float)[None, :]
            X = X[:, pl.columns]
            return Samples(X, problem.energies(X), np.array([int(num_reads)]), {"trivial": True, "mixer": pl.mixer})
        options = {"p": self.p, "device": self.device, "optimizer": self.optimizer, "maxiter": self.maxiter,
                   "grid": self.grid, "starts": self.starts, "restarts": self.restarts, "cvar": self.cvar,
                   "n_shots": self.n_shots, "num_reads": int(num_reads), "seed": seed, "mixer": pl.mixer}
        if pl.mixer == "xy":
            options.update(hamming_weight=int(pl.k or 0), pairs=[list(pq) for pq in xy_pairs(n, self.connectivity)])
        out = run_runner({"task": "solve", "qubo": qubo, "options": options}, timeout=self.timeout)
        rows = out["samples"]
        bits = np.array([[int(ch) for ch in row["bitstring"][:n]] for row in rows], dtype=np.float64).reshape(-1, n)
        occ = np.array([int(row["count"]) for row in rows], dtype=np.int64)
        theirs = np.array([float(row["energy"]) for row in rows])
        check = float(np.max(np.abs(theirs - pl.cost.energies(bits)))) if len(rows) else 0.0
        X, occ = _merge(bits[:, pl.columns], occ)
        energies = problem.energies(X) if X.shape[0] else np.zeros(0)
        opt = self._optimum(problem, pl, out.get("probabilities"))
        info = {"openqaoa": out.get("openqaoa"), "python": out.get("python"), "p": self.p, "device": self.device,
                "mixer": pl.mixer, "hamming_weight": pl.k, "qubits": n,
                "xy_pairs": options.get("pairs"), "optimizer": self.optimizer,
                "objective": "expectation" if self.cvar >= 1 else "cvar", "cvar": self.cvar,
                "optimized": out.get("optimized"), "seconds": out.get("seconds"),
                "energy_check_max_abs_diff": check, "spin_mapping": SPIN, "interpreter": str(openqaoa_python()),
                "num_reads": int(num_reads), **opt}
        return best_of_samples(problem, Samples(X, energies, occ, info), opt.get("optimum_energy"))

    @staticmethod
    def _optimum(problem: ir.Problem, pl, probs: dict[str, float] | None) -> dict[str, Any]:
        """optimum_energy (lowest feasible energy over the 2^n basis states), and from the final state's
        probabilities (statevector devices): optimum_probability, feasible_probability."""
        from .basis import basis_bits

        n = pl.num_qubits
        Xall = basis_bits(n)[:, pl.columns]
        e_all = problem.energies(Xall)
        f_all = problem.feasible(Xall) if problem.constraints else np.ones(len(e_all), dtype=bool)
        if not f_all.any():
            return {}
        opt = float(e_all[f_all].min())
        out: dict[str, Any] = {"optimum_energy": opt}
        if probs:
            keys = list(probs)
            k = np.array([int(key[::-1], 2) for key in keys], dtype=np.int64)  # character i = qubit i = bit i
            pr = np.zeros(1 << n)
            pr[k] = [probs[key] for key in keys]
            hit = f_all & (e_all <= opt + 1e-9 * max(1.0, abs(opt)))
            out["optimum_probability"] = float(pr[hit].sum())
            out["feasible_probability"] = float(pr[f_all].sum())
            out["probability_of_best_sample"] = out["optimum_probability"]  # kept for older readers
        return out


def _merge(X: np.ndarray, occ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of X made unique, occurrences added (slack settings of one assignment merge)."""
    if not X.shape[0]:
        return X, occ
    uniq, inverse = np.unique(X, axis=0, return_inverse=True)
    return uniq, np.bincount(inverse.ravel(), weights=occ, minlength=uniq.shape[0]).astype(np.int64)


TARGETS = (OpenQAOATarget,)
SOLVERS = (OpenQAOASolver,)
