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
*embedded* problem: only the graph's qubits and couplers are used (the mock
refuses anything else), chains are held by the chain strength, samples are
unembedded by majority vote and the chain-break fraction is reported.
The graph, the mock, the embeddings (by block size for cliques, by coupling
pattern for minorminer) and their chain structure are built once per process;
the physical problem is built and unembedded with numpy arrays
(:class:`PhysicalProblem`, :meth:`~qsel.targets.embedding.ChainStructure.majority_vote`),
giving the same numbers as dwave-system's ``EmbeddedStructure.embed_bqm`` and
``unembed_sampleset`` (``via="dimod"`` keeps the FixedEmbeddingComposite path
for comparison; ``bench/pegasus.py`` times both).
``qsel submit --to dwave`` uses the same code with a real ``DWaveSampler``.
"""

from __future__ import annotations

import copy
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from qsel import ir
from qsel.ir.jsonfile import write_json

from .base import Block, Samples, Solver, Target
from .convert import require_unconstrained, to_bqm
from .embedding import (ChainStructure, Embedding, EmbeddingError, LargestCliqueOf, Topology, chain_structure, embed,
                        graph_edges)
from .manifest import BlockEntry, Manifest

DEFAULT_PREFACTOR = 1.414
H_RANGE = (-4.0, 4.0)
J_RANGE = (-1.0, 1.0)
DEFAULT_SWEEPS = 100  # simulated-annealing sweeps per read on the stand-in (see LocalPegasusSolver)


# ------------------------------------------------------------------ helpers
def spin_bqm(problem: ir.Problem):
    """The block's Ising BQM (labels kept); same energy as the IR for s = 2x - 1 (dimod's convention)."""
    require_unconstrained(problem, "dwave")
    return to_bqm(problem, check=False).change_vartype("SPIN", inplace=False)


def uniform_torque_compensation(J: np.ndarray, n: int, prefactor: float = DEFAULT_PREFACTOR) -> float:
    """dwave-system's ``uniform_torque_compensation`` on arrays: prefactor * rms(J) * sqrt(mean degree), with
    rms over the K interactions of the logical Ising problem and mean degree 2K / n; 1 when K = 0."""
    k = int(J.shape[0])
    if not k or not n:
        return 1.0
    return float(prefactor * np.sqrt(np.sum(np.square(J)) / k) * np.sqrt(2.0 * k / n))


def chain_strength_for(bqm, chains: dict, prefactor: float = DEFAULT_PREFACTOR,
                       fixed: float = 0.0) -> tuple[float, str]:
    """(chain strength, policy text): ``fixed`` if > 0, else uniform torque compensation on the Ising BQM."""
    if fixed > 0:
        return float(fixed), f"fixed({fixed:g})"
    _, _, J = bqm.to_numpy_vectors()[1]
    return uniform_torque_compensation(np.asarray(J, dtype=np.float64), bqm.num_variables, prefactor), \
        f"uniform_torque_compensation(prefactor={prefactor:g})"


@dataclass
class PhysicalProblem:
    """The embedded (physical-qubit) Ising problem as arrays.

    E(s) = offset + sum_k linear[k] s_k + sum_e quadratic[e] s_rows[e] s_cols[e], where k indexes
    ``qubits`` (sorted physical labels) and rows/cols are positions into ``qubits`` (rows < cols)."""

    qubits: np.ndarray
    linear: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    quadratic: np.ndarray
    offset: float

    def to_bqm(self):
        """The same problem as a dimod SPIN BQM labelled by physical qubit."""
        import dimod

        return dimod.BinaryQuadraticModel.from_numpy_vectors(
            self.linear, (self.rows, self.cols, self.quadratic), self.offset, dimod.SPIN,
            variable_order=self.qubits.tolist())

    def energies(self, spins: np.ndarray) -> np.ndarray:
        """Energies of physical spin rows (R, Q) in ``qubits`` order."""
        S = np.asarray(spins, dtype=np.float64)
        return self.offset + S @ self.linear + (S[:, self.rows] * S[:, self.cols]) @ self.quadratic

    def couplers(self) -> np.ndarray:
        """The (K, 2) physical couplers used, as qubit labels."""
        return np.stack([self.qubits[self.rows], self.qubits[self.cols]], axis=1)


def ising_arrays(bqm, labels: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """(h, rows, cols, J, offset) of a SPIN BQM in ``labels`` order, rows < cols."""
    h, (r, c, j), off = bqm.to_numpy_vectors(variable_order=labels)
    r, c = np.asarray(r, dtype=np.int64), np.asarray(c, dtype=np.int64)
    return (np.asarray(h, dtype=np.float64), np.minimum(r, c), np.maximum(r, c), np.asarray(j, dtype=np.float64),
            float(off))


def embed_physical(h: np.ndarray, rows: np.ndarray, cols: np.ndarray, J: np.ndarray, offset: float,
                   structure: ChainStructure, chain_strength: float) -> PhysicalProblem:
    """The physical problem of a logical Ising problem, as dwave-system's ``EmbeddedStructure.embed_bqm``
    (SPIN smearing) builds it, with arrays:

    * h_q = h_v / |chain v| on every qubit q of chain v;
    * J_pq = -chain_strength on every coupler inside a chain, and the offset gains chain_strength per
      such coupler, so that intact chains keep the logical energy;
    * J_pq = J_uv / c_uv on each of the c_uv couplers between chains u and v (only for J_uv != 0).

    Raises :class:`EmbeddingError` when a logical coupling has no coupler between its chains."""
    n = max(structure.n, 1)
    nz = J != 0
    lk = rows[nz] * n + cols[nz]
    lk, inv = np.unique(lk, return_inverse=True)
    jl = np.bincount(inv, weights=J[nz], minlength=lk.size)
    pos = np.searchsorted(structure.pair_keys, lk)
    found = pos < structure.pair_keys.size
    found[found] = structure.pair_keys[pos[found]] == lk[found]
    if not found.all():
        miss = int(lk[~found][0])
        raise EmbeddingError(f"{int((~found).sum())} logical couplings have no coupler between their chains "
                             f"(e.g. variables {miss // n} and {miss % n})")
    per_coupler = jl / structure.pair_counts[pos]
    ep = np.searchsorted(lk, structure.inter_keys).clip(max=max(lk.size - 1, 0))
    present = (lk[ep] == structure.inter_keys) if lk.size else np.zeros(structure.inter_keys.size, bool)
    ce, ie = structure.chain_edges, structure.inter_edges[present]
    r = np.concatenate([ce[:, 0], ie[:, 0]])
    c = np.concatenate([ce[:, 1], ie[:, 1]])
    vals = np.concatenate([np.full(ce.shape[0], -float(chain_strength)), per_coupler[ep[present]]])
    return PhysicalProblem(structure.qubits, h[structure.owner] / structure.lengths[structure.owner],
                           np.minimum(r, c), np.maximum(r, c), vals,
                           float(offset) + float(chain_strength) * ce.shape[0])


def hardware_scale(embedded: PhysicalProblem, h_range=H_RANGE, j_range=J_RANGE) -> float:
    """The factor auto-scaling divides by so that every h and J lies in the QPU's ranges (>= 1 only if needed)."""
    def need(vals: np.ndarray, lo: float, hi: float) -> float:
        if not vals.size:
            return 0.0
        return float(max(vals.max() / hi if vals.max() > 0 else 0.0, vals.min() / lo if vals.min() < 0 else 0.0))

    return max(need(embedded.linear, *h_range), need(embedded.quadratic, *j_range), 1e-300)


