"""embed-check: does every block fit the annealer's qubit graph, and at what cost in qubits? (analysis)

Blocks are the problem's partitions (the whole problem when it has none).
For each block of b variables:

* ``clique``: a clique embedding of K_b from busclique (minorminer), which
  fits any coupling pattern of b variables. busclique finds the embedding
  with the shortest maximum chain in polynomial time and keeps a per-graph
  cache, so every size is computed once. The largest clique is the
  topology's (:meth:`qsel.passes.topology.Topology.largest_clique`).
* ``minor``: minorminer's heuristic embedding of the block's own coupling
  graph (the non-zero effective couplings inside the block), for sparse
  blocks (seeded, time-limited).
* ``auto`` (default): clique first; if it does not fit and the block's graph
  has density at most 0.5, minorminer.

The report goes to ``props["embedding"]``: topology, graph size, largest
clique, and per block the variables, couplings, method, whether it fits,
qubits used, max and mean chain length, and for a block that does not fit a
hint to lower max-vars. Nothing is raised and the problem is not changed.
``topology`` is any name of :mod:`qsel.passes.topology` (``pegasus16``,
``zephyr``, ``chimera16``, ``advantage``, ... or ``family:shape``); ideal
graphs (a real chip lacks a few qubits).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qsel.ir import Problem

from .base import AnalysisPass, PropertySet
from .quadratic import weight_matrix
from .topology import Topology, busgraph, option

SPARSE_DENSITY = 0.5


@functools.lru_cache(maxsize=4096)
def _clique_chains(topology: Topology, size: int) -> tuple[int, ...]:
    """Chain lengths of busclique's K_size embedding on the ideal graph (empty when it does not fit)."""
    emb = busgraph(topology.graph()).find_clique_embedding(size)
    return tuple(len(chain) for chain in emb.values())


@dataclass(frozen=True)
class EmbedCheck(AnalysisPass):
    """Check each block has a clique or minor embedding on the topology; qubits and chain lengths (analysis)."""

    name = "embed-check"
    topology: str = "pegasus16"  # a name of qsel.passes.topology or family:shape
    method: Literal["auto", "clique", "minor"] = "auto"
    timeout: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        option(self.topology)  # an unknown name fails when the pipeline is built
        if not (np.isfinite(self.timeout) and self.timeout > 0):
            raise ValueError(f"timeout must be a number of seconds > 0, got {self.timeout}")

    def analyze(self, problem: Problem, props: PropertySet) -> None:
        start = time.perf_counter()
        top = Topology.parse(self.topology)
        g = top.graph()
        largest = top.largest_clique()
        blocks = [(p.name, p.indices) for p in problem.partitions] or [("all", np.arange(problem.num_vars))]
        reports = [self._block(problem, name, idx, largest) for name, idx in blocks]
        props["embedding"] = {
            "topology": self.topology, "qubits": g.number_of_nodes(), "couplers": g.number_of_edges(),
            "largest_clique": largest, "blocks": reports, "all_fit": all(r["fits"] for r in reports),
            "qubits_max_block": max((r["qubits"] for r in reports), default=0),
            "seconds": time.perf_counter() - start,
        }

    def _block(self, problem: Problem, name: str, idx: np.ndarray, largest: int) -> dict:
        idx = np.sort(np.asarray(idx, dtype=np.int64))
        b = int(idx.size)
        W = weight_matrix(problem, idx) if b > 1 else np.zeros((b, b))
        edges = int(np.count_nonzero(W)) // 2
        pairs = b * (b - 1) // 2
        density = edges / pairs if pairs else 0.0
        rep = {"block": name, "vars": b, "couplings": edges, "density": density}
        chains: list[int] = []
        method = "clique"
        if self.method in ("auto", "clique") and b <= largest:
            chains = list(_clique_chains(Topology.parse(self.topology), b)) if b else []
        if not chains and b and (self.method == "minor" or (self.method == "auto" and density <= SPARSE_DENSITY)):
            method = "minor"
            chains = self._minor(*np.nonzero(np.triu(W, 1)), b)
        fits = bool(chains) or b == 0
        rep.update({"method": method, "fits": fits, "qubits": int(sum(chains)),
                    "max_chain": int(max(chains, default=0)),
                    "mean_chain": float(np.mean(chains)) if chains else 0.0})
        if not fits:
            rep["hint"] = (f"block {name!r} ({b} variables, density {density:.2f}) does not embed in "
                           f"{self.topology} (largest clique {largest}); lower partition max-vars to "
                           f"{largest} or less")
        return rep

    def _minor(self, r: np.ndarray, c: np.ndarray, b: int) -> list[int]:
        import minorminer

        g = Topology.parse(self.topology).graph()
        source = list(zip(r.tolist(), c.tolist()))
        if not source:  # no couplings: one qubit per variable, if there are enough qubits
            return [1] * b if b <= g.number_of_nodes() else []
        emb = minorminer.find_embedding(source, g.edges, timeout=self.timeout, random_seed=self.seed)
        if not emb:
            return []
        isolated = b - len(emb)  # variables without couplings need one free qubit each
        return [len(chain) for chain in emb.values()] + [1] * isolated


PASSES = (EmbedCheck,)
