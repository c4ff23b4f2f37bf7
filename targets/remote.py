"""Remote devices as registered solvers: the D-Wave QPU, Leap's hybrid CQM solver and IBM Quantum (QAOA).

Each is a :class:`~qsel.targets.base.Solver` like the local ones, so the same
composites wrap it (``decompose{block=B}(dwave-qpu)``) and ``qsel solve``,
``qsel select`` and ``qsel submit`` reach it through one code path. This module
holds the device solvers only; the stacks ``qsel submit`` builds around them
are in :mod:`qsel.targets.submission`.

* ``dwave-qpu`` — DWaveSampler (dwave-system). A block is embedded onto the
  sampler's *working graph* (the real chip, missing qubits and all) with the
  code ``local-pegasus`` uses (:func:`qsel.targets.dwave.prepare`: cached clique
  or minorminer embedding, uniform-torque-compensation chain strength,
  physical problem on arrays), sampled there, unembedded by majority vote and
  polished (``postprocess=swap``). ``max_vars`` is the largest clique of
  ``topology`` (the chip's family and shape, known before connecting:
  :meth:`qsel.passes.topology.Topology.largest_clique`); the solver's own topology is checked against it once
  connected. Stand-in: ``local-pegasus`` (the same path on a MockDWaveSampler
  with the ideal graph; :meth:`DWaveQPUSolver.standin`).
* ``leap-hybrid`` — LeapHybridCQMSampler on the problem as a dimod CQM
  (constraints native; no block limit); its samples are read back by label.
  Stand-in: ``local-hybrid``.
* ``local-hybrid`` — a local stand-in for Leap's hybrid solver (not the
  hybrid solver itself): ``decompose{block=B}(tabu)`` on the constrained
  problem, i.e. greedy warm start, energy-impact subproblems of at most B
  variables (the Pegasus block size, :func:`qsel.passes.topology.default_block_size`) solved by tabu with the rest clamped, count-preserving swaps.
* ``ibm-runtime`` — QAOA: angles optimised locally on a statevector
  (:func:`qsel.targets.qaoa.optimise`; XY mixer from a Dicke state for one
  cardinality constraint), the bound circuit transpiled for the backend
  (``generate_preset_pass_manager``) and sampled there with qiskit-ibm-runtime's
  Sampler primitive (the client-side ``executor_sampler.Sampler`` where the
  installed version has it, else ``SamplerV2``). ``local=true`` or a
  ``fake_*`` backend runs qiskit-ibm-runtime's local testing mode on that fake
  backend (Aer with the device's noise model): no account, no network.

Credentials come only from the libraries' usual places and are checked for
*presence* before any network call (:func:`dwave_credentials`,
:func:`ibm_credentials`): dwave-cloud-client's config file or
``DWAVE_API_TOKEN``; qiskit-ibm-runtime's saved account file or its
``QISKIT_IBM_TOKEN`` variables. qsel never takes a token as an option, never
prints or stores one, and never creates ``~/.qiskit/qiskit-ibm.json`` (the
runtime client creates it empty when asked for a saved account that is not
there, so qsel only asks once the file exists). A client's network or
service error becomes a one-line :class:`~qsel.ir.QselError`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from qsel import ir
from qsel.passes.topology import default_block_size

from .base import Samples, Solver
from .dwave import DEFAULT_PREFACTOR, H_RANGE, J_RANGE, LocalPegasusSolver, prepare, sample_embedded
from .embedding import LargestCliqueOf

DEFAULT_FAKE_BACKEND = "fake_sherbrooke"


# ------------------------------------------------------------------ credentials (presence only, never values)
def dwave_credentials(profile: str = "") -> None:
    """Raise a QselError unless dwave-cloud-client finds an API token (config file or ``DWAVE_API_TOKEN``);
    only whether one is set is looked at, and no network is touched."""
    from dwave.cloud.config import load_config
    from dwave.cloud.exceptions import ConfigFileError

    try:
        config = load_config(profile=profile or None)
    except ConfigFileError as exc:
        raise ir.QselError(f"D-Wave configuration cannot be read: {exc}") from None
    except ValueError as exc:  # an unknown profile name
        raise ir.QselError(f"D-Wave configuration: {exc}") from None
    if not config.get("token"):
        raise ir.QselError(
            "no D-Wave API token configured: run `dwave config create` (or `dwave setup`), or set the "
            "DWAVE_API_TOKEN environment variable, then retry; use --local to run on the local stand-in")


def ibm_account_file() -> Path:
    """Where qiskit-ibm-runtime keeps saved accounts (``~/.qiskit/qiskit-ibm.json``)."""
    return Path(os.path.expanduser("~")) / ".qiskit" / "qiskit-ibm.json"


def ibm_credentials() -> None:
    """Raise a QselError unless an IBM Quantum account is configured: ``QISKIT_IBM_TOKEN`` set, or a saved
    account file holding at least one account. Touches no network and writes nothing."""
    if os.environ.get("QISKIT_IBM_TOKEN"):
        return
    path = ibm_account_file()
    accounts: Any = {}
    if path.is_file():
        try:
            accounts = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError) as exc:
            raise ir.QselError(f"IBM Quantum account file {path} cannot be read: {type(exc).__name__}") from None
    if not (isinstance(accounts, dict) and any(isinstance(a, dict) for a in accounts.values())):
        raise ir.QselError(
            "no IBM Quantum account configured: save one once with "
            "`QiskitRuntimeService.save_account(channel=..., token=..., instance=...)` in Python (or set "
            "QISKIT_IBM_TOKEN and QISKIT_IBM_INSTANCE), then retry; use --local to run on a fake IBM backend")


def dwave_endpoint(profile: str = "", solver: str = "") -> str:
    """D-Wave Leap and where dwave-cloud-client will connect (its configured endpoint, else its region), read
    from the configuration without network, for error messages; the token is never looked at."""
    from dwave.cloud.config import load_config
    from dwave.cloud.config.constants import DEFAULT_REGION

    try:
        config = load_config(profile=profile or None)
    except Exception:  # noqa: BLE001 - only for a message; dwave_credentials reports configuration errors
        config = {}
    where = config.get("endpoint") or f"region {config.get('region') or DEFAULT_REGION}"
    name = solver or config.get("solver")
    return f"D-Wave Leap{f' solver {name!r}' if isinstance(name, str) and name else ''} at {where}"


def ibm_endpoint(backend: str = "") -> str:
    """IBM Quantum and the URL qiskit-ibm-runtime will use (``QISKIT_IBM_URL``, else the client's default),
    for error messages."""
    try:
        from qiskit_ibm_runtime.accounts.account import IBM_QUANTUM_PLATFORM_API_URL as default
    except ImportError:  # another client version
        default = "the client's default URL"
    url = os.environ.get("QISKIT_IBM_URL") or default
    return f"IBM Quantum{f' backend {backend!r}' if backend else ''} at {url}"


@contextlib.contextmanager
def remote_errors(service: str) -> Iterator[None]:
    """Turn a client's network, authentication or service error inside the block into one QselError line."""
    try:
        yield
    except ir.QselError:
        raise
    except Exception as exc:  # noqa: BLE001 - filtered below: only the clients' errors are translated
        if not _is_client_error(exc):
            raise
        text = " ".join(str(exc).split())[:240] or "no detail"
        raise ir.QselError(f"{service} could not be reached or refused the request ({type(exc).__name__}: "
                           f"{text}); check the network and the account configuration, or use --local") from None


def _is_client_error(exc: BaseException) -> bool:
    if isinstance(exc, OSError):  # requests' and dwave-cloud-client's request errors, timeouts, refused connections
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("dwave.cloud", "qiskit_ibm_runtime", "requests", "urllib3")) or \
        type(exc).__name__ in ("QiskitBackendNotFoundError", "SolverNotFoundError")


