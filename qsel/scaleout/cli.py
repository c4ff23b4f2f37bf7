"""The ``--cluster`` and ``--chunk`` options of compile, solve and select, and what they switch on.

``--cluster`` connects to (or starts) Dask for the whole command
(:func:`qsel.cluster.connect`); ``--chunk N`` reads the calibration batch N
samples at a time (a ``.npy`` file through a memory map) and lowers every
layer as its own task (:mod:`qsel.scaleout.compile`), with or without a
cluster. Without either option nothing here imports Dask.
"""

from __future__ import annotations

import click

from qsel import ir


def cluster_option(f):
    return click.option(
        "--cluster", default=None, metavar="local[:N]|tcp://HOST:PORT",
        help="Run layers, block solves and baselines on Dask: local:N starts N worker processes here; "
             "tcp://HOST:PORT joins a running `dask scheduler` (default: this process, no Dask).")(f)


def chunk_option(f):
    return click.option(
        "--chunk", type=int, default=None, metavar="N",
        help="Stream the calibration batch N samples at a time (.npy by memory map, or a .zarr store with X and "
             "y): peak memory follows N, "
             "not the batch; dense layers, neuron granularity, independent schedule.")(f)


def load_streamed(model: str, data: str, split: str, samples: int | None, trust_pickle: bool, chunk: int | None):
    """(network, dataset) with the batch streamed (``chunk`` given) or loaded whole."""
    from qsel.frontend.data import check_compatible, load_dataset, stream_dataset
    from qsel.frontend.models import load_model

    if chunk is not None and chunk < 1:
        raise ir.QselError(f"--chunk must be at least 1 sample, got {chunk}")
    network = load_model(model, trust_pickle=trust_pickle)
    ds = stream_dataset(data, chunk, split, limit=samples) if chunk else load_dataset(data, split, limit=samples)
    return network, check_compatible(network, ds)


def compile_scaled(model, data, split, samples, options, trust_pickle: bool, chunk: int | None,
                   cluster: str | None):
    """``compile``/``select`` with --chunk or --cluster: (network, dataset, problem), layers as tasks."""
    from qsel.cluster import connect, parse
    from qsel.scaleout.compile import compile_streamed

    spec = parse(cluster) if cluster is not None else None  # a bad --cluster fails before any loading
    network, dataset = load_streamed(model, data, split, samples, trust_pickle, chunk)
    meta = {
        "source": {"model": model, **network.metadata.get("source", {})},
        "calibration": {"dataset": data, "split": split, "samples": len(dataset), "limit": samples,
                        "fingerprint": dataset.fingerprint, "standardisation": dataset.standardisation},
    }
    with connect(spec):
        problem = compile_streamed(network, dataset, options, chunk=chunk, metadata=meta)
    return network, dataset, problem
