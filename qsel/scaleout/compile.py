"""``qsel compile --chunk N / --cluster``: the IR from one chunked lowering task per layer.

The layers are lowered through :func:`qsel.targets.executor.executor_for`
(here, one after another, or on the current Dask client's workers, several at
once) and joined block-diagonally exactly like
:func:`qsel.frontend.compile.compile_network`; the metadata is the same. The
joined IR is a whole model's couplings on this process: to keep couplings on
the workers, use :mod:`qsel.scaleout.layers` instead.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from qsel import ir
from qsel.frontend.compile import CompileOptions, check_layers, problem_metadata, resolve_objective
from qsel.frontend.data import Dataset
from qsel.frontend.network import Network
from qsel.targets.executor import executor_for

from .lower import LayerTask, check_streamable, lower_layer, memory_hint

DEFAULT_CHUNK = 4096  # samples per chunk when only --cluster is given


def layer_tasks(network: Network, dataset: Dataset, options: CompileOptions,
                chunk: int | None = None) -> tuple[list[LayerTask], str]:
    """One :class:`LayerTask` per selected layer (checked for what streaming covers), and the objective."""
    from qsel.frontend.data import Chunks

    options.validate()
    names = check_layers(network, options)
    for name in names:
        options.count_for(network.layer(name).units, name)
    objective = resolve_objective(network, options.objective)
    check_streamable(network, names, options, objective)
    if len(dataset) == 0:
        raise ir.QselError("the calibration batch is empty")
    chunks = dataset.chunks
    if chunks is None:
        chunks = Chunks(chunk or DEFAULT_CHUNK, len(dataset), array=dataset.X,
                        sample_shape=tuple(network.input_shape))
    elif chunk is not None and chunks.size != chunk:
        chunks = dataclasses.replace(chunks, size=chunk)  # a file stays a file name (tasks never carry its data)
    y = dataset.y if objective == "fit" else None
    if objective == "fit" and y is None:
        raise ir.QselError("--objective fit needs labels (y) in the calibration data")
    return [LayerTask(name, network, chunks, y, options, objective) for name in names], objective


def _lower(task: tuple[str, tuple]) -> Any:
    """Executor task: :func:`lower_layer` for one layer name and the shared network, labels, chunks, options."""
    name, (network, y, chunks, options, objective) = task
    return lower_layer(LayerTask(name, network, chunks, y, options, objective))


def compile_streamed(network: Network, dataset: Dataset, options: CompileOptions, *, chunk: int | None = None,
                     metadata: dict | None = None, progress: Callable[[str], None] | None = None) -> ir.Problem:
    """The IR of ``compile_network`` for the layers the chunked lowering covers, layer tasks on the executor."""
    tasks, objective = layer_tasks(network, dataset, options, chunk)
    size = tasks[0].chunks.size
    units = {t.name: network.layer(t.name).units for t in tasks}
    with executor_for(1, name=lambda t: f"lowering layer {t[0]!r}",
                      hint=lambda t: memory_hint(t[0], units[t[0]], size)) as pool:
        t0 = tasks[0]
        shared = pool.share((network, t0.y, t0.chunks, options, t0.objective))  # sent once, not per layer
        plans = pool.map(_lower, [(t.name, shared) for t in tasks])
    if progress is not None:
        for t in tasks:
            progress(t.name)
    meta = problem_metadata(network, options, objective, plans, metadata)
    meta["calibration"] = {**meta.get("calibration", {}), "chunk": size}
    return ir.Problem.concat([p.problem for p in plans], metadata=meta)
