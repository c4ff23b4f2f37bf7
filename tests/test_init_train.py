"""Random initialisation (the documented distributions, seeded) and numpy Adam training (backprop is exact)."""

from __future__ import annotations

import numpy as np
import pytest

from qsel import ir
from qsel.frontend import metrics
from qsel.frontend.data import Dataset, load_dataset
from qsel.frontend.init import INITS, init_network
from qsel.frontend.network import ACTIVATIONS, Layer, Network
from qsel.frontend.train import _gradients, train


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train"), load_dataset("digits", "test")


# ----------------------------------------------------------------------------- init

def test_init_builds_the_requested_mlp():
    net = init_network([64, 32, 16, 10], "tanh", "xavier-normal", 3, task="classification")
    assert net.names == ["fc1", "fc2", "fc3"] and net.input_shape == (64,)
    assert [la.weight.shape for la in net.layers] == [(32, 64), (16, 32), (10, 16)]
    assert [la.activation for la in net.layers] == ["tanh", "tanh", "identity"]
    assert all(not la.bias.any() for la in net.layers)
    assert net.metadata["trained"] is False and net.metadata["source"]["init"] == "xavier-normal"
    assert net.forward(np.zeros((2, 64))).shape == (2, 10)


@pytest.mark.parametrize("init", INITS)
def test_init_is_deterministic_per_seed(init):
    a, b = init_network([20, 30, 5], "relu", init, 7), init_network([20, 30, 5], "relu", init, 7)
    c = init_network([20, 30, 5], "relu", init, 8)
    for la, lb, lc in zip(a.layers, b.layers, c.layers):
        np.testing.assert_array_equal(la.weight, lb.weight)
        assert not np.array_equal(la.weight, lc.weight)


@pytest.mark.parametrize("init, act, bound, std", [
    ("kaiming-uniform", "relu", np.sqrt(6 / 400), np.sqrt(2 / 400)),
    ("kaiming-uniform", "tanh", 5 / 3 * np.sqrt(3 / 400), 5 / 3 / np.sqrt(400)),
    ("kaiming-normal", "relu", None, np.sqrt(2 / 400)),
    ("xavier-uniform", "relu", np.sqrt(6 / 700), np.sqrt(2 / 700)),
    ("xavier-normal", "sigmoid", None, np.sqrt(2 / 700)),
    ("uniform", "relu", 1 / np.sqrt(400), 1 / np.sqrt(1200)),
])
def test_init_distributions(init, act, bound, std):
    """fan_in 400, fan_out 300: the bound is respected and the empirical std is within 3% of the formula."""
    w = init_network([400, 300, 2], act, init, 0).layers[0].weight
    if bound is not None:
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() / std - 1) < 0.03 and abs(w.mean()) < 0.03 * std


def test_signed_constant_is_edge_popups_signed_kaiming_constant():
    w = init_network([50, 40, 3], "relu", "signed-constant", 0, scale=2.0).layers[0].weight
    np.testing.assert_array_equal(np.abs(w), 2.0 * np.sqrt(2 / 50))
    assert 0.4 < np.mean(w > 0) < 0.6


def test_uniform_bias_init():
    b = init_network([25, 400, 2], "relu", "uniform", 0, bias_init="uniform").layers[0].bias
    assert np.abs(b).max() <= 1 / 5 and b.std() > 0.1


@pytest.mark.parametrize("kwargs, message", [
    ({"sizes": [10]}, "at least two sizes"),
    ({"sizes": [10, 0, 2]}, "must all be >= 1"),
    ({"act": "gelu"}, "unknown activation 'gelu' (choices: identity, relu, tanh, sigmoid, sin, sign)"),
    ({"init": "he"}, "unknown init 'he' (choices: kaiming-uniform, kaiming-normal, xavier-uniform"),
    ({"bias_init": "ones"}, "unknown bias init 'ones'"),
    ({"task": "ranking"}, "unknown task 'ranking'"),
    ({"scale": 0.0}, "scale must be a finite number > 0"),
])
def test_init_validation(kwargs, message):
    args = {"sizes": [4, 3], "act": "relu", "init": "kaiming-uniform", "seed": 0, **kwargs}
    with pytest.raises(ir.QselError) as exc:
        init_network(**args)
    assert message in str(exc.value)


# ----------------------------------------------------------------------------- training

