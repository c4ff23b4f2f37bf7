"""embed-check: clique embeddings via busclique, minor embeddings for sparse blocks, reports not exceptions."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from qsel import ir
from qsel.passes import PassManager, build


def analyse(problem: ir.Problem, pipeline: str) -> dict:
    pm = PassManager(build(pipeline))
    out = pm.run(problem)
    assert out is problem  # an analysis never changes the IR
    return pm.properties["embedding"]


def dense_blocks(sizes: list[int]) -> ir.Problem:
    n = sum(sizes)
    rng = np.random.default_rng(0)
    p = ir.Problem.from_qubo_matrix(np.triu(rng.normal(size=(n, n)), 1))
    bounds = np.cumsum([0] + sizes)
    return p.replace(partitions=tuple(ir.Partition(f"b{k}", np.arange(bounds[k], bounds[k + 1]))
                                      for k in range(len(sizes))))


def test_a_177_variable_dense_block_fits_pegasus():
    # its speed is measured by bench/embedding.py
    p = dense_blocks([177, 100])
    rep = analyse(p, "embed-check{topology=pegasus16}")
    assert rep["topology"] == "pegasus16" and rep["qubits"] == 5640 and rep["largest_clique"] >= 177
    big, small = rep["blocks"]
    assert big["fits"] and big["method"] == "clique" and big["vars"] == 177
    assert big["max_chain"] <= 17 and big["qubits"] >= 177 * 2  # chains of several qubits each
    assert big["mean_chain"] == pytest.approx(big["qubits"] / 177)
    assert small["fits"] and small["qubits"] < big["qubits"]
    assert rep["all_fit"]


def test_zephyr_fits_and_chimera_reports_a_block_that_does_not():
    p = dense_blocks([150])
    assert analyse(p, "embed-check{topology=zephyr}")["blocks"][0]["fits"]
    rep = analyse(p, "embed-check{topology=chimera16}")
    block = rep["blocks"][0]
    assert not block["fits"] and not rep["all_fit"]
    assert "lower partition max-vars" in block["hint"] and str(rep["largest_clique"]) in block["hint"]


def test_sparse_block_that_is_too_big_for_a_clique_uses_minorminer():
    n = 300  # a ring: far beyond the largest Chimera clique, trivially embeddable as a minor
    g = nx.cycle_graph(n)
    rows, cols = zip(*g.edges)
    p = ir.Problem.from_terms([f"x{i}" for i in range(n)],
                              quadratic={(f"x{r}", f"x{c}"): 1.0 for r, c in zip(rows, cols)})
    rep = analyse(p, "embed-check{topology=chimera16,timeout=20}")
    block = rep["blocks"][0]
    assert block["block"] == "all" and block["couplings"] == n
    assert block["method"] == "minor" and block["fits"] and block["qubits"] >= n
    rep = analyse(p, "embed-check{topology=chimera16,method=clique}")
    assert not rep["blocks"][0]["fits"]


def test_option_errors():
    with pytest.raises(ir.QselError, match="unknown topology 'pegasus6': expected one of pegasus16, zephyr, chimera16"):
        build("embed-check{topology=pegasus6}")
    with pytest.raises(ir.QselError, match="timeout must be a number of seconds > 0"):
        build("embed-check{timeout=0}")