def _ising_json(bqm, labels: list[str]) -> dict[str, Any]:
    h, r, c, j, off = ising_arrays(bqm, labels)
    return {"linear": h.tolist(), "quadratic": [[int(a), int(b), float(v)] for a, b, v in zip(r, c, j)],
            "offset": off}


def _physical_json(phys: PhysicalProblem) -> dict[str, Any]:
    q = phys.couplers()
    return {"linear": [[int(a), float(h)] for a, h in zip(phys.qubits.tolist(), phys.linear.tolist())],
            "quadratic": [[a, b, v] for (a, b), v in zip(q.tolist(), phys.quadratic.tolist())],
            "offset": float(phys.offset)}


@dataclass
class EmbeddedBlock:
    """Everything needed to send one block to a QPU (or its stand-in)."""

    labels: list[str]
    bqm: Any  # logical Ising BQM
    embedding: Embedding
    chain_strength: float
    policy: str
    physical: PhysicalProblem
    structure: ChainStructure
    divide_by: float

    @property
    def embedded(self):
        """The physical problem as a dimod BQM (qubit labels)."""
        return self.physical.to_bqm()

    def summary(self) -> dict[str, Any]:
        return {**self.embedding.summary(), "chain_strength": self.chain_strength,
                "chain_strength_policy": self.policy, "hardware_divide_by": self.divide_by}


