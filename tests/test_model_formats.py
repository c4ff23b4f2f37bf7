"""Model files: qsel .npz, scikit-learn, ONNX and PyTorch convert to Networks that compute what the source does."""

from __future__ import annotations

import json
import sys
import warnings
import zipfile

import joblib
import numpy as np
import pytest

from qsel import ir
from qsel.frontend.data import load_dataset
from qsel.frontend.formats.npz import load_npz, save_npz
from qsel.frontend.metrics import log_softmax
from qsel.frontend.models import check_network, load_model, save_model
from qsel.frontend.network import Layer, Network


def mlp(sizes=(6, 5, 4, 3), acts=("relu", "tanh"), seed=0, task="classification") -> Network:
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        act = acts[i % len(acts)] if i < len(sizes) - 2 else "identity"
        layers.append(Layer(f"fc{i + 1}", "dense", rng.normal(size=(b, a)) / np.sqrt(a), rng.normal(size=b) * 0.1,
                            act))
    return Network(layers, (sizes[0],), task, {"source": {"model": "test"}, "trained": True})


def convnet(seed=0) -> Network:
    rng = np.random.default_rng(seed)
    return Network([
        Layer("conv1", "conv2d", rng.normal(size=(4, 1, 3, 3)) / 3, rng.normal(size=4) * 0.1, "relu", 1, 1),
        Layer("conv2", "conv2d", rng.normal(size=(5, 4, 3, 3)) / 6, rng.normal(size=5) * 0.1, "sigmoid", 2, 0),
        Layer("fc1", "dense", rng.normal(size=(7, 45)) / 6, rng.normal(size=7) * 0.1, "tanh", flatten_input=True),
        Layer("fc2", "dense", rng.normal(size=(3, 7)) / 3, rng.normal(size=3) * 0.1, "identity"),
    ], (1, 8, 8), metadata={"note": "conv"})


def same_network(a: Network, b: Network, *, exact: bool = True) -> None:
    assert (a.names, a.input_shape, a.task) == (b.names, b.input_shape, b.task)
    for la, lb in zip(a.layers, b.layers):
        assert (la.kind, la.activation, la.stride, la.padding, la.flatten_input) == \
               (lb.kind, lb.activation, lb.stride, lb.padding, lb.flatten_input)
        if exact:
            np.testing.assert_array_equal(la.weight, lb.weight)
            np.testing.assert_array_equal(la.bias, lb.bias)


def error(fn, *args, **kw) -> str:
    with pytest.raises(ir.QselError) as exc:
        fn(*args, **kw)
    return str(exc.value)


# ----------------------------------------------------------------------------- qsel .npz

@pytest.mark.parametrize("net", [mlp(acts=("relu", "tanh", "sigmoid", "sin", "sign")), convnet()],
                         ids=["mlp", "conv"])
