"""PyTorch models (optional: ``pip install 'qsel[torch]'``): an ``nn.Sequential`` of Linear / Conv2d /
ReLU / Tanh / Sigmoid / Flatten (plus Identity and Dropout, which are identities at inference).

What a file can hold, and what qsel does with it:

1. **A state_dict** (``torch.save(model.state_dict(), "net.pt")``) — the format the
   PyTorch tutorials recommend, read with ``torch.load(path, weights_only=True)``, which
   only rebuilds tensors and containers and so cannot run code from the file
   (the default since PyTorch 2.6). A state_dict has no activations and no
   strides, so it needs an architecture description: ``arch=`` or a sidecar
   ``net.pt.arch.json`` (or ``net.arch.json``) holding either the module list
   ``["Linear", "ReLU", "Linear"]`` or an object::

       {"format": "qsel-torch-arch", "version": 1, "input_shape": [1, 8, 8], "task": "classification",
        "modules": [{"type": "Conv2d", "name": "conv1", "stride": 1, "padding": 1}, {"type": "ReLU"},
                    {"type": "Flatten"}, {"type": "Linear", "name": "fc1"}]}

   Module i of the list owns the keys ``i.weight`` / ``i.bias`` (nn.Sequential's
   numbering; a common prefix such as ``net.`` is allowed). ``input_shape`` is
   needed only when the first layer is a Conv2d; ``name`` is optional (fc1.. / conv1..).
2. **A TorchScript module** (``torch.jit.script(model).save(...)`` or ``torch.jit.trace``):
   the module types are read from the file, strides and padding from the scripted
   attributes or the traced graph. TorchScript files are programs — PyTorch's
   security notes say to treat them like code from their author and ``torch.jit.load``
   has no safe mode — so they load only with ``trust_pickle=True`` (``--trust-pickle``).
   (PyTorch has deprecated TorchScript in favour of ``torch.export``; it is read
   here because many exported models still use it.)
3. **A whole pickled module** (``torch.save(model)``): only with ``trust_pickle=True``.

:func:`save_torch` writes a state_dict of **float32** tensors (PyTorch's default
dtype, what ``nn.Linear`` and ``nn.Conv2d`` hold unless told otherwise) and its
``.arch.json``, both atomically; ``model.load_state_dict`` casts to the model's own
dtype. A round trip is exact up to float32 rounding of the weights, as for ONNX
(loading is float64, as everywhere in qsel); the model fingerprint hashes weights
rounded to float32, so the ``.pt`` keeps the fingerprint of the ``.npz`` it came
from (:mod:`qsel.ir.fingerprints`). A weight beyond float32's range is refused
rather than written as infinity. ``sin`` and ``sign`` have no torch module and
cannot be saved.
"""

from __future__ import annotations

import json
import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from qsel import ir
from qsel.frontend.network import Layer, Network
from qsel.frontend.network_check import check_network

from .base import ModelFormat, as_stored

ARCH_FORMAT = "qsel-torch-arch"
ARCH_VERSION = 1
ACTIVATION_MODULES = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid"}
MODULES_OF = {v: k for k, v in ACTIVATION_MODULES.items()}
PASS_THROUGH = ("Identity", "Dropout")
SUPPORTED = "Linear, Conv2d, ReLU, Tanh, Sigmoid, Flatten, Identity, Dropout"
KNOWN = ("Linear", "Conv2d", "Flatten", *ACTIVATION_MODULES, *PASS_THROUGH)


def _torch():
    try:
        import torch
    except ImportError:
        raise ir.QselError("PyTorch model files need PyTorch: pip install 'qsel[torch]'") from None
    return torch


def arch_path(path: str | os.PathLike) -> Path:
    """Where :func:`save_torch` writes the architecture sidecar: ``<file>.arch.json``."""
    return Path(f"{path}.arch.json")


# ----------------------------------------------------------------------------- loading