# ------------------------------------------------------------------ D-Wave QPU
@functools.lru_cache(maxsize=4)
def _dwave_sampler(solver: str, profile: str):
    """One DWaveSampler per (solver, profile) and process, with its working graph (built once)."""
    from dwave.system import DWaveSampler

    config: dict[str, Any] = {}
    if solver:
        config["solver"] = solver
    if profile:
        config["profile"] = profile
    with remote_errors(dwave_endpoint(profile, solver)):
        sampler = DWaveSampler(**config)
        graph = sampler.to_networkx_graph()
    return sampler, graph


def _solver_name(sampler: Any) -> str:
    solver = getattr(sampler, "solver", None)
    return str(getattr(solver, "name", None) or type(sampler).__name__)


@dataclass(frozen=True)
class DWaveQPUSolver(Solver):
    """A D-Wave QPU through DWaveSampler: each block embedded onto the chip's working graph with the code of
    ``local-pegasus``, sampled, unembedded by majority vote and polished (see the module docstring)."""

    name: ClassVar[str] = "dwave-qpu"
    description: ClassVar[str] = ("D-Wave QPU (DWaveSampler): embedded onto the chip's working graph like "
                                  "local-pegasus (its stand-in); token from dwave-cloud-client's config")
    handles_constraints: ClassVar[bool] = False

    solver: str = ""  # Leap solver name ("": the client's default QPU)
    profile: str = ""  # dwave-cloud-client config profile ("": the default one)
    topology: str = "pegasus"  # the chip's family:shape; sizes blocks before connecting, checked once connected
    method: str = "auto"  # embedding: auto | clique | minorminer
    chain_strength: float = 0.0  # 0: uniform torque compensation
    chain_prefactor: float = DEFAULT_PREFACTOR
    postprocess: str = "swap"  # swap | steepest | none (as local-pegasus)
    embedding_seed: int = 0
    label: str = "qsel"  # problem label shown in the Leap dashboard

    def __post_init__(self) -> None:
        from .embedding import Topology

        Topology.parse(self.topology)
        if self.method not in ("auto", "clique", "minorminer"):
            raise ValueError(f"method must be auto, clique or minorminer, got {self.method!r}")
        if self.chain_strength < 0 or not self.chain_prefactor > 0:
            raise ValueError("chain-strength must be >= 0 (0: automatic) and chain-prefactor > 0")
        if self.postprocess not in ("none", "steepest", "swap"):
            raise ValueError(f"postprocess must be swap, steepest or none, got {self.postprocess!r}")

    max_vars = LargestCliqueOf()  # type: ignore[assignment]  # the largest clique of ``topology``

    def check(self) -> None:
        """Credentials present (no network): raise a QselError saying what to do otherwise."""
        dwave_credentials(self.profile)

    def standin(self) -> LocalPegasusSolver:
        """``local-pegasus`` with this solver's topology, embedding, chain and polish options."""
        return LocalPegasusSolver(topology=self.topology, method=self.method, chain_strength=self.chain_strength,
                                  chain_prefactor=self.chain_prefactor, postprocess=self.postprocess,
                                  embedding_seed=self.embedding_seed)

    def connect(self):
        """(sampler, working graph): credentials checked, then one DWaveSampler per process; its topology
        must be the one blocks were sized for."""
        from .embedding import Topology

        self.check()
        sampler, graph = _dwave_sampler(self.solver, self.profile)
        got = Topology.parse(sampler_topology(sampler))
        want = Topology.parse(self.topology)
        if got != want:
            raise ir.QselError(f"D-Wave solver {_solver_name(sampler)!r} is {got.name}, but blocks were sized for "
                               f"{want.name}: give dwave-qpu{{topology={got.name}}}")
        return sampler, graph

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        """Embed ``problem`` onto the QPU's working graph, take ``num_reads`` reads, unembed and polish.
        ``seed`` seeds nothing on a QPU (the embedding has ``embedding_seed``)."""
        sampler, graph = self.connect()
        top = sampler_topology(sampler)
        block = prepare(problem, graph, top, method=self.method, seed=self.embedding_seed,
                        prefactor=self.chain_prefactor, chain_strength=self.chain_strength,
                        h_range=tuple(sampler.properties.get("h_range", H_RANGE)),
                        j_range=tuple(sampler.properties.get("j_range", J_RANGE)))
        with remote_errors(dwave_endpoint(self.profile, _solver_name(sampler))):
            samples = sample_embedded(problem, block, sampler, num_reads=num_reads, postprocess=self.postprocess,
                                      label=self.label)
        samples.info["sampler"] = f"DWaveSampler({_solver_name(sampler)}, {graph.number_of_nodes()} working qubits)"
        return samples


