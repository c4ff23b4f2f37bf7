"""Accuracy and loss of a network's scores Z (the last layer's pre-activation).

classification: cross-entropy  L = -1/m sum_s log softmax(z_s)[y_s],  accuracy = mean(argmax z_s == y_s)
regression:     squared error  L =  1/m sum_s ||z_s - y_s||^2          (no accuracy)

These are the numbers ``qsel train`` reports and the loss it minimises.
"""

from __future__ import annotations

import numpy as np

from .data import Dataset
from .network import Network


def log_softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise log softmax, shifted by the row maximum so that exp never overflows."""
    z = Z - Z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def cross_entropy(Z: np.ndarray, y: np.ndarray) -> float:
    yi = np.asarray(y, dtype=np.int64)
    return float(-log_softmax(Z)[np.arange(yi.size), yi].mean())


def squared_error(Z: np.ndarray, Y: np.ndarray) -> float:
    diff = Z - np.asarray(Y, dtype=np.float64).reshape(Z.shape)
    return float(np.mean(np.sum(diff * diff, axis=1)))


def score_loss(Z: np.ndarray, y: np.ndarray, task: str) -> float:
    return cross_entropy(Z, y) if task == "classification" else squared_error(Z, y)


def score_accuracy(Z: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(Z.argmax(axis=1) == np.asarray(y, dtype=np.int64)))


def loss(network: Network, dataset: Dataset, **masks) -> float | None:
    """The network's loss on the dataset (None without labels)."""
    if dataset.y is None:
        return None
    return score_loss(network.logits(dataset.X, **masks), dataset.y, network.task)


def accuracy(network: Network, dataset: Dataset, **masks) -> float | None:
    """Fraction of samples whose largest score is the label (None for regression or without labels)."""
    if dataset.y is None or network.task != "classification":
        return None
    return score_accuracy(network.logits(dataset.X, **masks), dataset.y)


def scores_metrics(network: Network, dataset, **masks) -> dict:
    """accuracy (classifiers) and loss (cross-entropy or squared error) of the network, optionally masked."""
    return {"accuracy": accuracy(network, dataset, **masks), "loss": loss(network, dataset, **masks)}
