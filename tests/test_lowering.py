"""The IR the frontend builds is the loss of the masked network: energy == measured objective.

For random masks, every objective, granularity and schedule, the IR energy must
equal the loss obtained by actually running the masked network on the
calibration batch (relative error <= 1e-9).
"""

from __future__ import annotations

import numpy as np
import pytest

from qsel import ir
from qsel.baselines import solve
from qsel.frontend import lowering
from qsel.frontend.compile import CompileOptions, chosen_assignment, compile_network
from qsel.frontend.network import Layer, Network
from qsel.frontend.objective import measure
from qsel.frontend.prune import apply_selection
from qsel.frontend.masks import Selection

ACTS = ["relu", "tanh", "sigmoid", "sin", "sign", "identity"]


def mlp(sizes, act="relu", seed=0, task="classification") -> Network:
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Layer(f"fc{i + 1}", "dense", rng.normal(size=(b, a)) / np.sqrt(a), rng.normal(size=b) * 0.1,
                            act if i < len(sizes) - 2 else "identity"))
    return Network(layers, (sizes[0],), task)


def convnet(seed=0) -> Network:
    rng = np.random.default_rng(seed)
    return Network([
        Layer("conv1", "conv2d", rng.normal(size=(4, 1, 3, 3)) / 3, rng.normal(size=4) * 0.1, "relu", 1, 1),
        Layer("conv2", "conv2d", rng.normal(size=(5, 4, 3, 3)) / 6, rng.normal(size=5) * 0.1, "tanh", 2, 0),
        Layer("fc1", "dense", rng.normal(size=(3, 5 * 3 * 3)) / 6, rng.normal(size=3) * 0.1, "identity",
              flatten_input=True),
    ], (1, 8, 8))


def data(net: Network, m=40, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, *net.input_shape))
    y = rng.integers(0, net.layers[-1].units, size=m)
    return X, y


def random_masks(problem: ir.Problem, count=12, seed=2) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=(count, problem.num_vars)).astype(float)


def check_energy_equals_measured(net, X, y, options, solver=None):
    problem = compile_network(net, X, y, options, solver=solver)
    ir.verify(problem)
    for x in random_masks(problem):
        sel = Selection.from_assignment(problem, x)
        measured = sum(measure(net, X, y, sel, problem.metadata).values())
        energy = problem.energy(x)
        assert energy == pytest.approx(measured, rel=1e-9, abs=1e-12 * (1 + abs(measured)))
    return problem


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("objective", ["reconstruct", "fit"])
def test_neuron_energy_equals_masked_network_loss(act, objective):
    net = mlp([6, 9, 7, 4], act)
    X, y = data(net)
    check_energy_equals_measured(net, X, y, CompileOptions(objective=objective, keep=0.5))


@pytest.mark.parametrize("objective", ["reconstruct", "fit"])
def test_edge_energy_equals_masked_network_loss(objective):
    net = mlp([5, 6, 3], "tanh")
    X, y = data(net)
    p = check_energy_equals_measured(net, X, y, CompileOptions(objective=objective, granularity="edge", keep=0.5))
    assert len(p.partitions) == 6 + 3  # one block per output unit of each dense layer


@pytest.mark.parametrize("objective", ["reconstruct", "fit"])
def test_channel_energy_equals_masked_network_loss(objective):
    net = convnet()
    X, y = data(net, m=12)
    p = check_energy_equals_measured(net, X, y, CompileOptions(objective=objective, granularity="channel", keep=0.5))
    assert p.labels[:2] == ["conv1.c0", "conv1.c1"]


@pytest.mark.parametrize("granularity", ["neuron", "edge"])
def test_sequential_schedule_energy_is_loss_of_the_progressively_masked_network(granularity):
    net = mlp([6, 8, 7, 3], "relu")
    X, y = data(net)
    layers = ("fc1", "fc2") if granularity == "neuron" else ("fc2", "fc3")
    opts = CompileOptions(objective="reconstruct", granularity=granularity, keep=0.5, schedule="sequential",
                          layers=layers)
    problem = compile_network(net, X, y, opts, solver=lambda p: solve(p, "greedy"))
    # Energy equals the measured objective for the solver's own choice (the one each later layer saw).
    chosen = chosen_assignment(problem)
    sel = Selection.from_assignment(problem, chosen)
    assert problem.energy(chosen) == pytest.approx(sum(measure(net, X, y, sel, problem.metadata).values()), rel=1e-9)


