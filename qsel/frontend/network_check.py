"""Whether a :class:`~qsel.frontend.network.Network` is well formed: the one check every model format runs.

:func:`check_network` decides whether a Network is well formed (known activations, consecutive shapes
that fit, finite weights); every reader calls it on what it built and every writer on what it is given,
so that every format fails the same way, naming the file and the layer. It lives below both
:mod:`qsel.frontend.models` (which dispatches by suffix) and the format modules that call it, so neither
imports the other.
"""

from __future__ import annotations

import numpy as np

from qsel import ir

from .network import ACTIVATIONS, Network


def check_network(network: Network, source: str) -> Network:
    """Raise a QselError (prefixed by ``source``) unless every layer fits the previous one and is finite.

    Shapes flow from ``network.input_shape``: a dense layer needs fan_in equal to
    the number of incoming features (a multi-axis input needs ``flatten_input``);
    a conv2d layer needs a (C, H, W) input with C = weight.shape[1] and produces
    (out, (H + 2p - kh) // s + 1, (W + 2p - kw) // s + 1).
    """
    if network.task not in ("classification", "regression"):
        raise ir.QselError(f"{source}: unknown task {network.task!r} (expected classification or regression)")
    if not network.layers:
        raise ir.QselError(f"{source}: the network has no layers")
    shape = tuple(int(d) for d in network.input_shape)
    if not shape or any(d < 1 for d in shape):
        raise ir.QselError(f"{source}: bad input shape {shape}")
    prev = "the input"
    for layer in network.layers:
        where = f"{source}: layer {layer.name!r}"
        if layer.activation not in ACTIVATIONS:
            raise ir.QselError(f"{where}: unknown activation {layer.activation!r} "
                               f"(known: {', '.join(ACTIVATIONS)})")
        w, b = np.asarray(layer.weight), np.asarray(layer.bias)
        if layer.kind == "dense":
            if w.ndim != 2:
                raise ir.QselError(f"{where}: a dense weight must be 2-D (out, in), got shape {w.shape}")
            if len(shape) > 1 and not layer.flatten_input:
                raise ir.QselError(f"{where}: receives a {shape} input from {prev} but does not flatten it")
            features = int(np.prod(shape))
            if w.shape[1] != features:
                raise ir.QselError(f"{where}: expects {w.shape[1]} inputs but {prev} gives {features}")
            shape = (w.shape[0],)
        elif layer.kind == "conv2d":
            if w.ndim != 4:
                raise ir.QselError(f"{where}: a conv2d weight must be 4-D (out, in, kh, kw), got shape {w.shape}")
            if layer.stride < 1 or layer.padding < 0:
                raise ir.QselError(f"{where}: stride must be >= 1 and padding >= 0, got {layer.stride}, "
                                   f"{layer.padding}")
            if len(shape) != 3:
                raise ir.QselError(f"{where}: a conv2d layer needs a (C, H, W) input but {prev} gives {shape}")
            if w.shape[1] != shape[0]:
                raise ir.QselError(f"{where}: expects {w.shape[1]} input channels but {prev} gives {shape[0]}")
            oh = (shape[1] + 2 * layer.padding - w.shape[2]) // layer.stride + 1
            ow = (shape[2] + 2 * layer.padding - w.shape[3]) // layer.stride + 1
            if oh < 1 or ow < 1:
                raise ir.QselError(f"{where}: a {w.shape[2]}x{w.shape[3]} kernel does not fit the "
                                   f"{shape[1]}x{shape[2]} input (padding {layer.padding})")
            shape = (w.shape[0], oh, ow)
        else:
            raise ir.QselError(f"{where}: unknown layer kind {layer.kind!r} (expected dense or conv2d)")
        if b.shape != (w.shape[0],):
            raise ir.QselError(f"{where}: bias has shape {b.shape}, expected ({w.shape[0]},)")
        for what, arr in (("weight", w), ("bias", b)):
            if not np.issubdtype(arr.dtype, np.number):
                raise ir.QselError(f"{where}: {what} is not numeric (dtype {arr.dtype})")
            bad = ~np.isfinite(arr)
            if bad.any():
                first = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ir.QselError(f"{where}: {what} has {int(bad.sum())} NaN/Inf value(s), first at index {first}")
        prev = f"layer {layer.name!r}"
    return network
