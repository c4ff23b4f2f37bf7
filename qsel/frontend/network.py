"""qsel's in-memory network: a sequence of affine layers (dense or 2-D convolution) with activations.

Every model format (qsel's own ``.npz``, scikit-learn, ONNX, PyTorch) is
converted to a :class:`Network`; lowering, masking, applying and evaluating
all work on this one representation.

Shapes: a dense layer's ``weight`` is (out, in); a conv2d layer's is
(out_channels, in_channels, kh, kw). Inputs are (m, features) for a dense
first layer or (m, C, H, W) for a convolutional one. A dense layer with
``flatten_input`` first reshapes (m, C, H, W) -> (m, C*H*W) (channel-major).

Masks: ``unit_masks[name]`` (shape (units,)) multiplies layer ``name``'s output
activations — keep-mask s of the objective; ``weight_masks[name]`` (the
shape of that layer's weight) multiplies its weights — edge masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal

import numpy as np

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),  # overflow-free logistic
    "sin": np.sin,
    "sign": np.sign,
}

LayerKind = Literal["dense", "conv2d"]


@dataclass
class Layer:
    name: str
    kind: LayerKind
    weight: np.ndarray
    bias: np.ndarray
    activation: str = "identity"
    stride: int = 1
    padding: int = 0
    flatten_input: bool = False

    @property
    def units(self) -> int:
        """Output units (dense) or output channels (conv2d)."""
        return int(self.weight.shape[0])

    @property
    def fan_in(self) -> int:
        return int(self.weight.shape[1])

    def affine(self, x: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
        """Pre-activation of this layer for input x (optionally with a masked weight)."""
        w = self.weight if weight is None else weight
        if self.kind == "dense":
            if self.flatten_input and x.ndim > 2:
                x = x.reshape(x.shape[0], -1)
            return x @ w.T + self.bias
        cols, (oh, ow) = unfold(x, w.shape[2], w.shape[3], self.stride, self.padding)
        z = np.einsum("mpk,ok->mop", cols, w.reshape(w.shape[0], -1), optimize=True)
        return z.reshape(x.shape[0], w.shape[0], oh, ow) + self.bias[None, :, None, None]

    def activate(self, z: np.ndarray) -> np.ndarray:
        return ACTIVATIONS[self.activation](z)


def unfold(x: np.ndarray, kh: int, kw: int, stride: int, padding: int) -> tuple[np.ndarray, tuple[int, int]]:
    """im2col: (m, C, H, W) -> (m, P, C*kh*kw) patches, P = output positions, channel-major within a patch."""
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    m, c, h, w = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    # win: (m, C, oh, ow, kh, kw) -> (m, oh*ow, C*kh*kw)
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(m, oh * ow, c * kh * kw)
    return cols, (oh, ow)


@dataclass
class Trace:
    """What :meth:`Network.forward` saw: per layer the input, pre-activation and output activation."""

    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    pre: dict[str, np.ndarray] = field(default_factory=dict)
    post: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Network:
    layers: list[Layer]
    input_shape: tuple[int, ...]
    task: Literal["classification", "regression"] = "classification"
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def next_layer(self, name: str) -> Layer | None:
        i = self.index(name)
        return self.layers[i + 1] if i + 1 < len(self.layers) else None

    def selectable(self) -> list[str]:
        """Layers whose units can be selected: every layer followed by another affine layer."""
        return [layer.name for layer in self.layers[:-1]]

    def forward(self, X: np.ndarray, unit_masks: dict[str, np.ndarray] | None = None,
                weight_masks: dict[str, np.ndarray] | None = None, trace: Trace | None = None) -> np.ndarray:
        """The last layer's output (after its activation) for inputs X, with optional masks."""
        x = np.asarray(X, dtype=np.float64)
        unit_masks = unit_masks or {}
        weight_masks = weight_masks or {}
        for layer in self.layers:
            w = layer.weight if layer.name not in weight_masks else layer.weight * weight_masks[layer.name]
            if trace is not None:
                trace.inputs[layer.name] = x
            z = layer.affine(x, w)
            a = layer.activate(z)
            if layer.name in unit_masks:
                s = np.asarray(unit_masks[layer.name], dtype=np.float64)
                a = a * (s[None, :] if a.ndim == 2 else s[None, :, None, None])
            if trace is not None:
                trace.pre[layer.name] = z
                trace.post[layer.name] = a
            x = a
        return x

    def logits(self, X: np.ndarray, **masks) -> np.ndarray:
        """Last layer's pre-activation (the network's scores before any output activation)."""
        t = Trace()
        self.forward(X, trace=t, **masks)
        return t.pre[self.layers[-1].name]

    def num_params(self) -> int:
        return int(sum(layer.weight.size + layer.bias.size for layer in self.layers))
