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
