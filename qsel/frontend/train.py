"""Train a Network (dense and conv2d layers) with Adam in numpy (minibatches, fixed seed): enough for qsel's own
experiments; a small CNN on digits trains in seconds, so no deep-learning framework is needed for it.

Loss on the scores z = the last layer's pre-activation (see :mod:`.metrics`):
softmax cross-entropy for classification, squared error for regression, so
dL/dz = (softmax(z) - onehot(y)) / B  or  2 (z - y) / B  on a batch of B samples.
Backpropagation through layer l (a_l = f(z_l), z_l = a_{l-1} W_l^T + b_l):

    dW_l = dz_l^T a_{l-1},   db_l = sum_s dz_l,   dz_{l-1} = (dz_l W_l) * f'(z_{l-1})

A conv2d layer is the same affine map on im2col patches (:func:`.network.unfold`):
z[s, :, p] = W_k cols[s, p] + b, so dW_k = sum_{s,p} dz[s, :, p] cols[s, p]^T, db = sum_{s,p} dz[s, :, p], and
the input gradient is dcols = dz^T W_k folded back onto the (padded) input: each kernel offset (i, j)
adds its slice of dcols at rows i + stride*oh, columns j + stride*ow (col2im, one strided add per kernel
offset). A dense layer with ``flatten_input`` reshapes the gradient back to (C, H, W).

with f' = 1[z > 0] (relu), 1 - tanh^2 (tanh), s (1 - s) (sigmoid), cos (sin),
1 (identity), and for sign the straight-through estimator f' = 1[|z| <= 1]
(Courbariaux et al. 2016). Adam (Kingma & Ba 2015, beta1 0.9, beta2 0.999,
eps 1e-8) with decoupled weight decay on the weights only (AdamW,
Loshchilov & Hutter 2019): W <- W - lr * (m_hat / (sqrt(v_hat) + eps) + wd * W).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from qsel import ir

from .data import Dataset
from .metrics import log_softmax, score_accuracy, score_loss
from .network import ACTIVATIONS, Layer, Network, unfold

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


def _derivative(act: str, z: np.ndarray) -> np.ndarray:
    """f'(z) of each activation; a straight-through estimate for sign."""
    if act == "relu":
        return (z > 0).astype(z.dtype)
    if act == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if act == "sigmoid":
        s = ACTIVATIONS["sigmoid"](z)
        return s * (1.0 - s)
    if act == "sin":
        return np.cos(z)
    if act == "sign":
        return (np.abs(z) <= 1.0).astype(z.dtype)
    return np.ones_like(z)


@dataclass(frozen=True)
class EpochStats:
    """Train-set loss and accuracy (None for regression) after an epoch, on the whole train set."""

    epoch: int
    loss: float
    accuracy: float | None


def train(network: Network, dataset: Dataset, *, epochs: int = 20, lr: float = 1e-3, batch_size: int = 32,
          weight_decay: float = 0.0, seed: int = 0,
          progress: Callable[[int], None] | None = None) -> tuple[Network, list[EpochStats]]:
    """A trained copy of ``network`` and the per-epoch history; ``network`` itself is not modified."""
    _check(network, dataset, epochs, lr, batch_size, weight_decay)
    X = dataset.X.reshape(dataset.X.shape[0], *network.input_shape)
    targets = _targets(network, dataset)
    shapes = list(network.layers)
    Ws = [layer.weight.astype(np.float64, copy=True) for layer in network.layers]
    bs = [layer.bias.astype(np.float64, copy=True) for layer in network.layers]
    params = Ws + bs
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    rng = np.random.default_rng(seed)
    history: list[EpochStats] = []
    step = 0
    m = X.shape[0]
    for epoch in range(1, epochs + 1):
        order = rng.permutation(m)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is caught below, once per epoch
            for start in range(0, m, batch_size):
                idx = order[start:start + batch_size]
                grads = _gradients(shapes, Ws, bs, X[idx], targets[idx], network.task)
                step += 1
                c1, c2 = 1.0 - _BETA1 ** step, 1.0 - _BETA2 ** step
                for i, (p, g) in enumerate(zip(params, grads)):
                    m1[i] *= _BETA1
                    m1[i] += (1.0 - _BETA1) * g
                    m2[i] *= _BETA2
                    m2[i] += (1.0 - _BETA2) * g * g
                    p -= lr * (m1[i] / c1) / (np.sqrt(m2[i] / c2) + _EPS)
                    if weight_decay and i < len(Ws):
                        p -= lr * weight_decay * p
            Z = _scores(shapes, Ws, bs, X)
            loss = score_loss(Z, dataset.y, network.task)
        if not np.isfinite(loss):
            raise ir.QselError(f"training diverged at epoch {epoch} (loss {loss}); try a smaller learning rate")
        acc = score_accuracy(Z, dataset.y) if network.task == "classification" else None
        history.append(EpochStats(epoch, loss, acc))
        if progress is not None:
            progress(1)
    layers = [Layer(layer.name, layer.kind, W, b, layer.activation, layer.stride, layer.padding, layer.flatten_input)
              for layer, W, b in zip(network.layers, Ws, bs)]
    meta = dict(network.metadata)
    meta["trained"] = True
    meta["training"] = {"data": dataset.name, "split": dataset.split, "fingerprint": dataset.fingerprint,
                        "optimizer": "adam", "epochs": epochs, "lr": lr, "batch_size": batch_size,
                        "weight_decay": weight_decay, "seed": seed, "final_loss": history[-1].loss,
                        "final_accuracy": history[-1].accuracy}
    return Network(layers, network.input_shape, network.task, meta), history


