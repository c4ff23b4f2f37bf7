"""Frontend lowering speed: one layer's QUBO vs the bare GEMM floor, and vs pyqubo.

1. For n = 1,024 and 4,096 units, m = 2,048 calibration samples, k = 256
   outputs: time the full lowering to an IR Problem (Q = (A^T A/m) o (W^T W),
   r, h, upper-triangular J, the cardinality constraint) against the floor of
   the two GEMMs alone (A.T @ A and W.T @ W with numpy). Target: <= 1.5x.
   Two rows per size: ``reconstruct`` (the default for trained networks,
   T = A W^T so r = Q 1) and ``explicit T`` (a given m x k target, e.g. the
   sequential schedule, which adds the O(m n k) product T W).
2. At n = 1,000: the same QUBO built term by term with pyqubo expressions
   (sum_ij Q_ij x_i x_j - 2 sum_i r_i x_i + const, compiled to a QUBO) against
   qsel's lowering from the raw activations. Target: >= 100x faster.

    python bench/frontend_lowering.py [--repeats 3] [--sizes 1024,4096] [--pyqubo-n 1000]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import numpy as np

from qsel import ir
from qsel.frontend import lowering


def timed(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def lower_layer(A: np.ndarray, W: np.ndarray, T: np.ndarray | None, keep: int) -> ir.Problem:
    n = A.shape[1]
    h, upper, offset = lowering.neuron_terms(A, W, T).ir_arrays()
    variables = ir.Variables.build([f"fc1.n{i}" for i in range(n)], layer="fc1", unit=np.arange(n),
                                   granularity="neuron")
    return ir.Problem(variables, h, offset, (ir.DenseBlock(np.arange(n), upper),),
                      constraints=(ir.Constraint.cardinality("keep.fc1", np.arange(n), "==", keep),))


def pyqubo_build(Q: np.ndarray, r: np.ndarray, const: float):
    from pyqubo import Array

    n = Q.shape[0]
    x = Array.create("x", shape=n, vartype="BINARY")
    terms = []
    for i in range(n):
        terms.append((Q[i, i] - 2 * r[i]) * x[i])
        for j in range(i + 1, n):
            terms.append(2 * Q[i, j] * x[i] * x[j])
    from pyqubo import Num

    H = sum(terms, Num(const))
    return H.compile().to_qubo()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sizes", default="1024,4096")
    ap.add_argument("--samples", type=int, default=2048)
    ap.add_argument("--outputs", type=int, default=256)
    ap.add_argument("--pyqubo-n", type=int, default=1000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    m, k = args.samples, args.outputs
    print(f"frontend lowering: m = {m} samples, k = {k} outputs, median of {args.repeats}")
    print(f"{'n':>6} {'target':<12} {'lowering s':>11} {'GEMM floor s':>13} {'ratio':>7}  (target <= 1.5)")
    for n in (int(s) for s in args.sizes.split(",")):
        A = np.maximum(rng.normal(size=(m, n)), 0.0)
        W = rng.normal(size=(k, n)) / np.sqrt(n)
        T = rng.normal(size=(m, k))
        for label, target in (("reconstruct", None), ("explicit T", T)):
            t_low = timed(lambda: lower_layer(A, W, target, n // 4), args.repeats)
            t_floor = timed(lambda: (A.T @ A, W.T @ W), args.repeats)
            print(f"{n:>6} {label:<12} {t_low:>11.3f} {t_floor:>13.3f} {t_low / t_floor:>7.2f}")

    n = args.pyqubo_n
    A = np.maximum(rng.normal(size=(m, n)), 0.0)
    W = rng.normal(size=(k, n)) / np.sqrt(n)
    T = rng.normal(size=(m, k))
    t_qsel = timed(lambda: lower_layer(A, W, None, n // 4), args.repeats)
    terms = lowering.neuron_terms(A, W)
    start = time.perf_counter()
    qubo, offset = pyqubo_build(terms.Q, terms.r, terms.const)
    t_pyqubo = time.perf_counter() - start
    # Same QUBO: compare energies of a few assignments.
    problem = lower_layer(A, W, None, n // 4)
    X = rng.integers(0, 2, size=(4, n)).astype(float)
    idx = {f"x[{i}]": i for i in range(n)}
    e_py = np.array([offset + sum(v * x[idx[a]] * x[idx[b]] for (a, b), v in qubo.items()) for x in X])
    agree = np.allclose(e_py, problem.energies(X), rtol=1e-9, atol=1e-9)
    print(f"\npyqubo at n = {n}: pyqubo {t_pyqubo:.2f} s (once), qsel {t_qsel:.3f} s (median, reconstruct, incl. the GEMMs); "
          f"qsel is {t_pyqubo / t_qsel:.0f}x faster (target >= 100x); energies agree: {agree}")


if __name__ == "__main__":
    main()
