"""qsel submit: send an IR to a real D-Wave solver or IBM backend (or to their local stand-ins with --local).

    qsel submit IN --to dwave|dwave-hybrid|ibm [--solver NAME] [--backend NAME] -o result.json [--local]

* ``dwave``: each block minor-embedded onto the QPU's working graph
  (DWaveSampler + FixedEmbeddingComposite, uniform-torque-compensation chain
  strength, majority-vote unembedding); constraints lowered to penalties first.
  ``--local``: MockDWaveSampler on the real Pegasus P16 graph (``--topology``)
  with simulated annealing.
* ``dwave-hybrid``: the whole IR as a CQM (constraints native) to
  LeapHybridCQMSampler. ``--local``: the CQM lowered by ``dimod.cqm_to_bqm``
  with a Lagrange multiplier larger than the objective's range, then simulated
  annealing (a stand-in, not the hybrid solver).
* ``ibm``: per block (<= 20 qubits) the QAOA angles are optimised on a local
  statevector (as ``--solver qaoa`` does), then the bound circuit is transpiled
  for the backend and sampled there with the runtime Sampler primitive.
  ``--local``: a fake IBM backend (``--backend fake_sherbrooke`` by default) in
  qiskit-ibm-runtime's local testing mode (Aer with the device's noise model).

Credentials come only from the libraries' usual places: dwave-cloud-client's
config file or ``DWAVE_API_TOKEN``; qiskit-ibm-runtime's saved account
(``QiskitRuntimeService.save_account``) or its environment variables. qsel
never takes a token on the command line, never reads its value and never
writes it anywhere.
"""

from __future__ import annotations

import time
from typing import Any

import click
import numpy as np

from qsel import ir
from qsel.cli_base import main

DESTINATIONS = ("dwave", "dwave-hybrid", "ibm")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------ credentials (presence only, never values)
def _dwave_configured(profile: str | None) -> None:
    """Raise a QselError when dwave-cloud-client has no API token configured; touches no network."""
    from dwave.cloud.config import load_config
    from dwave.cloud.exceptions import ConfigFileError

    try:
        config = load_config(profile=profile)
    except ConfigFileError as exc:
        raise ir.QselError(f"D-Wave configuration cannot be read: {exc}") from None
    if not config.get("token"):
        raise ir.QselError(
            "no D-Wave API token configured: run `dwave config create` (or `dwave setup`), or set the "
            "DWAVE_API_TOKEN environment variable, then retry; use --local to run on the local Pegasus stand-in")


def _ibm_service():
    from qiskit_ibm_runtime import QiskitRuntimeService
    from qiskit_ibm_runtime.accounts import AccountNotFoundError

    try:
        return QiskitRuntimeService()
    except AccountNotFoundError:
        raise ir.QselError(
            "no IBM Quantum account configured: save one once with "
            "`QiskitRuntimeService.save_account(channel=..., token=..., instance=...)` in Python (or set "
            "QISKIT_IBM_TOKEN and QISKIT_IBM_INSTANCE), then retry; use --local to run on a fake IBM backend") from None


# ------------------------------------------------------------------ destinations
def _submit_dwave(problem: ir.Problem, *, local: bool, solver: str | None, topology: str, num_reads: int,
                  seed: int | None, label: str) -> tuple[dict[str, np.ndarray], dict]:
    from qsel.targets.dwave import H_RANGE, J_RANGE, local_sampler, prepare, sample_embedded
    from qsel.targets.embedding import columns_for, lower_constraints

    if local:
        child, graph, top = local_sampler(topology, seed=seed)
        top_name, where = top.name, f"MockDWaveSampler({top.name}) + simulated annealing (local stand-in)"
        params: dict[str, Any] = {}
    else:
        _dwave_configured(None)
        from dwave.system import DWaveSampler

        child = DWaveSampler(solver=solver) if solver else DWaveSampler()
        graph = child.to_networkx_graph()
        t = child.properties.get("topology", {})
        top_name = f"{t.get('type', 'qpu')}:{','.join(str(s) for s in t.get('shape', []))}"
        where = f"DWaveSampler({child.solver.name})"
        params = {"label": label}
    picks, infos = {}, []
    for blk, sub in _blocks(problem):
        lowered = lower_constraints(sub)
        eb = prepare(lowered, graph, top_name, seed=0 if seed is None else seed, name=blk.name,
                     h_range=tuple(child.properties.get("h_range", H_RANGE)),
                     j_range=tuple(child.properties.get("j_range", J_RANGE)))
        samples = sample_embedded(lowered, eb, child, num_reads=num_reads, **params)
        X = samples.X[:, columns_for(sub, lowered)]
        picks[blk.name] = (blk.indices, _best(sub, X))
        infos.append({"block": blk.name, "variables": sub.num_vars, **samples.info})
    return picks, {"sampler": where, "blocks": infos}