def test_npz_round_trip_is_exact(tmp_path, net):
    save_npz(net, tmp_path / "n.npz")
    back = load_npz(tmp_path / "n.npz")
    same_network(net, back)
    assert back.metadata == net.metadata
    X = np.random.default_rng(1).normal(size=(9, *net.input_shape))
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    with np.load(tmp_path / "n.npz", allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        assert {"layers.0.weight", "layers.0.bias", "meta"} <= set(z.files)
    assert meta["format"] == "qsel-network" and meta["layers"][0]["name"] == net.names[0]


def test_npz_save_is_atomic(tmp_path):
    path = tmp_path / "n.npz"
    save_npz(mlp(), path)
    before = path.read_bytes()
    bad = mlp()
    bad.metadata["oops"] = object()
    assert "not JSON-serialisable" in error(save_npz, bad, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["n.npz"]
    assert "does not exist" in error(save_npz, mlp(), tmp_path / "missing" / "n.npz")


def _write_npz(path, meta: dict, arrays: dict) -> None:
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


def _meta(net: Network) -> dict:
    return {"format": "qsel-network", "version": 1, "input_shape": list(net.input_shape), "task": net.task,
            "layers": [{"name": la.name, "kind": la.kind, "activation": la.activation} for la in net.layers],
            "metadata": {}}


def test_npz_errors_name_the_file_and_layer(tmp_path):
    net = mlp()
    arrays = {f"layers.{i}.{p}": getattr(la, p) for i, la in enumerate(net.layers) for p in ("weight", "bias")}
    save_npz(net, tmp_path / "good.npz")
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) - 40])
    assert "cut.npz: not a valid .npz archive (truncated or corrupt" in error(load_npz, tmp_path / "cut.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    assert "text.npz: not an .npz archive" in error(load_npz, tmp_path / "text.npz")
    missing = dict(arrays)
    del missing["layers.1.bias"]
    _write_npz(tmp_path / "missing.npz", _meta(net), missing)
    assert error(load_npz, tmp_path / "missing.npz").endswith("layer 1 ('fc2'): missing array 'layers.1.bias'")
    wrong = dict(arrays, **{"layers.1.weight": np.ones((4, 7))})
    _write_npz(tmp_path / "shape.npz", _meta(net), wrong)
    assert "layer 'fc2': expects 7 inputs but layer 'fc1' gives 5" in error(load_npz, tmp_path / "shape.npz")
    nan = dict(arrays, **{"layers.2.weight": arrays["layers.2.weight"].copy()})
    nan["layers.2.weight"][1, 2] = np.inf
    _write_npz(tmp_path / "nan.npz", _meta(net), nan)
    assert "nan.npz: layer 'fc3': weight has 1 NaN/Inf value(s), first at index (1, 2)" in error(
        load_npz, tmp_path / "nan.npz")
    meta = _meta(net)
    meta["layers"][0]["activation"] = "gelu"
    _write_npz(tmp_path / "act.npz", meta, arrays)
    assert "layer 0 ('fc1'): unknown activation 'gelu'" in error(load_npz, tmp_path / "act.npz")
    np.savez(tmp_path / "plain.npz", X=np.ones(3))
    assert "missing the 'meta' array" in error(load_npz, tmp_path / "plain.npz")
    _write_npz(tmp_path / "extra.npz", _meta(net), dict(arrays, stray=np.ones(2)))
    assert "arrays stray belong to no layer" in error(load_npz, tmp_path / "extra.npz")
    np.savez(tmp_path / "pickle.npz", meta=np.array([{"a": 1}], dtype=object))
    assert "pickle.npz" in error(load_npz, tmp_path / "pickle.npz")


# ----------------------------------------------------------------------------- models.py dispatch

def test_load_model_dispatch_and_errors(tmp_path):
    net = mlp()
    for suffix in (".npz", ".onnx"):
        save_model(net, tmp_path / f"n{suffix}")
        same_network(net, load_model(tmp_path / f"n{suffix}"), exact=suffix == ".npz")
    msg = error(load_model, tmp_path / "n.h5")
    assert "unknown model file type '.h5'" in msg and all(s in msg for s in (".npz", ".joblib", ".onnx", ".pt"))
    assert error(load_model, tmp_path / "none.npz") == f"{tmp_path / 'none.npz'}: no such file"
    assert "does not write scikit-learn" in error(save_model, net, tmp_path / "n.joblib")
    assert not (tmp_path / "n.joblib").exists()


def test_check_network_catches_bad_shapes():
    conv = convnet()
    conv.layers[2].flatten_input = False
    assert "layer 'fc1': receives a (5, 3, 3) input from layer 'conv2' but does not flatten it" in error(
        check_network, conv, "x")
    conv = convnet()
    conv.layers[1].weight = conv.layers[1].weight[:, :3]
    assert "layer 'conv2': expects 3 input channels but layer 'conv1' gives 4" in error(check_network, conv, "x")
    net = mlp()
    net.layers[0].bias = np.zeros(4)
    assert "layer 'fc1': bias has shape (4,), expected (5,)" in error(check_network, net, "x")


# ----------------------------------------------------------------------------- scikit-learn

@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train"), load_dataset("digits", "test")


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a few iterations are enough here
        return model.fit(X, y)


@pytest.mark.parametrize("act, ours", [("relu", "relu"), ("tanh", "tanh"), ("logistic", "sigmoid")])
def test_sklearn_classifier_logits_match_sklearn(tmp_path, digits, act, ours):
    from sklearn.neural_network import MLPClassifier

    train, test = digits
    clf = _fit(MLPClassifier((24, 12), activation=act, max_iter=25, random_state=0), train.X, train.y)
    joblib.dump(clf, tmp_path / "clf.joblib")
    net = load_model(tmp_path / "clf.joblib", trust_pickle=True)
    assert net.names == ["fc1", "fc2", "fc3"] and [la.activation for la in net.layers] == [ours, ours, "identity"]
    assert net.task == "classification" and net.input_shape == (64,) and net.metadata["classes"] == list(range(10))
    Z = net.logits(test.X)
    np.testing.assert_array_equal(clf.classes_[Z.argmax(1)], clf.predict(test.X))
    np.testing.assert_allclose(np.exp(log_softmax(Z)), clf.predict_proba(test.X), rtol=0, atol=1e-12)
    # the raw scores: sklearn's hidden layers recomputed by hand, output pre-activation
    a = test.X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        a = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "logistic": lambda z: 1 / (1 + np.exp(-z))}[act](
            a @ W + b)
    np.testing.assert_allclose(Z, a @ clf.coefs_[-1] + clf.intercepts_[-1], rtol=1e-12, atol=1e-12)


