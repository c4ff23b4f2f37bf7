"""Apply a selection to a network for real: dropped units disappear from the weight matrices.

Dropping unit i of layer l deletes row i of W_l and entry i of b_l, and the
matching input column(s) of the next layer (for a conv layer followed by a
flattening dense layer, the H*W columns of channel i). Because a masked
unit's activation is multiplied by 0, the pruned network computes exactly
what the masked one does. Edge masks zero the dropped weights; an input unit
left with no outgoing weight is then removed as well (when it is a hidden
unit).
"""

from __future__ import annotations

import copy

import numpy as np

from .masks import Selection
from .network import Layer, Network


def _drop_inputs(layer: Layer, keep: np.ndarray, in_shape_units: int) -> Layer:
    """Remove input units (or channels) not in ``keep`` from ``layer``'s weight."""
    w = layer.weight
    if layer.kind == "conv2d":
        w = w[:, keep]
    elif layer.flatten_input and w.shape[1] != in_shape_units:
        per = w.shape[1] // in_shape_units  # columns per channel in channel-major flatten
        cols = (keep[:, None] * per + np.arange(per)[None, :]).ravel()
        w = w[:, cols]
    else:
        w = w[:, keep]
    return Layer(layer.name, layer.kind, np.ascontiguousarray(w), layer.bias, layer.activation, layer.stride,
                 layer.padding, layer.flatten_input)


def apply_selection(network: Network, selection: Selection) -> Network:
    """A new, smaller network equivalent to ``network`` run with ``selection``'s masks."""
    layers = [copy.copy(layer) for layer in network.layers]
    by_name = {layer.name: i for i, layer in enumerate(layers)}
    # Edge masks first: zero weights, then derive unit removals from empty columns.
    unit_keep: dict[str, np.ndarray] = {}
    for name, m in selection.masks.items():
        i = by_name[name]
        if m.granularity == "edge":
            layer = layers[i]
            layers[i] = Layer(layer.name, layer.kind, layer.weight * m.mask, layer.bias, layer.activation,
                              layer.stride, layer.padding, layer.flatten_input)
            if i > 0 and layer.kind == "dense" and not layer.flatten_input:
                alive = np.any(m.mask != 0, axis=0)
                prev = layers[i - 1].name
                unit_keep[prev] = unit_keep.get(prev, np.ones(alive.shape[0], bool)) & alive
        else:
            unit_keep[name] = unit_keep.get(name, np.ones(m.mask.shape[0], bool)) & (m.mask != 0)
    for name, keep_mask in unit_keep.items():
        i = by_name[name]
        keep = np.flatnonzero(keep_mask)
        layer = layers[i]
        units = layer.units
        layers[i] = Layer(layer.name, layer.kind, np.ascontiguousarray(layer.weight[keep]), layer.bias[keep].copy(),
                          layer.activation, layer.stride, layer.padding, layer.flatten_input)
        layers[i + 1] = _drop_inputs(layers[i + 1], keep, units)
    meta = dict(network.metadata)
    meta["pruned"] = {name: {"kept": int(np.count_nonzero(v)), "of": int(v.shape[0])} for name, v in unit_keep.items()}
    return Network(layers, network.input_shape, network.task, meta)
