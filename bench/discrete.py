"""Discrete weights: qsel's QUBO solve against round-to-nearest, GPTQ-style rounding and sign-rounded least squares.

Run:  .venv/bin/python bench/discrete.py [--seeds 0,1,2] [--reads 10] [--epochs 30] [--cnn]

1. Post-training quantisation (issue 14's first "done when"). Per seed a
   64-64-10 ReLU network is built and trained on ``digits`` with qsel's own
   ``init``/``train`` code; each dense layer is quantised (independent
   schedule, calibration = the digits train split) to ternary and to 2-bit
   weights on one grid per output unit (least-squares scale). Methods:
   round-to-nearest, GPTQ-style rounding (Frantar et al. 2022), and qsel:
   the compiled IR (recorded GPTQ initial state) solved per output unit by
   ``warm(tabu)`` -- multistart tabu plus tabu from the recorded state -- and,
   for reference, plain ``tabu``. Printed: the fraction of output units whose
   calibration objective is below both baselines', the summed objective, and
   the test accuracy with every layer quantised.
2. Binary read-out on random features for ``gaussian2d`` (issue 14's second):
   a 2-64-2 network with random sin features (uniform init, not trained), the
   read-out trained with ``--objective train --weights binary`` against
   sign-rounded least squares (sign(w_LS) times the same per-output scale) and
   gradient descent on the read-out alone (qsel's Adam training, cross-entropy,
   features fixed) followed by sign rounding with a least-squares scale.
3. A sin-activation network with discretised weights on ``moons``: trained by
   gradient descent, then every layer made ternary by rounding (round-to-
   nearest: gradient descent followed by rounding), by GPTQ, and by qsel.

4. ``--cnn`` (instead of 1-3): a CNN conv8 (stride 1) - conv16 (stride 2) - 10 on digits as 1x8x8 images
   (``qsel init --conv 8,16 --strides 1,2 --input-shape 1,8,8 --sizes 10``), trained with qsel's own
   ``train``, every conv and dense layer quantised to ternary: a conv output channel is one problem over the
   im2col patches. Printed as in 1.

Every number comes from this run; the machine may be shared (times are not compared).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from qsel.frontend import discrete as D
from qsel.frontend import discrete_baselines as B
from qsel.frontend.data import check_compatible, load_dataset
from qsel.frontend.init import init_cnn, init_network
from qsel.frontend.metrics import accuracy
from qsel.frontend.network import Network
from qsel.frontend.train import train
from qsel.frontend.discrete_apply import solver_levels


def chooser(method: str, reads: int, seed: int):
    """LayerData -> level indices: a baseline, or qsel's solve of the layer's IR (``qsel`` = warm(tabu) from the
    recorded GPTQ state, ``tabu`` = plain multistart tabu)."""
    if method == "qsel":
        return solver_levels("warm(tabu)", num_reads=reads, seed=seed, warm_start="gptq")
    if method == "tabu":
        return solver_levels("tabu", num_reads=reads, seed=seed, warm_start=None)
    return lambda d: B.levels(d, method)


def quantise(net, X, y, kind: str, grid: D.Grid, method: str, schedule: str, reads: int, seed: int,
             layers: tuple[str, ...] | None = None):
    """(weights per layer, per-unit calibration objectives, seconds) of one method on every layer.

    ``sequential``: each method's own earlier layers feed its later ones (each on its own problem)."""
    choose = chooser(method, reads, seed)
    t0 = time.perf_counter()
    seq = schedule == "sequential"
    data = D.prepare(net, X, y, kind, grid, layers, None, schedule=schedule, solver=choose if seq else None)
    W = {d.name: d.levels_of(d.chosen if seq else choose(d)) for d in data}
    E = np.concatenate([d.unit_errors(W[d.name]) for d in data])
    return W, E, time.perf_counter() - t0