def _check(network: Network, dataset: Dataset, epochs: int, lr: float, batch_size: int, weight_decay: float) -> None:
    if epochs < 1:
        raise ir.QselError(f"--epochs must be at least 1, got {epochs}")
    if not (np.isfinite(lr) and lr > 0):
        raise ir.QselError(f"--lr must be a finite number > 0, got {lr}")
    if batch_size < 1:
        raise ir.QselError(f"--batch-size must be at least 1, got {batch_size}")
    if not (np.isfinite(weight_decay) and weight_decay >= 0):
        raise ir.QselError(f"--weight-decay must be a finite number >= 0, got {weight_decay}")
    if dataset.y is None:
        raise ir.QselError(f"{dataset.name}: training needs labels (y) in the data")
    want = int(np.prod(network.input_shape))
    if dataset.num_features != want:
        raise ir.QselError(f"{dataset.name}: the network expects {want} input features but "
                           f"the data has {dataset.num_features}")


def _targets(network: Network, dataset: Dataset) -> np.ndarray:
    """Class indices (classification) or an (m, k) target matrix (regression)."""
    k = network.layers[-1].units
    if network.task == "classification":
        if dataset.task != "classification":
            raise ir.QselError(f"{dataset.name}: the network is a classifier but the labels are not integers")
        y = np.asarray(dataset.y, dtype=np.int64)
        if y.max() >= k:
            raise ir.QselError(f"{dataset.name}: labels go up to {int(y.max())} but the network has {k} output(s)")
        return y
    Y = np.asarray(dataset.y, dtype=np.float64).reshape(dataset.y.shape[0], -1)
    if Y.shape[1] != k:
        raise ir.QselError(f"{dataset.name}: regression targets have {Y.shape[1]} column(s) but the network has "
                           f"{k} output(s)")
    return Y


def _affine(layer: Layer, W: np.ndarray, b: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(z, cols): the layer's pre-activation with weight W, bias b, and its im2col patches (conv2d) or None."""
    if layer.kind == "dense":
        return (x.reshape(x.shape[0], -1) if layer.flatten_input else x) @ W.T + b, None
    cols, (oh, ow) = unfold(x, W.shape[2], W.shape[3], layer.stride, layer.padding)
    z = cols @ W.reshape(W.shape[0], -1).T  # (m, P, O)
    return z.transpose(0, 2, 1).reshape(x.shape[0], W.shape[0], oh, ow) + b[None, :, None, None], cols


def _scores(layers: list[Layer], Ws: list[np.ndarray], bs: list[np.ndarray], X: np.ndarray) -> np.ndarray:
    a = X
    for layer, W, b in zip(layers, Ws, bs):
        z, _ = _affine(layer, W, b, a)
        a = ACTIVATIONS[layer.activation](z)
    return z


def _fold(dcols: np.ndarray, shape: tuple[int, ...], kh: int, kw: int, stride: int, padding: int) -> np.ndarray:
    """col2im: the gradient (m, C, H, W) of the input from that of its patches dcols (m, P, C*kh*kw)."""
    m, C, H, Wd = shape
    Hp, Wp = H + 2 * padding, Wd + 2 * padding
    oh, ow = (Hp - kh) // stride + 1, (Wp - kw) // stride + 1
    d = dcols.reshape(m, oh, ow, C, kh, kw)
    out = np.zeros((m, C, Hp, Wp))
    for i in range(kh):  # kernel offsets: a fixed 3x3 (or so) loop, everything else vectorised
        for j in range(kw):
            out[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += d[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return out[:, :, padding:padding + H, padding:padding + Wd]


def _gradients(layers: list[Layer], Ws: list[np.ndarray], bs: list[np.ndarray], X: np.ndarray, t: np.ndarray,
               task: str) -> list[np.ndarray]:
    """[dW_1 .. dW_L, db_1 .. db_L] of the mean batch loss, by backpropagation."""
    inputs, pres, patches = [], [], []
    a = X
    for layer, W, b in zip(layers, Ws, bs):
        z, cols = _affine(layer, W, b, a)
        inputs.append(a)
        pres.append(z)
        patches.append(cols)
        a = ACTIVATIONS[layer.activation](z)
    B = X.shape[0]
    Z = pres[-1]
    if task == "classification":
        dz = np.exp(log_softmax(Z))
        dz[np.arange(B), t] -= 1.0
        dz /= B
    else:
        dz = 2.0 * (Z - t) / B
    gW: list[np.ndarray] = [np.empty(0)] * len(Ws)
    gb: list[np.ndarray] = [np.empty(0)] * len(Ws)
    for i in range(len(Ws) - 1, -1, -1):
        layer, x = layers[i], inputs[i]
        if layer.kind == "dense":
            x2 = x.reshape(B, -1)
            gW[i] = dz.T @ x2
            gb[i] = dz.sum(axis=0)
            dx = (dz @ Ws[i]).reshape(x.shape) if i else None
        else:
            O = Ws[i].shape[0]
            dzp = dz.reshape(B, O, -1).transpose(0, 2, 1)  # (m, P, O)
            gW[i] = np.einsum("mpo,mpk->ok", dzp, patches[i], optimize=True).reshape(Ws[i].shape)
            gb[i] = dz.sum(axis=(0, 2, 3))
            dx = _fold(dzp @ Ws[i].reshape(O, -1), x.shape, Ws[i].shape[2], Ws[i].shape[3], layer.stride,
                       layer.padding) if i else None
        if i:
            dz = dx * _derivative(layers[i - 1].activation, pres[i - 1])
    return gW + gb
