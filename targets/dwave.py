"""D-Wave: blocks minor-embedded onto Pegasus (Advantage), Zephyr (Advantage2) or Chimera.

Per block the target writes ``NAME.dwave.json`` (format ``qsel-dwave-embedded``)::

    {"format": "qsel-dwave-embedded", "version": 1,
     "topology": {"type": "pegasus", "shape": [16], "name": "pegasus:16"},
     "vartype": "SPIN", "spin_to_binary": "x = (1 + s) / 2",
     "labels": [IR label of logical variable i, ...],
     "logical":  {"linear": [a_i ...], "quadratic": [[i, j, b_ij], ...], "offset": c},
     "embedding": {label: [qubit, ...], ...},
     "chain_strength": 1.23, "chain_strength_policy": "uniform_torque_compensation(prefactor=1.414)",
     "embedded": {"linear": [[qubit, h], ...], "quadratic": [[q1, q2, J], ...], "offset": c},
     "hardware_scale": {"h_range": [-4, 4], "j_range": [-1, 1], "divide_by": 2.0}}

The logical problem is the block's Ising form in dimod's / D-Wave's convention
s = 2x - 1 (spin +1 is binary 1; the QAOA targets use qiskit's z = 1 - 2x
instead): its energy equals the IR block energy for every assignment. The embedded problem spreads each
linear bias evenly over its chain and adds ``-chain_strength * s_p s_q`` on
every coupler inside a chain, with +chain_strength per chain coupler in the offset
(dwave-system's ``EmbeddedStructure.embed_bqm``), so an assignment with intact
chains has exactly the logical energy.
The chain strength follows uniform torque compensation
(``dwave.embedding.chain_strength.uniform_torque_compensation``:
prefactor * rms(J) * sqrt(mean degree), on the logical Ising problem) unless
a fixed ``chain-strength`` is given. ``hardware_scale.divide_by`` is the factor
the QPU's auto-scaling divides by to fit h and J (chains included) into its ranges.

Solver ``local-pegasus`` runs the same path for real on a local stand-in: a
``MockDWaveSampler`` with the real Pegasus P16 graph (optionally with missing
qubits) whose sampling is done by dwave-samplers' simulated annealing on the
*embedded* problem, wrapped in ``FixedEmbeddingComposite``: embedding, chain
strength, unembedding and majority-vote chain-break resolution all happen.
``qsel submit --to dwave`` uses the same code with a real ``DWaveSampler``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from qsel import ir
from qsel.ir.jsonfile import write_json

from .base import Block, Samples, Solver, Target
from .convert import require_unconstrained, to_bqm
from .embedding import Embedding, Topology, embed
from .manifest import BlockEntry, Manifest

DEFAULT_PREFACTOR = 1.414
H_RANGE = (-4.0, 4.0)
J_RANGE = (-1.0, 1.0)


# ------------------------------------------------------------------ helpers
def spin_bqm(problem: ir.Problem):
    """The block's Ising BQM (labels kept); same energy as the IR for s = 2x - 1 (dimod's convention)."""
    require_unconstrained(problem, "dwave")
    return to_bqm(problem, check=False).change_vartype("SPIN", inplace=False)


def chain_strength_for(bqm, chains: dict, prefactor: float = DEFAULT_PREFACTOR,
                       fixed: float = 0.0) -> tuple[float, str]:
    """(chain strength, policy text): ``fixed`` if > 0, else uniform torque compensation on the Ising BQM."""
    if fixed > 0:
        return float(fixed), f"fixed({fixed:g})"
    from dwave.embedding.chain_strength import uniform_torque_compensation

    return float(uniform_torque_compensation(bqm, chains, prefactor)), \
        f"uniform_torque_compensation(prefactor={prefactor:g})"


def embedded_bqm(bqm, chains: dict, graph, chain_strength: float):
    """The physical-qubit Ising problem (``EmbeddedStructure.embed_bqm``)."""
    from dwave.embedding import EmbeddedStructure

    return EmbeddedStructure(graph.edges, chains).embed_bqm(bqm, chain_strength=chain_strength)


def hardware_scale(embedded, h_range=H_RANGE, j_range=J_RANGE) -> float:
    """The factor auto-scaling divides by so that every h and J lies in the QPU's ranges (>= 1 only if needed)."""
    h = np.fromiter(embedded.linear.values(), dtype=float, count=embedded.num_variables)
    j = np.fromiter(embedded.quadratic.values(), dtype=float, count=embedded.num_interactions)

    def need(vals: np.ndarray, lo: float, hi: float) -> float:
        if not vals.size:
            return 0.0
        return float(max(vals.max() / hi if vals.max() > 0 else 0.0, vals.min() / lo if vals.min() < 0 else 0.0))

    return max(need(h, *h_range), need(j, *j_range), 1e-300)


