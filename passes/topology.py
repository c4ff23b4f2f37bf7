"""Annealer topologies: one :class:`Topology` per graph family and shape, registered by name.

A topology is what a pass or a target needs to know about a D-Wave chip before talking to it, in the
spirit of dimod's ``Structured`` (``nodelist``, ``edgelist``, ``properties``): its qubits and couplers
(the ideal graph from dwave-networkx / dwave-graphs, linear integer labels), its family and shape, and
the largest clique a clique embedding holds on it (minorminer's busclique, cached on disk).

Named topologies (:data:`NAMED`)::

    pegasus   pegasus16  advantage   Pegasus P16,    5,640 qubits
    zephyr    advantage2             Zephyr Z(12,4), 4,800 qubits
    chimera   chimera16  2000q       Chimera C16,    2,048 qubits

and ``family:shape`` for any other instance (``pegasus:6``, ``zephyr:6,4``, ``chimera:4``).

:meth:`Topology.block_size` is how many variables a block may have to be placed on the chip as a
clique: the largest clique of the ideal graph less :data:`CLIQUE_MARGIN`, because a real chip lacks a
few qubits and its largest clique is a little smaller than the ideal one's. Nothing else hard-codes a
clique size: ``partition`` sizes blocks with it, ``embed-check`` compares blocks with the largest
clique, and the D-Wave targets and solvers take both from here.

Why this lives in ``passes`` and not in ``targets``: the passes ``partition`` and ``embed-check`` take
a topology as a parameter (``partition{topology=zephyr}``, ``embed-check{topology=pegasus16}``), and a
pass may import only ``ir`` and ``passes`` (tests/test_import_graph.py); the targets, which may import
passes, use this same registry. Qiskit keeps its ``CouplingMap`` next to its transpiler passes for the
same reason. The hardware libraries are imported when a graph is first built, so naming or parsing a
topology costs nothing.
"""

from __future__ import annotations

import functools
import re
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from qsel.ir import QselError

FAMILIES = ("pegasus", "zephyr", "chimera")
NAMED: dict[str, tuple[str, tuple[int, ...]]] = {
    "pegasus16": ("pegasus", (16,)), "zephyr": ("zephyr", (12, 4)), "chimera16": ("chimera", (16, 16, 4)),
    "pegasus": ("pegasus", (16,)), "advantage": ("pegasus", (16,)),
    "advantage2": ("zephyr", (12, 4)),
    "chimera": ("chimera", (16, 16, 4)), "2000q": ("chimera", (16, 16, 4)),
}
CLIQUE_MARGIN = 3  # variables fewer than the ideal graph's largest clique, for the qubits a real chip lacks
DEFAULT = "pegasus"  # the chip a block size refers to when none is named (Advantage's P16)


@dataclass(frozen=True)
class Topology:
    """A D-Wave graph family and shape: ``Topology("pegasus", (16,))`` is Advantage's P16."""

    family: str  # "pegasus" | "zephyr" | "chimera"
    shape: tuple[int, ...]

    @classmethod
    def parse(cls, spec: "str | Topology") -> "Topology":
        """A registered name (:data:`NAMED`) or ``family:shape`` ('pegasus:6', 'zephyr:6,4', 'chimera:4')."""
        if isinstance(spec, Topology):
            return spec
        text = str(spec).strip().lower()
        if text in NAMED:
            return cls(*NAMED[text])
        m = re.fullmatch(r"(pegasus|zephyr|chimera):(\d+(?:,\d+)*)", text)
        if m is None:
            raise QselError(f"unknown topology {spec!r}: expected one of {', '.join(NAMED)}, or family:shape "
                            f"such as pegasus:16, zephyr:12,4, chimera:16")
        family, shape = m.group(1), tuple(int(v) for v in m.group(2).split(","))
        wanted = {"pegasus": (1,), "zephyr": (1, 2), "chimera": (1, 2, 3)}[family]
        if len(shape) not in wanted or min(shape) < 1:
            raise QselError(f"topology {spec!r}: bad shape for {family}")
        if family == "zephyr" and len(shape) == 1:
            shape = (shape[0], 4)
        if family == "chimera":
            shape = (shape + (shape[0], 4))[:3] if len(shape) == 1 else (shape + (4,))[:3]
        if family == "pegasus" and shape[0] < 2:
            raise QselError(f"topology {spec!r}: Pegasus needs size >= 2")
        return cls(family, shape)

    @property
    def name(self) -> str:
        """The canonical spelling, ``family:shape`` ('pegasus:16')."""
        return f"{self.family}:{','.join(str(s) for s in self.shape)}"

    @property
    def properties(self) -> dict[str, Any]:
        """D-Wave's ``properties['topology']``: type and shape."""
        return {"type": self.family, "shape": list(self.shape)}

    def graph(self, missing_qubits: int = 0, seed: int = 0):
        """The networkx graph (ideal, or with ``missing_qubits`` random qubits removed like a real chip)."""
        return hardware_graph(self.name, missing_qubits, seed)

    @property
    def nodes(self) -> np.ndarray:
        """The ideal graph's qubits, sorted (dimod's ``Structured.nodelist``)."""
        return np.array(sorted(self.graph().nodes), dtype=np.int64)

    @property
    def edges(self) -> np.ndarray:
        """The ideal graph's couplers as (m, 2) qubit pairs, each (low, high), sorted (``Structured.edgelist``)."""
        e = np.sort(np.array(list(self.graph().edges), dtype=np.int64).reshape(-1, 2), axis=1)
        return e[np.lexsort((e[:, 1], e[:, 0]))]

    def largest_clique(self) -> int:
        """The most variables a clique embedding holds on the ideal graph (busclique): 180 on P16, 184 on
        Z(12,4), 64 on C16."""
        return clique_size(self.graph())

    def block_size(self) -> int:
        """Variables per block for this chip: :meth:`largest_clique` less :data:`CLIQUE_MARGIN`."""
        return max(1, self.largest_clique() - CLIQUE_MARGIN)


