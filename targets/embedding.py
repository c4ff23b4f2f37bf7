"""Minor embedding onto D-Wave topologies (and lowering a block's constraints for the quantum targets).

**Embedding.** A logical variable becomes a *chain*: a connected set of
physical qubits held together by a strong ferromagnetic coupling. Named
topologies (ideal graphs, from dwave-graphs):

* ``pegasus``  (or ``advantage``):  Pegasus P16, 5,640 qubits; largest clique 180, chains up to 17
* ``zephyr``   (or ``advantage2``): Zephyr Z(12,4), 4,800 qubits; largest clique 184, chains up to 13
* ``chimera``  (or ``2000q``):      Chimera C16, 2,048 qubits; largest clique 64, chains up to 17

``pegasus:6``, ``zephyr:6,4``, ``chimera:4`` name smaller instances. Two
methods: ``clique`` (minorminer.busclique's clique embedding, from a clique
cache computed once per graph and kept on disk: any block of up to the largest
clique size fits, chains are short and uniform) and ``minorminer`` (the
heuristic ``minorminer.find_embedding``: shorter chains for sparse blocks).
``auto`` takes the clique embedding for dense blocks (density >= 0.3) and
tries minorminer first for sparse ones, falling back to the clique.

A block that fits nowhere raises :class:`EmbeddingError` (a QselError)
suggesting ``partition{max-vars=...}`` with the topology's clique size.

    find_embedding(source, topology="pegasus", *, method="auto", seed=0, timeout=10.0)
        -> dict[label, tuple[int, ...]]

``source`` is an IR problem (labels as variables) or an iterable of edges
``(u, v)`` (pass ``nodes=`` for isolated variables).
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from typing import Any, Hashable, Iterable

import numpy as np

from qsel import ir

DENSE_THRESHOLD = 0.3

_NAMED = {
    "pegasus": ("pegasus", (16,)), "advantage": ("pegasus", (16,)),
    "zephyr": ("zephyr", (12, 4)), "advantage2": ("zephyr", (12, 4)),
    "chimera": ("chimera", (16, 16, 4)), "2000q": ("chimera", (16, 16, 4)),
}


class EmbeddingError(ir.QselError):
    """A block does not fit on the requested topology."""


# ------------------------------------------------------------------ constraints of a block
LOWER_PIPELINE = "lower-constraints{penalty=auto}"


def lower_constraints(problem: ir.Problem, pipeline: str = LOWER_PIPELINE) -> ir.Problem:
    """Constraints -> penalties with the ``lower-constraints`` pass (it may add slack variables; the labels of
    ``problem``'s variables are kept, so samples map back by label). Unconstrained problems pass through."""
    if not problem.constraints:
        return problem
    from qsel.passes import PassManager, build

    return PassManager(build(pipeline)).run(problem)


def columns_for(problem: ir.Problem, lowered: ir.Problem) -> np.ndarray:
    """Indices into ``lowered``'s variables of ``problem``'s variables (by label)."""
    return lowered.variables.positions(problem.labels)


# ------------------------------------------------------------------ topologies
@dataclass(frozen=True)
class Topology:
    family: str  # "pegasus" | "zephyr" | "chimera"
    shape: tuple[int, ...]

    @classmethod
    def parse(cls, spec: "str | Topology") -> "Topology":
        """'pegasus' (P16), 'zephyr' (Z(12,4)), 'chimera' (C16) or 'family:shape' ('pegasus:6', 'zephyr:6,4')."""
        if isinstance(spec, Topology):
            return spec
        text = str(spec).strip().lower()
        if text in _NAMED:
            return cls(*_NAMED[text])
        m = re.fullmatch(r"(pegasus|zephyr|chimera):(\d+(?:,\d+)*)", text)
        if m is None:
            raise ir.QselError(f"unknown topology {spec!r} (expected pegasus, zephyr, chimera, or family:shape "
                               f"such as pegasus:16, zephyr:12,4, chimera:16)")
        family, shape = m.group(1), tuple(int(v) for v in m.group(2).split(","))
        wanted = {"pegasus": (1,), "zephyr": (1, 2), "chimera": (1, 2, 3)}[family]
        if len(shape) not in wanted or min(shape) < 1:
            raise ir.QselError(f"topology {spec!r}: bad shape for {family}")
        if family == "zephyr" and len(shape) == 1:
            shape = (shape[0], 4)
        if family == "chimera":
            shape = (shape + (shape[0], 4))[:3] if len(shape) == 1 else (shape + (4,))[:3]
        if family == "pegasus" and shape[0] < 2:
            raise ir.QselError(f"topology {spec!r}: Pegasus needs size >= 2")
        return cls(family, shape)

    @property
    def name(self) -> str:
        return f"{self.family}:{','.join(str(s) for s in self.shape)}"

    @property
    def properties(self) -> dict[str, Any]:
        """D-Wave's ``properties['topology']``: type and shape."""
        shape = list(self.shape)
        return {"type": self.family, "shape": shape}

    def graph(self, missing_qubits: int = 0, seed: int = 0):
        """The topology's graph (ideal, or with ``missing_qubits`` random qubits removed like a real chip)."""
        return hardware_graph(self.name, missing_qubits, seed)


@functools.lru_cache(maxsize=8)
def hardware_graph(spec: str, missing_qubits: int = 0, seed: int = 0):
    """networkx graph of a named topology, linear integer labels, with coordinates metadata (dwave-graphs)."""
    import dwave.graphs as dg

    top = Topology.parse(spec)
    if top.family == "pegasus":
        g = dg.pegasus_graph(top.shape[0])
    elif top.family == "zephyr":
        g = dg.zephyr_graph(top.shape[0], top.shape[1])
    else:
        g = dg.chimera_graph(top.shape[0], top.shape[1], top.shape[2])
    if missing_qubits:
        if missing_qubits >= g.number_of_nodes():
            raise ir.QselError(f"cannot remove {missing_qubits} qubits from {top.name} "
                               f"({g.number_of_nodes()} qubits)")
        rng = np.random.default_rng(seed)
        nodes = sorted(g.nodes)
        g = g.copy()
        g.remove_nodes_from(rng.choice(nodes, size=missing_qubits, replace=False).tolist())
    return g


def _graph_key(g) -> tuple:
    return (g.graph.get("family"), g.graph.get("name"), g.number_of_nodes(), g.number_of_edges(),
            hash(frozenset(g.nodes)))


_BUSGRAPHS: dict[tuple, Any] = {}


def _busgraph(g):
    """minorminer's busclique cache for ``g`` (clique embeddings of every size; on disk and in memory)."""
    from minorminer import busclique

    key = _graph_key(g)
    if key not in _BUSGRAPHS:
        _BUSGRAPHS[key] = busclique.busgraph_cache(g)
    return _BUSGRAPHS[key]


def largest_clique(topology: "str | Topology" = "pegasus", *, graph=None) -> int:
    """The most variables a clique embedding holds on the topology (180 on P16, 184 on Z(12,4), 64 on C16)."""
    g = graph if graph is not None else Topology.parse(topology).graph()
    return len(_busgraph(g).largest_clique())


# ------------------------------------------------------------------ embeddings
@dataclass
class Embedding:
    """Chains (label -> qubits) plus how they were found."""

    chains: dict[Hashable, tuple[int, ...]]
    topology: str
    method: str
    seconds: float

    @property
    def qubits(self) -> int:
        return int(sum(len(c) for c in self.chains.values()))

    @property
    def chain_lengths(self) -> np.ndarray:
        return np.array([len(c) for c in self.chains.values()], dtype=np.int64)

    def summary(self) -> dict[str, Any]:
        lengths = self.chain_lengths
        return {"topology": self.topology, "method": self.method, "variables": len(self.chains),
                "qubits": self.qubits, "max_chain_length": int(lengths.max()) if lengths.size else 0,
                "mean_chain_length": round(float(lengths.mean()), 4) if lengths.size else 0.0,
                "embedding_seconds": round(self.seconds, 4)}


def _source_graph(source, nodes: Iterable[Hashable] | None) -> tuple[list[Hashable], list[tuple[Hashable, Hashable]]]:
    if isinstance(source, ir.Problem):
        from .convert import coo

        labels = source.labels
        r, c, _ = coo(source)
        return labels, [(labels[i], labels[j]) for i, j in zip(r.tolist(), c.tolist())]
    if hasattr(source, "nodes") and hasattr(source, "edges") and callable(source.edges):  # a networkx graph
        return list(source.nodes), [tuple(e) for e in source.edges]
    edges = [(u, v) for u, v in source]
    seen: dict[Hashable, None] = {}
    for v in nodes or ():
        seen.setdefault(v, None)
    for u, v in edges:
        seen.setdefault(u, None)
        seen.setdefault(v, None)
    return list(seen), edges


def _too_big(n: int, m: int, top_name: str, clique: int, name: str | None, tried: list[str]) -> EmbeddingError:
    what = f"block {name!r}" if name else "the problem"
    why = [f"the largest clique embedding there holds {clique} variables"] if "clique" in tried else []
    if "minorminer" in tried:
        why.append("minorminer found no embedding")
    return EmbeddingError(
        f"{what} ({n} variables, {m} couplings) does not fit on {top_name} ({'; '.join(why) or 'no method'}); "
        f"partition the IR first, e.g. `-p 'partition{{max-vars={max(min(clique, n - 1), 1)}}}'`")


def embed(source, topology: "str | Topology" = "pegasus", *, method: str = "auto", seed: int = 0,
          timeout: float = 10.0, nodes: Iterable[Hashable] | None = None, graph=None,
          name: str | None = None) -> Embedding:
    """Embed ``source`` (IR problem, edge list or networkx graph) onto ``topology`` (or onto ``graph``, e.g. a
    real sampler's working graph); see :func:`find_embedding`."""
    import minorminer

    if method not in ("auto", "clique", "minorminer"):
        raise ir.QselError(f"unknown embedding method {method!r} (expected auto, clique or minorminer)")
    if graph is None:
        top = Topology.parse(topology)
        g, top_name = top.graph(), top.name
    else:
        g = graph
        top_name = str(g.graph.get("name") or topology)
    labels, edges = _source_graph(source, nodes)
    n, m = len(labels), len(edges)
    t0 = time.perf_counter()
    if n == 0:
        return Embedding({}, top_name, "none", 0.0)
    density = m / (n * (n - 1) / 2) if n > 1 else 1.0
    bus = _busgraph(g) if g.graph.get("family") in ("pegasus", "zephyr", "chimera") else None
    clique = len(bus.largest_clique()) if bus is not None else 0

    def by_clique() -> dict | None:
        if bus is None or n > clique:
            return None
        emb = bus.find_clique_embedding(n)
        if len(emb) != n:
            return None
        return {lab: tuple(int(q) for q in emb[i]) for i, lab in enumerate(labels)}

    def by_minorminer() -> dict | None:
        if not edges:
            found: dict = {}
        else:
            found = minorminer.find_embedding(edges, list(g.edges), random_seed=int(seed) & 0x7FFFFFFF,
                                              timeout=float(timeout), tries=10)
            if not found:
                return None
        used = {q for chain in found.values() for q in chain}
        free = iter(q for q in sorted(g.nodes) if q not in used)
        out = {}
        for lab in labels:  # isolated variables get one free qubit each
            if lab in found:
                out[lab] = tuple(int(q) for q in found[lab])
            else:
                q = next(free, None)
                if q is None:
                    return None
                out[lab] = (int(q),)
        return out

    order = {"clique": [("clique", by_clique)], "minorminer": [("minorminer", by_minorminer)],
             "auto": ([("clique", by_clique), ("minorminer", by_minorminer)] if density >= DENSE_THRESHOLD
                      else [("minorminer", by_minorminer), ("clique", by_clique)])}[method]
    tried: list[str] = []
    for used_method, fn in order:
        if method == "auto" and used_method == "minorminer" and density >= DENSE_THRESHOLD and n > clique > 0:
            continue  # a dense block beyond the clique size will not fit: fail fast
        tried.append(used_method)
        chains = fn()
        if chains is not None:
            _check(chains, edges, g)
            return Embedding(chains, top_name, used_method, time.perf_counter() - t0)
    raise _too_big(n, m, top_name, clique, name, tried)


def _check(chains: dict, edges: list, g) -> None:
    from dwave.embedding import verify_embedding

    verify_embedding(chains, edges, g)  # raises on an invalid embedding: a bug, not a user error


def find_embedding(source, topology: "str | Topology" = "pegasus", *, method: str = "auto", seed: int = 0,
                   timeout: float = 10.0, nodes: Iterable[Hashable] | None = None, graph=None
                   ) -> dict[Hashable, tuple[int, ...]]:
    """Minor-embed ``source`` onto a D-Wave topology: {variable: chain of physical qubits}.

    ``source``: an IR problem (variables named by label), an iterable of edges
    ``(u, v)`` (``nodes`` adds isolated variables) or a networkx graph.
    ``topology``: 'pegasus' (P16, Advantage), 'zephyr' (Z(12,4), Advantage2),
    'chimera' (C16) or 'family:shape'; ``graph`` overrides it with any target
    graph (e.g. ``DWaveSampler().to_networkx_graph()``). ``method``: 'clique'
    (busclique, cached), 'minorminer' (heuristic, ``timeout`` seconds, ``seed``)
    or 'auto' (clique for dense sources, minorminer first for sparse ones).
    Raises :class:`EmbeddingError` (suggesting ``partition{max-vars=N}``) when
    the source does not fit."""
    return embed(source, topology, method=method, seed=seed, timeout=timeout, nodes=nodes, graph=graph).chains