def sampler_topology(sampler: Any) -> str:
    """The sampler's topology as ``family:shape`` (e.g. ``pegasus:16``)."""
    t = sampler.properties.get("topology", {})
    return f"{t.get('type', 'qpu')}:{','.join(str(s) for s in t.get('shape', []))}"


# ------------------------------------------------------------------ Leap hybrid (CQM)
def samples_from_sampleset(problem: ir.Problem, sampleset: Any, info: dict[str, Any]) -> Samples:
    """A dimod SampleSet over ``problem``'s labels as :class:`Samples` (columns by label, IR energies)."""
    variables = list(sampleset.variables)
    missing = [lab for lab in problem.labels if lab not in set(variables)]
    if missing:
        raise ir.QselError(f"the sampler returned no value for {len(missing)} variables (e.g. {missing[0]!r})")
    pos = {v: i for i, v in enumerate(variables)}
    raw = np.asarray(sampleset.record.sample, dtype=np.float64)
    X = raw[:, [pos[lab] for lab in problem.labels]] if raw.size else np.zeros((0, problem.num_vars))
    occ = np.asarray(sampleset.record.num_occurrences, dtype=np.int64)
    return Samples(X, problem.energies(X) if X.shape[0] else np.zeros(0), occ, info)


@dataclass(frozen=True)
class LeapHybridSolver(Solver):
    """Leap's hybrid CQM solver on the whole problem (constraints native); ``num_reads`` does not apply."""

    name: ClassVar[str] = "leap-hybrid"
    description: ClassVar[str] = ("D-Wave Leap hybrid CQM solver (LeapHybridCQMSampler), constraints native; "
                                  "stand-in: local-hybrid")
    handles_constraints: ClassVar[bool] = True

    solver: str = ""  # Leap hybrid solver name ("": the client's default CQM solver)
    profile: str = ""
    time_limit: float = 0.0  # seconds (0: the solver's minimum for this problem)
    label: str = "qsel"

    def __post_init__(self) -> None:
        if self.time_limit < 0:
            raise ValueError(f"time-limit must be >= 0 (0: the solver's minimum), got {self.time_limit}")

    def check(self) -> None:
        """Credentials present (no network)."""
        dwave_credentials(self.profile)

    def standin(self) -> "LocalHybridSolver":
        return LocalHybridSolver(time_limit=self.time_limit)

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        """Send ``problem`` as a CQM, wait for the answer, return its samples (feasible ones first when sorted)."""
        from .convert import to_cqm

        self.check()
        cqm = to_cqm(problem)
        config: dict[str, Any] = {}
        if self.solver:
            config["solver"] = self.solver
        if self.profile:
            config["profile"] = self.profile
        params: dict[str, Any] = {"label": self.label}
        if self.time_limit:
            params["time_limit"] = float(self.time_limit)
        t0 = time.perf_counter()
        with remote_errors(dwave_endpoint(self.profile, self.solver)):
            from dwave.system import LeapHybridCQMSampler

            sampler = LeapHybridCQMSampler(**config)
            ss = sampler.sample_cqm(cqm, **params)
            ss.resolve()
        info = {"sampler": f"LeapHybridCQMSampler({_solver_name(sampler)})", "seconds": round(time.perf_counter()
                                                                                               - t0, 3)}
        for key in ("problem_id", "problem_label", "run_time", "charge_time", "qpu_access_time"):
            if key in ss.info:
                info[key] = ss.info[key]
        return samples_from_sampleset(problem, ss, info)