@functools.lru_cache(maxsize=8)
def hardware_graph(spec: str, missing_qubits: int = 0, seed: int = 0):
    """networkx graph of a topology, linear integer labels, with coordinates metadata; with
    ``missing_qubits``, that many qubits (chosen by ``seed``) removed."""
    graphs = _graph_library()
    top = Topology.parse(spec)
    if top.family == "pegasus":
        g = graphs.pegasus_graph(top.shape[0])
    elif top.family == "zephyr":
        g = graphs.zephyr_graph(top.shape[0], top.shape[1])
    else:
        g = graphs.chimera_graph(top.shape[0], top.shape[1], top.shape[2])
    if missing_qubits:
        if missing_qubits >= g.number_of_nodes():
            raise QselError(f"cannot remove {missing_qubits} qubits from {top.name} ({g.number_of_nodes()} qubits)")
        rng = np.random.default_rng(seed)
        nodes = sorted(g.nodes)
        g = g.copy()
        g.remove_nodes_from(rng.choice(nodes, size=missing_qubits, replace=False).tolist())
    return g


def _graph_library():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import dwave.graphs as graphs
        except ImportError:  # pragma: no cover - older Ocean
            import dwave_networkx as graphs
    return graphs


# ------------------------------------------------------------------ busclique caches, per graph
_GRAPH_KEYS: "weakref.WeakKeyDictionary[Any, tuple[int, tuple]]" = weakref.WeakKeyDictionary()
_BUSGRAPHS: dict[tuple, Any] = {}
_CLIQUE_SIZES: dict[tuple, int] = {}


def graph_key(g) -> tuple:
    """(family, name, qubits, couplers, hash of the qubit set): identifies a graph for the caches. Computed
    once per graph object (counting couplers walks the graph) and recomputed if its qubit count changes."""
    try:
        known = _GRAPH_KEYS.get(g)
    except TypeError:  # not weak-referenceable
        known = None
    if known is not None and known[0] == g.number_of_nodes():
        return known[1]
    key = (g.graph.get("family"), g.graph.get("name"), g.number_of_nodes(), g.number_of_edges(),
           hash(frozenset(g.nodes)))
    try:
        _GRAPH_KEYS[g] = (g.number_of_nodes(), key)
    except TypeError:
        pass
    return key


def busgraph(g):
    """minorminer's busclique cache for ``g`` (clique embeddings of every size; on disk and in memory)."""
    from minorminer import busclique

    key = graph_key(g)
    if key not in _BUSGRAPHS:
        _BUSGRAPHS[key] = busclique.busgraph_cache(g)
    return _BUSGRAPHS[key]


def clique_size(g) -> int:
    """The largest clique busclique embeds in ``g`` (a D-Wave family graph, possibly with qubits missing)."""
    key = graph_key(g)
    if key not in _CLIQUE_SIZES:
        _CLIQUE_SIZES[key] = len(busgraph(g).largest_clique())
    return _CLIQUE_SIZES[key]


def default_block_size() -> int:
    """:meth:`Topology.block_size` of the :data:`DEFAULT` topology: the subproblem size of ``decompose`` and
    ``local-hybrid`` when nothing names a chip (a solver with a smaller limit lowers it)."""
    return Topology.parse(DEFAULT).block_size()


def block_for(limit: int | None) -> int:
    """Variables per subproblem for a solver taking at most ``limit`` (None: any number):
    min(limit, :func:`default_block_size`)."""
    default = default_block_size()
    return min(limit, default) if limit else default


def option(spec: "str | Topology") -> Topology:
    """:meth:`Topology.parse` for a pass or target option: an unknown name is a ValueError, which the option
    machinery reports with the pass or target it belongs to."""
    try:
        return Topology.parse(spec)
    except QselError as exc:
        raise ValueError(str(exc)) from None