def test_sklearn_binary_classifier_and_regressor(tmp_path):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    moons = load_dataset("moons")
    clf = _fit(MLPClassifier((8,), max_iter=40, random_state=0), moons.X, moons.y)
    joblib.dump(clf, tmp_path / "bin.pkl")
    net = load_model(tmp_path / "bin.pkl", trust_pickle=True)
    Z = net.logits(moons.X)
    assert Z.shape == (750, 2)
    np.testing.assert_allclose(np.exp(log_softmax(Z)), clf.predict_proba(moons.X), atol=1e-12)
    np.testing.assert_array_equal(Z.argmax(1), clf.predict(moons.X))
    Y = np.column_stack([moons.X[:, 0] * 2, moons.X[:, 1] - 1])
    reg = _fit(MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", max_iter=40, random_state=0), moons.X, Y)
    joblib.dump(reg, tmp_path / "reg.joblib")
    net = load_model(tmp_path / "reg.joblib", trust_pickle=True)
    assert net.task == "regression"
    np.testing.assert_allclose(net.forward(moons.X), reg.predict(moons.X), rtol=1e-12, atol=1e-12)


def test_sklearn_needs_trust_and_an_mlp(tmp_path):
    from sklearn.linear_model import LogisticRegression

    joblib.dump(_fit(LogisticRegression(), np.eye(3), [0, 1, 0]), tmp_path / "lr.joblib")
    msg = error(load_model, tmp_path / "lr.joblib")
    assert "lr.joblib" in msg and "arbitrary code" in msg and "--trust-pickle" in msg
    assert "holds a sklearn.linear_model._logistic.LogisticRegression" in error(
        load_model, tmp_path / "lr.joblib", trust_pickle=True)
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04junk")
    assert "junk.pkl: cannot unpickle" in error(load_model, tmp_path / "junk.pkl", trust_pickle=True)


# ----------------------------------------------------------------------------- ONNX

def _ort(path, X: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X.astype(np.float32)})[0]


def _float32(net: Network) -> Network:
    layers = [Layer(la.name, la.kind, la.weight.astype(np.float32).astype(np.float64),
                    la.bias.astype(np.float32).astype(np.float64), la.activation, la.stride, la.padding,
                    la.flatten_input) for la in net.layers]
    return Network(layers, net.input_shape, net.task, net.metadata)


@pytest.mark.parametrize("net", [mlp(acts=("relu", "tanh", "sigmoid", "sin")), mlp((6, 9, 3), ("sign",)),
                                 convnet()], ids=["mlp", "sign", "conv"])
def test_onnx_export_runs_in_onnxruntime_and_loads_back(tmp_path, net):
    """ONNX holds float32: onnxruntime matches Network.forward to float32 accuracy; weights come back rounded."""
    path = tmp_path / "n.onnx"
    save_model(net, path)
    X = np.random.default_rng(2).normal(size=(16, *net.input_shape))
    ref = net.forward(X)
    out = _ort(path, X)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert np.abs(out - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())
    back = load_model(path)
    same_network(_float32(net), back)
    assert back.metadata == net.metadata


