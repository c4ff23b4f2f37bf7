"""``embed``: minor embedding as a composite around a structured sampler (a QPU or its stand-in).

    polish(embed{method=auto}(pegasus-sim))     ~ local-pegasus, step by step
    decompose(polish(embed(pegasus-sim{missing-qubits=20})))

A *structured* solver samples physical qubits of a hardware graph, not logical
variables: it names its topology and, for one embedded block, hands back a
dimod structured sampler (``structured(block, seed)``). The ``embed``
composite does the logical part for any such child, with the code the D-Wave
target and ``local-pegasus`` share (:mod:`qsel.targets.dwave`): the block's
Ising form is minor-embedded on the child's graph (``prepare``: cached
clique or minorminer embeddings, uniform-torque-compensation chain strength,
the physical problem built with arrays), sampled by the child, and unembedded
by majority vote on every chain (``sample_embedded``); energies are the IR's.
Constraints must be lowered first (``adapt`` adds ``polish(lower(...))``
around ``embed``, which declares that it cannot enforce them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from qsel import ir

from .base import Samples, Solver
from .composites import Composite, record_time
from .dwave import DEFAULT_PREFACTOR, DEFAULT_SWEEPS, EmbeddedBlock, _mock_sampler, local_sampler, prepare, \
    sa_beta_range, sample_embedded
from .embedding import LargestCliqueOf, Topology


@dataclass(frozen=True)
class PegasusSimSolver(Solver):
    """Simulated annealing of a physical problem on the real Pegasus (or Zephyr/Chimera) graph: the
    structured stand-in for a QPU (dwave-system's MockDWaveSampler with dwave-samplers' SA)."""

    name: ClassVar[str] = "pegasus-sim"
    description: ClassVar[str] = ("structured stand-in for a D-Wave QPU: MockDWaveSampler on the real graph, "
                                  "simulated annealing of the physical problem; wrap it: embed(pegasus-sim)")
    handles_constraints: ClassVar[bool] = False
    max_vars = LargestCliqueOf()  # type: ignore[assignment]  # the largest clique of ``topology``

    topology: str = "pegasus"
    missing_qubits: int = 0
    num_sweeps: int = DEFAULT_SWEEPS

    def __post_init__(self) -> None:
        Topology.parse(self.topology)
        if self.num_sweeps < 1 or self.missing_qubits < 0:
            raise ValueError(f"num-sweeps must be >= 1 and missing-qubits >= 0, got {self.num_sweeps} and "
                             f"{self.missing_qubits}")

    def graph(self) -> tuple[Any, str]:
        """(hardware graph, topology name) that blocks are embedded on."""
        _, graph, top = _mock_sampler(Topology.parse(self.topology).name, self.missing_qubits, 0)
        return graph, top.name

    def structured(self, block: EmbeddedBlock, seed: int | None) -> Any:
        """The structured sampler for ``block``: annealing over the physical problem's own range."""
        sampler, _, _ = local_sampler(self.topology, missing_qubits=self.missing_qubits, seed=seed,
                                      num_sweeps=self.num_sweeps, beta_range=sa_beta_range(block.physical))
        return sampler

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        raise ir.QselError("solver 'pegasus-sim' samples physical qubits, not the IR's variables: wrap it in "
                           "the embed composite, e.g. -s 'polish(embed(pegasus-sim))'")


@dataclass(frozen=True)
class EmbedComposite(Composite):
    """Minor-embed each block on the child's hardware graph, sample there, unembed by majority vote."""

    name: ClassVar[str] = "embed"
    description: ClassVar[str] = ("minor embedding on the child's hardware graph (clique or minorminer, cached), "
                                  "chain strength by uniform torque compensation, majority-vote unembedding")

    method: str = "auto"  # auto | clique | minorminer
    chain_strength: float = 0.0  # 0: uniform torque compensation
    chain_prefactor: float = DEFAULT_PREFACTOR
    embedding_seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method not in ("auto", "clique", "minorminer"):
            raise ValueError(f"method must be auto, clique or minorminer, got {self.method!r}")
        if self.chain_strength < 0 or not self.chain_prefactor > 0:
            raise ValueError("chain-strength must be >= 0 (0: automatic) and chain-prefactor > 0")

    @property
    def handles_constraints(self) -> bool:  # type: ignore[override]
        return False

    def structured_child(self) -> Any:
        child = self.require_child()
        if not hasattr(child, "structured"):
            raise ir.QselError(f"embed wraps a structured sampler (pegasus-sim), not solver '{child.name}', "
                               f"which already samples the IR's variables")
        return child

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        import time

        child = self.structured_child()
        t0 = time.perf_counter()
        graph, topology = child.graph()
        block = prepare(problem, graph, topology, method=self.method, seed=self.embedding_seed,
                        prefactor=self.chain_prefactor, chain_strength=self.chain_strength)
        t_embed = time.perf_counter() - t0
        samples = sample_embedded(problem, block, child.structured(block, seed), num_reads=num_reads)
        return record_time(samples, self.name, t_embed, topology=topology,
                           qubits=int(block.embedding.summary().get("qubits", 0)))


SOLVERS = (EmbedComposite, PegasusSimSolver)
