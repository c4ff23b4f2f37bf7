"""Do the gate-model QAOA solvers find the optimum of small cardinality blocks? (issue 9, part 4)

For each solver and block family, on ``--blocks`` seeded 8-variable blocks with one
constraint sum x == K (K drawn from 2..4), the solver runs with its DEFAULT options
and ``num_reads=100`` (qsel's default); the reference is the ``exact`` solver's best
feasible energy. Printed as a markdown table:

* found: share of blocks whose best returned sample is optimal (within 1e-9 relative);
* median P(opt): median probability of the optimum in the final QAOA state (the
  solver's ``optimum_probability``, or ``probability_of_best_sample`` for OpenQAOA);
* median s/block: median wall time of one ``sample`` call (OpenQAOA: including
  the start of its Python 3.10 process).

Block families:

* ``neuron``: neuron-selection blocks as in ARCHITECTURE.md, Q = (A^T A / m) o (W^T W)
  from ReLU activations A (m x 8) and Gaussian weights W (k x 8), r_i = 1/m sum_s a_si (w_i . t_s)
  against a reference T that is the dense layer's own output (``reconstruct``) on even seeds and a
  Gaussian target (``fit``) on odd seeds; linear h_i = Q_ii - 2 r_i, couplings 2 Q_ij, offset ||T||^2 / m;
* ``gauss``: symmetric QUBO matrices with i.i.d. N(0, 1) entries (upper and lower halves averaged).

    python bench/qaoa_blocks.py [--blocks 40] [--solvers qaoa,openqaoa] [--n 8]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from qsel import ir
from qsel.targets.base import from_spec
from qsel.targets.classical import ExactSolver
from qsel.targets.registry import get_solver

FAMILIES = ("neuron", "gauss")


def neuron_block(seed: int, n: int = 8) -> ir.Problem:
    """A neuron-selection block: E(s) = 1/m ||(A o s) W^T - T||^2 as a QUBO, with sum s == K."""
    rng = np.random.default_rng([1, seed])
    m, k = int(rng.integers(32, 129)), int(rng.integers(4, 17))
    A = np.maximum(rng.normal(size=(m, n)), 0.0)
    W = rng.normal(size=(k, n)) / np.sqrt(n)
    T = A @ W.T if seed % 2 == 0 else rng.normal(size=(m, k))
    Q = (A.T @ A / m) * (W.T @ W)
    r = np.einsum("si,ki,sk->i", A, W, T) / m
    M = Q.copy()
    np.fill_diagonal(M, np.diag(Q) - 2.0 * r)
    return _with_budget(ir.Problem.from_qubo_matrix(M, [f"fc1.n{i}" for i in range(n)],
                                                    offset=float(np.sum(T * T) / m)), rng)


def gauss_block(seed: int, n: int = 8) -> ir.Problem:
    """A random Gaussian QUBO x^T M x with M symmetric, M_ij ~ N(0, 1) averaged over (i, j) and (j, i)."""
    rng = np.random.default_rng([2, seed])
    M = rng.normal(size=(n, n))
    return _with_budget(ir.Problem.from_qubo_matrix((M + M.T) / 2, [f"x{i}" for i in range(n)]), rng)


def _with_budget(problem: ir.Problem, rng: np.random.Generator) -> ir.Problem:
    k = int(rng.integers(2, 5))
    return problem.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(problem.num_vars), "==", k),))


def blocks(family: str, count: int, n: int = 8) -> list[ir.Problem]:
    make = {"neuron": neuron_block, "gauss": gauss_block}[family]
    return [make(seed, n) for seed in range(count)]


def optimum_probability(info: dict) -> float:
    for key in ("optimum_probability", "probability_of_best_sample"):
        if info.get(key) is not None:
            return float(info[key])
    return float("nan")


def run(solver_spec: str, problems: list[ir.Problem], *, num_reads: int = 100) -> dict[str, float]:
    """found share, median optimum probability and median seconds of ``solver_spec`` on ``problems``."""
    solver = from_spec(solver_spec, "solver", get_solver)
    found, probs, secs = [], [], []
    for seed, problem in enumerate(problems):
        ref = float(ExactSolver().sample(problem, num_reads=1).energies[0])
        t0 = time.perf_counter()
        s = solver.sample(problem, num_reads=num_reads, seed=seed)
        secs.append(time.perf_counter() - t0)
        feasible = problem.feasible(s.X)
        best = float(s.energies[feasible].min()) if feasible.any() else np.inf
        found.append(best <= ref + 1e-9 * max(1.0, abs(ref)))
        probs.append(optimum_probability(s.info))
        print(f"  {solver_spec} block {seed}: best {best:.6g} exact {ref:.6g} P(opt) {probs[-1]:.3f} "
              f"{secs[-1]:.2f} s", file=sys.stderr, flush=True)
    return {"found": float(np.mean(found)), "median_p_opt": float(np.nanmedian(probs)),
            "median_s": float(np.median(secs)), "blocks": len(problems)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=40)
    ap.add_argument("--solvers", default="qaoa,openqaoa", help="comma-separated solver specs (no braces' commas)")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--n", type=int, default=8, help="variables per block")
    ap.add_argument("--num-reads", type=int, default=100)
    args = ap.parse_args(argv)
    solvers = [s for s in _split_specs(args.solvers) if s]
    rows = []
    for family in [f for f in args.families.split(",") if f]:
        problems = blocks(family, args.blocks, args.n)
        for spec in solvers:
            rows.append((spec, family, run(spec, problems, num_reads=args.num_reads)))
    print(f"{args.blocks} seeded {args.n}-variable blocks with sum x == K (K in 2..4), num_reads={args.num_reads}, "
          f"default options; reference: exact\n")
    print("| solver | blocks | found the optimum | median P(opt) | median s/block |")
    print("|---|---|---|---|---|")
    for spec, family, r in rows:
        print(f"| `{spec}` | {family} | {100 * r['found']:.1f} % | {r['median_p_opt']:.3f} | {r['median_s']:.2f} |")


def _split_specs(text: str) -> list[str]:
    """Split on commas outside braces: ``qaoa{p=4,cvar=0.2},openqaoa`` -> two specs."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return out + [cur.strip()]


if __name__ == "__main__":
    main()
