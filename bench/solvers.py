"""Solvers through hardware-sized pieces vs the whole layer: gap to the best energy of the run, and time.

The problem (issue 9's case): a random (untrained) ReLU MLP 64-W-10
(kaiming-uniform, seed 0) on the built-in ``digits`` training split, compiled
with the ``fit`` objective (strong-lottery-ticket setting) at keep 25 %: W
variables, one dense W x W coupling block, one cardinality constraint.

Every run solves that IR through ``qsel.solving.solve_to_result`` (the
path ``qsel solve`` takes) with a solver spec:

* ``tabu``, ``sa`` — the whole layer, default options (constraint lowered to a
  penalty, samples polished).
* ``decompose(tabu)`` — the large-neighbourhood search through subproblems of
  at most B variables (B: a Pegasus clique less a margin,
  ``qsel.passes.topology.default_block_size()``), tabu on each.
* ``decompose{reads=10}(local-pegasus)`` — the same with every subproblem
  minor-embedded onto the real Pegasus P16 graph (the D-Wave stand-in), 10
  reads per subproblem as ``qsel select`` asks of an annealer.
* ``decompose{block=12,accept=anneal,time-limit=...}(qaoa)`` — 12-qubit
  subproblems on a simulated QAOA circuit, block answers accepted with a
  cooling Metropolis rule (``--qaoa``; minutes), and the same with ``exact``
  12-variable blocks for comparison. Blocks this small never improve the
  swap-local minimum when only improvements are accepted.
* ``partition B + iterate, tabu`` — the fixed partition way (budgets split
  per block), for reference.
* baselines in the same run: greedy forward selection and the best of 1,000
  random feasible masks.

The gap is (E - E_best) / |E_best| with E_best the lowest feasible energy any
run found; time is also given as a ratio to whole-layer tabu's. Medians over
``--repeats`` seeds. A second table times the ``exact`` solver's split-bit
enumeration against the plain vectorised baseline (``Problem.energies`` over
every assignment in chunks of 2^16 rows) on dense blocks of 20 and 22 variables. Usage: ``python bench/solvers.py [--width 1024]
[--repeats 3] [--qaoa] [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from qsel import ir
from qsel.frontend.compile import CompileOptions, compile_network
from qsel.frontend.data import load_dataset
from qsel.frontend.init import init_network
from qsel.targets.base import from_spec
from qsel.passes.topology import DEFAULT, default_block_size
from qsel.targets.registry import get_solver
from qsel.solving import solve_to_result


def digits_problem(width: int, keep: float = 0.25, seed: int = 0) -> ir.Problem:
    net = init_network([64, width, 10], seed=seed)
    data = load_dataset("digits", "train")
    return compile_network(net, data.X, data.y, CompileOptions(objective="fit", keep=keep))


def run(problem: ir.Problem, spec: str, *, pipeline: str = "", mode: str = "independent", seed: int = 0,
        num_reads: int = 100) -> tuple[float, bool, float]:
    solver = from_spec(spec, "solver", get_solver)
    t0 = time.perf_counter()
    r = solve_to_result(problem, solver, pipeline=pipeline, mode=mode, num_reads=num_reads, seed=seed)
    x = np.array([r.result.assignment[lab] for lab in problem.labels], dtype=np.float64)
    return problem.energy(x), bool(problem.feasible(x[None])[0]), time.perf_counter() - t0


def baselines(problem: ir.Problem, seed: int = 0) -> list[tuple[str, float, float]]:
    from qsel import baselines as bl

    t0 = time.perf_counter()
    greedy = problem.energy(bl.solve(problem, "greedy"))
    t_greedy = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    n, k = problem.num_vars, int(problem.constraints[0].rhs)
    X = np.zeros((1000, n))
    for r in range(1000):
        X[r, rng.choice(n, size=k, replace=False)] = 1
    return [("greedy (baseline)", greedy, t_greedy), ("best of 1,000 random (baseline)", float(problem.energies(X).min()), 0.0)]


def exact_table(sizes=(20, 22)) -> None:
    from qsel.targets.classical import ExactSolver, bits

    print("\n| exact enumeration | qsel exact s | baseline s (energies of 2^16-row chunks) | ratio |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(1)
    for n in sizes:
        p = ir.Problem.from_qubo_matrix(rng.normal(size=(n, n)))
        t0 = time.perf_counter()
        best = ExactSolver().sample(p, num_reads=1).energies[0]
        t_exact = time.perf_counter() - t0
        t0 = time.perf_counter()
        low = np.inf
        for start in range(0, 1 << n, 1 << 16):
            low = min(low, float(p.energies(bits(1 << 16, n, start)).min()))
        t_base = time.perf_counter() - t0
        assert abs(low - best) <= 1e-9 * max(1.0, abs(best))
        print(f"| {n} variables (2^{n} states) | {t_exact:.2f} | {t_base:.2f} | {t_base / t_exact:.1f}x |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=1024, help="hidden units (variables)")
    ap.add_argument("--repeats", type=int, default=3, help="seeds per method (medians are printed)")
    ap.add_argument("--qaoa", action="store_true", help="also run decompose{block=20}(qaoa) (minutes)")
    ap.add_argument("--qaoa-seconds", type=float, default=480.0, help="time limit of the QAOA decomposition")
    ap.add_argument("--small-seconds", type=float, default=60.0, help="time limit of the exact 12-variable one")
    ap.add_argument("--quick", action="store_true", help="width 256, one repeat (a smoke test)")
    args = ap.parse_args(argv)
    width, repeats = (256, 1) if args.quick else (args.width, args.repeats)
    t0 = time.perf_counter()
    problem = digits_problem(width)
    print(f"problem: random 64-{width}-10 on digits, fit, keep 25 %: {problem.num_vars} variables, "
          f"{problem.num_couplings()} couplings, {problem.constraints[0].label} == {problem.constraints[0].rhs:g} "
          f"(compiled in {time.perf_counter() - t0:.2f} s)", flush=True)
    block = default_block_size()
    plan = [
        ("tabu (whole layer, default)", "tabu", "", "independent"),
        ("sa (whole layer, default)", "sa", "", "independent"),
        (f"decompose(tabu), blocks <= {block}", "decompose(tabu)", "", "independent"),
        (f"decompose(local-pegasus), blocks <= {block}", "decompose{reads=10}(local-pegasus)", "", "independent"),
        (f"partition {block} + iterate, tabu", "tabu", f"partition{{topology={DEFAULT}}}", "iterate"),
    ]
    plan.append(("decompose(exact), blocks of 12, anneal",
                 f"decompose{{block=12,accept=anneal,time-limit={args.small_seconds:g}}}(exact)", "", "independent"))
    if args.qaoa:
        plan.append(("decompose(qaoa), blocks of 12 qubits, anneal",
                     f"decompose{{block=12,accept=anneal,time-limit={args.qaoa_seconds:g}}}(qaoa)", "",
                     "independent"))
    rows: list[dict] = []
    for label, spec, pipe, mode in plan:
        reps = 1 if "qaoa" in spec else repeats
        res = [run(problem, spec, pipeline=pipe, mode=mode, seed=s) for s in range(reps)]
        rows.append({"run": label, "spec": spec + (f" -p '{pipe}' --mode {mode}" if pipe else ""),
                     "energies": [e for e, _, _ in res], "feasible": all(f for _, f, _ in res),
                     "seconds": statistics.median(t for _, _, t in res)})
        print(f"  done: {label}: {', '.join(f'{e:.6g}' for e, _, _ in res)} ({rows[-1]['seconds']:.1f} s median)",
              flush=True)
    for label, e, t in baselines(problem):
        rows.append({"run": label, "spec": "", "energies": [e], "feasible": True, "seconds": t})
    best = min(min(r["energies"]) for r in rows if r["feasible"])
    t_tabu = rows[0]["seconds"]
    print()
    print("| run | spec | median energy | median gap to best | worst gap | feasible | median s | time / whole tabu |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        gaps = [(e - best) / abs(best) for e in r["energies"]]
        print(f"| {r['run']} | `{r['spec']}` | {statistics.median(r['energies']):.6g} | "
              f"{100 * statistics.median(gaps):.2f} % | {100 * max(gaps):.2f} % | {r['feasible']} | "
              f"{r['seconds']:.1f} | {r['seconds'] / t_tabu:.2f}x |")
    print(f"\nbest known (lowest feasible energy of this run): {best:.6g}; repeats: {repeats} seeds")
    exact_table((18, 20) if args.quick else (20, 22))
    return 0


if __name__ == "__main__":
    sys.exit(main())
