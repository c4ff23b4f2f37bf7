"""The ``local-pegasus`` solver (D-Wave stand-in) per block: before (dimod path) vs now, time and energy.

Blocks: a random (untrained) ReLU MLP 64-512-10 on a Gaussian calibration
batch, compiled with the ``fit`` objective and ``keep = 0.25`` (512 variables,
one cardinality constraint), then ``canonicalize,partition{max-vars=S},
lower-constraints{penalty=auto},scale{h-range=-4:4,j-range=-1:1}`` (the dwave
target's pipeline) for S in 64, 128 and B, the Pegasus block size
(``qsel.passes.topology.default_block_size()``); the first blocks of exactly S
variables are sampled, each as ``qsel solve`` would (``num_reads`` reads, the
default ``swap`` polish).

Configurations, measured in the same run:

* ``before``: the former path: every block builds its MockDWaveSampler and
  embedding afresh (in-process caches cleared), FixedEmbeddingComposite embeds
  and unembeds with dimod's per-variable loops, 1,000 sweeps per read.
* ``arrays@1000``: cached sampler and embeddings, numpy embedding and
  majority-vote unembedding, still 1,000 sweeps (the effect of the code alone).
* ``new``: ``local-pegasus`` with default options (cached, arrays, 100 sweeps).

Per size: the median seconds per block over ``--repeats`` seeds, the best
energy after the polish (lowest over the repeats, and the median), the
mean chain-break fraction, and the ratios before/new measured here. The
first (cold) call of the new path, which builds the graph, the mock and
busclique's cache, is timed separately.
Usage: ``python bench/pegasus.py [--quick] [--repeats R] [--num-reads N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from qsel import ir
from qsel.frontend.compile import CompileOptions, compile_network
from qsel.frontend.network import Layer, Network
from qsel.passes.topology import default_block_size
from qsel.targets.base import block_problem, blocks_of
from qsel.targets.dwave import LocalPegasusSolver, _mock_sampler
from qsel.targets.embedding import clear_embedding_cache
from qsel.targets.emit import run_pipeline

PIPELINE = ("canonicalize,partition{{max-vars={size}}},lower-constraints{{penalty=auto}},"
            "scale{{h-range=-4:4,j-range=-1:1}}")


def layer_problem(hidden: int = 512, inputs: int = 64, outputs: int = 10, samples: int = 256,
                  keep: float = 0.25, seed: int = 0) -> ir.Problem:
    """The fit-objective neuron-selection IR of a random ReLU MLP inputs-hidden-outputs."""
    rng = np.random.default_rng(seed)
    net = Network([
        Layer("fc1", "dense", rng.normal(size=(hidden, inputs)) / np.sqrt(inputs), rng.normal(size=hidden) * 0.1,
              "relu"),
        Layer("fc2", "dense", rng.normal(size=(outputs, hidden)) / np.sqrt(hidden), np.zeros(outputs), "identity"),
    ], (inputs,), "classification", metadata={"trained": False})
    X = rng.normal(size=(samples, inputs))
    y = rng.integers(0, outputs, size=samples)
    return compile_network(net, X, y, CompileOptions(objective="fit", keep=keep))


def blocks_of_size(problem: ir.Problem, size: int, count: int) -> list[ir.Problem]:
    """Up to ``count`` penalised blocks of exactly ``size`` variables (the first solved as block 0 is)."""
    p, _ = run_pipeline(problem, PIPELINE.format(size=size))
    blocks = blocks_of(p, constraints="ignore")
    subs = [block_problem(p, b, first=(i == 0)) for i, b in enumerate(blocks)]
    return [s for s in subs if s.num_vars == size][:count]


def run(config: str, sub: ir.Problem, num_reads: int, seed: int) -> tuple[float, float, float, float, float]:
    """(seconds, best energy after the polish, chain-break fraction, sampling seconds, polish seconds)."""
    if config == "before":
        clear_embedding_cache()
        _mock_sampler.cache_clear()
        solver = LocalPegasusSolver(via="dimod", num_sweeps=1000)
    elif config == "arrays@1000":
        solver = LocalPegasusSolver(num_sweeps=1000)
    else:
        solver = LocalPegasusSolver()
    t0 = time.perf_counter()
    s = solver.sample(sub, num_reads=num_reads, seed=seed)
    return (time.perf_counter() - t0, float(s.energies.min()), float(s.info["chain_break_fraction"]),
            float(s.info["sample_seconds"]), float(s.info["postprocess_seconds"]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="sizes 64 and the Pegasus block size, one block, two repeats")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--blocks", type=int, default=2, help="blocks per size")
    ap.add_argument("--num-reads", type=int, default=100)
    args = ap.parse_args()
    block = default_block_size()
    sizes = (64, block) if args.quick else (64, 128, block)
    repeats, nblocks = (2, 1) if args.quick else (args.repeats, args.blocks)
    configs = ("before", "arrays@1000", "new")

    problem = layer_problem()
    clear_embedding_cache()
    _mock_sampler.cache_clear()
    t0 = time.perf_counter()
    LocalPegasusSolver().sample(blocks_of_size(problem, sizes[-1], 1)[0], num_reads=args.num_reads, seed=0)
    print(f"new path, first (cold) call on a {sizes[-1]}-variable block: {time.perf_counter() - t0:.2f} s "
          f"(graph, mock sampler, busclique cache, embedding check)\n")

    print(f"{'size':>4} {'config':>12} {'s/block':>8} {'sampling':>8} {'polish':>7} {'best E':>14} {'median E':>14} "
          f"{'chain breaks':>12}")
    summary = []
    for size in sizes:
        subs = blocks_of_size(problem, size, nblocks)
        res: dict[str, dict[str, list[float]]] = {c: {"s": [], "best": [], "cbf": [], "sa": [], "pp": []}
                                               for c in configs}
        for b, sub in enumerate(subs):
            for r in range(repeats):
                for c in configs:
                    for key, val in zip(("s", "best", "cbf", "sa", "pp"),
                                        run(c, sub, args.num_reads, seed=1000 * b + r)):
                        res[c][key].append(val)
        for c in configs:
            # per block: the lowest energy over the repeats; summed over the blocks
            best = np.array(res[c]["best"]).reshape(len(subs), repeats)
            print(f"{size:>4} {c:>12} {np.median(res[c]['s']):>8.3f} {np.median(res[c]['sa']):>8.3f} "
                  f"{np.median(res[c]['pp']):>7.3f} {best.min(axis=1).sum():>14.6f} "
                  f"{np.median(best, axis=1).sum():>14.6f} {np.mean(res[c]['cbf']):>12.3f}")
        b_best = np.array(res["before"]["best"]).reshape(len(subs), repeats)
        n_best = np.array(res["new"]["best"]).reshape(len(subs), repeats)
        summary.append((size, len(subs), np.median(res["before"]["s"]) / np.median(res["new"]["s"]),
                        np.median(res["arrays@1000"]["s"]) / np.median(res["new"]["s"]),
                        float((n_best.min(axis=1) - b_best.min(axis=1)).sum())))
    print(f"\n{'size':>4} {'blocks':>6} {'before/new time':>16} {'arrays@1000/new':>16} {'E_new - E_before':>17} "
          f"{'new as good':>11}")
    for size, nb, r1, r2, de in summary:
        print(f"{size:>4} {nb:>6} {r1:>15.1f}x {r2:>15.1f}x {de:>17.3g} {'yes' if de <= 1e-9 else 'NO':>11}")
    print("\nE: the lowest polished energy per block (over the repeats), summed over the blocks; new as good: "
          "E_new <= E_before + 1e-9. Seconds are medians; sampling = embedded sampling and unembedding, "
          "polish = the swap postprocess.")


if __name__ == "__main__":
    main()
