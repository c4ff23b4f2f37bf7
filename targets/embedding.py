"""Minor embedding onto D-Wave topologies (and lowering a block's constraints for the quantum targets).

**Embedding.** A logical variable becomes a *chain*: a connected set of
physical qubits held together by a strong ferromagnetic coupling. The
topologies (names, graphs, largest cliques) are :class:`qsel.passes.topology.Topology`
(``pegasus``, ``zephyr``, ``chimera``, ``family:shape``). Two
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

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Sequence

import numpy as np

from qsel import ir
from qsel.passes.topology import Topology, busgraph, clique_size, graph_key

DENSE_THRESHOLD = 0.3

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


class LargestCliqueOf:
    """A solver's ``max_vars``: the largest clique of its ``topology`` option (computed once per topology,
    cached on disk by minorminer); read on the class (listings), the default topology's."""

    def __get__(self, obj: Any, owner: type) -> int:
        return largest_clique(obj.topology if obj is not None else owner.topology)


def largest_clique(topology: "str | Topology" = "pegasus", *, graph=None) -> int:
    """The most variables a clique embedding holds on the topology (:meth:`Topology.largest_clique`), or on
    ``graph`` (a chip's working graph) when given."""
    return clique_size(graph) if graph is not None else Topology.parse(topology).largest_clique()


# ------------------------------------------------------------------ embeddings
@dataclass
class Embedding:
    """Chains (label -> qubits) plus how they were found."""

    chains: dict[Hashable, tuple[int, ...]]
    topology: str
    method: str
    seconds: float
    cached: bool = False  # chains reused from the in-process cache

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
                "embedding_seconds": round(self.seconds, 4), "embedding_cached": self.cached}


