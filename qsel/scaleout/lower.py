"""One layer's neuron-selection problem from a calibration batch read in chunks (an executor task).

For each chunk X_c of the batch: the forward pass up to the layer gives its
activations A_c, and :class:`qsel.frontend.lowering.ChunkSums` folds in
A_c^T A_c (and A_c^T Y_c, ||Y_c||^2 for the fit objective). Once every chunk is in,
Q = (A^T A/m) o (W^T W) and r follow exactly as in :func:`lowering.neuron_terms`
(the same IR up to floating-point summation order), while memory holds the n x n
sums plus one chunk. Each task repeats the forward pass up to its own layer, so
layers need nothing from each other and can run anywhere.

Scope: the independent schedule, neuron granularity, dense layers
(reconstruct, and fit where the next layer is the dense output); anything else
is a QselError naming the option, pointing at the in-memory compile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsel import ir
from qsel.frontend import lowering
from qsel.frontend.compile import CompileOptions, layer_plan
from qsel.frontend.objective import targets
from qsel.frontend.data import Chunks
from qsel.frontend.network import Network

BYTES_PER_COUPLING = 3 * 8  # a layer's peak: the n x n sums, the partition's |J| matrix, the solver's copy


@dataclass(frozen=True)
class LayerTask:
    """What a worker needs to lower one layer (the network and labels may be executor-shared handles)."""

    name: str
    network: Network
    chunks: Chunks
    y: np.ndarray | None
    options: CompileOptions
    objective: str


def check_streamable(network: Network, names: list[str], options: CompileOptions, objective: str) -> None:
    """A QselError for what the chunked lowering does not cover, before any work starts."""
    why = None
    if options.granularity != "neuron":
        why = f"--granularity {options.granularity}"
    elif options.schedule != "independent":
        why = f"--schedule {options.schedule}"
    elif objective not in ("reconstruct", "fit"):
        why = f"--objective {objective}"
    else:
        for name in names:
            nxt = network.next_layer(name)
            if network.layer(name).kind != "dense" or nxt is None or nxt.kind != "dense":
                why = f"layer {name!r} ({network.layer(name).kind} feeding {nxt.kind if nxt else 'nothing'})"
                break
    if why:
        raise ir.QselError(f"--chunk/--cluster lower dense layers at neuron granularity with the independent "
                           f"schedule (reconstruct or fit); {why} is not streamed: compile it without "
                           f"--chunk and --cluster")


def forward_to(network: Network, X: np.ndarray, name: str) -> np.ndarray:
    """The activations of layer ``name`` for inputs X (the dense network, layers after it not run)."""
    x = X
    for layer in network.layers:
        x = layer.activate(layer.affine(x, layer.weight))
        if layer.name == name:
            return x
    raise ir.QselError(f"no layer named {name!r}")  # pragma: no cover - names are checked first


def memory_hint(name: str, units: int, chunk: int) -> str:
    """What a user can do when lowering layer ``name`` ran a worker out of memory."""
    need = units * units * BYTES_PER_COUPLING / 2**30
    return (f"layer {name!r} ({units} units) needs about {need:.1f} GiB on one worker plus its chunk of "
            f"{chunk} samples: use a smaller --chunk, or more memory per worker (dask worker --memory-limit), "
            f"or more workers so that fewer layers share one")


def lower_layer(task: LayerTask):
    """Executor task: the layer's :class:`qsel.frontend.compile._LayerPlan` (problem + metadata info)."""
    network, name, options = task.network, task.name, task.options
    layer, nxt = network.layer(name), network.next_layer(name)
    assert nxt is not None
    n = layer.units
    K = options.count_for(n, name)
    fit = task.objective == "fit" and nxt is network.layers[-1]
    Y = targets(task.y, network, task.chunks.m) if fit else None
    count = K or max(1, n // 2)
    if task.chunks.size >= task.chunks.m:  # one chunk: the in-memory compile's own arithmetic, bit for bit
        ((_, _, X),) = list(task.chunks)
        A = forward_to(network, X, name)
        if Y is not None:
            terms, scale = lowering.dense_fit_terms(A, nxt.weight, nxt.bias, Y, count, options.target_scale)
        else:
            terms, scale = lowering.neuron_terms(A, nxt.weight), None
        del A
    else:
        sums = lowering.ChunkSums.zeros(n, Y.shape[1] if Y is not None else None)
        for start, stop, X in task.chunks:
            sums.add(forward_to(network, X, name), None if Y is None else Y[start:stop])
        if Y is not None:
            terms, scale = sums.fit_terms(nxt.weight, nxt.bias, count, options.target_scale)
        else:
            terms, scale = sums.terms(nxt.weight), None
        del sums
    labels = [f"{name}.n{i}" for i in range(n)]
    return layer_plan(name, nxt.name, ir.Granularity.NEURON, labels, terms, options, K,
                      "fit" if fit else "reconstruct", scale)