@dataclass(frozen=True)
class LocalHybridSolver(Solver):
    """Local stand-in for Leap's hybrid CQM solver: ``decompose{block=B}(tabu)`` on the constrained problem, B the
    default topology's block size (:func:`qsel.passes.topology.default_block_size`) unless ``block`` is given."""

    name: ClassVar[str] = "local-hybrid"
    description: ClassVar[str] = ("local stand-in for leap-hybrid (not the hybrid solver): decompose(tabu) on "
                                  "the constrained problem, greedy start, Pegasus-block-sized subproblems")
    handles_constraints: ClassVar[bool] = True

    block: int = 0  # variables per subproblem (0: the default topology's block size)
    time_limit: float = 0.0  # seconds (0: decompose's convergence budget)
    tabu_timeout: int = 20  # tabu milliseconds per read of a subproblem

    def __post_init__(self) -> None:
        if self.block < 0 or self.block == 1 or self.time_limit < 0 or self.tabu_timeout < 1:
            raise ValueError("block must be 0 (the default topology's block size) or >= 2, time-limit >= 0 and "
                             "tabu-timeout >= 1")

    def composite(self) -> Solver:
        """The decomposition this stand-in runs."""
        from .classical import TabuSolver
        from .decompose import DecomposeComposite

        return DecomposeComposite(block=self.block or default_block_size(), time_limit=self.time_limit,
                                  child=TabuSolver(timeout=self.tabu_timeout))

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        inner = self.composite()
        samples = inner.sample(problem, num_reads=num_reads, seed=seed)
        samples.info["sampler"] = f"{inner.spec()} (local stand-in for LeapHybridCQMSampler)"
        return samples