def below(e: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """e < ref beyond rounding: the energies are sums of O(n^2) terms of size ~ref, so allow 1e-9 relative."""
    return e < ref - 1e-9 * np.maximum(np.abs(ref), 1e-300)


def ptq(seeds: list[int], reads: int, epochs: int, schedule: str) -> None:
    train_set, test_set = load_dataset("digits", "train"), load_dataset("digits", "test")
    print(f"== post-training quantisation: 64-64-10 ReLU on digits, every dense layer, {schedule} schedule, "
          f"calibration = train split ({len(train_set)}), test split ({len(test_set)}); {reads} reads per unit")
    header = (f"{'seed':>4} {'grid':>11} {'units':>5} {'<rtn':>6} {'<gptq':>6} {'<both':>6} "
              f"{'tabu<both':>9} | {'obj rtn':>8} {'obj gptq':>8} {'obj tabu':>8} {'obj qsel':>8} | "
              f"{'acc fp':>6} {'rtn':>6} {'gptq':>6} {'tabu':>6} {'qsel':>6} | {'qsel s':>6}")
    print(header)
    totals: dict[str, list] = {}
    for seed in seeds:
        net, _ = train(init_network([64, 64, 10], "relu", seed=seed), train_set, epochs=epochs, lr=3e-3, seed=seed)
        acc_fp = accuracy(net, test_set)
        for spec in ("ternary", "int{bits=2}"):
            grid = D.parse_grid(spec, None, "binary")
            W, E, secs = {}, {}, {}
            for m in ("nearest", "gptq", "tabu", "qsel"):
                W[m], E[m], secs[m] = quantise(net, train_set.X, train_set.y, "quantize", grid, m, schedule, reads,
                                               seed)
            lt_r, lt_g = below(E["qsel"], E["nearest"]), below(E["qsel"], E["gptq"])
            tabu_both = np.mean(below(E["tabu"], E["nearest"]) & below(E["tabu"], E["gptq"]))
            acc = {m: accuracy(D.with_weights(net, W[m]), test_set) for m in W}
            print(f"{seed:>4} {spec:>11} {E['qsel'].size:>5} {lt_r.mean():>6.1%} {lt_g.mean():>6.1%} "
                  f"{(lt_r & lt_g).mean():>6.1%} {tabu_both:>9.1%} | {E['nearest'].sum():>8.3f} "
                  f"{E['gptq'].sum():>8.3f} {E['tabu'].sum():>8.3f} {E['qsel'].sum():>8.3f} | {acc_fp:>6.3f} "
                  f"{acc['nearest']:>6.3f} {acc['gptq']:>6.3f} {acc['tabu']:>6.3f} {acc['qsel']:>6.3f} | "
                  f"{secs['qsel']:>6.1f}")
            totals.setdefault(spec, []).append(((lt_r & lt_g).mean(), acc["qsel"] - acc["gptq"]))
    for spec, rows in totals.items():
        frac = np.array([r[0] for r in rows])
        gap = np.array([r[1] for r in rows])
        print(f"  {spec}: units below both baselines {frac.min():.1%}..{frac.max():.1%} over seeds "
              f"(target >= 90 %); test accuracy qsel - gptq {gap.min():+.3f}..{gap.max():+.3f} (target >= 0)")


def cnn(seeds: list[int], reads: int, epochs: int) -> None:
    """Post-training quantisation of a small CNN to ternary, every conv and dense layer (independent schedule)."""
    net0 = init_cnn((1, 8, 8), [8, 16], 10, strides=[1, 2])
    train_set = check_compatible(net0, load_dataset("digits", "train"))
    test_set = check_compatible(net0, load_dataset("digits", "test"))
    print(f"== post-training quantisation: CNN conv8-conv16(stride 2)-10 on digits (1x8x8), every layer ternary, "
          f"calibration = train split ({len(train_set)}), test split ({len(test_set)}); {reads} reads per unit")
    print(f"{'seed':>4} {'units':>5} {'<both':>6} | {'obj rtn':>8} {'obj gptq':>8} {'obj qsel':>8} | "
          f"{'acc fp':>6} {'rtn':>6} {'gptq':>6} {'qsel':>6} | {'qsel s':>6}")
    grid = D.parse_grid("ternary", None, "binary")
    for seed in seeds:
        net, _ = train(init_cnn((1, 8, 8), [8, 16], 10, seed=seed, strides=[1, 2]), train_set, epochs=epochs,
                       lr=3e-3, seed=seed)
        W, E, secs = {}, {}, {}
        for m in ("nearest", "gptq", "qsel"):
            W[m], E[m], secs[m] = quantise(net, train_set.X, train_set.y, "quantize", grid, m, "independent",
                                           reads, seed)
        both = below(E["qsel"], E["nearest"]) & below(E["qsel"], E["gptq"])
        acc = {m: accuracy(D.with_weights(net, W[m]), test_set) for m in W}
        print(f"{seed:>4} {E['qsel'].size:>5} {both.mean():>6.1%} | {E['nearest'].sum():>8.3f} "
              f"{E['gptq'].sum():>8.3f} {E['qsel'].sum():>8.3f} | {accuracy(net, test_set):>6.3f} "
              f"{acc['nearest']:>6.3f} {acc['gptq']:>6.3f} {acc['qsel']:>6.3f} | {secs['qsel']:>6.1f}")


def readout(seeds: list[int], reads: int, epochs: int) -> None:
    train_set, test_set = load_dataset("gaussian2d", "train"), load_dataset("gaussian2d", "test")
    print("\n== binary read-out on random sin features, gaussian2d (2-64-2, features untrained)")
    print(f"{'seed':>4} | {'obj signLS':>10} {'obj qsel':>9} | {'acc LS fp':>9} {'signLS':>7} {'GD+sign':>7} "
          f"{'qsel':>7}")
    for seed in seeds:
        net = init_network([2, 64, 2], "sin", init="uniform", seed=seed, scale=3.0)
        grid = D.parse_grid("binary", None, "binary")
        data = D.prepare(net, train_set.X, train_set.y, "train", grid, None, None)
        (d,) = data
        W_sign = {d.name: d.levels_of(B.levels(d, "sign"))}
        W_q, _, _ = quantise(net, train_set.X, train_set.y, "train", grid, "qsel", "independent", reads, seed)
        ls = D.with_weights(net, {d.name: d.w_ref})
        # gradient descent (Adam, cross-entropy) on the read-out alone, over the same fixed features
        head = Network([net.layers[-1]], (64,), net.task, {})
        feats = dataclasses.replace(train_set, X=d.A)
        head, _ = train(head, feats, epochs=epochs, lr=1e-2, seed=seed)
        gd_net = Network([net.layers[0], head.layers[0]], net.input_shape, net.task, {})
        gd_data = D.prepare(gd_net, train_set.X, train_set.y, "quantize", grid, (d.name,), None)[0]
        gd_sign = D.with_weights(gd_net, {d.name: gd_data.levels_of(B.levels(gd_data, "sign"))})
        e_s, e_q = d.unit_errors(W_sign[d.name]).sum(), d.unit_errors(W_q[d.name]).sum()
        print(f"{seed:>4} | {e_s:>10.4f} {e_q:>9.4f} | {accuracy(ls, test_set):>9.3f} "
              f"{accuracy(D.with_weights(net, W_sign), test_set):>7.3f} {accuracy(gd_sign, test_set):>7.3f} "
              f"{accuracy(D.with_weights(net, W_q), test_set):>7.3f}")


def sin_network(seeds: list[int], reads: int, epochs: int, schedule: str) -> None:
    train_set, test_set = load_dataset("moons", "train"), load_dataset("moons", "test")
    print(f"\n== sin network 2-32-32-2 on moons, trained by gradient descent, then every layer ternary "
          f"({schedule} schedule)")
    print(f"{'seed':>4} | {'obj rtn':>8} {'obj gptq':>8} {'obj qsel':>8} | {'acc fp':>6} {'GD+round':>8} "
          f"{'gptq':>6} {'qsel':>6}")
    for seed in seeds:
        net, _ = train(init_network([2, 32, 32, 2], "sin", seed=seed), train_set, epochs=epochs * 2, lr=1e-2,
                       seed=seed)
        grid = D.parse_grid("ternary", None, "binary")
        W, obj = {}, {}
        for m in ("nearest", "gptq", "qsel"):
            W[m], E, _ = quantise(net, train_set.X, train_set.y, "quantize", grid, m, schedule, reads, seed)
            obj[m] = E.sum()
        acc = {m: accuracy(D.with_weights(net, W[m]), test_set) for m in W}
        print(f"{seed:>4} | {obj['nearest']:>8.3f} {obj['gptq']:>8.3f} {obj['qsel']:>8.3f} | "
              f"{accuracy(net, test_set):>6.3f} {acc['nearest']:>8.3f} {acc['gptq']:>6.3f} {acc['qsel']:>6.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--reads", type=int, default=10, help="tabu reads per output unit")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--only", default="ptq,readout,sin")
    ap.add_argument("--schedule", default="independent", choices=["independent", "sequential"],
                    help="quantise every layer against the full-precision inputs, or layer by layer on the inputs "
                         "each method's own quantised earlier layers produce")
    ap.add_argument("--cnn", action="store_true", help="only the CNN case (conv and dense layers, ternary)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.cnn:
        cnn(seeds, args.reads, args.epochs)
        return
    parts = args.only.split(",")
    if "ptq" in parts:
        ptq(seeds, args.reads, args.epochs, args.schedule)
    if "readout" in parts:
        readout(seeds, args.reads, args.epochs)
    if "sin" in parts:
        sin_network(seeds, args.reads, args.epochs, args.schedule)


if __name__ == "__main__":
    main()
