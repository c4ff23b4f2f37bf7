"""Discrete-weight results: baselines as assignments, the network with its discrete weights, and its evaluation.

A result of a ``quantize``/``train`` problem holds the code of every weight by
label (``fc2.w3_17.b1``); :func:`qsel.frontend.discrete.decode` turns it into
weights with the grid and scales the compile record carries (a conv layer's
reshaped to its (O, C, kh, kw) ``weight_shape``). ``apply`` writes
the network with those weights and records, per layer, the grid and the
per-output scales under ``metadata["discrete"]`` (every model format keeps
the metadata: npz header, ONNX ``metadata_props``, the PyTorch sidecar).
"""

from __future__ import annotations

import numpy as np

from qsel import ir

from . import discrete, discrete_baselines
from .network import Network


def baseline_assignment(problem: ir.Problem, data: list[discrete.LayerData], method: str) -> np.ndarray:
    """The 0/1 assignment of ``problem``'s variables for the weights ``method`` picks on every layer."""
    values: dict[str, float] = {}
    for d in data:
        idx = discrete_baselines.levels(d, method)
        labels = discrete.labels_of(d.name, *d.shape, d.grid).tolist()
        values.update(zip(labels, discrete.encode(d, idx).tolist()))
    return np.array([values[lab] for lab in problem.labels], dtype=np.float64)


def solver_levels(spec: str, *, num_reads: int = 10, seed: int | None = 0, warm_start: str | None = "gptq"):
    """A function LayerData -> level indices (k x n) that compiles the layer's problem (with ``warm_start``'s
    code as its initial state), solves it with the solver ``spec`` and decodes the answer: the in-loop solver
    of ``--schedule sequential`` when qsel's own solvers, not a baseline, choose each layer."""
    from qsel.targets.base import from_spec
    from qsel.targets.registry import get_solver
    from qsel.targets.solve import solve_original

    solver = from_spec(spec, "solver", get_solver)

    def choose(data: discrete.LayerData) -> np.ndarray:
        problem, info = discrete.layer_problem(data)
        meta = {"layers": {data.name: info}, "objective": {"kind": data.kind}}
        if warm_start is not None:
            meta["initial_state"] = discrete_baselines.initial_state([data], warm_start)
        x = solve_original(problem.with_metadata(**meta), solver, num_reads=num_reads, seed=seed).x
        W = discrete.decode(info, data.name, dict(zip(problem.labels, x.tolist())), spec)
        return data.grid.nearest(W, data.scales)

    return choose


def check_result(network: Network, compile_meta: dict, where: str) -> None:
    """The result's layers exist in ``network`` with the compiled weight shapes."""
    for name, info in compile_meta.get("layers", {}).items():
        try:
            layer = network.layer(name)
        except KeyError:
            raise ir.QselError(f"{where}: the result names layer {name!r}, which the network does not have "
                               f"(layers: {', '.join(network.names)})") from None
        shape = tuple(int(v) for v in info.get("weight_shape", ()))
        if tuple(layer.weight.shape) != shape:
            raise ir.QselError(f"{where}: layer {name!r} has weights {tuple(layer.weight.shape)}, the result "
                               f"was compiled for {shape}")


def discrete_network(network: Network, compile_meta: dict, assignment: dict[str, float], where: str) -> Network:
    """``network`` with the result's discrete weights and ``metadata["discrete"]`` (grid, scales per layer)."""
    check_result(network, compile_meta, where)
    weights = discrete.weights_of(compile_meta, assignment, where)
    out = discrete.with_weights(network, weights)
    record = dict(out.metadata.get("discrete", {}))
    for name, info in compile_meta["layers"].items():
        record[name] = {"grid": info["grid"], "scales": info["scales"], "objective": info["objective"]}
    out.metadata["discrete"] = record
    out.metadata["trained"] = True
    return out


def evaluate(network: Network, dataset, batch, result, where: str) -> dict:
    """Accuracy/loss of the network with the result's discrete weights, and the objective measured on the
    calibration batch (``batch``) next to the IR energy the result recorded."""
    from .metrics import scores_metrics

    net = discrete_network(network, result.compile, result.assignment, where)
    weights = {name: net.layer(name).weight for name in result.compile["layers"]}
    per_layer = discrete.measure(network, batch.X, batch.y, weights, result.compile)
    return {"discrete": {**scores_metrics(net, dataset),
                         "weights": result.compile["objective"].get("weights"),
                         "levels_per_unit": {k: int(max(np.unique(row).size for row in w)) for k, w in weights.items()}},
            "objective_per_layer": per_layer, "objective": float(sum(per_layer.values())),
            "ir_energy": result.energy}
