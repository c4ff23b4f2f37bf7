"""Measure the selection objective by running the masked network — the check on the IR's energy.

For each selected layer l (in network order) the masked network is run on the
calibration batch and the next layer's pre-activation Z is compared with the
reference the compiler used (the dense network's pre-activation for
``reconstruct``, c * Y for ``fit``, c * the dense logits for ``scaled``):

    objective_l = 1/m sum_samples || Z_l(s) - T_l ||^2

With the ``independent`` schedule only layer l is masked when measuring layer
l; with ``sequential`` every selected layer up to l is. The IR energy of the
same masks equals the sum over layers (up to floating-point rounding).
"""

from __future__ import annotations

import numpy as np

from qsel import ir

from .masks import Selection
from .network import Network, Trace



def dense_trace(network: Network, X: np.ndarray) -> Trace:
    """The activations of the unpruned network on ``X`` (every layer's input and output)."""
    dense = Trace()
    network.forward(X, trace=dense)
    return dense


def calibration_pass(network: Network, X: np.ndarray, y: np.ndarray | None,
                     with_targets: bool) -> tuple[int, Trace, np.ndarray | None]:
    """(m, :func:`dense_trace`, the targets Y when ``with_targets``) of a calibration batch, refused when empty:
    what compiling a problem (pruning or discrete weights) starts from."""
    m = X.shape[0]
    if m == 0:
        raise ir.QselError("the calibration batch is empty")
    return m, dense_trace(network, X), targets(y, network, m) if with_targets else None


def targets(y: np.ndarray | None, network: Network, m: int) -> np.ndarray:
    """The task target Y at the output: one-hot labels (classification) or y itself (regression)."""
    if y is None:
        raise ir.QselError("--objective fit needs labels (y) in the calibration data")
    k = network.layers[-1].units
    if network.task == "classification":
        yi = np.asarray(y).astype(np.int64)
        if yi.min() < 0 or yi.max() >= k:
            raise ir.QselError(f"labels range over [{yi.min()}, {yi.max()}] but the network has {k} outputs")
        return np.eye(k)[yi]
    Y = np.asarray(y, dtype=np.float64).reshape(m, -1)
    if Y.shape[1] != k:
        raise ir.QselError(f"regression targets have {Y.shape[1]} columns but the network has {k} outputs")
    return Y


def measure(network: Network, X: np.ndarray, y: np.ndarray | None, selection: Selection,
            compile_meta: dict) -> dict[str, float]:
    """Per-layer objective of ``selection`` (layer -> value); compile_meta is the IR's metadata."""
    try:
        layers_info: dict = compile_meta["layers"]
        schedule = compile_meta["objective"]["schedule"]
    except (KeyError, TypeError):
        raise ir.QselError("the mask file does not say how its problem was compiled "
                           "(missing 'compile.layers' / 'compile.objective')") from None
    m = X.shape[0]
    dense = dense_trace(network, X)
    Y = None
    out: dict[str, float] = {}
    active: dict[str, object] = {}
    for name in sorted(layers_info, key=network.index):
        info = layers_info[name]
        if name not in selection.masks:
            raise ir.QselError(f"the selection has no mask for layer {name!r}, which was compiled")
        if schedule == "sequential":
            active[name] = selection.masks[name]
            masks = dict(active)
        else:
            masks = {name: selection.masks[name]}
        unit = {k: v.mask for k, v in masks.items() if v.granularity != "edge"}
        weight = {k: v.mask for k, v in masks.items() if v.granularity == "edge"}
        seen = Trace()
        network.forward(X, unit_masks=unit, weight_masks=weight, trace=seen)
        at = info["next"]
        Z = seen.pre[at]
        if info["objective"] == "fit":
            if Y is None:
                Y = targets(y, network, m)
            T = info["target_scale"] * Y
        elif info["objective"] == "scaled":
            T = info["target_scale"] * dense.pre[at]
        else:
            T = dense.pre[at]
        diff = (Z - T).reshape(m, -1)
        out[name] = float(np.einsum("ij,ij->", diff, diff)) / m
    return out


def layer_energies(problem: ir.Problem, assignment: dict[str, int]) -> dict[str, float]:
    """The IR energy of each compiled layer's block: E_l(x_l) = offset_l + h_l.x_l + x_l^T U_l x_l.

    The compiled IR is block diagonal over layers (``Problem.concat``), so E(x) with every other layer's
    variables at 0 is E_l(x_l) plus the other layers' offsets; sum_l E_l = E. Measured per layer by
    :func:`measure`, the same numbers come back up to rounding (with no sparsity penalty)."""
    layers = problem.metadata.get("layers", {})
    v = problem.variables
    x = np.array([assignment[label] for label in problem.labels], dtype=np.float64)
    total_offset = float(problem.offset)
    out: dict[str, float] = {}
    for name, info in layers.items():
        if name not in v.layer_names:
            continue
        xl = np.where(v.layer == v.layer_names.index(name), x, 0.0)
        out[name] = problem.energy(xl) - (total_offset - float(info["offset"]))
    return out