def _onnx_model(nodes, inits, in_shape, out_shape, opset=17):
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *in_shape])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", *out_shape])],
        initializer=[numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def test_onnx_reads_matmul_add_gemm_options_and_a_final_softmax(tmp_path):
    import onnx
    from onnx import helper

    rng = np.random.default_rng(3)
    W1, b1, W2, c2 = rng.normal(size=(4, 5)), rng.normal(size=5), rng.normal(size=(5, 3)), rng.normal(size=(1, 3))
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h0"], name="/encoder/fc/MatMul"),
        helper.make_node("Add", ["b1", "h0"], ["h1"], name="/encoder/fc/Add"),
        helper.make_node("Tanh", ["h1"], ["h2"], name="/encoder/act/Tanh"),
        helper.make_node("Identity", ["h2"], ["h3"], name="id"),
        helper.make_node("Gemm", ["h3", "W2", "c2"], ["z"], name="head", alpha=0.5, beta=2.0, transB=0),
        helper.make_node("Softmax", ["z"], ["y"], name="probs", axis=1),
    ]
    model = _onnx_model(nodes, {"W1": W1, "b1": b1, "W2": W2, "c2": c2}, [4], [3])
    onnx.checker.check_model(model)
    onnx.save(model, tmp_path / "m.onnx")
    net = load_model(tmp_path / "m.onnx")
    assert net.names == ["encoder_fc", "head"] and [la.activation for la in net.layers] == ["tanh", "identity"]
    assert net.metadata["source"]["output_op"] == "Softmax"
    X = rng.normal(size=(10, 4))
    probs = _ort(tmp_path / "m.onnx", X)
    assert np.abs(np.exp(log_softmax(net.logits(X))) - probs).max() < 1e-5
    np.testing.assert_allclose(net.layers[1].weight, 0.5 * W2.T.astype(np.float32), rtol=1e-7)
    np.testing.assert_allclose(net.layers[1].bias, 2.0 * c2[0].astype(np.float32), rtol=1e-7)


@pytest.mark.parametrize("case, expected", [
    ("softmax-middle", "node 'sm' (Softmax): a softmax is only supported as the last node"),
    ("lstm", "node 'rnn' (LSTM): unsupported op type 'LSTM'"),
    ("transA", "node 'g' (Gemm): attribute 'transA' = 1 is not supported"),
    ("group", "node 'c' (Conv): attribute 'group' = 2 is not supported"),
    ("pads", "node 'c' (Conv): attribute 'pads' = [1, 0, 1, 0] is not supported"),
    ("branch", "node 'g2' (Gemm): its data input(s) ['x'] are not the output of the previous node"),
    ("dynamic-weight", "node 'g' (Gemm): the weight ('x') must be a constant initializer"),
])
def test_onnx_unsupported_graphs_name_the_node(tmp_path, case, expected):
    from onnx import helper

    W = np.ones((4, 4))
    K = np.ones((4, 1, 3, 3))
    g = helper.make_node("Gemm", ["x", "W"], ["h"], name="g", transB=1)
    cases = {
        "softmax-middle": ([g, helper.make_node("Softmax", ["h"], ["s"], name="sm"),
                            helper.make_node("Gemm", ["s", "W"], ["y"], name="g2")], [4], [4]),
        "lstm": ([helper.make_node("LSTM", ["x", "W", "W"], ["y"], name="rnn", hidden_size=4)], [4], [4]),
        "transA": ([helper.make_node("Gemm", ["x", "W"], ["y"], name="g", transA=1)], [4], [4]),
        "group": ([helper.make_node("Conv", ["x", "K"], ["y"], name="c", group=2)], [1, 8, 8], [4, 6, 6]),
        "pads": ([helper.make_node("Conv", ["x", "K"], ["y"], name="c", pads=[1, 0, 1, 0])], [1, 8, 8], [4, 8, 6]),
        "branch": ([g, helper.make_node("Gemm", ["x", "W"], ["y"], name="g2")], [4], [4]),
        "dynamic-weight": ([helper.make_node("Gemm", ["x", "x"], ["y"], name="g")], [4], [4]),
    }
    nodes, ins, outs = cases[case]
    import onnx

    path = tmp_path / f"{case}.onnx"
    onnx.save(_onnx_model(nodes, {"W": W, "K": K}, ins, outs), path)
    msg = error(load_model, path)
    assert msg.startswith(f"{path}: ") and expected in msg


def test_onnx_garbage_file(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"\xff\xfe definitely not protobuf")
    assert "bad.onnx: not a valid ONNX model" in error(load_model, tmp_path / "bad.onnx")


# ----------------------------------------------------------------------------- PyTorch

def test_torch_missing_says_how_to_install(tmp_path, monkeypatch):
    from qsel.frontend.formats import torch_model

    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    assert "pip install 'qsel[torch]'" in error(torch_model.load_torch, tmp_path / "m.pt")
    assert "pip install 'qsel[torch]'" in error(save_model, mlp(), tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


def _torch_nets():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    dense = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 5), nn.Sigmoid(),
                          nn.Linear(5, 3, bias=False)).double().eval()
    conv = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.Tanh(), nn.Conv2d(4, 3, 2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(48, 4)).double().eval()
    return torch, dense, conv