def load_torch(path: str | os.PathLike, *, trust_pickle: bool = False,
               arch: list | dict | None = None) -> Network:
    """Read a state_dict (+ architecture), a TorchScript module or (trusted) a pickled nn.Sequential."""
    torch = _torch()
    source = str(path)
    if _is_torchscript(path):
        if not trust_pickle:
            raise ir.QselError(f"{source}: is a TorchScript module; loading one runs the program stored in it, so "
                               f"pass --trust-pickle (trust_pickle=True) only if you trust the file, or save a "
                               f"state_dict with an .arch.json instead")
        try:
            with warnings.catch_warnings():  # TorchScript is deprecated upstream; reading old files is the point
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(source, map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError and friends
            raise ir.FormatError(f"{source}: cannot load the TorchScript module ({type(exc).__name__}: {exc})") \
                from None
        return _from_module(module, source, _sidecar(path, required=False))
    try:
        obj = torch.load(source, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ir.QselError(f"{source}: no such file") from None
    except Exception as exc:  # noqa: BLE001
        if not _weights_only_refusal(exc):
            raise ir.FormatError(f"{source}: not a readable PyTorch file ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        if not trust_pickle:
            raise ir.QselError(f"{source}: holds pickled Python objects (such as a whole nn.Module), not just "
                               f"tensors; unpickling runs arbitrary code, so pass --trust-pickle "
                               f"(trust_pickle=True) only if you trust the file, or save model.state_dict() with an "
                               f".arch.json") from None
        try:
            obj = torch.load(source, map_location="cpu", weights_only=False)
        except Exception as exc2:  # noqa: BLE001 - e.g. the pickled class cannot be imported here
            raise ir.FormatError(f"{source}: cannot unpickle ({type(exc2).__name__}: {exc2})") from None
    if isinstance(obj, torch.nn.Module):
        return _from_module(obj, source, _sidecar(path, required=False))
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
        raise ir.QselError(f"{source}: expected a state_dict (a dict of tensors), got {type(obj).__name__}")
    spec = arch if arch is not None else _sidecar(path, required=True)
    return _from_state_dict({k: v.detach().cpu().to(torch.float64).numpy() for k, v in obj.items()},
                            _arch_object(spec, source), source)


def _is_torchscript(path: str | os.PathLike) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names)


def _weights_only_refusal(exc: Exception) -> bool:
    import pickle

    return isinstance(exc, pickle.UnpicklingError) and "weights_only" in str(exc).lower().replace(" ", "_")


def _sidecar(path: str | os.PathLike, *, required: bool) -> Any:
    p = Path(path)
    for candidate in (arch_path(p), p.with_suffix(".arch.json")):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ir.FormatError(f"{candidate}: not a valid architecture JSON file ({exc})") from None
    if required:
        raise ir.QselError(f"{path}: a state_dict holds no activations; write {arch_path(p).name} next to it, e.g. "
                           f"[\"Linear\", \"ReLU\", \"Linear\"] (module types of the nn.Sequential, in order), or "
                           f"save a TorchScript module")
    return None


def _arch_object(spec: Any, source: str) -> dict:
    """Normalise the list or object form to {"modules": [{"type": ...}, ...], ...}."""
    if isinstance(spec, list):
        spec = {"modules": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("modules"), list):
        raise ir.QselError(f"{source}: the architecture must be a list of module types or an object with 'modules'")
    if spec.get("format", ARCH_FORMAT) != ARCH_FORMAT or spec.get("version", ARCH_VERSION) != ARCH_VERSION:
        raise ir.QselError(f"{source}: architecture format {spec.get('format')!r} version {spec.get('version')!r} "
                           f"is not {ARCH_FORMAT} {ARCH_VERSION}")
    modules = []
    for i, m in enumerate(spec["modules"]):
        m = {"type": m} if isinstance(m, str) else m
        if not isinstance(m, dict) or not isinstance(m.get("type"), str):
            raise ir.QselError(f"{source}: architecture module {i} must be a type name or an object with 'type'")
        if m["type"] not in KNOWN:
            raise ir.QselError(f"{source}: module {i}: unsupported module type {m['type']!r} (qsel reads {SUPPORTED})")
        modules.append(m)
    return {**spec, "modules": modules}


def _prefix(keys: list[str], source: str) -> str:
    m = re.fullmatch(r"(.*?)\d+\.(weight|bias)", keys[0]) if keys else None
    prefix = m.group(1) if m else ""
    bad = [k for k in keys if not re.fullmatch(re.escape(prefix) + r"\d+\.(weight|bias)", k)]
    if bad:
        raise ir.QselError(f"{source}: state_dict key {bad[0]!r} is not '<index>.weight' or '<index>.bias' of an "
                           f"nn.Sequential (keys: {', '.join(keys[:6])}{' ...' if len(keys) > 6 else ''})")
    return prefix


def _from_state_dict(sd: dict[str, np.ndarray], arch: dict, source: str) -> Network:
    prefix = _prefix(list(sd), source)
    used: set[str] = set()
    entries = []
    for i, m in enumerate(arch["modules"]):
        entry = dict(m)
        if m["type"] in ("Linear", "Conv2d"):
            wkey, bkey = f"{prefix}{i}.weight", f"{prefix}{i}.bias"
            if wkey not in sd:
                raise ir.QselError(f"{source}: module {i} ({m['type']}) has no weight {wkey!r} in the state_dict")
            entry["weight"] = sd[wkey]
            entry["bias"] = sd.get(bkey)
            used.update({wkey, bkey})
        entries.append(entry)
    unused = sorted(set(sd) - used)
    if unused:
        raise ir.QselError(f"{source}: state_dict entries {', '.join(unused)} belong to no Linear/Conv2d module of the "
                           f"architecture (is it the right .arch.json?)")
    shape = arch.get("input_shape")
    meta = arch.get("metadata") if isinstance(arch.get("metadata"), dict) else {"source": {"format": "torch"}}
    return _build(entries, tuple(shape) if shape else None, arch.get("task", "classification"), dict(meta), source)


def _array(tensor) -> np.ndarray:
    """float64 numpy copy of a tensor (also bfloat16/float16 ones, which numpy cannot take directly)."""
    return tensor.detach().cpu().double().numpy()


def _module_type(module) -> str:
    return getattr(module, "original_name", None) or type(module).__name__


def _from_module(module, source: str, sidecar: Any) -> Network:
    """Walk an nn.Sequential (pickled or TorchScript) into module entries."""
    if _module_type(module) != "Sequential":
        raise ir.QselError(f"{source}: holds a {_module_type(module)}; qsel reads nn.Sequential models only "
                           f"(their order of operations is their list of modules)")
    entries = []

    def walk(seq, path: str) -> None:
        for cname, child in seq.named_children():
            kind = _module_type(child)
            where = f"{path}{cname}"
            if kind == "Sequential":
                walk(child, f"{where}.")
                continue
            entry: dict[str, Any] = {"type": kind, "where": where}
            if re.fullmatch(r"[A-Za-z_]\w*", cname):
                entry["name"] = cname
            if kind in ("Linear", "Conv2d"):
                entry["weight"] = _array(child.weight)
                bias = getattr(child, "bias", None)
                entry["bias"] = None if bias is None else _array(bias)
            if kind == "Conv2d":
                entry.update(_conv_settings(child, source, where))
            if kind == "Flatten":
                start, end = getattr(child, "start_dim", 1), getattr(child, "end_dim", -1)
                if (start, end) != (1, -1):
                    raise ir.QselError(f"{source}: module {where} (Flatten) has start_dim={start}, end_dim={end}; "
                                       f"only Flatten(1, -1) is supported")
            entries.append(entry)

    walk(module, "")
    arch = sidecar if isinstance(sidecar, dict) else {}  # only input_shape and task matter here
    shape = arch.get("input_shape")
    meta = {"source": {"format": "torch"}}
    return _build(entries, tuple(shape) if shape else None, arch.get("task", "classification"), meta, source)


def _conv_settings(conv, source: str, where: str) -> dict:
    """stride, padding (and checks of dilation, groups, padding mode) of a Conv2d, scripted or traced."""
    stride, padding = getattr(conv, "stride", None), getattr(conv, "padding", None)
    dilation, groups = getattr(conv, "dilation", (1, 1)), getattr(conv, "groups", 1)
    if stride is None:  # traced: read the constants of aten::_convolution
        for node in conv.inlined_graph.nodes():
            if node.kind() in ("aten::_convolution", "aten::conv2d"):
                args = [_constant(v) for v in node.inputs()]
                stride, padding, dilation = args[3], args[4], args[5]
                groups = args[8] if node.kind() == "aten::_convolution" else args[6]
                break
        else:
            raise ir.QselError(f"{source}: module {where} (Conv2d): cannot find its convolution in the traced graph")
    if isinstance(padding, str):
        raise ir.QselError(f"{source}: module {where} (Conv2d): padding={padding!r} is not supported (use numbers)")
    if getattr(conv, "padding_mode", "zeros") != "zeros":
        raise ir.QselError(f"{source}: module {where} (Conv2d): padding_mode={conv.padding_mode!r} is not supported")
    stride, padding, dilation = (list(v) if isinstance(v, (list, tuple)) else [v, v]
                                 for v in (stride, padding, dilation))
    for what, v in (("stride", stride), ("padding", padding)):
        if len(set(v)) != 1:
            raise ir.QselError(f"{source}: module {where} (Conv2d): {what}={tuple(v)} is not supported (equal values)")
    if any(d != 1 for d in dilation) or groups != 1:
        raise ir.QselError(f"{source}: module {where} (Conv2d): dilation={tuple(dilation)}, groups={groups}; only "
                           f"dilation 1 and groups 1 are supported")
    return {"stride": int(stride[0]), "padding": int(padding[0])}


def _constant(value):
    node = value.node()
    if node.kind() == "prim::Constant":
        return value.toIValue()
    if node.kind() == "prim::ListConstruct":
        return [_constant(v) for v in node.inputs()]
    return None


def _build(entries: list[dict], input_shape: tuple | None, task: str, meta: dict, source: str) -> Network:
    """Module entries (type, weight, bias, stride, padding, name) -> Network."""
    layers: list[Layer] = []
    flatten = False
    names: set[str] = set()
    for i, e in enumerate(entries):
        kind, where = e["type"], e.get("where", str(i))
        if kind in ("Linear", "Conv2d"):
            w = np.asarray(e["weight"], dtype=np.float64)
            b = np.zeros(w.shape[0]) if e.get("bias") is None else np.asarray(e["bias"], dtype=np.float64)
            dense = kind == "Linear"
            prefix = "fc" if dense else "conv"
            name = e.get("name")
            if not (isinstance(name, str) and re.fullmatch(r"[A-Za-z_]\w*", name)) or name in names:
                k = sum(1 for layer in layers if layer.kind == ("dense" if dense else "conv2d")) + 1
                while f"{prefix}{k}" in names:
                    k += 1
                name = f"{prefix}{k}"
            names.add(name)
            try:
                stride, padding = int(e.get("stride", 1)), int(e.get("padding", 0))
            except (TypeError, ValueError):
                raise ir.QselError(f"{source}: module {where} (Conv2d): stride and padding must be integers") from None
            layers.append(Layer(name, "dense" if dense else "conv2d", w, b, "identity", stride, padding,
                                flatten_input=flatten and dense))
            flatten = False
        elif kind in ACTIVATION_MODULES:
            if not layers or layers[-1].activation != "identity":
                raise ir.QselError(f"{source}: module {where} ({kind}) must follow a Linear or Conv2d module "
                                   f"(one activation per layer)")
            layers[-1].activation = ACTIVATION_MODULES[kind]
        elif kind == "Flatten":
            flatten = not layers or layers[-1].kind == "conv2d"  # after a dense layer it changes nothing
        elif kind not in PASS_THROUGH:
            raise ir.QselError(f"{source}: module {where}: unsupported module type {kind!r} (qsel reads {SUPPORTED})")
    if not layers:
        raise ir.QselError(f"{source}: the model has no Linear or Conv2d module")
    if input_shape is None:
        if layers[0].kind == "conv2d" or layers[0].flatten_input:
            first = "Conv2d" if layers[0].kind == "conv2d" else "Flatten"
            raise ir.QselError(f"{source}: the model starts with a {first}; give \"input_shape\": [C, H, W] in "
                               f"the .arch.json")
        input_shape = (layers[0].fan_in,)
    return check_network(Network(layers, tuple(int(d) for d in input_shape), task, meta), source)


# ----------------------------------------------------------------------------- saving

def architecture(network: Network) -> dict:
    """The .arch.json object describing ``network`` as an nn.Sequential."""
    modules: list[dict] = []
    rank = 1 + len(network.input_shape)
    for layer in network.layers:
        if layer.kind == "dense":
            if rank > 2:
                modules.append({"type": "Flatten"})
            modules.append({"type": "Linear", "name": layer.name})
            rank = 2
        else:
            modules.append({"type": "Conv2d", "name": layer.name, "stride": layer.stride, "padding": layer.padding})
        if layer.activation != "identity":
            if layer.activation not in MODULES_OF:
                raise ir.QselError(f"layer {layer.name!r}: PyTorch has no module for the activation "
                                   f"{layer.activation!r}; save the network as .npz or .onnx instead")
            modules.append({"type": MODULES_OF[layer.activation]})
    return {"format": ARCH_FORMAT, "version": ARCH_VERSION, "input_shape": [int(d) for d in network.input_shape],
            "task": network.task, "modules": modules, "metadata": network.metadata}


def state_dict(network: Network, arch: dict | None = None, dtype: Any = np.float32) -> dict:
    """{"<i>.weight": tensor, "<i>.bias": tensor} in nn.Sequential numbering, of ``dtype`` (float32, what
    :func:`save_torch` writes; a QselError names the layer whose weights do not fit in it)."""
    torch = _torch()
    arch = arch or architecture(network)
    layers = iter(network.layers)
    sd = {}
    for i, m in enumerate(arch["modules"]):
        if m["type"] in ("Linear", "Conv2d"):
            layer = next(layers)
            for part, values in (("weight", layer.weight), ("bias", layer.bias)):
                sd[f"{i}.{part}"] = torch.from_numpy(as_stored(layer.name, part, values, dtype))
    return sd


def to_module(network: Network):
    """An ``nn.Sequential`` (float64) computing ``network.forward``."""
    torch = _torch()
    nn = torch.nn
    arch = architecture(network)
    mods = []
    layers = iter(network.layers)
    for m in arch["modules"]:
        if m["type"] == "Linear":
            layer = next(layers)
            mods.append(nn.Linear(layer.fan_in, layer.units, dtype=torch.float64))
        elif m["type"] == "Conv2d":
            layer = next(layers)
            kh, kw = layer.weight.shape[2:]
            mods.append(nn.Conv2d(layer.fan_in, layer.units, (kh, kw), stride=layer.stride, padding=layer.padding,
                                  dtype=torch.float64))
        else:
            mods.append(getattr(nn, m["type"])())
    model = nn.Sequential(*mods)
    model.load_state_dict(state_dict(network, arch, np.float64))
    return model.eval()


def save_torch(network: Network, path: str | os.PathLike) -> None:
    """Write ``network`` as a state_dict of float32 tensors at ``path`` and its architecture at
    ``<path>.arch.json``, atomically."""
    torch = _torch()
    check_network(network, f"refusing to write {path}")
    try:
        arch = architecture(network)
        sd = state_dict(network, arch)
    except ir.QselError as exc:
        raise ir.QselError(f"{path}: {exc}") from None
    try:
        text = json.dumps(arch, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ir.QselError(f"{path}: network metadata is not JSON-serialisable ({exc})") from None
    try:
        with ir.atomic_write(arch_path(path), "w") as fa:  # renamed last, after the weights are in place
            with ir.atomic_write(path, "wb") as fw:
                torch.save(sd, fw)
            fa.write(text)
    except OSError as exc:
        raise ir.QselError(f"{path}: cannot write: {exc.strerror or exc}") from None


MODEL_FORMAT = ModelFormat("torch", (".pt", ".pth"), "PyTorch", read=load_torch, write=save_torch, pickle=True)