def test_reconstruct_keeps_everything_at_zero_energy():
    net = mlp([6, 9, 4])
    X, y = data(net)
    p = compile_network(net, X, y, CompileOptions(objective="reconstruct"))
    assert p.energy(np.ones(p.num_vars)) == pytest.approx(0.0, abs=1e-10)


def test_keep_becomes_a_cardinality_constraint_and_penalty_a_linear_shift():
    net = mlp([6, 10, 4])
    X, y = data(net)
    base = compile_network(net, X, y, CompileOptions(objective="reconstruct"))
    p = compile_network(net, X, y, CompileOptions(objective="reconstruct", keep=0.25, sparsity_penalty=0.5))
    (c,) = p.constraints
    assert c.is_cardinality and c.rhs == 2 and c.sense is ir.Sense.EQ and c.label == "keep.fc1"
    np.testing.assert_allclose(p.linear, base.linear + 0.5)


def test_pruned_network_computes_what_the_masked_one_does():
    for net, gran in ((mlp([6, 9, 7, 4]), "neuron"), (convnet(), "channel"), (mlp([5, 6, 3]), "edge")):
        X, y = data(net, m=10)
        p = compile_network(net, X, y, CompileOptions(objective="reconstruct", granularity=gran, keep=0.5))
        x = solve(p, "greedy")
        sel = Selection.from_assignment(p, x)
        pruned = apply_selection(net, sel)
        np.testing.assert_allclose(pruned.forward(X),
                                   net.forward(X, unit_masks=sel.unit_masks(), weight_masks=sel.weight_masks()),
                                   rtol=1e-12, atol=1e-12)
        if gran != "edge":
            assert pruned.num_params() < net.num_params()


def test_masks_decode_back_to_the_right_neurons():
    net = mlp([4, 6, 3])
    X, y = data(net)
    p = compile_network(net, X, y, CompileOptions(objective="fit", keep=0.5))
    x = np.zeros(p.num_vars)
    x[[p.index("fc1.n1"), p.index("fc1.n4")]] = 1
    sel = Selection.from_assignment(p, x)
    assert sel.masks["fc1"].to_json() == {"granularity": "neuron", "units": 6, "keep": [1, 4]}


def test_lowering_matches_the_pyqubo_free_definition():
    rng = np.random.default_rng(0)
    A, W, T = rng.random((30, 5)), rng.normal(size=(3, 5)), rng.normal(size=(30, 3))
    t = lowering.neuron_terms(A, W, T)
    S = rng.integers(0, 2, size=(10, 5))
    direct = [np.sum(((A * s) @ W.T - T) ** 2) / 30 for s in S]
    np.testing.assert_allclose(t.energy(S), direct, rtol=1e-12)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"layers": ("fc9",)}, "no layer named 'fc9' (layers: fc1, fc2)"),
    ({"layers": ("fc2",)}, "'fc2' is the output layer"),
    ({"keep": 0.0}, "--keep must be in (0, 1]"),
    ({"keep": 1.5}, "--keep must be in (0, 1]"),
    ({"keep": 0.5, "keep_count": 2}, "not both"),
    ({"schedule": "sequential"}, "needs a solver"),
])
def test_bad_options_are_named(kwargs, fragment):
    net = mlp([4, 6, 3])
    X, y = data(net)
    with pytest.raises(ir.QselError) as info:
        compile_network(net, X, y, CompileOptions(**kwargs))
    assert fragment in str(info.value)


def test_gram_in_tiles_equals_the_whole_product():
    """Tiles stay clear of the bundled OpenBLAS syrk crash at n = 16,384 and give the same A^T A."""
    from qsel.frontend.lowering import gram

    A = np.random.default_rng(0).normal(size=(30, 203))
    G = gram(A, tile=64)
    np.testing.assert_allclose(G, A.T @ A, rtol=0, atol=1e-12 * np.abs(A).sum(0).max() ** 2)
    np.testing.assert_array_equal(G, G.T)