def _check_same(torch, model, net, shape):
    X = np.random.default_rng(4).normal(size=(7, *shape))
    with torch.no_grad():
        ref = model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(net.forward(X), ref, rtol=1e-12, atol=1e-12)


def test_torch_state_dict_with_architecture(tmp_path):
    torch, dense, conv = _torch_nets()
    torch.save(dense.state_dict(), tmp_path / "dense.pt")
    msg = error(load_model, tmp_path / "dense.pt")
    assert "dense.pt: a state_dict holds no activations; write dense.pt.arch.json" in msg
    (tmp_path / "dense.pt.arch.json").write_text(json.dumps(["Linear", "ReLU", "Dropout", "Linear", "Sigmoid",
                                                             "Linear"]))
    net = load_model(tmp_path / "dense.pt")
    assert net.names == ["fc1", "fc2", "fc3"] and [la.activation for la in net.layers] == ["relu", "sigmoid",
                                                                                            "identity"]
    _check_same(torch, dense, net, (6,))
    torch.save({k: v.to(torch.bfloat16) for k, v in dense.state_dict().items()}, tmp_path / "bf16.pt")
    (tmp_path / "bf16.arch.json").write_text((tmp_path / "dense.pt.arch.json").read_text())
    half = load_model(tmp_path / "bf16.pt")
    np.testing.assert_array_equal(half.layers[0].weight, dense[0].weight.detach().to(torch.bfloat16).double().numpy())
    torch.save({"net." + k: v for k, v in conv.state_dict().items()}, tmp_path / "conv.pth")
    (tmp_path / "conv.arch.json").write_text(json.dumps({"input_shape": [1, 9, 9], "modules": [
        {"type": "Conv2d", "stride": 2, "padding": 1, "name": "stem"}, "Tanh", "Conv2d", "ReLU", "Flatten",
        "Linear"]}))
    net = load_model(tmp_path / "conv.pth")
    assert net.names == ["stem", "conv2", "fc1"] and net.input_shape == (1, 9, 9) and net.layers[2].flatten_input
    _check_same(torch, conv, net, (1, 9, 9))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script/trace: deprecated upstream
def test_torch_torchscript_and_pickled_modules_need_trust(tmp_path):
    torch, dense, conv = _torch_nets()
    torch.jit.script(dense).save(str(tmp_path / "scripted.pt"))
    torch.jit.trace(conv, torch.zeros(1, 1, 9, 9, dtype=torch.float64)).save(str(tmp_path / "traced.pt"))
    (tmp_path / "traced.pt.arch.json").write_text(json.dumps({"input_shape": [1, 9, 9]}))
    torch.save(dense, tmp_path / "whole.pt")
    for name, model, shape in (("scripted.pt", dense, (6,)), ("traced.pt", conv, (1, 9, 9)),
                               ("whole.pt", dense, (6,))):
        msg = error(load_model, tmp_path / name)
        assert name in msg and "--trust-pickle" in msg
        _check_same(torch, model, load_model(tmp_path / name, trust_pickle=True), shape)