def _ising_json(bqm, labels: list[str]) -> dict[str, Any]:
    pos = {lab: i for i, lab in enumerate(labels)}
    return {"linear": [float(bqm.linear[lab]) for lab in labels],
            "quadratic": [[pos[u], pos[v], float(b)] for (u, v), b in bqm.quadratic.items()],
            "offset": float(bqm.offset)}


def _physical_json(bqm) -> dict[str, Any]:
    return {"linear": [[int(q), float(h)] for q, h in sorted(bqm.linear.items())],
            "quadratic": [[int(min(u, v)), int(max(u, v)), float(b)] for (u, v), b in bqm.quadratic.items()],
            "offset": float(bqm.offset)}


@dataclass
class EmbeddedBlock:
    """Everything needed to send one block to a QPU (or its stand-in)."""

    labels: list[str]
    bqm: Any  # logical Ising BQM
    embedding: Embedding
    chain_strength: float
    policy: str
    embedded: Any  # physical Ising BQM
    divide_by: float

    def summary(self) -> dict[str, Any]:
        return {**self.embedding.summary(), "chain_strength": self.chain_strength,
                "chain_strength_policy": self.policy, "hardware_divide_by": self.divide_by}


def prepare(problem: ir.Problem, graph, topology_name: str, *, method: str = "auto", seed: int = 0,
            prefactor: float = DEFAULT_PREFACTOR, chain_strength: float = 0.0, timeout: float = 10.0,
            name: str | None = None, h_range=H_RANGE, j_range=J_RANGE) -> EmbeddedBlock:
    """Embed one unconstrained block onto ``graph`` and build its physical problem."""
    bqm = spin_bqm(problem)
    emb = embed(problem, topology_name, method=method, seed=seed, timeout=timeout, graph=graph, name=name)
    emb.topology = topology_name
    cs, policy = chain_strength_for(bqm, emb.chains, prefactor, chain_strength)
    physical = embedded_bqm(bqm, emb.chains, graph, cs)
    return EmbeddedBlock(problem.labels, bqm, emb, cs, policy, physical,
                         hardware_scale(physical, h_range, j_range))


def local_sampler(topology: str = "pegasus", *, missing_qubits: int = 0, seed: int | None = None,
                  num_sweeps: int = 1000, graph_seed: int = 0):
    """(sampler, graph, topology): a MockDWaveSampler on the real topology graph whose sampling is
    simulated annealing of the embedded problem (its exact-solver shortcut is switched off)."""
    from dwave.samplers import SimulatedAnnealingSampler
    from dwave.system.testing import MockDWaveSampler

    top = Topology.parse(topology)
    g = top.graph(missing_qubits, graph_seed)
    kwargs: dict[str, Any] = {"num_sweeps": int(num_sweeps)}
    if seed is not None:
        kwargs["seed"] = int(seed) & 0x7FFFFFFF
    return MockDWaveSampler(
        nodelist=sorted(g.nodes), edgelist=sorted((min(u, v), max(u, v)) for u, v in g.edges),
        topology_type=top.family, topology_shape=list(top.shape),
        substitute_sampler=SimulatedAnnealingSampler(), substitute_kwargs=kwargs,
        exact_solver_cutoff=0, parameter_warnings=False), g, top