# ------------------------------------------------------------------ IBM Quantum
@functools.lru_cache(maxsize=1)
def _ibm_service():
    from qiskit_ibm_runtime import QiskitRuntimeService

    ibm_credentials()  # only now may the client look for a saved account: the file exists or the token is set
    with remote_errors(ibm_endpoint()):
        return QiskitRuntimeService()


@functools.lru_cache(maxsize=8)
def _ibm_backend(name: str, local: bool):
    """The backend: a fake one for local testing mode, else from the account's service (least busy if unnamed)."""
    from .qaoa import fake_backend

    if local:
        return fake_backend(name or DEFAULT_FAKE_BACKEND)
    service = _ibm_service()
    with remote_errors(ibm_endpoint(name)):
        if name:
            return service.backend(name)
        return service.least_busy(operational=True, simulator=False)


def runtime_sampler(backend: Any):
    """qiskit-ibm-runtime's Sampler primitive on ``backend`` (the client-side ``executor_sampler.Sampler`` where
    available, which replaces the deprecated SamplerV2 from 0.50 on; else SamplerV2)."""
    try:
        from qiskit_ibm_runtime.executor_sampler import Sampler
    except ImportError:  # qiskit-ibm-runtime < 0.50
        from qiskit_ibm_runtime import SamplerV2 as Sampler
    return Sampler(mode=backend)