def _submit_hybrid(problem: ir.Problem, *, local: bool, solver: str | None, num_reads: int, seed: int | None,
                   label: str) -> tuple[dict, dict]:
    import dimod

    from qsel.targets.convert import coo, to_cqm

    cqm = to_cqm(problem)
    labels = problem.labels
    if local:
        from dwave.samplers import SimulatedAnnealingSampler

        r, c, v = coo(problem)
        lagrange = 1.0 + float(np.abs(problem.linear).sum() + np.abs(v).sum())
        bqm, invert = dimod.cqm_to_bqm(cqm, lagrange_multiplier=lagrange)
        ss = SimulatedAnnealingSampler().sample(bqm, num_reads=num_reads, seed=seed)
        X = np.array([[invert(s)[lab] for lab in labels] for s in ss.samples()], dtype=np.float64)
        info = {"sampler": "dimod.cqm_to_bqm + SimulatedAnnealingSampler (local stand-in for LeapHybridCQMSampler)",
                "lagrange_multiplier": lagrange}
    else:
        _dwave_configured(None)
        from dwave.system import LeapHybridCQMSampler

        sampler = LeapHybridCQMSampler(solver=solver) if solver else LeapHybridCQMSampler()
        ss = sampler.sample_cqm(cqm, label=label)
        X = np.array([[s[lab] for lab in labels] for s in ss.samples()], dtype=np.float64)
        info = {"sampler": f"LeapHybridCQMSampler({sampler.solver.name})",
                "problem_id": ss.info.get("problem_id")}
    info["samples"] = int(X.shape[0])
    info["feasible_samples"] = int(problem.feasible(X).sum()) if X.shape[0] else 0
    return {"all": (np.arange(problem.num_vars), _best(problem, X))}, info


def _submit_ibm(problem: ir.Problem, *, local: bool, backend_name: str | None, p: int, num_reads: int,
                seed: int | None) -> tuple[dict, dict]:
    from qiskit.transpiler import generate_preset_pass_manager

    from qsel.targets.qaoa import counts_to_samples, fake_backend, optimise

    if local:
        backend = fake_backend(backend_name or "fake_sherbrooke")
    else:
        service = _ibm_service()
        backend = service.backend(backend_name) if backend_name else service.least_busy(operational=True,
                                                                                       simulator=False)
    sampler = _runtime_sampler(backend)
    if local and seed is not None:
        try:
            sampler.options.simulator.seed_simulator = int(seed)
        except AttributeError:
            pass
    pm = generate_preset_pass_manager(backend=backend, optimization_level=1, seed_transpiler=seed or 0)
    picks, infos = {}, []
    for blk, sub in _blocks(problem):
        run = optimise(sub, p=p, seed=seed)
        isa = pm.run(run.bound())
        t0 = time.perf_counter()
        job = sampler.run([isa], shots=num_reads)
        counts = job.result()[0].data.meas.get_counts()
        X, occ = counts_to_samples(counts, run.plan)
        picks[blk.name] = (blk.indices, _best(sub, X, occ))
        infos.append({"block": blk.name, "variables": sub.num_vars, **run.info(), "job_id": job.job_id(),
                      "shots": num_reads, "run_seconds": round(time.perf_counter() - t0, 3),
                      "isa_depth": isa.depth(), "isa_two_qubit_gates": sum(1 for i in isa.data
                                                                          if i.operation.num_qubits == 2),
                      "distinct_samples": int(X.shape[0]),
                      "feasible_shots": int(occ[sub.feasible(X)].sum()) if X.shape[0] else 0})
    return picks, {"backend": backend.name, "local_testing_mode": local, "blocks": infos}


