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
    """QAOA by OpenQAOA 0.2.6 in .venv-openqaoa, driven through files and a subprocess."""

    name: ClassVar[str] = "openqaoa"
    description: ClassVar[str] = ("OpenQAOA 0.2.6 QAOA in its own Python 3.10 environment (.venv-openqaoa, "
                                  "or $QSEL_OPENQAOA_PYTHON), via subprocess and JSON files")
    max_vars: ClassVar[int | None] = 20
    handles_constraints: ClassVar[bool] = False

    p: int = 2
    device: str = "vectorized"  # OpenQAOA local devices: vectorized, qiskit.statevector_simulator, qiskit.qasm_simulator
    optimizer: str = "cobyla"
    maxiter: int = 100
    # shots per cost evaluation on shot-based devices (qiskit.qasm_simulator); their samples are the last
    # evaluation's shots. 0: statevector devices, whose final state is sampled num_reads times (seeded)
    n_shots: int = 0
    timeout: float = 600.0

    def __post_init__(self) -> None:
        for name in ("p", "maxiter"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.n_shots < 0 or not self.timeout > 0:
            raise ValueError(f"n-shots must be >= 0 and timeout > 0, got {self.n_shots} and {self.timeout}")

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        if problem.num_vars > (self.max_vars or problem.num_vars):
            raise ir.QselError(f"the openqaoa solver takes blocks of at most {self.max_vars} variables, got "
                               f"{problem.num_vars}; partition first, e.g. `-p 'partition{{max-vars={self.max_vars}}}'`")
        qubo = qubo_dict(problem)
        if not qubo["terms"]:  # a constant: every assignment is optimal
            X = np.zeros((1, problem.num_vars))
            return Samples(X, problem.energies(X), np.array([int(num_reads)]), {"trivial": True})
        out = run_runner({"task": "solve", "qubo": qubo,
                          "options": {"p": self.p, "device": self.device, "optimizer": self.optimizer,
                                      "maxiter": self.maxiter, "n_shots": self.n_shots,
                                      "num_reads": int(num_reads), "seed": seed, "init_type": "ramp",
                                      "mixer": "x"}}, timeout=self.timeout)
        rows = out["samples"]
        n = problem.num_vars
        X = np.array([[int(ch) for ch in row["bitstring"][:n]] for row in rows], dtype=np.float64).reshape(-1, n)
        occ = np.array([int(row["count"]) for row in rows], dtype=np.int64)
        energies = problem.energies(X) if X.shape[0] else np.zeros(0)
        theirs = np.array([float(row["energy"]) for row in rows])
        info = {"openqaoa": out.get("openqaoa"), "python": out.get("python"), "p": self.p, "device": self.device,
                "optimizer": self.optimizer, "optimized": out.get("optimized"),
                "most_probable_states": out.get("most_probable_states"), "seconds": out.get("seconds"),
                "energy_check_max_abs_diff": float(np.max(np.abs(theirs - energies))) if len(rows) else 0.0,
                "spin_mapping": SPIN, "interpreter": str(openqaoa_python())}
        probs = out.get("probabilities")
        if probs:
            ground = energies.min() if len(energies) else None
            info["probability_of_best_sample"] = float(sum(
                probs.get(row["bitstring"], 0.0) for row, e in zip(rows, energies) if e <= ground + 1e-9))
        return Samples(X, energies, occ, info)