@dataclass(frozen=True)
class IBMRuntimeSolver(Solver):
    """QAOA on an IBM Quantum backend: angles optimised on a local statevector, the bound circuit transpiled for
    the backend and sampled there (``num_reads`` shots); local testing mode on fake backends."""

    name: ClassVar[str] = "ibm-runtime"
    description: ClassVar[str] = ("IBM Quantum (qiskit-ibm-runtime Sampler): QAOA angles optimised locally, "
                                  "circuit transpiled for the backend; local=true or fake_* backends run "
                                  "locally with the device's noise model")
    max_vars: ClassVar[int | None] = 20  # the local statevector that optimises the angles (qaoa.MAX_QUBITS)
    handles_constraints: ClassVar[bool] = True  # XY mixer for one cardinality ==K; anything else lowered

    backend: str = ""  # backend name ("": least busy real device; fake_*: local testing mode)
    local: bool = False  # local testing mode on a fake backend (backend, default fake_sherbrooke)
    p: int = 2
    mixer: str = "auto"
    maxiter: int = 200
    cvar: float = 1.0
    optimization_level: int = 1

    def __post_init__(self) -> None:
        if self.p < 1 or self.maxiter < 1:
            raise ValueError(f"p and maxiter must be at least 1, got {self.p} and {self.maxiter}")
        if self.mixer not in ("auto", "x", "xy"):
            raise ValueError(f"mixer must be auto, x or xy, got {self.mixer!r}")
        if not 0 < self.cvar <= 1:
            raise ValueError(f"cvar must be in (0, 1], got {self.cvar}")
        if self.optimization_level not in (0, 1, 2, 3):
            raise ValueError(f"optimization-level must be 0, 1, 2 or 3, got {self.optimization_level}")

    @property
    def local_mode(self) -> bool:
        """True for qiskit-ibm-runtime's local testing mode (``local=true`` or a ``fake_*`` backend name)."""
        return self.local or self.backend.strip().lower().startswith("fake")

    def check(self) -> None:
        """Local mode: the fake backend exists. Remote: an account is configured (no network either way)."""
        if self.local_mode:
            _ibm_backend(self.backend, True)
        else:
            ibm_credentials()

    def standin(self) -> "IBMRuntimeSolver":
        """The same solver in local testing mode: on ``backend`` if it is a fake one, on the fake twin of a
        named device (``ibm_torino`` -> ``fake_torino``), else on fake_sherbrooke."""
        from dataclasses import replace

        name = self.backend.strip()
        if not name:
            name = DEFAULT_FAKE_BACKEND
        elif not name.lower().startswith("fake"):
            name = "fake_" + name.lower().removeprefix("ibm_").removeprefix("ibmq_")
        return replace(self, local=False, backend=name)

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        """Optimise the angles (seeded), transpile (``seed_transpiler``), run ``num_reads`` shots (the simulator
        seeded in local mode), return the distinct samples best first with the best-of-samples report."""
        from qiskit.transpiler import generate_preset_pass_manager

        from .qaoa import best_of_samples, counts_to_samples, optimise

        self.check()
        backend = _ibm_backend(self.backend, self.local_mode)
        run = optimise(problem, p=self.p, mixer=self.mixer, maxiter=self.maxiter, seed=seed, cvar=self.cvar)
        if run.plan.num_qubits > int(backend.num_qubits):
            raise ir.QselError(f"block needs {run.plan.num_qubits} qubits but backend {backend.name} has "
                               f"{backend.num_qubits}; use smaller blocks (decompose{{block=...}})")
        pm = generate_preset_pass_manager(backend=backend, optimization_level=self.optimization_level,
                                          seed_transpiler=0 if seed is None else int(seed) & 0x7FFFFFFF)
        isa = pm.run(run.bound())
        sampler = runtime_sampler(backend)
        if self.local_mode and seed is not None:
            sampler.options.simulator.seed_simulator = int(seed) & 0x7FFFFFFF
        t0 = time.perf_counter()
        with remote_errors(ibm_endpoint(backend.name)):
            job = sampler.run([isa], shots=int(num_reads))
            counts = job.result()[0].data.meas.get_counts()
        X, occ = counts_to_samples(counts, run.plan)
        info = {**run.info(), "backend": backend.name, "local_testing_mode": self.local_mode,
                "job_id": job.job_id(), "shots": int(num_reads), "run_seconds": round(time.perf_counter() - t0, 3),
                "isa_depth": int(isa.depth()),
                "isa_two_qubit_gates": int(sum(1 for i in isa.data if i.operation.num_qubits == 2)),
                "distinct_samples": int(X.shape[0])}
        samples = Samples(X, problem.energies(X) if X.shape[0] else np.zeros(0), occ, info)
        return best_of_samples(problem, samples, run.optimum_energy)


def device_solver(solver: Solver) -> Solver:
    """The innermost solver of a composite stack (the one that talks to a device)."""
    while getattr(solver, "child", None) is not None:
        solver = solver.child  # type: ignore[attr-defined]
    return solver


SOLVERS = (DWaveQPUSolver, LeapHybridSolver, LocalHybridSolver, IBMRuntimeSolver)