def prepare(problem: ir.Problem, graph, topology_name: str, *, method: str = "auto", seed: int = 0,
            prefactor: float = DEFAULT_PREFACTOR, chain_strength: float = 0.0, timeout: float = 10.0,
            name: str | None = None, h_range=H_RANGE, j_range=J_RANGE) -> EmbeddedBlock:
    """Embed one unconstrained block onto ``graph`` (embeddings and their chain structure are cached
    in-process, see :func:`qsel.targets.embedding.embed`) and build its physical problem with arrays."""
    bqm = spin_bqm(problem)
    emb = embed(problem, topology_name, method=method, seed=seed, timeout=timeout, graph=graph, name=name)
    emb.topology = topology_name
    cs, policy = chain_strength_for(bqm, emb.chains, prefactor, chain_strength)
    structure = chain_structure([emb.chains[lab] for lab in problem.labels], graph)
    physical = embed_physical(*ising_arrays(bqm, problem.labels), structure, cs)
    return EmbeddedBlock(problem.labels, bqm, emb, cs, policy, physical, structure,
                         hardware_scale(physical, h_range, j_range))


def sa_beta_range(phys: PhysicalProblem, max_excitation_rate: float = 0.01) -> tuple[float, float]:
    """dwave-samplers' default ``beta_range`` for SimulatedAnnealingSampler (``_default_ising_beta_range``,
    which loops over the couplers in Python), with arrays:

    hot = ln 2 / (2 max_i F_i), F_i = |h_i| + sum_j |J_ij| (every flip accepted with probability >= 1/2);
    cold = ln(k / rate) / (2 m), m = min_i m_i, m_i the smallest nonzero |h_i| or |J_ij| at qubit i, and k
    the number of qubits with m_i = m (excitations at the end are unlikely)."""
    q = phys.qubits.shape[0]
    absj = np.abs(phys.quadratic)
    field = np.abs(phys.linear).copy()
    np.add.at(field, phys.rows, absj)
    np.add.at(field, phys.cols, absj)
    smallest = np.where(phys.linear != 0, np.abs(phys.linear), np.inf)
    nz = absj != 0
    np.minimum.at(smallest, phys.rows[nz], absj[nz])
    np.minimum.at(smallest, phys.cols[nz], absj[nz])
    finite = smallest[np.isfinite(smallest)]
    if not finite.size:
        return (0.1, 1.0)
    top = float(field.max()) if q else 0.0
    hot = float(np.log(2) / (2 * top)) if top > 0 else 1.0
    low = float(finite.min())
    cold = float(np.log(np.sum(finite == low) / max_excitation_rate) / (2 * low))
    return hot, cold


@functools.lru_cache(maxsize=8)
def _mock_sampler(topology: str, missing_qubits: int, graph_seed: int):
    """One MockDWaveSampler per (topology, damage): building its node/edge lists and properties costs
    ~0.4 s on P16, so it is built once per process and shallow-copied per call."""
    from dwave.samplers import SimulatedAnnealingSampler
    from dwave.system.testing import MockDWaveSampler

    top = Topology.parse(topology)
    g = top.graph(missing_qubits, graph_seed)
    e = graph_edges(g)
    mock = MockDWaveSampler(
        nodelist=sorted(g.nodes), edgelist=list(map(tuple, e[np.lexsort((e[:, 1], e[:, 0]))].tolist())),
        topology_type=top.family, topology_shape=list(top.shape),
        substitute_sampler=SimulatedAnnealingSampler(), substitute_kwargs={},
        exact_solver_cutoff=0, parameter_warnings=False)
    mock.adjacency  # dimod's structure check builds this dict of sets lazily: once here, shared by the copies
    return mock, g, top


