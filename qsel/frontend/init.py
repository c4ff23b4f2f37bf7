"""Random MLPs: layers fc1..fcL, hidden activation ``act``, identity output, seeded initialisation.

For a layer with fan_in n and fan_out k, and the activation's gain g
(relu sqrt(2), tanh 5/3, otherwise 1, as ``torch.nn.init.calculate_gain``):

| init              | weights                                                                 |
|-------------------|-------------------------------------------------------------------------|
| kaiming-uniform   | U(-b, b), b = g * sqrt(3 / n)            (He et al. 2015)               |
| kaiming-normal    | N(0, g^2 / n)                                                           |
| xavier-uniform    | U(-b, b), b = sqrt(6 / (n + k))          (Glorot & Bengio 2010)         |
| xavier-normal     | N(0, 2 / (n + k))                                                       |
| signed-constant   | +-g / sqrt(n), sign uniform at random     (edge-popup's signed Kaiming  |
|                   | constant, Ramanujan et al. 2020: +-sqrt(2 / n) for ReLU)               |
| uniform           | U(-1/sqrt(n), 1/sqrt(n))                  (PyTorch's nn.Linear default) |

Every weight is then multiplied by ``scale``. Biases are zero (``bias_init="zeros"``)
or U(-1/sqrt(n), 1/sqrt(n)) (``"uniform"``). One ``numpy.random.default_rng(seed)``
draws the layers in order, so a seed fixes the network bit for bit.
"""

from __future__ import annotations

import numpy as np

from qsel import ir

from .network import ACTIVATIONS, Layer, Network

INITS = ("kaiming-uniform", "kaiming-normal", "xavier-uniform", "xavier-normal", "signed-constant", "uniform")
BIAS_INITS = ("zeros", "uniform")
GAINS = {"relu": float(np.sqrt(2.0)), "tanh": 5.0 / 3.0}


def init_network(sizes: list[int], act: str = "relu", init: str = "kaiming-uniform", seed: int = 0, *,
                 task: str = "classification", bias_init: str = "zeros", scale: float = 1.0) -> Network:
    """A dense network sizes[0] -> ... -> sizes[-1] (metadata marks it untrained)."""
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2:
        raise ir.QselError(f"--sizes needs at least two sizes (inputs and outputs), got {sizes}")
    if any(s < 1 for s in sizes):
        raise ir.QselError(f"--sizes must all be >= 1, got {sizes}")
    if act not in ACTIVATIONS:
        raise ir.QselError(f"unknown activation {act!r} (choices: {', '.join(ACTIVATIONS)})")
    if init not in INITS:
        raise ir.QselError(f"unknown init {init!r} (choices: {', '.join(INITS)})")
    if bias_init not in BIAS_INITS:
        raise ir.QselError(f"unknown bias init {bias_init!r} (choices: {', '.join(BIAS_INITS)})")
    if task not in ("classification", "regression"):
        raise ir.QselError(f"unknown task {task!r} (choices: classification, regression)")
    if not (np.isfinite(scale) and scale > 0):
        raise ir.QselError(f"the init scale must be a finite number > 0, got {scale}")
    rng = np.random.default_rng(seed)
    gain = GAINS.get(act, 1.0)
    layers = []
    for i, (n, k) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = _weights(rng, init, n, k, gain) * scale
        b = rng.uniform(-1, 1, size=k) / np.sqrt(n) if bias_init == "uniform" else np.zeros(k)
        last = i == len(sizes) - 2
        layers.append(Layer(f"fc{i + 1}", "dense", w, b, "identity" if last else act))
    meta = {"trained": False,
            "source": {"model": f"random {act} MLP {'-'.join(map(str, sizes))}", "init": init, "seed": int(seed),
                       "bias_init": bias_init, "scale": float(scale)}}
    return Network(layers, (sizes[0],), task, meta)


def _weights(rng: np.random.Generator, init: str, n: int, k: int, gain: float) -> np.ndarray:
    """A (k, n) weight matrix drawn by ``init``."""
    if init == "kaiming-uniform":
        b = gain * np.sqrt(3.0 / n)
        return rng.uniform(-b, b, size=(k, n))
    if init == "kaiming-normal":
        return rng.normal(0.0, gain / np.sqrt(n), size=(k, n))
    if init == "xavier-uniform":
        b = np.sqrt(6.0 / (n + k))
        return rng.uniform(-b, b, size=(k, n))
    if init == "xavier-normal":
        return rng.normal(0.0, np.sqrt(2.0 / (n + k)), size=(k, n))
    if init == "signed-constant":
        return np.where(rng.random(size=(k, n)) < 0.5, -1.0, 1.0) * (gain / np.sqrt(n))
    b = 1.0 / np.sqrt(n)
    return rng.uniform(-b, b, size=(k, n))


def init_cnn(input_shape: tuple[int, int, int], channels: list[int], classes: int, act: str = "relu",
             seed: int = 0, *, kernel: int = 3, strides: list[int] | None = None, hidden: list[int] | None = None,
             task: str = "classification") -> Network:
    """A small CNN: conv1..convC (kernel x kernel, padding kernel // 2, ``strides``, activation ``act``),
    then dense fc1.. (``hidden`` widths, the first flattening the last conv's output) and the output layer.

    Weights are kaiming-uniform with fan_in = in_channels * kernel^2 for a conv layer; biases are zero."""
    c, h, w = (int(v) for v in input_shape)
    if not channels or any(ch < 1 for ch in channels):
        raise ir.QselError(f"a CNN needs at least one conv layer with >= 1 channel, got {channels}")
    if act not in ACTIVATIONS:
        raise ir.QselError(f"unknown activation {act!r} (choices: {', '.join(ACTIVATIONS)})")
    strides = list(strides) if strides is not None else [1] * len(channels)
    if len(strides) != len(channels) or any(s < 1 for s in strides):
        raise ir.QselError(f"give one stride >= 1 per conv layer, got {strides} for {len(channels)} layers")
    rng = np.random.default_rng(seed)
    gain = GAINS.get(act, 1.0)
    pad = kernel // 2
    layers = []
    for i, (out, stride) in enumerate(zip(channels, strides)):
        fan_in = c * kernel * kernel
        wgt = _weights(rng, "kaiming-uniform", fan_in, out, gain).reshape(out, c, kernel, kernel)
        layers.append(Layer(f"conv{i + 1}", "conv2d", wgt, np.zeros(out), act, stride, pad))
        c, h, w = out, (h + 2 * pad - kernel) // stride + 1, (w + 2 * pad - kernel) // stride + 1
    sizes = [c * h * w, *(hidden or []), int(classes)]
    for i, (n, k) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(Layer(f"fc{i + 1}", "dense", _weights(rng, "kaiming-uniform", n, k, 1.0 if last else gain),
                            np.zeros(k), "identity" if last else act, flatten_input=i == 0))
    arch = "-".join(f"conv{ch}" for ch in channels) + "-" + "-".join(map(str, sizes[1:]))
    meta = {"trained": False, "source": {"model": f"random {act} CNN {arch}", "init": "kaiming-uniform",
                                         "seed": int(seed)}}
    return Network(layers, (int(input_shape[0]), int(input_shape[1]), int(input_shape[2])), task, meta)
