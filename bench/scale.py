"""Scale-out on a real multi-process Dask cluster on this machine (issue 10's figures).

The bench starts ``dask scheduler`` and ``--workers`` ``dask worker --memory-limit`` processes on
localhost, connects to them with ``--cluster tcp://...`` semantics (qsel.cluster.connect), and stops
them at the end. It prints:

1. **speedup**: the block solves of a 4-layer model (``--layers`` x ``--units``, partitioned to blocks of
   the Pegasus block size) in one process (the serial executor) against 2 workers (the Dask executor), started
   with :func:`qsel.cluster.worker_env` (``--dask-defaults``: Dask's stock settings; ``--local``: qsel's own
   ``--cluster local:N``), same seed, masks and energies checked identical, ``--repeats`` interleaved pairs
   and their median ratio; next to it, the machine's own ceiling before each pair: how much more work 2 busy
   processes get done than 1 (on shared virtual CPUs it can be far below 2 and drifts within a minute);
2. **peak RSS** of the driver (this process) and of each worker (their ``ru_maxrss``);
3. **streamed calibration**: peak RSS of compiling one layer (``--stream-units``) from a ``.npy`` batch 10x
   its chunk, streamed (``--chunk``), against one chunk in memory (each in a fresh process), and the
   IR energies of the streamed compile against the whole batch in memory (relative difference).

With ``--big``: the 32-layer x 11,008-unit model (31 GiB of dense couplings in float64, more than this
machine holds), lowered, partitioned to Pegasus-block-sized blocks and solved layer by layer on the workers
(:mod:`qsel.scaleout.layers`: couplings never leave the worker that made them) with ``--big-memory``
per worker; it prints the blocks, energy, feasibility, per-layer times, each worker's peak RSS against
its limit and the driver's peak RSS. The calibration batch is ``--big-samples`` samples (1,024: the
lowering is then a small part of a layer's 2.7 CPU-minutes; partition and the iterate sweep dominate).

    python bench/scale.py                 # speedup, RSS, streamed calibration (about 2 minutes)
    python bench/scale.py --skip-stream   # the speedup alone (5 pairs of about 10 + 6 s of block solves)
    python bench/scale.py --skip-stream --dask-defaults   # the same, workers on Dask's stock settings
    python bench/scale.py --skip-stream --local           # the same on qsel's own --cluster local:2
    python bench/scale.py --skip-speedup --skip-stream --big   # the 32 x 11,008 model (about 45 minutes
                                          # on 2 idle cores: 2.7 CPU-minutes per layer measured)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from qsel.scaleout.layers import peak_rss

DASK = str(Path(sys.executable).with_name("dask"))
WORKERS = [2]  # how many dask workers the bench starts (--workers)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def dask_cluster(workers: int, memory_limit: str, log_dir: Path, *, tuned: bool = True):
    """A real ``dask scheduler`` and ``workers`` single-threaded ``dask worker`` processes on localhost,
    started with qsel's worker settings (:func:`qsel.cluster.worker_env`: no profiler, a 200 ms tick) as a
    user is told to start them, or with Dask's stock settings (``tuned=False``)."""
    from qsel.cluster import worker_env

    env = {**os.environ, **(worker_env() if tuned else {})}
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = []
    logs = []

    def start(args: list[str], name: str) -> None:
        log = open(log_dir / f"{name}.log", "w")
        logs.append(log)
        procs.append(subprocess.Popen([DASK, *args], stdout=log, stderr=subprocess.STDOUT, env=env))

    try:
        start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], "scheduler")
        time.sleep(2.0)
        for k in range(workers):
            start(["worker", address, "--nworkers", "1", "--nthreads", "1", "--memory-limit", memory_limit,
                   "--no-dashboard", "--name", f"w{k}"], f"worker{k}")
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in logs:
            log.close()


