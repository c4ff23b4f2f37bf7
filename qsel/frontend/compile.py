"""Compile a network plus a calibration batch into the neuron-interaction IR.

For every selected layer the frontend forms the keep-mask problem of
:mod:`qsel.frontend.lowering` and the IR is their block-diagonal union
(``Problem.concat``): E(s) = sum_l E_l(s_l), one dense block per layer.

Schedules:
* ``independent``: every layer against the dense network's activations;
  layers do not interact, so the IR energy of a set of masks is the sum of
  the per-layer errors measured with one layer masked at a time.
* ``sequential``: layer by layer in network order; layer l's activations come
  from the network already masked by the selections made for earlier layers
  (a ``solver`` picks each layer's mask before the next layer is compiled).

Objectives: ``reconstruct`` matches the dense network's next-layer
pre-activations (E(1) = 0 for the independent schedule); ``fit`` matches the
task target at the output, T = c * onehot(y) (classification) or T = y
(regression), with c from :func:`lowering.fit_target_scale`. ``fit`` applies
to layers that feed the output layer; other selected layers use
``reconstruct`` and the metadata says so. ``scaled`` (layers feeding the
output) matches c * the dense network's logits, T = c Z_dense, c by the same
least-squares rule as ``fit`` with Z_dense in place of onehot(y): a K-unit
subnetwork cannot reach the dense logits' size, and the predicted class does
not depend on c (see :mod:`.objective`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

from qsel import ir

from . import lowering
from .network import Network, Trace
from .objective import calibration_pass

Objective = Literal["reconstruct", "fit", "auto", "quantize", "train", "scaled"]
GranularityName = Literal["neuron", "channel", "edge"]
Solver = Callable[[ir.Problem], np.ndarray]
_EDGE_BYTES_LIMIT = 4 * 2**30


@dataclass(frozen=True)
class CompileOptions:
    objective: Objective = "auto"
    granularity: GranularityName = "neuron"
    layers: tuple[str, ...] | None = None
    keep: float | None = None
    keep_count: int | None = None
    sparsity_penalty: float = 0.0
    schedule: Literal["independent", "sequential"] = "independent"
    target_scale: float | None = None
    weights: str | None = None  # quantize/train: binary | ternary | int{bits=B} (see qsel.frontend.discrete)
    levels: tuple[float, ...] | None = None  # quantize/train: user-given levels instead of --weights
    encoding: str = "binary"  # quantize/train: binary | onehot
    warm_start: str | None = None  # quantize/train: record a baseline's weights as the IR's initial state

    def validate(self) -> None:
        if self.keep is not None and not (0 < self.keep <= 1):
            raise ir.QselError(f"--keep must be in (0, 1], got {self.keep}")
        if self.keep is not None and self.keep_count is not None:
            raise ir.QselError("give --keep or --keep-count, not both")
        if self.keep_count is not None and self.keep_count < 1:
            raise ir.QselError(f"--keep-count must be at least 1, got {self.keep_count}")
        if self.sparsity_penalty < 0 or not np.isfinite(self.sparsity_penalty):
            raise ir.QselError(f"--sparsity-penalty must be a finite number >= 0, got {self.sparsity_penalty}")
        if self.target_scale is not None and not (np.isfinite(self.target_scale) and self.target_scale > 0):
            raise ir.QselError(f"--target-scale must be a finite number > 0, got {self.target_scale}")

    def count_for(self, n: int, layer: str = "") -> int | None:
        """Units to keep out of n: round(keep * n), at least 1; or keep_count (a QselError naming the layer when
        it is more than n: no silent clamp)."""
        if self.keep_count is not None:
            if self.keep_count > n:
                raise ir.QselError(f"--keep-count {self.keep_count} is more than layer {layer or '?'!r} has "
                                   f"({n} units to choose from)")
            return self.keep_count
        if self.keep is not None:
            return max(1, int(round(self.keep * n)))
        return None


def resolve_objective(network: Network, objective: Objective) -> str:
    if objective != "auto":
        return objective
    return "reconstruct" if network.metadata.get("trained", True) else "fit"


def default_layers(network: Network, granularity: str) -> list[str]:
    if granularity == "edge":
        return [layer.name for layer in network.layers if layer.kind == "dense"]
    return network.selectable()


def check_layers(network: Network, options: CompileOptions) -> list[str]:
    names = list(options.layers) if options.layers else default_layers(network, options.granularity)
    if not names:
        raise ir.QselError("the network has no layer whose units can be selected (it needs a hidden layer)")
    order = network.names
    for name in names:
        if name not in order:
            raise ir.QselError(f"--layers: no layer named {name!r} (layers: {', '.join(order)})")
        layer = network.layer(name)
        if options.granularity == "edge":
            if layer.kind != "dense":
                raise ir.QselError(f"--layers: layer {name!r} is {layer.kind}; edge granularity needs dense layers")
        elif network.next_layer(name) is None:
            raise ir.QselError(f"--layers: {name!r} is the output layer; its units cannot be dropped "
                               f"(selectable: {', '.join(network.selectable())})")
    if len(set(names)) != len(names):
        raise ir.QselError("--layers: a layer is named twice")
    return sorted(names, key=order.index)


@dataclass
class _LayerPlan:
    name: str
    problem: ir.Problem
    info: dict = field(default_factory=dict)


def compile_network(network: Network, X: np.ndarray, y: np.ndarray | None, options: CompileOptions, *,
                    solver: Solver | None = None, metadata: dict | None = None,
                    progress: Callable[[str], None] | None = None) -> ir.Problem:
    """The IR for selecting units of ``options.layers`` of ``network`` on calibration batch X (labels y)."""
    options.validate()
    if options.objective in ("quantize", "train"):  # discrete weights: qsel.frontend.discrete
        return _discrete(network, X, y, options, solver, metadata)
    if options.weights is not None or options.levels:
        raise ir.QselError("--weights/--levels need --objective quantize or train")
    names = check_layers(network, options)
    for name in names:  # before any work: --keep-count must fit every selected layer
        layer = network.layer(name)
        options.count_for(layer.fan_in if options.granularity == "edge" else layer.units, name)
    objective = resolve_objective(network, options.objective)
    if options.schedule == "sequential" and solver is None:
        raise ir.QselError("--schedule sequential needs a solver to choose each layer before the next")
    m, dense, Y = calibration_pass(network, X, y, objective == "fit")

    unit_masks: dict[str, np.ndarray] = {}
    weight_masks: dict[str, np.ndarray] = {}
    plans: list[_LayerPlan] = []
    for name in names:
        if progress is not None:
            progress(name)
        if options.schedule == "sequential" and (unit_masks or weight_masks):
            seen = Trace()
            network.forward(X, unit_masks=unit_masks, weight_masks=weight_masks, trace=seen)
        else:
            seen = dense
        plan = _layer_problem(network, name, seen, dense, Y, objective, options)
        plans.append(plan)
        if options.schedule == "sequential":
            from .masks import Selection

            x = np.asarray(solver(plan.problem), dtype=np.float64)
            plan.info["chosen"] = np.flatnonzero(x).tolist()
            sel = Selection.from_assignment(plan.problem.with_metadata(layers={name: plan.info}), x)
            unit_masks.update(sel.unit_masks())
            weight_masks.update(sel.weight_masks())

    return ir.Problem.concat([p.problem for p in plans],
                             metadata=problem_metadata(network, options, objective, plans, metadata))


def problem_metadata(network: Network, options: CompileOptions, objective: str, plans: list["_LayerPlan"],
                     metadata: dict | None) -> dict:
    """The compiled IR's metadata: source (with the model fingerprint), objective, per-layer info."""
    from qsel.ir.fingerprints import model_fingerprint

    meta = dict(metadata or {})
    meta["source"] = {**(meta.get("source") or {}), "fingerprint": model_fingerprint(network)}
    meta["objective"] = {
        "kind": objective,
        "granularity": options.granularity,
        "schedule": options.schedule,
        "keep": options.keep,
        "keep_count": options.keep_count,
        "sparsity_penalty": options.sparsity_penalty,
        "target_scale": options.target_scale,
        "units": "mean over calibration samples of the squared error summed over the next layer's "
                 "outputs, summed over the selected layers",
    }
    meta["layers"] = {p.name: p.info for p in plans}
    return meta


