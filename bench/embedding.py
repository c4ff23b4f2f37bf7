"""Clique embeddings (busclique, cached) against minorminer's heuristic on the same graph, and embed-check.

The speed claims that two tests used to assert with wall-clock limits live here instead, as ratios
measured in one run on one machine:

* per block size b (default 32, 64 and the topology's block size): the seconds of
  ``qsel.targets.embedding.embed`` with ``method=clique`` on a dense random block, cold (first call in
  this process; busclique's on-disk cache may already hold the graph) and warm (cached), against
  ``minorminer.find_embedding`` of K_b on the same ideal graph (the general heuristic, seeded, with a
  timeout), and the longest chain of each;
* the ``embed-check`` analysis of a problem with one block of the topology's block size and one of 100.

Usage: ``python bench/embedding.py [--topology pegasus16] [--sizes 32,64] [--timeout 60]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from qsel import ir
from qsel.passes import PassManager, build
from qsel.passes.topology import Topology
from qsel.targets.embedding import clear_embedding_cache, embed


def dense_block(n: int, seed: int = 0) -> ir.Problem:
    rng = np.random.default_rng(seed)
    return ir.Problem.from_qubo_matrix(np.triu(rng.normal(size=(n, n)), 1), [f"x{i}" for i in range(n)])


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topology", default="pegasus16")
    ap.add_argument("--sizes", default="32,64", help="block sizes besides the topology's block size")
    ap.add_argument("--timeout", type=float, default=60.0, help="minorminer's seconds per block")
    args = ap.parse_args()
    top = Topology.parse(args.topology)
    (g, t_graph) = timed(top.graph)
    clique, t_clique = timed(top.largest_clique)
    block = top.block_size()
    print(f"{top.name}: {g.number_of_nodes()} qubits, graph {t_graph:.2f} s; largest clique {clique} "
          f"({t_clique:.2f} s, busclique), block size {block}")
    print(f"{'b':>4} {'clique cold s':>13} {'warm s':>8} {'max chain':>9} {'minorminer s':>12} {'max chain':>9} "
          f"{'minorminer/clique':>17}")
    import minorminer

    for b in [int(s) for s in args.sizes.split(",") if s] + [block]:
        clear_embedding_cache()
        p = dense_block(b)
        cold, t_cold = timed(lambda: embed(p, top, method="clique"))
        _, t_warm = timed(lambda: embed(p, top, method="clique"))
        edges = [(i, j) for i in range(b) for j in range(i + 1, b)]
        mm, t_mm = timed(lambda: minorminer.find_embedding(edges, g.edges, timeout=args.timeout, random_seed=0))
        mm_chain = max((len(c) for c in mm.values()), default=0) if mm else "none"
        print(f"{b:>4} {t_cold:>13.3f} {t_warm:>8.4f} {int(cold.chain_lengths.max()):>9} {t_mm:>12.2f} "
              f"{mm_chain!s:>9} {t_mm / max(t_cold, 1e-9):>16.1f}x")
    sizes = [block, 100]
    bounds = np.cumsum([0] + sizes)
    p = dense_block(sum(sizes)).replace(partitions=tuple(
        ir.Partition(f"b{k}", np.arange(bounds[k], bounds[k + 1])) for k in range(len(sizes))))
    manager = PassManager(build(f"embed-check{{topology={args.topology}}}"))
    _, t_check = timed(lambda: manager.run(p))
    rep = manager.properties["embedding"]
    print(f"embed-check on blocks of {sizes}: {t_check:.2f} s, all fit: {rep['all_fit']}, "
          f"qubits {[r['qubits'] for r in rep['blocks']]}")


if __name__ == "__main__":
    main()