def _source_graph(source, nodes: Iterable[Hashable] | None) -> tuple[list[Hashable], np.ndarray]:
    """(labels, edges as an (m, 2) int64 array of label positions, u < v, no duplicates)."""
    if isinstance(source, ir.Problem):
        from .convert import coo

        r, c, _ = coo(source)
        return source.labels, np.stack([r, c], axis=1).astype(np.int64)
    if hasattr(source, "nodes") and hasattr(source, "edges") and callable(source.edges):  # a networkx graph
        labels, pairs = list(source.nodes), [tuple(e) for e in source.edges]
    else:
        pairs = [(u, v) for u, v in source]
        seen: dict[Hashable, None] = {}
        for v in nodes or ():
            seen.setdefault(v, None)
        for u, v in pairs:
            seen.setdefault(u, None)
            seen.setdefault(v, None)
        labels = list(seen)
    pos = {lab: i for i, lab in enumerate(labels)}
    arr = np.array([(pos[u], pos[v]) for u, v in pairs if u != v], dtype=np.int64).reshape(-1, 2)
    n = max(len(labels), 1)
    keys = np.unique(arr.min(axis=1) * n + arr.max(axis=1))
    return labels, np.stack([keys // n, keys % n], axis=1)


# ------------------------------------------------------------------ caches (in-process)
EMBEDDING_CACHE_SIZE = 256
_EMBEDDINGS: "OrderedDict[tuple, tuple[tuple[int, ...], ...]]" = OrderedDict()
_STRUCTURES: "OrderedDict[tuple, ChainStructure]" = OrderedDict()
_GRAPH_EDGES: dict[tuple, np.ndarray] = {}


def _remember(cache: OrderedDict, key: tuple, value: Any) -> Any:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > EMBEDDING_CACHE_SIZE:
        cache.popitem(last=False)
    return value


def _touch(cache: OrderedDict, key: tuple) -> None:
    """Mark ``key`` as recently used (it may have been evicted meanwhile by another thread)."""
    try:
        cache.move_to_end(key)
    except KeyError:
        pass


def clear_embedding_cache() -> None:
    """Forget every cached embedding and chain structure (busclique's own on-disk cache is kept)."""
    _EMBEDDINGS.clear()
    _STRUCTURES.clear()


def edge_digest(n: int, edges: np.ndarray) -> str:
    """A hash of a source graph: ``n`` variables and its (m, 2) edge array (positions, u < v, sorted)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.int64(n).tobytes())
    h.update(np.ascontiguousarray(edges, dtype=np.int64).tobytes())
    return h.hexdigest()


def graph_edges(g) -> np.ndarray:
    """The graph's couplers as an (M, 2) int64 array (u < v), cached per graph."""
    key = graph_key(g)
    if key not in _GRAPH_EDGES:
        e = np.array(list(g.edges), dtype=np.int64).reshape(-1, 2)
        _GRAPH_EDGES[key] = np.stack([e.min(axis=1), e.max(axis=1)], axis=1)
    return _GRAPH_EDGES[key]


@dataclass(frozen=True)
class ChainStructure:
    """An embedding (chains of logical variables 0..n-1) laid over a graph's couplers, as arrays.

    ``qubits`` (Q,) are the used physical qubits, sorted; ``owner[k]`` is the
    logical variable of ``qubits[k]``; ``chain_edges`` (C, 2) and ``inter_edges``
    (I, 2) are the graph's couplers among used qubits (positions into
    ``qubits``), inside one chain and between two chains; ``pair_keys`` are the
    sorted distinct chain pairs ``u * n + v`` (u < v) that have at least one
    coupler, ``pair_counts`` how many couplers each has (dwave-system's
    ``EmbeddedStructure`` spreads a logical J_uv evenly over those)."""

    n: int
    qubits: np.ndarray
    owner: np.ndarray
    lengths: np.ndarray
    chain_edges: np.ndarray
    inter_edges: np.ndarray
    inter_keys: np.ndarray
    pair_keys: np.ndarray
    pair_counts: np.ndarray

    @classmethod
    def build(cls, chains: Sequence[Sequence[int]], edges: np.ndarray) -> "ChainStructure":
        """From chains (by logical position) and the graph's (M, 2) coupler array."""
        n = len(chains)
        lengths = np.array([len(c) for c in chains], dtype=np.int64)
        flat = np.fromiter((q for c in chains for q in c), dtype=np.int64, count=int(lengths.sum()))
        own = np.repeat(np.arange(n, dtype=np.int64), lengths)
        order = np.argsort(flat, kind="stable")
        qubits, owner = flat[order], own[order]
        if np.any(np.diff(qubits) == 0):
            raise ValueError("chains overlap: a qubit is in two chains")
        if not qubits.size:
            empty = np.zeros((0, 2), dtype=np.int64)
            return cls(n, qubits, owner, lengths, empty, empty, np.zeros(0, np.int64), np.zeros(0, np.int64),
                       np.zeros(0, np.int64))
        pa = np.searchsorted(qubits, edges[:, 0]).clip(max=qubits.size - 1)
        pb = np.searchsorted(qubits, edges[:, 1]).clip(max=qubits.size - 1)
        used = (qubits[pa] == edges[:, 0]) & (qubits[pb] == edges[:, 1])
        pa, pb = pa[used], pb[used]
        same = owner[pa] == owner[pb]
        inter = np.stack([pa[~same], pb[~same]], axis=1)
        u, v = owner[inter[:, 0]], owner[inter[:, 1]]
        keys = np.minimum(u, v) * max(n, 1) + np.maximum(u, v)
        pair_keys, pair_counts = np.unique(keys, return_counts=True)
        return cls(n, qubits, owner, lengths, np.stack([pa[same], pb[same]], axis=1), inter, keys, pair_keys,
                   pair_counts.astype(np.int64))

    def majority_vote(self, spins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logical spins (R, n) int8, chain-break fraction (R,)) from physical spins (R, Q) in ``qubits`` order.

        s_v = +1 if sum_{q in chain v} s_q >= 0 else -1 (a tie goes to +1, as dwave-system's
        ``majority_vote`` does for spins); a chain is broken when |sum| < its length."""
        S = np.asarray(spins, dtype=np.int64)
        order = np.argsort(self.owner, kind="stable")
        starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        if not S.shape[0] or not self.n:
            return np.zeros((S.shape[0], self.n), dtype=np.int8), np.zeros(S.shape[0])
        sums = np.add.reduceat(S[:, order], starts, axis=1)
        logical = np.where(sums >= 0, 1, -1).astype(np.int8)
        broken = np.abs(sums) != self.lengths[None, :]
        return logical, broken.mean(axis=1)


def chain_structure(chains: Sequence[Sequence[int]], g) -> ChainStructure:
    """:meth:`ChainStructure.build` on ``g``'s couplers, cached by (graph, chains)."""
    key = (graph_key(g), tuple(tuple(int(q) for q in c) for c in chains))
    hit = _STRUCTURES.get(key)
    if hit is not None:
        _touch(_STRUCTURES, key)
        return hit
    return _remember(_STRUCTURES, key, ChainStructure.build(key[1], graph_edges(g)))


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
    real sampler's working graph); see :func:`find_embedding`.

    Embeddings are cached in-process by position (variable i of the source gets chain i): clique embeddings
    by (graph, number of variables), minorminer ones by (graph, :func:`edge_digest` of the source's edge set,
    seed, timeout). A block of the same size (clique) or the same coupling pattern (minorminer) reuses the
    chains with its own labels; ``Embedding.cached`` says so. A cached clique embedding is valid for any
    source of that size (every pair of its chains is coupled)."""
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
    n, m = len(labels), int(edges.shape[0])
    t0 = time.perf_counter()
    if n == 0:
        return Embedding({}, top_name, "none", 0.0)
    density = m / (n * (n - 1) / 2) if n > 1 else 1.0
    gkey = graph_key(g)
    bus = busgraph(g) if g.graph.get("family") in ("pegasus", "zephyr", "chimera") else None
    clique = clique_size(g) if bus is not None else 0
    hit = False

    def cached(key: tuple, compute) -> tuple | None:
        nonlocal hit
        found = _EMBEDDINGS.get(key)
        if found is not None:
            _touch(_EMBEDDINGS, key)
            hit = True
            return found
        chains = compute()
        if chains is None:
            return None
        _check(chains, edges, g)
        return _remember(_EMBEDDINGS, key, chains)

    def by_clique() -> tuple | None:
        if bus is None or n > clique:
            return None

        def compute() -> tuple | None:
            emb = bus.find_clique_embedding(n)
            if len(emb) != n:
                return None
            return tuple(tuple(int(q) for q in emb[i]) for i in range(n))

        return cached(("clique", gkey, n), compute)

    def by_minorminer() -> tuple | None:
        def compute() -> tuple | None:
            if not m:
                found: dict = {}
            else:
                found = minorminer.find_embedding(edges.tolist(), list(g.edges),
                                                  random_seed=int(seed) & 0x7FFFFFFF, timeout=float(timeout),
                                                  tries=10)
                if not found:
                    return None
            used = {q for chain in found.values() for q in chain}
            free = iter(q for q in sorted(g.nodes) if q not in used)
            out = []
            for i in range(n):  # isolated variables get one free qubit each
                if i in found:
                    out.append(tuple(int(q) for q in found[i]))
                else:
                    q = next(free, None)
                    if q is None:
                        return None
                    out.append((int(q),))
            return tuple(out)

        return cached(("minorminer", gkey, edge_digest(n, edges), int(seed), float(timeout)), compute)

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
            return Embedding(dict(zip(labels, chains)), top_name, used_method, time.perf_counter() - t0,
                             cached=hit)
    raise _too_big(n, m, top_name, clique, name, tried)


def _check(chains: Sequence[Sequence[int]], edges: np.ndarray, g) -> None:
    """Chains are connected, disjoint and every source edge has a coupler (raises: a bug, not a user error)."""
    from dwave.embedding import verify_embedding

    verify_embedding(dict(enumerate(chains)), edges.tolist(), g)


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