@pytest.mark.slow
def test_relu_mlp_reaches_95_percent_on_digits(digits):
    train_set, test_set = digits
    net = init_network([64, 128, 10], "relu", "kaiming-uniform", 0)
    trained, history = train(net, train_set, epochs=20, lr=1e-3, seed=0)
    assert [h.epoch for h in history] == list(range(1, 21))
    assert history[-1].loss < history[0].loss and history[-1].accuracy > 0.97
    assert metrics.accuracy(trained, test_set) >= 0.95
    assert metrics.accuracy(net, test_set) < 0.5  # the input network is untouched and untrained
    assert trained.metadata["trained"] is True and trained.metadata["training"]["epochs"] == 20
    assert history[-1].loss == pytest.approx(metrics.loss(trained, train_set), rel=1e-12)
    again, _ = train(net, train_set, epochs=20, lr=1e-3, seed=0)
    np.testing.assert_array_equal(again.layers[0].weight, trained.layers[0].weight)
    other, _ = train(net, train_set, epochs=1, seed=1)
    assert not np.array_equal(other.layers[0].weight, train(net, train_set, epochs=1, seed=0)[0].layers[0].weight)


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "sin", "identity"])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_backprop_matches_finite_differences(act, task):
    """dL/dtheta from _gradients equals central differences of the batch loss (relative error < 1e-6)."""
    rng = np.random.default_rng(0)
    net = init_network([5, 7, 6, 3], act, "xavier-normal", 1, task=task, bias_init="uniform")
    Ws = [la.weight.copy() for la in net.layers]
    bs = [la.bias.copy() for la in net.layers]
    acts = [la.activation for la in net.layers]
    X = rng.normal(size=(11, 5))
    t = rng.integers(0, 3, size=11) if task == "classification" else rng.normal(size=(11, 3))

    def batch_loss() -> float:
        return metrics.score_loss(Network([Layer(f"l{i}", "dense", W, b, a) for i, (W, b, a) in
                                           enumerate(zip(Ws, bs, acts))], (5,), task).logits(X), t, task)

    grads = _gradients(net.layers, Ws, bs, X, t, task)
    eps = 1e-6
    for p, g in zip(Ws + bs, grads):
        flat = p.reshape(-1)
        num = np.empty_like(flat)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = batch_loss()
            flat[i] = old - eps
            down = batch_loss()
            flat[i] = old
            num[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g.reshape(-1), num, rtol=1e-6, atol=1e-8)


def test_sign_network_trains_with_the_straight_through_estimator():
    moons, test = load_dataset("moons"), load_dataset("moons", "test")
    net = init_network([2, 64, 2], "sign", "kaiming-uniform", 0)
    trained, history = train(net, moons, epochs=15, lr=3e-3)
    assert metrics.accuracy(trained, test) > 0.85 > metrics.accuracy(net, test)


def test_regression_and_weight_decay():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    Y = X @ np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]]) + 0.25
    data = Dataset(X, Y, "linear", "train", "regression", "sha256:0", "none", None)
    net = init_network([3, 2], "identity", "xavier-uniform", 0, task="regression")
    trained, history = train(net, data, epochs=60, lr=0.05)
    assert history[-1].accuracy is None and history[-1].loss < 1e-6 < history[0].loss
    np.testing.assert_allclose(trained.layers[0].bias, 0.25, atol=1e-3)
    decayed, _ = train(net, data, epochs=60, lr=0.05, weight_decay=0.1)
    assert np.linalg.norm(decayed.layers[0].weight) < np.linalg.norm(trained.layers[0].weight)


def test_training_errors(digits):
    train_set, _ = digits
    conv = Network([Layer("conv1", "conv2d", np.zeros((2, 1, 3, 3)), np.zeros(2)),
                    Layer("fc1", "dense", np.zeros((10, 84)), np.zeros(10), flatten_input=True)], (1, 8, 9))
    cases = [  # conv layers train (tests/test_deep_models.py); an image shape that is not the data's does not
        ((conv, train_set), {}, "expects 72 input features but the data has 64"),
        ((init_network([64, 10], "relu", "uniform", 0), train_set), {"lr": -1.0}, "--lr must be"),
        ((init_network([64, 10], "relu", "uniform", 0), train_set), {"epochs": 0}, "--epochs must be at least 1"),
        ((init_network([64, 3], "relu", "uniform", 0), train_set), {}, "labels go up to 9 but the network has 3"),
        ((init_network([5, 10], "relu", "uniform", 0), train_set), {}, "expects 5 input features but the data has 64"),
        ((init_network([64, 10], "relu", "uniform", 0),
          Dataset(train_set.X, None, "x.npy", "train", "classification", "sha256:0", "none", None)), {},
         "x.npy: training needs labels"),
        ((init_network([64, 32, 10], "relu", "uniform", 0), train_set), {"lr": 1e200}, "diverged at epoch 1"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ir.QselError) as exc:
            train(*args, **kwargs)
        assert message in str(exc.value)


def test_metrics_are_cross_entropy_and_accuracy():
    Z = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
    y = np.array([0, 2])
    p = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    assert metrics.cross_entropy(Z, y) == pytest.approx(-(np.log(p[0, 0]) + np.log(p[1, 2])) / 2, rel=1e-14)
    assert metrics.score_accuracy(Z, y) == 0.5
    assert metrics.cross_entropy(np.array([[1e4, 0.0]]), np.array([0])) == 0.0  # no overflow
    assert set(ACTIVATIONS) == {"identity", "relu", "tanh", "sigmoid", "sin", "sign"}
