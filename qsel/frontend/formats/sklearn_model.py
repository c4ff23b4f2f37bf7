"""scikit-learn ``MLPClassifier`` / ``MLPRegressor`` saved with joblib (``.joblib``, ``.pkl``).

Unpickling runs arbitrary code from the file, so :func:`load_sklearn` refuses
unless the caller passes ``trust_pickle=True`` (``--trust-pickle``).

Conversion: layer i has weight ``coefs_[i].T`` (sklearn stores (in, out)) and
bias ``intercepts_[i]``; names fc1, fc2, ...; hidden activation relu, tanh,
identity, or logistic -> sigmoid; the output layer is identity, so
``Network.logits`` equals sklearn's output pre-activation (the argument of
its softmax / logistic). A binary classifier has one output score z with
P(class 1) = sigmoid(z); it becomes two outputs (0, z), because
softmax(0, z) = (1 - sigmoid(z), sigmoid(z)): the probabilities and the
argmax (= ``predict``) are unchanged. Output i is the class ``classes_[i]``,
recorded in ``metadata["classes"]``.
"""

from __future__ import annotations

import os

import numpy as np

from qsel import ir
from qsel.frontend.network import Layer, Network
from qsel.frontend.network_check import check_network

from .base import ModelFormat

ACTIVATION_NAMES = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": "identity"}


def load_sklearn(path: str | os.PathLike, *, trust_pickle: bool = False) -> Network:
    """Convert a fitted MLPClassifier/MLPRegressor from a joblib/pickle file (only with ``trust_pickle``)."""
    if not trust_pickle:
        raise ir.QselError(f"{path}: loading a scikit-learn model unpickles it, which runs arbitrary code from the "
                           f"file; pass --trust-pickle (trust_pickle=True) only if you trust where the file came "
                           f"from")
    import joblib

    try:
        model = joblib.load(path)
    except FileNotFoundError:
        raise ir.QselError(f"{path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 - unpickling can fail in any way; report it as a user error
        raise ir.FormatError(f"{path}: cannot unpickle ({type(exc).__name__}: {exc})") from None
    return from_estimator(model, str(path))


def from_estimator(model: object, source: str = "<estimator>") -> Network:
    """Convert a fitted MLPClassifier/MLPRegressor object."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    if not isinstance(model, (MLPClassifier, MLPRegressor)):
        raise ir.QselError(f"{source}: holds a {type(model).__module__}.{type(model).__name__}; qsel reads "
                           f"scikit-learn MLPClassifier and MLPRegressor models")
    if not hasattr(model, "coefs_"):
        raise ir.QselError(f"{source}: the {type(model).__name__} is not fitted (no coefs_)")
    act = ACTIVATION_NAMES.get(model.activation)
    if act is None:
        raise ir.QselError(f"{source}: unknown hidden activation {model.activation!r}")
    classifier = isinstance(model, MLPClassifier)
    if classifier and model.out_activation_ == "logistic" and model.n_outputs_ > 1:
        raise ir.QselError(f"{source}: a multi-label MLPClassifier (independent sigmoid outputs) is not supported; "
                           f"qsel's classifiers use one softmax over the classes")
    if not classifier and model.out_activation_ != "identity":
        raise ir.QselError(f"{source}: an MLPRegressor with output activation {model.out_activation_!r} "
                           f"(loss={getattr(model, 'loss', '?')!r}) is not supported; qsel reads identity outputs")
    coefs, intercepts = list(model.coefs_), list(model.intercepts_)
    layers = []
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        last = i == len(coefs) - 1
        weight = np.array(W, dtype=np.float64).T
        bias = np.array(b, dtype=np.float64).reshape(-1)
        if last and classifier and model.out_activation_ == "logistic":
            weight = np.vstack([np.zeros_like(weight), weight])  # scores (0, z): softmax = (1 - s(z), s(z))
            bias = np.concatenate([[0.0], bias])
        layers.append(Layer(f"fc{i + 1}", "dense", weight, bias, "identity" if last else act))
    meta: dict = {"trained": True, "source": {"format": "sklearn", "estimator": type(model).__name__,
                                              "hidden_activation": model.activation}}
    if classifier:
        meta["classes"] = [c.item() if hasattr(c, "item") else c for c in model.classes_]
        if model.out_activation_ == "logistic":
            meta["source"]["binary_as_two_outputs"] = True
    network = Network(layers, (int(coefs[0].shape[0]),), "classification" if classifier else "regression", meta)
    return check_network(network, source)


MODEL_FORMAT = ModelFormat("sklearn", (".joblib", ".pkl"), "scikit-learn", read=load_sklearn, pickle=True)