def local_sampler(topology: str = "pegasus", *, missing_qubits: int = 0, seed: int | None = None,
                  num_sweeps: int = DEFAULT_SWEEPS, graph_seed: int = 0, beta_range: tuple[float, float] | None = None):
    """(sampler, graph, topology): a MockDWaveSampler on the real topology graph whose sampling is
    simulated annealing of the embedded problem (its exact-solver shortcut is switched off). The mock and
    the graph are cached; each call gets its own shallow copy carrying ``seed`` and ``num_sweeps``."""
    mock, g, top = _mock_sampler(Topology.parse(topology).name, int(missing_qubits), int(graph_seed))
    kwargs: dict[str, Any] = {"num_sweeps": int(num_sweeps)}
    if seed is not None:
        kwargs["seed"] = int(seed) & 0x7FFFFFFF
    if beta_range is not None:
        kwargs["beta_range"] = tuple(float(b) for b in beta_range)
    child = copy.copy(mock)
    child.substitute_kwargs = kwargs
    return child, g, top


def _sample_dimod(block: EmbeddedBlock, child, num_reads: int, parameters: dict) -> tuple[np.ndarray, ...]:
    """The former path: FixedEmbeddingComposite (dimod's per-variable embedding and unembedding).
    Returns (logical spins in ``block.labels`` order, occurrences, chain-break fraction, physical energies
    (NaN: not reported), info)."""
    from dwave.embedding import majority_vote
    from dwave.system import FixedEmbeddingComposite

    composite = FixedEmbeddingComposite(child, embedding=block.embedding.chains)
    ss = composite.sample(block.bqm, num_reads=int(num_reads), chain_strength=block.chain_strength,
                          chain_break_method=majority_vote, chain_break_fraction=True, **parameters)
    col = {v: i for i, v in enumerate(ss.variables)}
    spins = np.asarray(ss.record.sample)[:, [col[lab] for lab in block.labels]].astype(np.int8)
    return (spins, np.asarray(ss.record.num_occurrences, dtype=np.int64),
            np.asarray(ss.record.chain_break_fraction, dtype=np.float64), np.full(len(spins), np.nan), ss.info)


def _sample_arrays(block: EmbeddedBlock, child, num_reads: int, parameters: dict) -> tuple[np.ndarray, ...]:
    """The physical BQM (built from arrays) straight to ``child``; majority vote with arrays."""
    ss = child.sample(block.physical.to_bqm(), num_reads=int(num_reads), **parameters)
    qubits = block.structure.qubits
    got = np.asarray(list(ss.variables), dtype=np.int64)
    raw = np.asarray(ss.record.sample)
    if got.shape != qubits.shape or np.any(got != qubits):  # columns in the sampler's order: to ``qubits``'
        by = np.argsort(got)
        raw = raw[:, by[np.searchsorted(got[by], qubits)]]
    spins, breaks = block.structure.majority_vote(raw)
    return (spins, np.asarray(ss.record.num_occurrences, dtype=np.int64), breaks,
            np.asarray(ss.record.energy, dtype=np.float64), ss.info)