def sample_embedded(problem: ir.Problem, block: EmbeddedBlock, child, *, num_reads: int,
                    postprocess: str = "none", **parameters: Any) -> Samples:
    """Sample ``block`` on ``child`` (a structured D-Wave sampler) through FixedEmbeddingComposite;
    chains are unembedded by majority vote; energies are recomputed by the IR.

    ``postprocess="steepest"`` then runs greedy steepest descent on the *logical* problem from every
    unembedded sample (dwave-samplers' SteepestDescentSolver with ``initial_states``), the usual classical
    polish of QPU samples; ``"swap"`` repairs each sample to its lowered cardinality constraints and
    descends by count-preserving swaps (:mod:`qsel.targets.postprocess`; single flips cannot move along
    the feasible set under a sufficient penalty); ``"none"`` returns what the sampler gave."""
    if postprocess not in ("none", "steepest", "swap"):
        raise ir.QselError(f"unknown postprocess {postprocess!r} (expected none, steepest or swap)")
    from dwave.embedding import majority_vote
    from dwave.system import FixedEmbeddingComposite

    t0 = time.perf_counter()
    composite = FixedEmbeddingComposite(child, embedding=block.embedding.chains)
    ss = composite.sample(block.bqm, num_reads=int(num_reads), chain_strength=block.chain_strength,
                          chain_break_method=majority_vote, chain_break_fraction=True, **parameters)
    seconds = time.perf_counter() - t0
    col = {v: i for i, v in enumerate(ss.variables)}
    order = [col[lab] for lab in block.labels]
    spins = np.asarray(ss.record.sample)[:, order].astype(np.float64)
    X = (1.0 + spins) / 2.0  # dimod: spin +1 <-> binary 1
    energies = problem.energies(X)
    mismatch = float(np.max(np.abs(energies - ss.record.energy))) if len(energies) else 0.0
    occurrences = np.asarray(ss.record.num_occurrences, dtype=np.int64)
    breaks = np.asarray(ss.record.chain_break_fraction, dtype=np.float64)
    info = {**block.summary(), "num_reads": int(num_reads), "sample_seconds": round(seconds, 4),
            "chain_break_fraction": float(np.average(breaks, weights=occurrences)) if breaks.size else 0.0,
            "samples_with_broken_chains": int(occurrences[breaks > 0].sum()),
            "chain_break_method": "majority_vote", "energy_check_max_abs_diff": mismatch,
            "postprocess": postprocess}
    if postprocess == "swap" and len(energies):
        from .postprocess import swap_descent

        info["min_energy_before_postprocess"] = float(energies.min())
        X = swap_descent(problem, X)
        energies = problem.energies(X)
    if postprocess == "steepest" and len(energies):
        from dwave.samplers import SteepestDescentSolver

        info["min_energy_before_postprocess"] = float(energies.min())
        polished = SteepestDescentSolver().sample(block.bqm, initial_states=(spins, block.labels))
        col = {v: i for i, v in enumerate(polished.variables)}
        spins = np.asarray(polished.record.sample)[:, [col[lab] for lab in block.labels]].astype(np.float64)
        X = (1.0 + spins) / 2.0
        energies = problem.energies(X)
        if len(occurrences) != len(energies):  # one polished sample per unembedded row, in order
            occurrences = np.ones(len(energies), dtype=np.int64)
    for key in ("problem_id", "problem_label"):
        if key in ss.info:
            info[key] = ss.info[key]
    return Samples(X, energies, occurrences, info)


