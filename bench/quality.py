"""What qsel's subnetworks are worth: accuracy of the selected subnetwork against the baselines.

1. Random networks (strong lottery tickets, ``fit`` objective): MLPs with one
   hidden layer of width W on moons, circles, blobs and digits; keep a fraction
   of the hidden units chosen by qsel (the QUBO solved with ``--solver``) and by
   random, magnitude and greedy selection, plus exact enumeration where the
   layer has <= 20 units. Several seeds; mean and spread of test accuracy.
2. Trained networks (``reconstruct`` objective): a digits MLP pruned to 50%,
   25% and 10% of its hidden units, test accuracy with no retraining.

Also printed: how often qsel's accuracy is >= greedy's and >= magnitude's, and
qsel's objective relative to greedy's (the quantity the QUBO minimises).

    python bench/quality.py [--widths 16,64,256,1024] [--seeds 3] [--solver tabu] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict

from qsel.frontend.compile import CompileOptions
from qsel.frontend.data import check_compatible, load_dataset
from qsel.frontend.init import init_network
from qsel.frontend.train import train
from qsel.select import SelectConfig, _row, exact_possible, run_baseline, run_qsel

METHODS = ("random", "magnitude", "greedy", "exact")


def evaluate(network, data: str, keep: float, objective: str, solver: str, seed: int, samples: int | None):
    calib = check_compatible(network, load_dataset(data, "train", limit=samples))
    test = check_compatible(network, load_dataset(data, "test"))
    config = SelectConfig(CompileOptions(objective=objective, keep=keep), solver=solver, seed=seed,
                          num_reads=20)
    meta = {"calibration": {"dataset": data, "split": "train", "limit": samples,
                            "fingerprint": calib.fingerprint}}
    t = time.perf_counter()
    problem, result, _ = run_qsel(network, calib, config, None, meta)
    rows = {"qsel": _row("qsel", keep, network, calib, test, result, problem, time.perf_counter() - t)}
    for method in METHODS:
        if method == "exact" and not exact_possible(problem):
            continue
        p, res = run_baseline(method, network, calib, config, problem, meta)
        rows[method] = _row(method, keep, network, calib, test, res, p, 0.0)
    return rows


def summarise(title: str, results: dict, out: dict) -> None:
    print(f"\n{title}")
    methods = ["qsel", *METHODS]
    print(f"{'setting':<28}" + "".join(f"{m:>17}" for m in methods))
    wins = defaultdict(int)
    total = 0
    for setting, runs in results.items():
        cells = []
        for m in methods:
            accs = [r[m].accuracy for r in runs if m in r]
            if not accs:
                cells.append(f"{'-':>17}")
                continue
            sd = statistics.pstdev(accs) if len(accs) > 1 else 0.0
            cells.append(f"{statistics.mean(accs):>10.3f} ±{sd:5.3f}")
        print(f"{setting:<28}" + "".join(cells))
        for r in runs:
            total += 1
            wins["greedy"] += r["qsel"].accuracy >= r["greedy"].accuracy
            wins["magnitude"] += r["qsel"].accuracy >= r["magnitude"].accuracy
            wins["objective"] += r["qsel"].objective <= r["greedy"].objective * (1 + 1e-9)
        out[setting] = [{m: r[m].as_dict() for m in r} for r in runs]
    print(f"qsel accuracy >= greedy in {wins['greedy']}/{total} runs, >= magnitude in {wins['magnitude']}/{total}; "
          f"qsel objective <= greedy's in {wins['objective']}/{total}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="16,64,256,1024")
    ap.add_argument("--datasets", default="moons,circles,blobs,digits")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--keep", type=float, default=0.5)
    ap.add_argument("--solver", default="tabu")
    ap.add_argument("--samples", type=int, default=None, help="calibration samples (default: whole train split)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    out: dict = {"random": {}, "trained": {}}
    start = time.perf_counter()

    random_results: dict[str, list] = {}
    for data in args.datasets.split(","):
        probe = load_dataset(data, "train")
        d_in, classes = int(probe.X.shape[1]), int(probe.num_classes or 2)
        for width in (int(w) for w in args.widths.split(",")):
            runs = []
            for seed in range(args.seeds):
                net = init_network([d_in, width, classes], "relu", "kaiming-uniform", seed)
                runs.append(evaluate(net, data, args.keep, "fit", args.solver, seed, args.samples))
            random_results[f"{data} W={width} keep={args.keep}"] = runs
    summarise(f"1. random networks, fit objective, test accuracy (mean ± spread over {args.seeds} seeds)",
              random_results, out["random"])

    trained_results: dict[str, list] = {}
    digits = load_dataset("digits", "train")
    for keep in (0.5, 0.25, 0.1):
        runs = []
        for seed in range(args.seeds):
            net, _ = train(init_network([64, 64, 10], "relu", "kaiming-uniform", seed), digits, seed=seed)
            runs.append(evaluate(net, "digits", keep, "reconstruct", args.solver, seed, args.samples))
        trained_results[f"digits 64-64-10 keep={keep}"] = runs
    summarise("2. trained digits MLP, reconstruct objective, no retraining", trained_results, out["trained"])
    print(f"\nsolver {args.solver}; total {time.perf_counter() - start:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