def _runtime_sampler(backend):
    """qiskit-ibm-runtime's Sampler (client-side executor Sampler where available, else SamplerV2)."""
    try:
        from qiskit_ibm_runtime.executor_sampler import Sampler
    except ImportError:  # qiskit-ibm-runtime < 0.50
        from qiskit_ibm_runtime import SamplerV2 as Sampler
    return Sampler(mode=backend)


def _blocks(problem: ir.Problem):
    """(block, its sub-problem) for every block; a constraint spanning blocks is refused with advice."""
    from qsel.targets.base import block_problem, blocks_of

    blocks = blocks_of(problem)
    return [(blk, block_problem(problem, blk, first=(k == 0))) for k, blk in enumerate(blocks)]


def _best(problem: ir.Problem, X: np.ndarray, occ: np.ndarray | None = None) -> np.ndarray:
    """Lowest-energy sample, feasible ones first."""
    from qsel.targets.base import Samples

    if X.shape[0] == 0:
        raise ir.QselError("the solver returned no samples")
    return Samples(X, problem.energies(X), occ).best(problem)


# ------------------------------------------------------------------ command
@main.command()
@click.argument("input_path", metavar="IN")
@click.option("--to", "to", required=True, type=click.Choice(DESTINATIONS),
              help="dwave (QPU, embedded), dwave-hybrid (Leap CQM), ibm (QAOA on IBM Quantum).")
@click.option("-o", "--output", required=True, metavar="RESULT.json", help="Where to write the result.")
@click.option("--local", is_flag=True, help="Use the local stand-ins (no account, no network).")
@click.option("--solver", "solver", metavar="NAME", help="D-Wave solver name (default: the client's choice).")
@click.option("--backend", "backend", metavar="NAME",
              help="IBM backend (default: least busy; with --local a fake one, default fake_sherbrooke).")
@click.option("--topology", default="pegasus", show_default=True,
              help="With --to dwave --local: pegasus, zephyr, chimera or family:shape.")
@click.option("--p", "depth", default=2, show_default=True, help="QAOA depth for --to ibm.")
@click.option("--num-reads", default=100, show_default=True, help="Reads (D-Wave) or shots (IBM) per block.")
@click.option("--seed", default=None, type=int, help="Seed for the local stand-ins and the QAOA optimiser.")
@click.option("--label", default="qsel", show_default=True, help="Problem label shown in the D-Wave dashboard.")
def submit(input_path: str, to: str, output: str, local: bool, solver: str | None, backend: str | None,
           topology: str, depth: int, num_reads: int, seed: int | None, label: str) -> None:
    """Send IN to D-Wave or IBM (or their local stand-ins) and write RESULT.json."""
    from qsel import files
    from qsel.result import Result

    if num_reads < 1:
        raise ir.QselError(f"--num-reads must be >= 1, got {num_reads}")
    problem = files.load(input_path)
    t0 = time.perf_counter()
    if to == "dwave":
        picks, info = _submit_dwave(problem, local=local, solver=solver, topology=topology, num_reads=num_reads,
                                    seed=seed, label=label)
    elif to == "dwave-hybrid":
        picks, info = _submit_hybrid(problem, local=local, solver=solver, num_reads=num_reads, seed=seed,
                                     label=label)
    else:
        picks, info = _submit_ibm(problem, local=local, backend_name=backend, p=depth, num_reads=num_reads,
                                  seed=seed)
    x = np.zeros(problem.num_vars)
    for indices, best in picks.values():
        x[indices] = best
    submission = {"to": to, "local": local, "num_reads": num_reads, "seed": seed,
                  "seconds": round(time.perf_counter() - t0, 3), **info}
    result = Result.from_assignment(problem, x, solver=f"submit:{to}" + (":local" if local else ""),
                                    submission=_jsonable(submission))
    result.save(output)
    state = "feasible" if result.feasible else f"INFEASIBLE (breaks {', '.join(result.broken_constraints)})"
    click.echo(f"{to}{' (local)' if local else ''}: energy {result.energy:.6g}, {state}; wrote {output}", err=True)