def sample_embedded(problem: ir.Problem, block: EmbeddedBlock, child, *, num_reads: int,
                    postprocess: str = "none", via: str = "arrays", **parameters: Any) -> Samples:
    """Sample ``block`` on ``child`` (a structured D-Wave sampler: a real DWaveSampler or the local mock):
    the physical problem goes to ``child`` as is and its samples are unembedded by majority vote on every
    chain (ties to spin +1, as dwave-system's ``majority_vote``); energies are recomputed by the IR.

    ``via="arrays"`` (default) builds the physical BQM and unembeds with numpy (:class:`PhysicalProblem`,
    :meth:`ChainStructure.majority_vote`); ``via="dimod"`` goes through dwave-system's
    FixedEmbeddingComposite instead (same maths, Python loops per variable and chain; kept for comparison).
    ``info`` reports the chain-break fraction, ``energy_check_max_abs_diff`` (logical Ising energy of the
    unembedded spins against the IR's) and, with arrays, ``intact_energy_check_max_abs_diff`` (the sampler's
    physical energy against the IR's on rows whose chains are all intact; 0 when there are none).

    ``postprocess="steepest"`` then runs greedy steepest descent on the *logical* problem from every
    unembedded sample (dwave-samplers' SteepestDescentSolver with ``initial_states``), the usual classical
    polish of QPU samples; ``"swap"`` repairs each sample to its lowered cardinality constraints and
    descends by count-preserving swaps (:mod:`qsel.targets.postprocess`; single flips cannot move along
    the feasible set under a sufficient penalty), and falls back to steepest descent on a block without
    such constraints (``info["postprocess_moves"]`` says which); ``"none"`` returns what the sampler gave."""
    if postprocess not in ("none", "steepest", "swap"):
        raise ir.QselError(f"unknown postprocess {postprocess!r} (expected none, steepest or swap)")
    if via not in ("arrays", "dimod"):
        raise ir.QselError(f"unknown sampling path {via!r} (expected arrays or dimod)")
    t0 = time.perf_counter()
    run = _sample_arrays if via == "arrays" else _sample_dimod
    spins, occurrences, breaks, physical_energies, ss_info = run(block, child, num_reads, parameters)
    seconds = time.perf_counter() - t0
    X = (1.0 + spins.astype(np.float64)) / 2.0  # dimod: spin +1 <-> binary 1
    energies = problem.energies(X)
    h, r, c, J, off = ising_arrays(block.bqm, block.labels)
    S = spins.astype(np.float64)
    ising = off + S @ h + (S[:, r] * S[:, c]) @ J if len(S) else np.zeros(0)
    mismatch = float(np.max(np.abs(energies - ising))) if len(energies) else 0.0
    intact = breaks == 0
    intact_mismatch = (float(np.max(np.abs(energies[intact] - physical_energies[intact])))
                       if via == "arrays" and intact.any() else 0.0)
    info = {**block.summary(), "num_reads": int(num_reads), "sample_seconds": round(seconds, 4),
            "chain_break_fraction": float(np.average(breaks, weights=occurrences)) if breaks.size else 0.0,
            "samples_with_broken_chains": int(occurrences[breaks > 0].sum()),
            "chain_break_method": "majority_vote", "energy_check_max_abs_diff": mismatch,
            "intact_energy_check_max_abs_diff": intact_mismatch, "unembedding": via,
            "postprocess": postprocess}
    t1 = time.perf_counter()
    moves = postprocess
    if postprocess == "swap" and len(energies):
        from .postprocess import cardinality_groups, swap_descent

        groups = cardinality_groups(problem)
        if groups:
            info["min_energy_before_postprocess"] = float(energies.min())
            X = swap_descent(problem, X, groups)
            energies = problem.energies(X)
        else:  # no count to keep: every single flip is a legal move
            moves = "steepest"
    if moves == "steepest" and len(energies):
        from dwave.samplers import SteepestDescentSolver

        info["min_energy_before_postprocess"] = float(energies.min())
        polished = SteepestDescentSolver().sample(block.bqm, initial_states=(spins, block.labels))
        col = {v: i for i, v in enumerate(polished.variables)}
        spins = np.asarray(polished.record.sample)[:, [col[lab] for lab in block.labels]].astype(np.float64)
        X = (1.0 + spins) / 2.0
        energies = problem.energies(X)
        if len(occurrences) != len(energies):  # one polished sample per unembedded row, in order
            occurrences = np.ones(len(energies), dtype=np.int64)
    info["postprocess_moves"] = {"swap": "swap", "steepest": "flip", "none": "none"}[moves]
    info["postprocess_seconds"] = round(time.perf_counter() - t1, 4)
    for key in ("problem_id", "problem_label"):
        if key in ss_info:
            info[key] = ss_info[key]
    return Samples(X, energies, occurrences, info)