def _layer_problem(network: Network, name: str, seen: Trace, dense: Trace, Y: np.ndarray | None,
                   objective: str, options: CompileOptions) -> _LayerPlan:
    layer = network.layer(name)
    if options.granularity == "edge":
        return _edge_problem(network, name, seen, dense, Y, objective, options)
    nxt = network.next_layer(name)
    assert nxt is not None
    A = seen.post[name]
    is_conv = A.ndim == 4
    scaled = objective == "scaled" and nxt is network.layers[-1] and nxt.kind == "dense"
    if scaled:  # match c * the dense logits (the argmax does not see c), c by the fit rule
        Y, objective = dense.pre[nxt.name], "fit"
    uses_fit = objective == "fit" and nxt is network.layers[-1] and nxt.kind == "dense"
    kind = ("scaled" if scaled else "fit") if uses_fit else "reconstruct"
    n = layer.units
    K = options.count_for(n, name)
    scale = None
    T: np.ndarray | None = None  # dense read-out with fit: lowering.dense_fit_terms below makes T = c Y - b
    if uses_fit:
        assert Y is not None
        if is_conv:  # a channel's contribution uses a block of flattened columns; scale from the unit level
            scale = options.target_scale or _channel_fit_scale(A, nxt, Y, K or max(1, n // 2))
            T = scale * Y - nxt.bias
    elif seen is dense and not is_conv:
        T = None  # reconstructing the very activations we select from: T = A W^T, r = Q 1 (no m n k product)
    else:
        pre = dense.pre[nxt.name]
        T = pre - (nxt.bias if pre.ndim == 2 else nxt.bias[None, :, None, None])
    if is_conv:
        gran = ir.Granularity.CHANNEL
        terms = lowering.channel_terms(lowering.conv_channel_contributions(A, nxt), T.reshape(T.shape[0], -1))
        labels = [f"{name}.c{i}" for i in range(n)]
    else:
        gran = ir.Granularity.NEURON
        if uses_fit:
            terms, scale = lowering.dense_fit_terms(A, nxt.weight, nxt.bias, Y, K or max(1, n // 2),
                                                    options.target_scale)
        else:
            terms = lowering.neuron_terms(A, nxt.weight, T)
        labels = [f"{name}.n{i}" for i in range(n)]
    return layer_plan(name, nxt.name, gran, labels, terms, options, K, kind, scale)


def layer_plan(name: str, nxt: str, gran: ir.Granularity, labels: list[str], terms: lowering.Terms,
               options: CompileOptions, K: int | None, kind: str, scale: float | None) -> _LayerPlan:
    """One layer's IR block from its terms (h = diag Q - 2r + sparsity penalty, J = 2 triu(Q, 1)), with its
    keep constraint and the metadata the decoders read. Consumes ``terms`` (in place)."""
    n = len(labels)
    h, upper, offset = terms.ir_arrays()
    h = h + options.sparsity_penalty
    variables = ir.Variables.build(labels, layer=name, unit=np.arange(n), granularity=gran)
    constraints = () if K is None else (ir.Constraint.cardinality(f"keep.{name}", np.arange(n), "==", K),)
    problem = ir.Problem(variables, h, offset, (ir.DenseBlock(np.arange(n, dtype=np.int64), upper),),
                         constraints=constraints)
    info = {"granularity": gran.value, "units": n, "next": nxt, "objective": kind,
            "target_scale": scale, "keep_count": K, "offset": offset}
    return _LayerPlan(name, problem, info)


def _channel_fit_scale(A: np.ndarray, nxt, Y: np.ndarray, K: int) -> float:
    """fit scale for a conv layer feeding the dense output: top-K channels by label alignment."""
    contrib = lowering.conv_channel_contributions(A, nxt)(0, A.shape[0])  # (C, m, k)
    g = np.einsum("csk,sk->c", contrib, Y)
    top = np.argsort(-g, kind="stable")[:K]
    Z = contrib[top].sum(0) + nxt.bias
    c = float(np.vdot(Z, Y)) / float(np.vdot(Y, Y))
    if c <= 0:
        dense = contrib.sum(0) + nxt.bias
        c = float(np.sqrt(np.vdot(dense, dense) / np.vdot(Y, Y)))
    return c


def _edge_problem(network: Network, name: str, seen: Trace, dense: Trace, Y: np.ndarray | None,
                  objective: str, options: CompileOptions) -> _LayerPlan:
    layer = network.layer(name)
    A = seen.inputs[name]
    A = A.reshape(A.shape[0], -1)
    k, n = layer.weight.shape
    if k * n * n * 8 > _EDGE_BYTES_LIMIT:
        raise ir.QselError(f"edge granularity on {name!r} needs {k} dense blocks of {n}x{n} "
                           f"({k * n * n * 8 / 2**30:.1f} GiB); select neurons, or fewer layers")
    scaled = objective == "scaled" and layer is network.layers[-1]
    if scaled:  # match c * the dense logits, as for neurons
        Y, objective = dense.pre[name], "fit"
    uses_fit = objective == "fit" and layer is network.layers[-1]
    K = options.count_for(n, name)
    scale = None
    if uses_fit:
        assert Y is not None
        scale = options.target_scale or lowering.fit_target_scale(A, layer.weight, layer.bias, Y, K or max(1, n // 2))
        T = scale * Y - layer.bias
    else:
        T = dense.pre[name] - layer.bias
    parts = []
    for out, terms in enumerate(lowering.edge_terms(A, layer.weight, T)):
        h, upper, offset = terms.ir_arrays()
        h = h + options.sparsity_penalty
        labels = [f"{name}.w{out}_{i}" for i in range(n)]
        variables = ir.Variables.build(labels, layer=name, unit=np.arange(n), output=np.full(n, out),
                                       granularity=ir.Granularity.EDGE)
        cons = () if K is None else (ir.Constraint.cardinality(f"keep.{name}.out{out}", np.arange(n), "==", K),)
        parts.append(ir.Problem(variables, h, offset, (ir.DenseBlock(np.arange(n, dtype=np.int64), upper),),
                                constraints=cons, partitions=(ir.Partition(f"{name}.out{out}", np.arange(n)),)))
    problem = ir.Problem.concat(parts)
    info = {"granularity": "edge", "units": n, "weight_shape": [k, n], "next": name,
            "objective": ("scaled" if scaled else "fit") if uses_fit else "reconstruct", "target_scale": scale, "keep_count": K,
            "offset": problem.offset}
    return _LayerPlan(name, problem, info)


def _discrete(network: Network, X: np.ndarray, y: np.ndarray | None, options: CompileOptions,
              solver: Callable | None, metadata: dict | None) -> ir.Problem:
    """Discrete weights (:mod:`qsel.frontend.discrete`); a sequential ``solver`` maps LayerData to level indices."""
    from . import discrete, discrete_baselines

    if options.keep is not None or options.keep_count is not None or options.sparsity_penalty:
        raise ir.QselError("--keep/--keep-count/--sparsity-penalty select units; they do not apply to "
                           f"--objective {options.objective}")
    grid = discrete.parse_grid(options.weights, options.levels, options.encoding)
    data = discrete.prepare(network, X, y, options.objective, grid, options.layers, options.target_scale,
                            schedule=options.schedule, solver=solver)
    start = None if options.warm_start is None else discrete_baselines.initial_state(data, options.warm_start)
    return discrete.compile_discrete(network, data, options.schedule, metadata, initial_state=start)


def chosen_assignment(problem: ir.Problem) -> np.ndarray:
    """The assignment a sequential compile chose layer by layer (``metadata["layers"][l]["chosen"]``)."""
    x = np.zeros(problem.num_vars)
    v = problem.variables
    for name, info in problem.metadata["layers"].items():
        where = np.flatnonzero(v.layer == v.layer_names.index(name))
        x[where[np.asarray(info["chosen"], dtype=np.int64)]] = 1.0
    return x