def test_torch_save_round_trip_and_errors(tmp_path):
    torch, _, _ = _torch_nets()
    net = convnet()
    save_model(net, tmp_path / "c.pt")
    arch = json.loads((tmp_path / "c.pt.arch.json").read_text())
    assert [m["type"] for m in arch["modules"]] == ["Conv2d", "ReLU", "Conv2d", "Sigmoid", "Flatten", "Linear",
                                                     "Tanh", "Linear"]
    # .pt holds float32, as PyTorch users expect: weights come back rounded to float32, as from ONNX
    sd = torch.load(tmp_path / "c.pt", weights_only=True)
    assert {v.dtype for v in sd.values()} == {torch.float32}
    back = load_model(tmp_path / "c.pt")
    same_network(_float32(net), back)
    assert back.metadata == net.metadata
    # the files are plain PyTorch: build the Sequential from the arch and load the state_dict strictly
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, stride=2), nn.Sigmoid(),
                          nn.Flatten(), nn.Linear(45, 7), nn.Tanh(), nn.Linear(7, 3))
    model.load_state_dict(sd)  # a float32 model, PyTorch's default: float32 accuracy
    X = np.random.default_rng(4).normal(size=(7, 1, 8, 8))
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(X).float()).numpy()
    ref = net.forward(X)
    assert out.dtype == np.float32 and np.abs(out - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())
    model.double().load_state_dict(sd)  # in float64 it computes the rounded network exactly
    _check_same(torch, model.eval(), _float32(net), (1, 8, 8))
    huge = convnet()
    huge.layers[2].bias[1] = 1e39
    msg = error(save_model, huge, tmp_path / "h.pt")
    assert "h.pt: layer 'fc1': a bias of 1e+39 is beyond float32's range" in msg and ".npz" in msg
    assert not (tmp_path / "h.pt").exists() and not (tmp_path / "h.pt.arch.json").exists()
    msg = error(save_model, mlp(acts=("sin",)), tmp_path / "s.pt")
    assert "layer 'fc1': PyTorch has no module for the activation 'sin'" in msg
    assert not (tmp_path / "s.pt").exists() and not (tmp_path / "s.pt.arch.json").exists()
    torch.save(nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)).state_dict(), tmp_path / "bn.pt")
    (tmp_path / "bn.pt.arch.json").write_text(json.dumps(["Linear", "BatchNorm1d"]))
    assert "bn.pt: module 1: unsupported module type 'BatchNorm1d'" in error(load_model, tmp_path / "bn.pt")
    torch.save(nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)).state_dict(), tmp_path / "two.pt")
    (tmp_path / "two.pt.arch.json").write_text(json.dumps(["Linear", "ReLU"]))
    assert "two.pt: state_dict entries 2.bias, 2.weight belong to no Linear/Conv2d module" in error(
        load_model, tmp_path / "two.pt")
    torch.save(nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.ReLU(), nn.Linear(3, 2)).state_dict(), tmp_path / "two.pt")
    (tmp_path / "two.pt.arch.json").write_text(json.dumps(["Linear", "ReLU", "ReLU", "Linear"]))
    assert "two.pt: module 2 (ReLU) must follow a Linear or Conv2d module" in error(load_model, tmp_path / "two.pt")
    torch.save(nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.LSTM(3, 3))), tmp_path / "lstm.pt")
    assert "lstm.pt: module 1.0: unsupported module type 'LSTM'" in error(load_model, tmp_path / "lstm.pt",
                                                                           trust_pickle=True)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert "junk.pt: not a readable PyTorch file" in error(load_model, tmp_path / "junk.pt")


def test_every_format_fails_the_same_way_on_a_truncated_file(tmp_path):
    net = mlp()
    for suffix in (".npz", ".onnx"):
        save_model(net, tmp_path / f"n{suffix}")
        data = (tmp_path / f"n{suffix}").read_bytes()
        (tmp_path / f"n{suffix}").write_bytes(data[: len(data) // 2])
        msg = error(load_model, tmp_path / f"n{suffix}")
        assert msg.startswith(str(tmp_path / f"n{suffix}")), msg
    assert zipfile.is_zipfile(tmp_path / "n.npz") is False


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the TorchScript-based exporter is deprecated upstream
def test_onnx_exported_by_torch_loads_with_its_module_names(tmp_path):
    from collections import OrderedDict

    torch, _, _ = _torch_nets()
    nn = torch.nn
    model = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 4, 3, padding=1), act=nn.ReLU(), flat=nn.Flatten(),
                                      head=nn.Linear(256, 10))).eval()
    torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(tmp_path / "t.onnx"), dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "N"}})
    net = load_model(tmp_path / "t.onnx")
    assert net.names == ["conv", "head"] and net.input_shape == (1, 8, 8) and net.layers[1].flatten_input
    X = np.random.default_rng(5).normal(size=(6, 1, 8, 8))
    with torch.no_grad():
        ref = model(torch.from_numpy(X).float()).numpy()
    assert np.abs(net.forward(X) - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())


def test_onnx_export_refuses_weights_beyond_float32(tmp_path):
    """ONNX stores float32: a weight float32 cannot hold would be written as inf, so the export refuses it
    with the layer named and writes nothing."""
    huge = convnet()
    huge.layers[0].weight[0, 0, 0, 0] = -5e38
    msg = error(save_model, huge, tmp_path / "h.onnx")
    assert "layer 'conv1': a weight of 5e+38 is beyond float32's range" in msg and ".npz" in msg
    assert not (tmp_path / "h.onnx").exists()
