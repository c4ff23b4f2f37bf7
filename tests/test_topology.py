"""One Topology per annealer graph, registered by name; partition, embed-check and the D-Wave targets use it."""

from __future__ import annotations

import numpy as np
import pytest

from qsel import ir
from qsel.passes.topology import CLIQUE_MARGIN, NAMED, Topology


def test_every_registered_name_parses_to_its_family_and_shape():
    assert {n: Topology.parse(n).name for n in NAMED} == {
        "pegasus16": "pegasus:16", "zephyr": "zephyr:12,4", "chimera16": "chimera:16,16,4",
        "pegasus": "pegasus:16", "advantage": "pegasus:16", "advantage2": "zephyr:12,4",
        "chimera": "chimera:16,16,4", "2000q": "chimera:16,16,4"}
    assert Topology.parse(" Zephyr:6 ") == Topology("zephyr", (6, 4))
    assert Topology.parse(Topology.parse("chimera:4").name) == Topology("chimera", (4, 4, 4))
    for bad, message in [("pegasos", "unknown topology 'pegasos': expected one of pegasus16"),
                         ("pegasus:1", "Pegasus needs size >= 2"), ("zephyr:1,2,3", "bad shape for zephyr")]:
        with pytest.raises(ir.QselError, match=message):
            Topology.parse(bad)


@pytest.mark.parametrize("spec, qubits, clique", [("pegasus16", 5640, 180), ("zephyr", 4800, 184),
                                                  ("chimera16", 2048, 64)])
def test_node_and_edge_lists_and_the_largest_clique(spec, qubits, clique):
    top = Topology.parse(spec)
    g = top.graph()
    nodes, edges = top.nodes, top.edges
    assert nodes.shape == (qubits,) and np.array_equal(nodes, np.sort(np.array(list(g.nodes))))
    assert edges.shape == (g.number_of_edges(), 2) and np.all(edges[:, 0] < edges[:, 1])
    assert all(g.has_edge(int(a), int(b)) for a, b in edges[:: max(1, len(edges) // 500)])
    assert np.unique(edges, axis=0).shape[0] == edges.shape[0]
    assert top.properties == {"type": top.family, "shape": list(top.shape)}
    assert top.largest_clique() == clique and top.block_size() == clique - CLIQUE_MARGIN


def test_a_damaged_chip_loses_exactly_the_qubits_asked_for():
    top = Topology.parse("chimera:4")
    g = top.graph(missing_qubits=5, seed=1)
    assert g.number_of_nodes() == top.graph().number_of_nodes() - 5
    assert set(g.nodes) == set(top.graph(missing_qubits=5, seed=1).nodes)
    with pytest.raises(ir.QselError, match="cannot remove 128 qubits from chimera:4,4,4"):
        top.graph(missing_qubits=128)


def test_the_d_wave_solvers_block_limit_is_the_topologys_clique():
    from qsel.targets.dwave import LocalPegasusSolver
    from qsel.targets.embedding import largest_clique

    assert LocalPegasusSolver.max_vars == Topology.parse("pegasus").largest_clique()
    assert LocalPegasusSolver(topology="zephyr").max_vars == 184 == largest_clique("advantage2")