# ------------------------------------------------------------------ target
@dataclass(frozen=True)
class DWaveTarget(Target):
    """Minor-embed every block onto a D-Wave topology and write its physical Ising problem."""

    name: ClassVar[str] = "dwave"
    description: ClassVar[str] = ("D-Wave QPU: each block minor-embedded onto Pegasus P16 (Advantage), "
                                  "Zephyr Z(12,4) (Advantage2) or Chimera; chains, chain strength, embedded Ising JSON")
    default_pipeline: ClassVar[str] = ("canonicalize,partition{max-vars=177},lower-constraints{penalty=auto},"
                                       "scale{h-range=-4:4,j-range=-1:1}")
    block_constraints: ClassVar[str] = "none"

    topology: str = "pegasus"  # pegasus | zephyr | chimera | family:shape
    method: str = "auto"  # auto | clique | minorminer
    chain_strength: float = 0.0  # 0: uniform torque compensation
    chain_prefactor: float = DEFAULT_PREFACTOR
    seed: int = 0
    timeout: float = 10.0  # minorminer seconds per block

    def __post_init__(self) -> None:
        Topology.parse(self.topology)  # an unknown topology is refused before any file or folder is made
        if self.method not in ("auto", "clique", "minorminer"):
            raise ValueError(f"method must be auto, clique or minorminer, got {self.method!r}")
        if self.chain_strength < 0 or not self.chain_prefactor > 0 or not self.timeout > 0:
            raise ValueError("chain-strength must be >= 0 (0: automatic), chain-prefactor and timeout > 0")

    def emit(self, problem: ir.Problem, outdir: Path) -> Manifest:
        Topology.parse(self.topology)  # a bad name fails before any file is written
        manifest = super().emit(problem, outdir)
        manifest.extra.update(topology=Topology.parse(self.topology).name,
                              qubits=int(sum(b.extra["qubits"] for b in manifest.blocks)),
                              max_chain_length=int(max((b.extra["max_chain_length"] for b in manifest.blocks),
                                                       default=0)))
        return manifest

    def emit_block(self, block: Block, sub: ir.Problem, outdir: Path, stem: str) -> BlockEntry:
        top = Topology.parse(self.topology)
        eb = prepare(sub, top.graph(), top.name, method=self.method, seed=self.seed, prefactor=self.chain_prefactor,
                     chain_strength=self.chain_strength, timeout=self.timeout, name=block.name)
        fname = f"{stem}.dwave.json"
        write_json(Path(outdir) / fname, {
            "format": "qsel-dwave-embedded", "version": 1,
            "topology": {**top.properties, "name": top.name},
            "vartype": "SPIN", "spin_to_binary": "x = (1 + s) / 2",
            "labels": eb.labels, "logical": _ising_json(eb.bqm, eb.labels),
            "embedding": {lab: list(eb.embedding.chains[lab]) for lab in eb.labels},
            "chain_strength": eb.chain_strength, "chain_strength_policy": eb.policy,
            "embedded": _physical_json(eb.embedded),
            "hardware_scale": {"h_range": list(H_RANGE), "j_range": list(J_RANGE), "divide_by": eb.divide_by},
        })
        return BlockEntry(
            name=block.name, file=fname, format="qsel-dwave-embedded", labels=eb.labels, offset=0.0, scale=1.0,
            run=("qsel submit --to dwave (DWaveSampler + FixedEmbeddingComposite with this embedding and chain "
                 "strength; majority-vote unembedding); the file's energy in spins s = 2x - 1 is the IR's"),
            extra=eb.summary())


# ------------------------------------------------------------------ solver
@dataclass(frozen=True)
class LocalPegasusSolver(Solver):
    """The D-Wave path on a local stand-in restricted to the real Pegasus graph (simulated annealing)."""

    name: ClassVar[str] = "local-pegasus"
    description: ClassVar[str] = ("embedded onto the real Pegasus P16 graph and sampled there by simulated "
                                  "annealing (MockDWaveSampler + FixedEmbeddingComposite; chains, majority vote)")
    max_vars: ClassVar[int | None] = 180
    handles_constraints: ClassVar[bool] = False

    topology: str = "pegasus"
    missing_qubits: int = 0  # remove this many random qubits, like a real chip's yield
    method: str = "auto"
    chain_strength: float = 0.0
    chain_prefactor: float = DEFAULT_PREFACTOR
    num_sweeps: int = 1000
    postprocess: str = "swap"  # swap (cardinality repair + swap descent) | steepest (single flips) | none

    def __post_init__(self) -> None:
        if self.num_sweeps < 1 or self.missing_qubits < 0:
            raise ValueError(f"num-sweeps must be >= 1 and missing-qubits >= 0, got {self.num_sweeps} and "
                             f"{self.missing_qubits}")
        if self.chain_strength < 0 or not self.chain_prefactor > 0:
            raise ValueError("chain-strength must be >= 0 (0: automatic) and chain-prefactor > 0")
        if self.postprocess not in ("none", "steepest", "swap"):
            raise ValueError(f"postprocess must be swap, steepest or none, got {self.postprocess!r}")

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        child, graph, top = local_sampler(self.topology, missing_qubits=self.missing_qubits, seed=seed,
                                          num_sweeps=self.num_sweeps)
        block = prepare(problem, graph, top.name, method=self.method, seed=0 if seed is None else int(seed),
                        prefactor=self.chain_prefactor, chain_strength=self.chain_strength)
        samples = sample_embedded(problem, block, child, num_reads=num_reads, postprocess=self.postprocess)
        samples.info["sampler"] = (f"MockDWaveSampler({top.name}, {graph.number_of_nodes()} qubits) "
                                   f"+ SimulatedAnnealingSampler(num_sweeps={self.num_sweeps})")
        return samples