# ------------------------------------------------------------------ target
@dataclass(frozen=True)
class DWaveTarget(Target):
    """Minor-embed every block onto a D-Wave topology and write its physical Ising problem."""

    name: ClassVar[str] = "dwave"
    description: ClassVar[str] = ("D-Wave QPU: each block minor-embedded onto Pegasus P16 (Advantage), "
                                  "Zephyr Z(12,4) (Advantage2) or Chimera; chains, chain strength, embedded Ising JSON")
    # blocks of the topology's block size (qsel.passes.topology: the largest clique less a margin)
    default_pipeline: ClassVar[str] = ("canonicalize,partition{topology=pegasus},lower-constraints{penalty=auto},"
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
            "embedded": _physical_json(eb.physical),
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
    """The D-Wave path on a local stand-in restricted to the real Pegasus graph (simulated annealing).

    Default ``num_sweeps=100`` per read, measured (``bench/pegasus.py``, and a grid of 20 to 1,000 sweeps
    x 30 or 100 reads x 3 seeds) on the Pegasus-sized (largest clique less the margin) penalised blocks of a random 64-512-10 MLP (keep 25 %,
    fit): the best energy after the swap polish with 20 to 200 sweeps matches 1,000 sweeps' within the
    spread between seeds (~2e-5; lower by up to ~1e-4 on some blocks), while the raw samples get *worse*
    with more sweeps: the chain-break fraction rises from ~0.58 at 50 sweeps to ~0.70 at 1,000
    (apparently chains at uniform-torque strength break in the low-energy physical states of these
    penalised blocks), and the time grows linearly (SA is over
    80 % of a block's time at 1,000 sweeps). On unconstrained dense random 64-variable and Pegasus-sized blocks raw
    SA keeps improving up to 1,000 sweeps, but the single-flip polish that ``postprocess=swap`` falls back
    to there reached tabu's energy from 50 sweeps on. 100 sweeps keeps a margin over that at 0.6 to 1 s
    per Pegasus-sized block (2 shared cores; 6 to 10 s before). Reads are the caller's ``num_reads``
    (``--num-reads``, 100 by default); 30 reads gave the same polished energies on those blocks in about
    60 % of the time. ``num-sweeps=1000`` restores the former setting, ``via=dimod`` the former
    FixedEmbeddingComposite path."""

    name: ClassVar[str] = "local-pegasus"
    description: ClassVar[str] = ("embedded onto the real Pegasus P16 graph and sampled there by simulated "
                                  "annealing (MockDWaveSampler; cached embeddings, chains, majority vote)")
    max_vars = LargestCliqueOf()  # type: ignore[assignment]  # the largest clique of ``topology``
    handles_constraints: ClassVar[bool] = False

    topology: str = "pegasus"
    missing_qubits: int = 0  # remove this many random qubits, like a real chip's yield
    method: str = "auto"
    chain_strength: float = 0.0
    chain_prefactor: float = DEFAULT_PREFACTOR
    num_sweeps: int = DEFAULT_SWEEPS
    postprocess: str = "swap"  # swap (cardinality repair + swap descent) | steepest (single flips) | none
    via: str = "arrays"  # arrays (numpy embedding/unembedding) | dimod (FixedEmbeddingComposite, for comparison)
    embedding_seed: int = 0  # minorminer's seed: fixed, so blocks with the same couplings reuse one embedding

    def __post_init__(self) -> None:
        if self.num_sweeps < 1 or self.missing_qubits < 0:
            raise ValueError(f"num-sweeps must be >= 1 and missing-qubits >= 0, got {self.num_sweeps} and "
                             f"{self.missing_qubits}")
        if self.chain_strength < 0 or not self.chain_prefactor > 0:
            raise ValueError("chain-strength must be >= 0 (0: automatic) and chain-prefactor > 0")
        if self.postprocess not in ("none", "steepest", "swap"):
            raise ValueError(f"postprocess must be swap, steepest or none, got {self.postprocess!r}")
        if self.via not in ("arrays", "dimod"):
            raise ValueError(f"via must be arrays or dimod, got {self.via!r}")

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        _, graph, top = _mock_sampler(Topology.parse(self.topology).name, self.missing_qubits, 0)
        block = prepare(problem, graph, top.name, method=self.method, seed=self.embedding_seed,
                        prefactor=self.chain_prefactor, chain_strength=self.chain_strength)
        beta = sa_beta_range(block.physical) if self.via == "arrays" else None  # dimod: SA computes it
        child, _, _ = local_sampler(self.topology, missing_qubits=self.missing_qubits, seed=seed,
                                    num_sweeps=self.num_sweeps, beta_range=beta)
        samples = sample_embedded(problem, block, child, num_reads=num_reads, postprocess=self.postprocess,
                                  via=self.via)
        samples.info["sampler"] = (f"MockDWaveSampler({top.name}, {graph.number_of_nodes()} qubits) "
                                   f"+ SimulatedAnnealingSampler(num_sweeps={self.num_sweeps})")
        return samples


TARGETS = (DWaveTarget,)
SOLVERS = (LocalPegasusSolver,)