def worker_peaks(client) -> dict[str, int]:
    """Each worker process's peak RSS in bytes (asked on the worker)."""
    out = client.run(peak_rss)
    names = {a: w.get("name", a) for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
    return {str(names.get(a, a)): v for a, v in out.items()}


def _warm(_: int) -> int:
    """Imports the solve stack on a worker (timed runs then measure solving, not first imports)."""
    import qsel.targets.classical  # noqa: F401
    import qsel.targets.solve  # noqa: F401
    from dwave.samplers import SimulatedAnnealingSampler  # noqa: F401
    return os.getpid()


# ----------------------------------------------------------------------------------------------- speedup

def _spin(n: int) -> float:
    t = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    return time.perf_counter() - t


def core_ceiling(n: int = 10_000_000) -> float:
    """What 2 processes can gain over 1 on this machine right now: a pure-Python loop alone, then two
    copies at once (2 x alone / together). On shared or oversubscribed virtual CPUs this is well below 2,
    and no scheduler can beat it."""
    import multiprocessing

    alone = _spin(n)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # start-up outside the timing
        t = time.perf_counter()
        pool.map(_spin, [n, n])
        together = time.perf_counter() - t
    return 2 * alone / together


def speedup(where: str, layers: int, units: int, samples: int, sweeps: int, reads: int, repeats: int) -> dict:
    """One process against the cluster's workers on the same blocks, ``repeats`` times interleaved (one
    process, then the cluster, then again), with the machine's ceiling measured before each pair: shared
    virtual CPUs drift by 30 % within a minute, so the figure is the median of the per-pair ratios. ``where``
    is a scheduler address or ``local:N`` (:func:`qsel.cluster.connect`)."""
    from qsel.cluster import connect
    from qsel.frontend.compile import CompileOptions, compile_network
    from qsel.frontend.init import init_network
    from qsel.targets.executor import executor_for
    from qsel.targets.registry import get_solver
    from qsel.targets.solve import prepare, solve

    sizes = [64] + [units] * layers + [10]
    net = init_network(sizes, seed=0)
    X = np.random.default_rng(0).normal(size=(samples, 64))
    names = tuple(f"fc{k}" for k in range(1, layers + 1))
    problem = compile_network(net, X, None, CompileOptions(objective="reconstruct", keep=0.5, layers=names))
    solver = get_solver("sa")(num_sweeps=sweeps)
    solved, _, _ = prepare(problem, solver, "partition")
    nblocks = len(solved.partitions)
    serial, parallel, ceilings, identical = [], [], [], True
    for _ in range(repeats):
        ceilings.append(core_ceiling())
        t = time.perf_counter()
        one = solve(solved, solver, mode="independent", num_reads=reads, seed=1)
        serial.append(time.perf_counter() - t)
        with connect(where) as client:  # a running scheduler, or a LocalCluster started here (not timed)
            client.wait_for_workers(WORKERS[0], timeout=120)
            with executor_for(1) as pool:  # first imports on fresh workers, not timed either
                pool.map(_warm, list(range(8)))
            t = time.perf_counter()
            two = solve(solved, solver, mode="independent", num_reads=reads, seed=1)
            parallel.append(time.perf_counter() - t)
            peaks = worker_peaks(client)
        identical &= bool(np.array_equal(one.x, two.x)) and one.energy == two.energy
    ratios = [a / b for a, b in zip(serial, parallel)]
    return {"layers": layers, "units": units, "blocks": nblocks,
            "max_block": max(p.size for p in solved.partitions),
            "serial_s": serial, "cluster_s": parallel, "speedups": ratios,
            "speedup": float(np.median(ratios)), "ceilings": ceilings, "ceiling": float(np.median(ceilings)),
            "identical_masks": identical, "energy": one.energy, "energy_cluster": two.energy,
            "worker_peak_rss": peaks}


# ----------------------------------------------------------------------------------- streamed calibration

def _child(kind: str, folder: str, units: int, chunk: int) -> None:
    """One compile in a fresh process: prints its peak RSS and the energies of fixed random assignments."""
    from qsel.frontend.compile import CompileOptions, compile_network
    from qsel.frontend.data import load_dataset, stream_dataset
    from qsel.frontend.models import load_model
    from qsel.scaleout.compile import compile_streamed

    net = load_model(str(Path(folder) / "net.npz"))
    options = CompileOptions(objective="reconstruct", keep=0.5)
    base = peak_rss()
    batch = str(Path(folder) / "batch.npy")
    if kind == "streamed":
        problem = compile_streamed(net, stream_dataset(batch, chunk), options, chunk=chunk)
    else:
        X = load_dataset(batch, limit=chunk if kind == "one-chunk" else None).X
        problem = compile_network(net, X, None, options)
    S = np.random.default_rng(0).integers(0, 2, size=(64, problem.num_vars))
    print(json.dumps({"peak": peak_rss(), "after_imports": base, "energies": problem.energies(S).tolist()}))


def streamed(folder: Path, units: int, chunk: int) -> dict:
    from qsel.frontend.init import init_network
    from qsel.frontend.models import save_model

    save_model(init_network([64, units, 10], seed=0), folder / "net.npz")
    np.save(folder / "batch.npy", np.random.default_rng(0).normal(size=(10 * chunk, 64)).astype(np.float32))
    runs = {}
    for kind in ("one-chunk", "streamed", "whole-batch"):
        out = subprocess.run([sys.executable, __file__, "--child", kind, str(folder), str(units), str(chunk)],
                             capture_output=True, text=True, check=True)
        runs[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    a, b = np.array(runs["streamed"]["energies"]), np.array(runs["whole-batch"]["energies"])
    return {"units": units, "chunk": chunk, "batch": 10 * chunk,
            "peak_one_chunk": runs["one-chunk"]["peak"], "peak_streamed": runs["streamed"]["peak"],
            "peak_whole_batch": runs["whole-batch"]["peak"],
            "ratio": runs["streamed"]["peak"] / runs["one-chunk"]["peak"],
            "max_rel_energy_diff": float(np.max(np.abs(a - b) / np.abs(b)))}


# ------------------------------------------------------------------------------------------------ big

def big(address: str, folder: Path, layers: int, units: int, width: int, samples: int, chunk: int,
        sweeps: int) -> dict:
    from qsel.cluster import connect
    from qsel.frontend.compile import CompileOptions
    from qsel.frontend.data import stream_dataset
    from qsel.frontend.init import init_network
    from qsel.scaleout.layers import LayersRun, SolvePlan, solve_layers

    sizes = [width]
    for _ in range(layers):
        sizes += [units, width]
    net = init_network(sizes + [10], seed=0)  # fc1, fc3, ... have `units` units; the narrow ones feed them
    wide = tuple(f"fc{2 * k + 1}" for k in range(layers))
    np.save(folder / "big.npy", np.random.default_rng(0).normal(size=(samples, width)).astype(np.float32))
    ds = stream_dataset(str(folder / "big.npy"), chunk)
    # iterate: blocks solved independently drop the cross terms, which on a dense reconstruct layer leaves
    # them worse than a random selection; one sweep of clamped re-solves repairs that
    plan = SolvePlan(solver="sa{num-sweeps=200}", pipeline="partition", mode="iterate",
                     num_reads=2, seed=0, max_iterations=sweeps, baselines=("random",))
    t = time.perf_counter()
    outcomes = []
    with connect(address) as client:
        client.wait_for_workers(WORKERS[0], timeout=120)
        limit = min(int(w["memory_limit"]) for w in client.scheduler_info(n_workers=-1)["workers"].values())
        step = 2 * WORKERS[0]  # rounds of a few layers per worker, so that progress shows
        for k in range(0, len(wide), step):
            part = solve_layers(net, ds, CompileOptions(objective="reconstruct", keep=0.5, layers=wide[k:k + step]),
                                plan, chunk=chunk)
            outcomes += part.layers
            print(f"  [{time.perf_counter() - t:6.0f} s] layers {', '.join(o.name for o in part.layers)}: energy "
                  + ", ".join(f"{o.energy:.4g}" for o in part.layers)
                  + f"; worker peak so far {gib(max(o.peak_rss for o in part.layers))}", flush=True)
        peaks = worker_peaks(client)
    seconds = time.perf_counter() - t
    run = LayersRun(outcomes, "reconstruct", chunk)
    return {"layers": layers, "units": units, "samples": samples, "chunk": chunk,
            "couplings_gib": layers * units * units * 8 / 2**30, "worker_limit": limit,
            "seconds": seconds, "energy": run.energy, "random_energy": sum(o.baselines["random"][1] for o in run.layers),
            "feasible": all(o.feasible for o in run.layers), "blocks": sum(o.blocks for o in run.layers),
            "max_block": max(o.max_block for o in run.layers),
            "layer_seconds": {k: float(np.median([o.seconds[k] for o in run.layers]))
                              for k in ("lower", "passes", "solve")},
            "task_peak_rss_max": max(o.peak_rss for o in run.layers),
            "worker_peak_rss": peaks, "driver_peak_rss": peak_rss()}


def gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="1GiB", help="dask worker --memory-limit for the speedup run")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--units", type=int, default=2048)
    ap.add_argument("--samples", type=int, default=1024)
    ap.add_argument("--sweeps", type=int, default=10000, help="SA sweeps per read in the block solves")
    ap.add_argument("--reads", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved one-process/cluster pairs (median)")
    ap.add_argument("--stream-units", type=int, default=2048)
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--local", action="store_true",
                    help="the speedup on qsel's own --cluster local:N (a LocalCluster per pair) instead of "
                         "hand-started dask scheduler/worker processes")
    ap.add_argument("--dask-defaults", action="store_true",
                    help="start the cluster with Dask's stock worker settings instead of qsel.cluster.worker_env()")
    ap.add_argument("--skip-speedup", action="store_true")
    ap.add_argument("--skip-stream", action="store_true")
    ap.add_argument("--big", action="store_true", help="also the 32 x 11,008 model on the cluster")
    ap.add_argument("--big-layers", type=int, default=32)
    ap.add_argument("--big-units", type=int, default=11008)
    ap.add_argument("--big-width", type=int, default=32, help="the narrow layers between the wide ones")
    ap.add_argument("--big-samples", type=int, default=1024)
    ap.add_argument("--big-chunk", type=int, default=256)
    ap.add_argument("--big-memory", default="5GiB", help="dask worker --memory-limit for the big run")
    ap.add_argument("--big-sweeps", type=int, default=1, help="iterate sweeps over each layer's blocks")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args()
    WORKERS[0] = args.workers
    figures: dict = {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="qsel-scale-") as tmp:
        folder = Path(tmp)
        if not args.skip_speedup:
            if args.local:
                settings = f"local:{args.workers}"
                s = speedup(settings, args.layers, args.units, args.samples, args.sweeps, args.reads, args.repeats)
            else:
                settings = "Dask's stock settings" if args.dask_defaults else "qsel.cluster.worker_env()"
                with dask_cluster(args.workers, args.memory_limit, folder, tuned=not args.dask_defaults) as address:
                    s = speedup(address, args.layers, args.units, args.samples, args.sweeps, args.reads,
                                args.repeats)
            figures["speedup"] = {**s, "worker_settings": settings}
            print(f"block solves of {s['layers']} layers x {s['units']} units ({s['blocks']} blocks of <= "
                  f"{s['max_block']} variables, sa {args.sweeps} sweeps x {args.reads} reads), {args.repeats} "
                  f"interleaved pairs, workers with {settings}:")
            for a, b, c in zip(s["serial_s"], s["cluster_s"], s["ceilings"]):
                print(f"  one process {a:.1f} s, {args.workers} workers {b:.1f} s: {a / b:.2f}x "
                      f"(machine ceiling just before: {c:.2f}x)")
            print(f"  speedup (median) {s['speedup']:.2f}x; machine ceiling (median) {s['ceiling']:.2f}x: 2 busy "
                  f"processes do that much the work of 1 (a pure-Python loop); masks identical in every pair: "
                  f"{s['identical_masks']}, energy {s['energy']:.6g} / {s['energy_cluster']:.6g}")
            print(f"  peak RSS: driver {gib(peak_rss())}; workers "
                  + ", ".join(f"{k} {gib(v)}" for k, v in s["worker_peak_rss"].items())
                  + ("" if args.local else f" (limit {args.memory_limit})"))
        if not args.skip_stream:
            r = streamed(folder, args.stream_units, args.chunk)
            figures["streamed"] = r
            print(f"one {r['units']}-unit layer, calibration batch {r['batch']} samples = 10 x chunk {r['chunk']}:")
            print(f"  peak RSS: one chunk in memory {gib(r['peak_one_chunk'])}, streamed 10x batch "
                  f"{gib(r['peak_streamed'])} (ratio {r['ratio']:.2f}), whole 10x batch in memory "
                  f"{gib(r['peak_whole_batch'])}; IR energies streamed vs in memory: max relative difference "
                  f"{r['max_rel_energy_diff']:.1e}")
        if args.big:
            with dask_cluster(args.workers, args.big_memory, folder) as address:
                b = big(address, folder, args.big_layers, args.big_units, args.big_width, args.big_samples,
                        args.big_chunk, args.big_sweeps)
            figures["big"] = b
            print(f"{b['layers']} layers x {b['units']} units ({b['couplings_gib']:.1f} GiB of dense couplings), "
                  f"{b['samples']} calibration samples in chunks of {b['chunk']}, {args.workers} workers limited "
                  f"to {gib(b['worker_limit'])}:")
            print(f"  {b['blocks']} blocks of <= {b['max_block']} variables, energy {b['energy']:.6g} "
                  f"(random {b['random_energy']:.6g}), feasible {b['feasible']}, {b['seconds']:.0f} s; per layer "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in b["layer_seconds"].items()))
            print(f"  peak RSS: driver {gib(b['driver_peak_rss'])}; workers "
                  + ", ".join(f"{k} {gib(v)}" for k, v in b["worker_peak_rss"].items())
                  + f"; largest in a layer task {gib(b['task_peak_rss_max'])}")
    figures["loadavg_end"] = os.getloadavg()
    print(f"load average at start {figures['loadavg_start'][0]:.1f}, at end {figures['loadavg_end'][0]:.1f} "
          f"on {figures['cpus']} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
