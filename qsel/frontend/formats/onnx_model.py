"""ONNX models: a chain of Gemm / MatMul+Add / Conv layers with elementwise activations.

Read (:func:`load_onnx`): the graph must be one chain from its single data
input to its single output. Supported nodes:

* ``Gemm`` (Y = alpha A B' + beta C, B' = B or B^T by ``transB``; ``transA`` 0):
  weight = alpha B' ^T as (out, in), bias = beta C; B and C must be constants;
* ``MatMul`` by a constant (in, out) matrix, optionally followed by ``Add`` of a
  constant bias; an ``Add`` after Gemm or Conv adds to that layer's bias;
* ``Conv``: 2-D, group 1, dilation 1, equal strides, the same padding on all
  four sides (or ``auto_pad`` VALID);
* ``Relu``, ``Tanh``, ``Sigmoid``, ``Sin``, ``Sign``: the activation of the
  preceding layer (one per layer); ``Identity``; ``Flatten`` (axis 1) before a
  Gemm/MatMul, which then flattens its (C, H, W) input channel-major;
* ``Softmax`` / ``LogSoftmax`` only as the very last node: qsel works on the
  scores before it (``Network.logits``), so it is dropped and recorded in
  ``metadata["source"]["output_op"]``.

Anything else raises a QselError naming the node, its op type and, for a
refused attribute, the attribute. Layer names come from the node names
(``/fc1/Gemm`` -> ``fc1``; characters other than letters, digits and ``_``
become ``_``), falling back to fc1, fc2, ... / conv1, ... when a name is
empty, does not start with a letter, or repeats.

Write (:func:`save_onnx`): opset 17, **float32** tensors (ONNX Runtime's CPU
kernels for Conv are float32 only), one Gemm (transB=1) or Conv node per
layer named after the layer, a Flatten before a flattening dense layer and
an activation node after each non-identity layer. The task and the network
metadata ride along in ``metadata_props`` (``qsel.task``, ``qsel.metadata``).
A save/load round trip is exact up to float32 rounding of the weights.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import numpy as np

from qsel import ir
from qsel.frontend.network import Layer, Network
from qsel.frontend.network_check import check_network

from .base import ModelFormat, as_stored

OPSET = 17
IR_VERSION = 8  # the ONNX IR version that goes with opset 17
ACTIVATION_OPS = {"Relu": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "Sin": "sin", "Sign": "sign"}
OPS_OF = {v: k for k, v in ACTIVATION_OPS.items()}
SUPPORTED = "Gemm, MatMul(+Add), Conv, Relu, Tanh, Sigmoid, Sin, Sign, Identity, Flatten, and a final Softmax"


def _fail(path: object, node: object, message: str) -> ir.QselError:
    name = getattr(node, "name", "") or "(unnamed)"
    return ir.QselError(f"{path}: node {name!r} ({getattr(node, 'op_type', '?')}): {message}")


@dataclass
class _Pending:
    """A layer being assembled from its affine node and the nodes that follow it."""

    name: str
    kind: str
    weight: np.ndarray
    bias: np.ndarray
    stride: int = 1
    padding: int = 0
    flatten_input: bool = False
    activation: str = "identity"
    open_for_bias: bool = True

    @property
    def units(self) -> int:
        return int(self.weight.shape[0])

    def layer(self) -> Layer:
        return Layer(self.name, self.kind, self.weight, self.bias, self.activation, self.stride, self.padding,
                     self.flatten_input)


def _check_strings(model, path: str) -> None:
    """Every name the converter reads is text: protobuf hands a string field that is not UTF-8 over as bytes
    (found by the fuzz tests: a node name with a 0xFF byte raised TypeError deep in the converter)."""
    g = model.graph
    names = [g.name, *(t.name for t in g.initializer), *(v.name for v in (*g.input, *g.output))]
    for node in g.node:
        names += [node.name, node.op_type, node.domain, *node.input, *node.output, *(a.name for a in node.attribute)]
    bad = next((n for n in names if not isinstance(n, str)), None)
    if bad is not None:
        raise ir.FormatError(f"{path}: not a valid ONNX model (the name {bad!r} is not UTF-8 text)")


def _tensor(t, path: str) -> np.ndarray:
    """An ONNX tensor as an array; a damaged one (undefined element type, bytes that do not fill its dims:
    TypeError or ValueError from onnx) is a FormatError naming the file and the tensor."""
    from onnx import numpy_helper

    try:
        return numpy_helper.to_array(t)
    except Exception as exc:  # noqa: BLE001 - onnx raises TypeError, ValueError, KeyError ...
        raise ir.FormatError(f"{path}: tensor {t.name!r} is damaged ({type(exc).__name__}: {exc})") from None


class _Reader:
    def __init__(self, path: str, model) -> None:
        self.path = path
        self.graph = model.graph
        self.consts: dict[str, np.ndarray] = {t.name: _tensor(t, path) for t in self.graph.initializer}
        self.layers: list[_Pending] = []
        self.used: set[str] = set()
        self.flatten_next = False
        self.output_op: str | None = None

    # -- helpers ------------------------------------------------------------------------------
    def attrs(self, node, allowed: set[str]) -> dict:
        from onnx import helper

        out = {}
        for a in node.attribute:
            if a.name not in allowed:
                raise _fail(self.path, node, f"attribute {a.name!r} is not supported")
            out[a.name] = helper.get_attribute_value(a)
        return out

    def const(self, node, name: str, what: str) -> np.ndarray:
        if name not in self.consts:
            raise _fail(self.path, node, f"the {what} ({name!r}) must be a constant initializer")
        return np.asarray(self.consts[name], dtype=np.float64)

    def layer_name(self, node, kind: str) -> str:
        parts = [p for p in (node.name or "").split("/") if p]
        if len(parts) > 1 and re.fullmatch(rf"{node.op_type}(_\d+)?", parts[-1]):
            parts = parts[:-1]
        name = re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))
        if not re.match(r"[A-Za-z_]", name) or name in self.used:
            prefix = "fc" if kind == "dense" else "conv"
            k = sum(1 for p in self.layers if p.kind == kind) + 1
            name = f"{prefix}{k}"
            while name in self.used:
                k += 1
                name = f"{prefix}{k}"
        self.used.add(name)
        return name

    def last(self, node) -> _Pending:
        if not self.layers:
            raise _fail(self.path, node, "must follow a Gemm, MatMul or Conv layer (qsel cannot act on raw inputs)")
        return self.layers[-1]

    # -- node handlers ------------------------------------------------------------------------
    def gemm(self, node) -> None:
        a = self.attrs(node, {"alpha", "beta", "transA", "transB"})
        if a.get("transA", 0):
            raise _fail(self.path, node, "attribute 'transA' = 1 is not supported (the data must be A)")
        if node.input[0] in self.consts:
            raise _fail(self.path, node, "input A must be the data, not a constant")
        B = self.const(node, node.input[1], "weight B")
        if B.ndim != 2:
            raise _fail(self.path, node, f"weight B must be 2-D, got shape {B.shape}")
        weight = a.get("alpha", 1.0) * (B if a.get("transB", 0) else B.T)
        bias = np.zeros(weight.shape[0])
        if len(node.input) > 2 and node.input[2]:
            C = self.const(node, node.input[2], "bias C")
            bias = a.get("beta", 1.0) * self.broadcast(node, C, (1, weight.shape[0]))
        self.add_layer(node, "dense", weight, bias)

    def matmul(self, node) -> None:
        self.attrs(node, set())
        if node.input[0] in self.consts:
            raise _fail(self.path, node, "the data must be the first input (constant @ data is not supported)")
        B = self.const(node, node.input[1], "weight")
        if B.ndim != 2:
            raise _fail(self.path, node, f"the weight must be 2-D, got shape {B.shape}")
        self.add_layer(node, "dense", B.T, np.zeros(B.shape[1]))

    def conv(self, node) -> None:
        a = self.attrs(node, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})
        W = self.const(node, node.input[1], "weight W")
        if W.ndim != 4:
            raise _fail(self.path, node, f"only 2-D convolutions are supported (weight shape {W.shape})")
        auto_pad = a.get("auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad not in ("NOTSET", "VALID"):
            raise _fail(self.path, node, f"attribute 'auto_pad' = {auto_pad} is not supported (use explicit pads)")
        if a.get("group", 1) != 1:
            raise _fail(self.path, node, f"attribute 'group' = {a['group']} is not supported (only group 1)")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            raise _fail(self.path, node, f"attribute 'dilations' = {list(a['dilations'])} is not supported (only 1)")
        if "kernel_shape" in a and list(a["kernel_shape"]) != list(W.shape[2:]):
            raise _fail(self.path, node, f"attribute 'kernel_shape' {list(a['kernel_shape'])} does not match the "
                                         f"weight's {list(W.shape[2:])}")
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if len(set(pads)) != 1:
            raise _fail(self.path, node, f"attribute 'pads' = {pads} is not supported (the same padding on all sides)")
        strides = list(a.get("strides", [1, 1]))
        if len(set(strides)) != 1:
            raise _fail(self.path, node, f"attribute 'strides' = {strides} is not supported (equal strides only)")
        bias = np.zeros(W.shape[0])
        if len(node.input) > 2 and node.input[2]:
            bias = self.const(node, node.input[2], "bias B").reshape(-1)
        self.add_layer(node, "conv2d", W, bias, stride=int(strides[0]), padding=int(pads[0]))

    def add_layer(self, node, kind: str, weight: np.ndarray, bias: np.ndarray, **kw) -> None:
        if kind == "conv2d" and self.flatten_next:
            raise _fail(self.path, node, "a Conv after Flatten is not supported")
        p = _Pending(self.layer_name(node, kind), kind, np.ascontiguousarray(weight), np.array(bias, dtype=np.float64),
                     flatten_input=self.flatten_next and kind == "dense", **kw)
        self.flatten_next = False
        self.layers.append(p)

    def add(self, node) -> None:
        self.attrs(node, set())
        p = self.last(node)
        if not p.open_for_bias:
            raise _fail(self.path, node, "an Add is only supported as the bias right after a Gemm, MatMul or Conv")
        other = [x for x in node.input if x in self.consts]
        if len(other) != 1:
            raise _fail(self.path, node, "an Add needs one constant operand (the bias)")
        c = self.consts[other[0]].astype(np.float64)
        shape = (1, p.units) if p.kind == "dense" else (1, p.units, 1, 1)
        p.bias = p.bias + self.broadcast(node, c, shape)

    def broadcast(self, node, c: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The per-unit vector a constant of shape c.shape adds to an output of shape (N, units, ...)."""
        try:
            ok = np.broadcast_shapes(c.shape, shape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise _fail(self.path, node, f"a bias of shape {c.shape} does not add one value per output unit "
                                         f"(expected a shape broadcasting to {shape})")
        return np.broadcast_to(c, shape).reshape(-1).copy()

    def activation(self, node) -> None:
        self.attrs(node, set())
        p = self.last(node)
        if p.activation != "identity":
            raise _fail(self.path, node, f"layer {p.name!r} already has its activation; qsel layers hold one "
                                         f"elementwise activation each")
        p.activation = ACTIVATION_OPS[node.op_type]
        p.open_for_bias = False

    def flatten(self, node, rank: int) -> int:
        a = self.attrs(node, {"axis"})
        if a.get("axis", 1) != 1:
            raise _fail(self.path, node, f"attribute 'axis' = {a['axis']} is not supported (only axis 1)")
        if self.layers:
            self.layers[-1].open_for_bias = False
        if rank > 2:
            self.flatten_next = True
        return 2


def load_onnx(path: str | os.PathLike) -> Network:
    """Convert an ONNX chain of dense/conv layers into a :class:`Network` (see the module docstring)."""
    import onnx

    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise ir.QselError(f"{path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 - protobuf decode errors have no common base class
        raise ir.FormatError(f"{path}: not a valid ONNX model ({type(exc).__name__}: {exc})") from None
    _check_strings(model, str(path))
    r = _Reader(str(path), model)
    graph = model.graph
    for node in graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            r.consts[node.output[0]] = _tensor(node.attribute[0].t, str(path))
    inputs = [v for v in graph.input if v.name not in r.consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ir.QselError(f"{path}: qsel reads graphs with one data input and one output, found "
                           f"{len(inputs)} input(s) and {len(graph.output)} output(s)")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) < 2:
        raise ir.QselError(f"{path}: input {inputs[0].name!r} must have a batch axis and features, "
                           f"got rank {len(dims)}")
    rank = len(dims)
    current = inputs[0].name
    nodes = [n for n in graph.node if not (n.op_type == "Constant" and n.output[0] in r.consts)]
    for i, node in enumerate(nodes):
        data = [x for x in node.input if x and x not in r.consts]
        op = node.op_type
        if data != [current] and op in ("Gemm", "MatMul", "Conv") and node.input[0] == current:
            raise _fail(path, node, f"the weight ({data[1]!r}) must be a constant initializer")
        if data != [current]:
            raise _fail(path, node, f"its data input(s) {data} are not the output of the previous node "
                                    f"{current!r}; qsel reads sequential chains only")
        if op == "Gemm":
            r.gemm(node)
            rank = 2
        elif op == "MatMul":
            r.matmul(node)
            rank = 2
        elif op == "Conv":
            if rank != 4:
                raise _fail(path, node, f"a Conv needs a (N, C, H, W) input, got rank {rank}")
            r.conv(node)
        elif op == "Add":
            r.add(node)
        elif op in ACTIVATION_OPS:
            r.activation(node)
        elif op == "Identity":
            r.attrs(node, set())
        elif op == "Flatten":
            rank = r.flatten(node, rank)
        elif op in ("Softmax", "LogSoftmax") and i == len(nodes) - 1 and r.layers:
            a = r.attrs(node, {"axis"})
            if a.get("axis", -1) not in (-1, 1) or rank != 2:
                raise _fail(path, node, "only a softmax over the class axis of (N, classes) scores is supported")
            r.output_op = op
        elif op in ("Softmax", "LogSoftmax"):
            raise _fail(path, node, "a softmax is only supported as the last node (qsel selects on the scores "
                                    "before it)")
        else:
            raise _fail(path, node, f"unsupported op type {op!r} (qsel reads {SUPPORTED})")
        if len([o for o in node.output if o]) != 1:
            raise _fail(path, node, "nodes with several outputs are not supported")
        current = node.output[0]
    if current != graph.output[0].name:
        raise ir.QselError(f"{path}: the graph output {graph.output[0].name!r} is not the end of the layer chain")
    if not r.layers:
        raise ir.QselError(f"{path}: the graph has no Gemm, MatMul or Conv layer")
    first = r.layers[0]
    if first.kind == "conv2d" or first.flatten_input:
        if len(dims) != 4 or any(d is None or d < 1 for d in dims[1:]):
            raise ir.QselError(f"{path}: input {inputs[0].name!r} must have a fixed (C, H, W) shape, got "
                               f"{['?' if d is None else d for d in dims[1:]]}; export with a fixed image size")
        input_shape = tuple(int(d) for d in dims[1:])
    else:
        if len(dims) != 2:
            raise ir.QselError(f"{path}: a dense first layer needs a (N, features) input, got rank {len(dims)}")
        input_shape = (int(first.weight.shape[1]),)
        if dims[1] is not None and dims[1] != input_shape[0]:
            raise ir.QselError(f"{path}: input {inputs[0].name!r} has {dims[1]} features but layer {first.name!r} "
                               f"expects {input_shape[0]}")
    props = {p.key: p.value for p in model.metadata_props}
    task = props.get("qsel.task", "classification")
    try:
        meta = json.loads(props["qsel.metadata"]) if "qsel.metadata" in props else {}
    except (ValueError, RecursionError):  # JSONDecodeError, or UnicodeDecodeError: protobuf hands over bytes
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    if "qsel.metadata" not in props:
        meta["source"] = {"format": "onnx", "producer": model.producer_name or None}
    if r.output_op:
        meta.setdefault("source", {})["output_op"] = r.output_op
    network = Network([p.layer() for p in r.layers], input_shape, task, meta)
    return check_network(network, str(path))


def to_onnx(network: Network):
    """The ``onnx.ModelProto`` of ``network`` (float32, opset 17); raises a QselError if it cannot be expressed."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    x = "input"
    rank = 1 + len(network.input_shape)
    for layer in network.layers:
        n = layer.name
        w, b = f"{n}.weight", f"{n}.bias"
        for part, values, tensor in (("weight", layer.weight, w), ("bias", layer.bias, b)):
            inits.append(numpy_helper.from_array(as_stored(n, part, values, np.float32), tensor))
        if layer.kind == "dense":
            if rank > 2:
                nodes.append(helper.make_node("Flatten", [x], [f"{n}.flat"], name=f"{n}_flatten", axis=1))
                x = f"{n}.flat"
            nodes.append(helper.make_node("Gemm", [x, w, b], [f"{n}.z"], name=n, transB=1))
            rank = 2
        else:
            kh, kw = layer.weight.shape[2:]
            nodes.append(helper.make_node("Conv", [x, w, b], [f"{n}.z"], name=n, kernel_shape=[kh, kw],
                                          pads=[layer.padding] * 4, strides=[layer.stride] * 2))
        x = f"{n}.z"
        if layer.activation != "identity":
            nodes.append(helper.make_node(OPS_OF[layer.activation], [x], [f"{n}.a"], name=f"{n}_{layer.activation}"))
            x = f"{n}.a"
    nodes[-1].output[0] = "output"
    out_shape = network.forward(np.zeros((1, *network.input_shape))).shape[1:]
    graph = helper.make_graph(
        nodes, "qsel_network",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *network.input_shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", *out_shape])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="qsel",
                              ir_version=IR_VERSION)
    try:
        meta = json.dumps(network.metadata, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ir.QselError(f"network metadata is not JSON-serialisable ({exc})") from None
    helper.set_model_props(model, {"qsel.task": network.task, "qsel.metadata": meta})
    onnx.checker.check_model(model)
    return model


def save_onnx(network: Network, path: str | os.PathLike) -> None:
    """Export ``network`` to ONNX (opset 17, float32) at ``path``, atomically."""
    check_network(network, f"refusing to write {path}")
    data = to_onnx(network).SerializeToString()
    try:
        with ir.atomic_write(path, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise ir.QselError(f"{path}: cannot write: {exc.strerror or exc}") from None


MODEL_FORMAT = ModelFormat("onnx", (".onnx",), "ONNX", read=load_onnx, write=save_onnx)
