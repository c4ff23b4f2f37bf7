"""The hardware passes at scale: a dense 4,096-unit layer down to D-Wave-sized blocks.

Builds a realistic neuron-selection layer, Q = (A^T A / m) o (W^T W) from random
ReLU activations (``qsel.frontend.lowering.neuron_terms``) with the cardinality
constraint "keep 25%", runs the default D-Wave pipeline

    canonicalize,prune{eps=1e-6,mode=relative},fix-variables,
    partition{topology=pegasus,method=spectral},lower-constraints{penalty=auto},
    scale{h-range=-4:4,j-range=-1:1}

and prints the total time, the blocks, and the cut weight as a fraction of
the total |J|. Baselines measured in the same run: the bare scipy ``eigsh``
solve for one Fiedler vector of the whole layer (what a single spectral
bisection costs at the top level) and a contiguous split into as many blocks
(its cut fraction is the quality yardstick). Then embed-check on Pegasus P16.

    python bench/passes.py [--n 4096] [--max-vars B] [--keep 0.25] [--timing] [--method spectral] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy.sparse.linalg import LinearOperator, eigsh

from qsel import ir
from qsel.frontend.lowering import neuron_terms
from qsel.passes import PassManager, build
from qsel.passes.topology import default_block_size
from qsel.passes.quadratic import abs_weight_split


def layer_problem(n: int, keep: float, seed: int = 0, samples: int = 512, inputs: int = 256,
                  outputs: int = 256) -> ir.Problem:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(samples, inputs))
    W1 = rng.normal(size=(n, inputs)) / np.sqrt(inputs)
    A = np.maximum(X @ W1.T, 0.0)  # m x n ReLU activations
    W = rng.normal(size=(outputs, n)) / np.sqrt(n)  # the next layer
    h, U, offset = neuron_terms(A, W).ir_arrays()  # reconstruct: E(all kept) = 0
    v = ir.Variables.build([f"fc1.n{i}" for i in range(n)], layer="fc1", unit=np.arange(n), granularity="neuron")
    k = max(1, int(round(keep * n)))
    return ir.Problem(v, h, offset, (ir.DenseBlock(np.arange(n), U),),
                      constraints=(ir.Constraint.cardinality("keep.fc1", np.arange(n), "==", k),))


def bare_fiedler(U: np.ndarray) -> float:
    """Seconds for scipy's eigsh to find one deflated Fiedler vector of |U| + |U|^T (same tolerance)."""
    start = time.perf_counter()
    W = np.abs(U)
    W += W.T
    d = W.sum(axis=1)
    inv = 1.0 / np.sqrt(d)
    u0 = np.sqrt(d) / np.linalg.norm(np.sqrt(d))
    op = LinearOperator(W.shape, matvec=lambda x: inv * (W @ (inv * np.ravel(x))) - u0 * (u0 @ np.ravel(x)),
                        dtype=np.float64)
    eigsh(op, k=1, which="LA", tol=1e-3, v0=np.random.default_rng(0).standard_normal(W.shape[0]))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--max-vars", type=int, default=0, help="variables per block (0: the Pegasus block size)")
    ap.add_argument("--keep", type=float, default=0.25)
    ap.add_argument("--method", default="spectral", choices=["spectral", "kl", "community"])
    ap.add_argument("--timing", action="store_true", help="print the time of every pass")
    ap.add_argument("--repeats", type=int, default=3, help="pipeline runs; the median one is reported")
    args = ap.parse_args()
    args.max_vars = args.max_vars or default_block_size()

    start = time.perf_counter()
    problem = layer_problem(args.n, args.keep)
    build_s = time.perf_counter() - start
    steps = ["canonicalize", "prune{eps=1e-6,mode=relative}", "fix-variables",
             f"partition{{max-vars={args.max_vars},method={args.method}}}", "lower-constraints{penalty=auto}",
             "scale{h-range=-4:4,j-range=-1:1}"]
    pipeline = ",".join(steps)
    print(f"layer: {args.n} units, dense block of {args.n * (args.n - 1) // 2:,} couplings, "
          f"keep {problem.constraints[0].rhs:.0f} (built in {build_s:.2f} s)")
    print(f"pipeline: {pipeline}")

    runs = []
    for _ in range(args.repeats):
        manager = PassManager(build(pipeline))
        start = time.perf_counter()
        out = manager.run(problem)
        runs.append((time.perf_counter() - start, manager))
    runs.sort(key=lambda r: r[0])
    total, manager = runs[len(runs) // 2]  # the median run
    if args.timing:
        for t in manager.timings:
            print(f"  {t.seconds:8.3f} s  {t.name}")
    print(f"  {total:8.3f} s  total, median of {args.repeats} (all: {', '.join(f'{r[0]:.2f}' for r in runs)}; "
          f"target < 10 s)")

    hist = {h["pass"].split("{")[0]: h for h in out.history}
    part = hist["partition"]
    sizes = sorted(q.size for q in out.partitions)
    print(f"blocks: {len(sizes)} (minimum possible {math.ceil(args.n / args.max_vars)}), "
          f"sizes {sizes[0]}..{sizes[-1]}, median {sizes[len(sizes) // 2]}; slack variables {out.num_vars - problem.num_vars}")
    print(f"cut weight: {part['cut_weight']:.6g} of total |J| {part['total_weight']:.6g} = "
          f"{part['cut_fraction']:.4f} of the total")

    # Baselines, same run.
    contiguous = np.minimum(np.arange(args.n) // math.ceil(args.n / len(sizes)), len(sizes) - 1)
    tot, cut = abs_weight_split(problem, contiguous)
    eig_s = bare_fiedler(problem.dense[0].matrix)
    part_s = next(t.seconds for t in manager.timings if t.name.startswith("partition"))
    print(f"baseline contiguous split into {len(sizes)} blocks: cut fraction {cut / tot:.4f} "
          f"(partition/contiguous cut ratio {part['cut_fraction'] / (cut / tot):.3f})")
    print(f"baseline bare eigsh Fiedler vector of the whole layer: {eig_s:.3f} s; "
          f"partition pass {part_s:.3f} s = {part_s / eig_s:.2f}x, whole pipeline {total / eig_s:.2f}x")

    import dwave.graphs

    start = time.perf_counter()
    dwave.graphs.pegasus_graph(16)
    graph_s = time.perf_counter() - start

    low = hist["lower-constraints"]
    pens = np.array(list(low["lowered"].values()))
    alt = PassManager(build("lower-constraints{scope=block}"))
    alt_out = alt.run(PassManager(build(",".join(steps[:4]))).run(problem))
    alt_pens = np.array(list(alt_out.history[-1]["lowered"].values()))
    print(f"auto penalties: median {np.median(pens):.4g} (scope=problem, proof {set(low['proofs'].values())}); "
          f"scope=block would give median {np.median(alt_pens):.4g} ({np.median(pens / alt_pens):.1f}x smaller)")
    scale = hist["scale"]
    stats = ir.compute_stats(out)
    print(f"scale factor {scale['factor']:.4g}: h in [{stats.h_min:.3g}, {stats.h_max:.3g}], "
          f"J in [{stats.j_min:.3g}, {stats.j_max:.3g}]")

    from qsel.passes import embed_check

    embed_check.target_graph.cache_clear()
    embed_check._clique_chains.cache_clear()
    start = time.perf_counter()
    embed_check._clique_chains("pegasus16", args.max_vars)  # graph, busclique cache (disk), one clique
    first = time.perf_counter() - start
    embed_check._clique_chains.cache_clear()
    start = time.perf_counter()
    embed_check._clique_chains("pegasus16", args.max_vars)
    again = time.perf_counter() - start
    print(f"busclique K{args.max_vars} on pegasus16: {first:.3f} s with graph and cache set-up, {again:.4f} s "
          f"once set up (baseline: building the 5,640-qubit graph alone {graph_s:.3f} s)")
    em = PassManager(build("embed-check{topology=pegasus16}"))
    start = time.perf_counter()
    em.run(out)
    em_s = time.perf_counter() - start
    rep = em.properties["embedding"]
    chains = max(b["max_chain"] for b in rep["blocks"])
    print(f"embed-check pegasus16: all blocks fit {rep['all_fit']}, largest clique {rep['largest_clique']}, "
          f"qubits of the largest block {rep['qubits_max_block']}, max chain {chains} ({em_s:.3f} s)")


if __name__ == "__main__":
    main()
