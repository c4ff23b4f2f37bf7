"""How far a calibration criterion can order refit selections by test accuracy (issue 13's 80 % figure).

For the one-hidden-layer MLPs of ``bench/quality.py`` (random 64-256-10 with the ``fit`` target, trained
64-64-10 with ``scaled``), at each keep ratio and seed:

1. the refit rows of ``bench/quality.py`` for the same setting (qsel and every rival), and the best rival;
2. ``--draws`` selections that are swap-optimal for the ridge refit error (select --refit's swap polish,
   :mod:`qsel.frontend.refit_swaps`, from uniformly random starts: the local optima qsel's refit-aware
   selection ends in), each refit like select --refit's and evaluated on the test split;
3. for those draws, the Spearman rank correlation of test accuracy with (a) the refit error on the
   calibration batch and (b) a ``--folds``-fold cross-validated refit error (ridge fitted without the fold,
   measured on it): what a selection criterion computed from the calibration batch could know;
4. the share of draws whose test accuracy is >= the best rival's: how often the refit objective's own optima
   meet the "qsel >= best baseline" figure without any further edge.

    python bench/refit_noise.py [--seeds 3] [--draws 16] [--keeps 0.25,0.5] [--networks 'MLP random,MLP trained']
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).parent))
import quality  # noqa: E402  (the settings and rival rows are bench/quality.py's own)

from qsel.frontend.data import load_dataset  # noqa: E402
from qsel.frontend.network import Trace  # noqa: E402
from qsel.frontend.refit import DEFAULT_RIDGE as RIDGE, _ridge  # noqa: E402  (select --refit's default)
from qsel.frontend.refit_select import _polish, _refit_on  # noqa: E402  (select --refit's own steps)


def features_and_target(net, X: np.ndarray, y: np.ndarray, objective: str) -> tuple[np.ndarray, np.ndarray]:
    """The hidden layer's activations and the refit target of the read-out (fit: one-hot labels; scaled and
    reconstruct: the dense logits; the objective's scale c does not change the argmax of a ridge refit)."""
    trace = Trace()
    net.forward(X, trace=trace)
    A = trace.post[net.layers[0].name]
    if objective == "fit":
        return A, np.eye(net.layers[-1].units)[y]
    return A, trace.pre[net.layers[-1].name]


def heldout_error(A: np.ndarray, T: np.ndarray, S: np.ndarray, At: np.ndarray, Tt: np.ndarray) -> float:
    """The refit error on (At, Tt) of the ridge refit fitted on (A, T)."""
    W, b, _ = _ridge(A[:, S], T, RIDGE)
    R = At[:, S] @ W.T + b - Tt
    return float(np.einsum("ij,ij->", R, R)) / len(At)


def cv_error(A: np.ndarray, T: np.ndarray, S: np.ndarray, folds: int) -> float:
    fold = np.arange(len(A)) % folds
    return sum(heldout_error(A[fold != f], T[fold != f], S, A[fold == f], T[fold == f]) * (fold == f).sum()
               for f in range(folds)) / len(A)


def draws(A: np.ndarray, T: np.ndarray, K: int, count: int, seed: int) -> list[np.ndarray]:
    """``count`` swap-optimal selections of K units from uniformly random starts (the swap polish that
    ends select --refit's selection)."""
    n = A.shape[1]
    rng = np.random.default_rng(1000 + seed)
    out = []
    for _ in range(count):
        x = np.zeros(n)
        x[rng.choice(n, K, replace=False)] = 1.0
        x, _ = _polish(A.T[:, :, None], T, x, np.inf, RIDGE, len(A), [])
        out.append(np.flatnonzero(x))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--draws", type=int, default=16)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--keeps", default="0.25,0.5")
    ap.add_argument("--networks", default="MLP random,MLP trained")
    ap.add_argument("--solver", default="decompose(tabu)")
    args = ap.parse_args()
    start = time.perf_counter()
    calib, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    shares = []
    print("| network | keep | seed | qsel | best rival | draws: mean (range) | Spearman acc~calib err | "
          "acc~CV err | draws >= best rival |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in args.networks.split(","):
        if not kind.startswith("MLP"):
            raise SystemExit(f"refit_noise: {kind!r}: only the one-hidden-layer MLPs are covered")
        objective = "fit" if kind.endswith("random") else "scaled"
        for seed in range(args.seeds):
            net = quality.network(kind, seed, calib)
            A, T = features_and_target(net, calib.X, calib.y, objective)
            At, _ = features_and_target(net, test.X, test.y, objective)
            for keep in (float(k) for k in args.keeps.split(",")):
                rows = quality.run_setting(net, kind, keep, objective, args.solver, seed, calib, test)
                best = max(quality.RIVALS, key=lambda m: rows[m + " + refit"].accuracy)
                best_acc = rows[best + " + refit"].accuracy
                K = int(round(keep * A.shape[1]))
                acc, err, cv = [], [], []
                for S in draws(A, T, K, args.draws, seed):
                    W, b, R = _refit_on(A.T[:, :, None], S, T, RIDGE)
                    acc.append(float(((At[:, S] @ W.T + b).argmax(axis=1) == test.y).mean()))
                    err.append(float(np.einsum("ij,ij->", R, R)) / len(A))
                    cv.append(cv_error(A, T, S, args.folds))
                acc_a = np.array(acc)
                share = float((acc_a >= best_acc - 1e-12).mean())
                shares.append(share)
                print(f"| {kind} | {keep:.0%} | {seed} | {rows['qsel + refit'].accuracy:.3f} | {best_acc:.3f} ({best}) "
                      f"| {acc_a.mean():.3f} ({acc_a.min():.3f}–{acc_a.max():.3f}) | {spearmanr(acc, err)[0]:+.2f} "
                      f"| {spearmanr(acc, cv)[0]:+.2f} | {share:.2f} |", flush=True)
    print(f"\nmean share of swap-optimal draws >= the best rival: {np.mean(shares):.2f} over {len(shares)} settings "
          f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
