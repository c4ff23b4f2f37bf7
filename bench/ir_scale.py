"""IR at scale: a dense 4,096-variable problem through build, energies, binary and text I/O.

Each stage is timed (median of --repeats runs) next to a bare-numpy baseline
measured in the same run, and the ratio is printed; peak traced memory
(tracemalloc) is shown against the bytes of one dense n x n float64 matrix.

    python bench/ir_scale.py [--n 4096] [--samples 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Callable

import numpy as np

from qsel import ir


def timed(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_bytes(fn: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = ap.parse_args()
    n, s, reps = args.n, args.samples, args.repeats
    rng = np.random.default_rng(0)
    Q = rng.normal(size=(n, n))
    X = rng.integers(0, 2, size=(s, n)).astype(np.float64)
    labels = [f"fc1.n{i}" for i in range(n)]
    matrix_mb = n * n * 8 / 2**20
    tmp = Path(tempfile.mkdtemp(prefix="qsel-bench-"))

    def build() -> ir.Problem:
        v = ir.Variables.build(labels, layer="fc1", unit=np.arange(n), granularity="neuron")
        return ir.Problem.from_qubo_matrix(Q, variables=v)

    problem = build()
    upper = problem.dense[0].matrix
    ir.save(problem, tmp / "p.qirz")
    text = ir.dumps(problem)
    (tmp / "p.qir").write_text(text)
    np.save(tmp / "m.npy", upper)

    stages: list[tuple[str, Callable[[], object], str, Callable[[], object], int]] = [
        ("build (from n x n Q)", build, "np.triu(Q+Q.T, 1)", lambda: np.triu(Q + Q.T, 1), reps),
        (f"energies of {s} assignments", lambda: problem.energies(X), "einsum(X @ U, X)",
         lambda: np.einsum("sn,sn->s", X @ upper, X), reps),
        ("binary save (.qirz)", lambda: ir.save(problem, tmp / "p.qirz"), "np.save(U)",
         lambda: np.save(tmp / "m.npy", upper), reps),
        ("binary load (.qirz, verified)", lambda: ir.load(tmp / "p.qirz"), "np.load(U)",
         lambda: np.load(tmp / "m.npy"), reps),
        ("text print (.qir)", lambda: ir.dumps(problem), "repr of every float",
         lambda: [repr(x) for x in upper[np.triu_indices(n, 1)].tolist()], 1),
        ("text parse (.qir, verified)", lambda: ir.verify(ir.loads(text)), "float() of every row value",
         lambda: [float(t) for line in text.splitlines() if line.startswith("  ") for t in line.split()], 1),
    ]
    print(f"qsel IR scale benchmark: n = {n} variables (dense {n * (n - 1) // 2:,} couplings), "
          f"{s} assignments, dense matrix {matrix_mb:.0f} MiB")
    print(f"text file {len(text) / 2**20:.0f} MiB, binary file {(tmp / 'p.qirz').stat().st_size / 2**20:.0f} MiB")
    header = f"{'stage':<32} {'qsel s':>9} {'baseline':<24} {'base s':>9} {'ratio':>7} {'peak MiB':>9} {'peak/matrix':>11}"
    print(header)
    print("-" * len(header))
    for name, fn, base_name, base_fn, r in stages:
        t_q = timed(fn, r)
        t_b = timed(base_fn, r)
        if args.no_memory:
            mem = ""
        else:
            peak = peak_bytes(fn) / 2**20
            mem = f"{peak:9.0f} {peak / matrix_mb:11.2f}"
        print(f"{name:<32} {t_q:9.3f} {base_name:<24} {t_b:9.3f} {t_q / t_b:7.2f} {mem}")


if __name__ == "__main__":
    main()
