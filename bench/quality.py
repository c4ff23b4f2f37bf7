"""What qsel's subnetworks are worth: test accuracy against every baseline, with and without refit.

Settings (all on scikit-learn's digits, calibration = the whole train split, test = the test split):

* networks: a random MLP 64-256-10 and a random CNN conv8-conv16(stride 2)-10 (``fit`` objective: strong
  lottery tickets), a trained MLP 64-64-10 and the same CNN trained (``scaled`` objective: c times the
  dense logits, qsel's option for low keep; ``--objective`` overrides);
* MLPs select the hidden neurons (one layer, independent schedule); CNNs select channels in both conv
  layers with the sequential schedule;
* keep 10 / 25 / 50 %, seeds 0..S-1 (the seed draws the network and, for trained ones, the minibatches);
* methods on the same compiled objective: qsel (``--solver``, default decompose(tabu), the select default),
  random, magnitude, greedy, lasso (He et al. 2017), obs (Hassibi & Stork 1993 / SparseGPT);
* each selection also with ``refit`` (the next layers re-solved by ridge least squares, select --refit);
  qsel's refit row is select --refit's: the selection refined for the refit by majorize-minimize
  (:mod:`qsel.frontend.refit_select`), then refit like every baseline's.

Printed: a table of mean test accuracy over seeds per network and keep, without and with refit; win counts
(qsel >= the best of greedy, lasso, obs and magnitude in the same setting, and strictly better); and the
study of the trained 64-64-10 net at keep 10 % (reconstruct against scaled, qsel against greedy).
Plots (accuracy against keep, one panel per network, without and with refit) go to --plots.

    python bench/quality.py [--seeds 3] [--solver 'decompose(tabu)'] [--json out.json] [--plots docs/results]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from qsel.frontend.compile import CompileOptions
from qsel.frontend.data import check_compatible, load_dataset
from qsel.frontend.init import init_cnn, init_network
from qsel.frontend.train import train
from qsel.select import SelectConfig, _row, refit_aware_result, refit_row, run_baseline, run_qsel

BASELINES = ("random", "magnitude", "greedy", "lasso", "obs")
RIVALS = ("magnitude", "greedy", "lasso", "obs")  # the "best baseline" of the win count (random is a floor)
KEEPS = (0.1, 0.25, 0.5)
NETWORKS = ("MLP random", "MLP trained", "CNN random", "CNN trained")


def network(kind: str, seed: int, data):
    if kind.startswith("MLP"):
        net = init_network([64, 256, 10] if kind.endswith("random") else [64, 64, 10], "relu", "kaiming-uniform",
                           seed)
    else:
        net = init_cnn((1, 8, 8), [8, 16], 10, seed=seed, strides=[1, 2])
    if kind.endswith("trained"):
        net, _ = train(net, check_compatible(net, data), epochs=20 if kind.startswith("MLP") else 15, seed=seed)
    return net


def run_setting(net, kind: str, keep: float, objective: str, solver: str, seed: int, calib_all, test_all,
                methods=BASELINES) -> dict:
    """{method: Row, method + ' + refit': Row} for one network, keep and seed."""
    calib = check_compatible(net, calib_all)
    test = check_compatible(net, test_all)
    conv = kind.startswith("CNN")
    options = CompileOptions(objective=objective, keep=keep, granularity="channel" if conv else "neuron",
                             schedule="sequential" if conv else "independent")
    config = SelectConfig(options, solver=solver, seed=seed, num_reads=20)
    meta = {"calibration": {"dataset": "digits", "split": "train", "limit": None, "fingerprint": calib.fingerprint}}
    t = time.perf_counter()
    problem, result, _ = run_qsel(net, calib, config, None, meta)
    rows = {"qsel": _row("qsel", keep, net, calib, test, result, problem, time.perf_counter() - t)}
    aware = refit_aware_result(net, calib, config, problem, result)  # what select --refit does for qsel
    base = _row("qsel", keep, net, calib, test, aware, problem, time.perf_counter() - t)
    rows["qsel + refit"] = refit_row(base, net, calib, test, aware, problem, config.ridge)[0]
    for method in methods:
        p, res = run_baseline(method, net, calib, config, problem, meta)
        rows[method] = _row(method, keep, net, calib, test, res, p, 0.0)
        rows[f"{method} + refit"] = refit_row(rows[method], net, calib, test, res, p, config.ridge)[0]
    return rows


def wins(runs: list[dict], suffix: str) -> tuple[int, int, int]:
    """(qsel >= best rival, qsel > best rival, settings) with accuracies compared as measured (450 test samples:
    one sample is 0.0022, so equal means the same number of correct answers)."""
    ge = gt = 0
    for r in runs:
        q = r["qsel" + suffix].accuracy
        best = max(r[m + suffix].accuracy for m in RIVALS)
        ge += q >= best - 1e-12
        gt += q > best + 1e-12
    return ge, gt, len(runs)


def table(results: dict, suffix: str, title: str) -> list[str]:
    methods = ["qsel", *BASELINES]
    lines = [f"\n{title}", f"{'network':<13}{'keep':>6}" + "".join(f"{m:>15}" for m in methods)]
    md = [f"| network | keep | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for (kind, keep), runs in results.items():
        means = {m: statistics.mean(r[m + suffix].accuracy for r in runs) for m in methods}
        sds = {m: statistics.pstdev([r[m + suffix].accuracy for r in runs]) for m in methods}
        best = max(means[m] for m in methods)
        lines.append(f"{kind:<13}{keep:>6.2f}" + "".join(f"{means[m]:>9.3f} ±{sds[m]:4.3f}" for m in methods))
        md.append(f"| {kind} | {keep:.0%} | " + " | ".join(
            (f"**{means[m]:.3f}**" if means[m] >= best - 1e-12 else f"{means[m]:.3f}") for m in methods) + " |")
    print("\n".join(lines))
    return md


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(NETWORKS), figsize=(4.0 * len(NETWORKS), 7.0), sharey=True)
    for row, suffix in enumerate(("", " + refit")):
        for col, kind in enumerate(NETWORKS):
            ax = axes[row, col]
            for m in ("qsel", *BASELINES):
                pts = [(keep, statistics.mean(r[m + suffix].accuracy for r in runs))
                       for (k, keep), runs in results.items() if k == kind]
                if pts:
                    ax.plot(*zip(*sorted(pts)), marker="o", lw=2.4 if m == "qsel" else 1.2, label=m)
            ax.set_title(f"{kind}{' + refit' if suffix else ''}", fontsize=10)
            ax.set_xlabel("fraction kept")
            ax.grid(alpha=0.3)
        axes[row, 0].set_ylabel("test accuracy")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def study(seeds: int, solver: str, calib_all, test_all) -> list[str]:
    """Trained 64-64-10 at keep 10 %: reconstruct against scaled, qsel against greedy (no refit)."""
    acc = defaultdict(list)
    for seed in range(seeds):
        net = network("MLP trained", seed, calib_all)
        for objective in ("reconstruct", "scaled"):
            rows = run_setting(net, "MLP trained", 0.1, objective, solver, seed, calib_all, test_all,
                               methods=("greedy",))
            for m in ("qsel", "greedy"):
                acc[(m, objective)].append(rows[m].accuracy)
                acc[(m + " objective", objective)].append(rows[m].objective)
    lines = ["\ntrained 64-64-10, keep 10 %, no refit: test accuracy per seed (objective value in brackets)"]
    for objective in ("reconstruct", "scaled"):
        for m in ("qsel", "greedy"):
            a, o = acc[(m, objective)], acc[(m + " objective", objective)]
            lines.append(f"  {m:<7}{objective:<12}" + "  ".join(f"{x:.3f} [{v:.4g}]" for x, v in zip(a, o))
                         + f"   mean {statistics.mean(a):.3f}")
    print("\n".join(lines))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--solver", default="decompose(tabu)")
    ap.add_argument("--networks", default=",".join(NETWORKS))
    ap.add_argument("--keeps", default=",".join(map(str, KEEPS)))
    ap.add_argument("--trained-objective", default="scaled", help="objective for trained networks")
    ap.add_argument("--json", default=None)
    ap.add_argument("--plots", default=None, metavar="DIR", help="write quality_accuracy_vs_keep.png there")
    args = ap.parse_args()
    start = time.perf_counter()
    calib_all, test_all = load_dataset("digits", "train"), load_dataset("digits", "test")
    results: dict = {}
    for kind in args.networks.split(","):
        objective = "fit" if kind.endswith("random") else args.trained_objective
        for seed in range(args.seeds):
            net = network(kind, seed, calib_all)
            for keep in (float(k) for k in args.keeps.split(",")):
                results.setdefault((kind, keep), []).append(
                    run_setting(net, kind, keep, objective, args.solver, seed, calib_all, test_all))
        print(f"{kind}: done at {time.perf_counter() - start:.0f} s", flush=True)
    runs = [r for rs in results.values() for r in rs]
    md_plain = table(results, "", "without refit: mean test accuracy (± spread over seeds)")
    md_refit = table(results, " + refit", "with refit (random nets: the refit trains the read-out)")
    for suffix, what in (("", "without refit"), (" + refit", "with refit")):
        ge, gt, n = wins(runs, suffix)
        print(f"{what}: qsel >= best of {', '.join(RIVALS)} in {ge}/{n} settings ({ge / n:.0%}), "
              f"strictly better in {gt}/{n} ({gt / n:.0%})")
    lines = study(args.seeds, args.solver, calib_all, test_all)
    print(f"\nsolver {args.solver}; total {time.perf_counter() - start:.0f} s")
    if args.plots:
        plot(results, Path(args.plots) / "quality_accuracy_vs_keep.png")
    if args.json:
        out = {"settings": [{"network": k, "keep": keep, "seed": i, "rows": {m: r.as_dict() for m, r in run.items()}}
                            for (k, keep), rs in results.items() for i, run in enumerate(rs)],
               "markdown": {"plain": md_plain, "refit": md_refit}, "study": lines,
               "wins": {s or "plain": wins(runs, s) for s in ("", " + refit")}}
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
