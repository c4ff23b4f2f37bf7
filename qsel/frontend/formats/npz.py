"""qsel's own model file: a NumPy ``.npz`` archive, lossless (float64 weights, bit for bit).

Arrays: ``layers.<i>.weight`` and ``layers.<i>.bias`` for layer i = 0, 1, ...,
plus ``meta``, one JSON string::

    {"format": "qsel-network", "version": 1, "input_shape": [64], "task": "classification",
     "layers": [{"name": "fc1", "kind": "dense", "activation": "relu", "stride": 1,
                 "padding": 0, "flatten_input": false}, ...],
     "metadata": {...}}

Files are read with ``allow_pickle=False``, so a hostile file cannot run code.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from qsel import ir
from qsel.frontend.network import ACTIVATIONS, Layer, Network
from qsel.frontend.network_check import check_network

from .base import ModelFormat

FORMAT = "qsel-network"
VERSION = 1


def save_npz(network: Network, path: str | os.PathLike) -> None:
    """Write ``network`` to ``path`` atomically (temporary file, then rename)."""
    meta = {
        "format": FORMAT, "version": VERSION,
        "input_shape": [int(d) for d in network.input_shape], "task": network.task,
        "layers": [{"name": layer.name, "kind": layer.kind, "activation": layer.activation,
                    "stride": int(layer.stride), "padding": int(layer.padding),
                    "flatten_input": bool(layer.flatten_input)} for layer in network.layers],
        "metadata": network.metadata,
    }
    try:
        text = json.dumps(meta, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ir.QselError(f"{path}: network metadata is not JSON-serialisable ({exc})") from None
    arrays: dict[str, np.ndarray] = {"meta": np.array(text)}
    for i, layer in enumerate(network.layers):
        arrays[f"layers.{i}.weight"] = np.ascontiguousarray(layer.weight, dtype=np.float64)
        arrays[f"layers.{i}.bias"] = np.ascontiguousarray(layer.bias, dtype=np.float64)
    try:
        with ir.atomic_write(path, "wb") as fh:
            np.savez(fh, **arrays)
    except OSError as exc:
        raise ir.QselError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _memory_bytes() -> int:
    """Physical memory of this machine (the bound on what an archive may inflate to)."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _read(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of the archive, read eagerly so that truncation shows up here."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
        if head[:2] != b"PK":
            raise ir.FormatError(f"{path}: not an .npz archive (no zip signature at the start of the file)")
        with zipfile.ZipFile(path) as zf:  # a zip bomb declares its inflated sizes: refuse what cannot fit
            declared = sum(info.file_size for info in zf.infolist())
        if declared > _memory_bytes():
            raise ir.FormatError(f"{path}: its arrays inflate to {declared / 2**30:.1f} GiB, more than this "
                                 f"machine's {_memory_bytes() / 2**30:.1f} GiB of memory")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise ir.QselError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ir.FormatError(f"{path}: not a valid .npz archive (truncated or corrupt: {exc})") from None
    except ValueError as exc:  # object arrays (pickles) or a broken .npy member
        raise ir.FormatError(f"{path}: unreadable .npz archive ({exc})") from None
    except OSError as exc:
        raise ir.FormatError(f"{path}: cannot read as .npz ({exc.strerror or exc})") from None
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):  # NpzFile hands back raw bytes for members that are not .npy
            raise ir.FormatError(f"{path}: member {name!r} is not a .npy array")
    return arrays


def _meta(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if "meta" not in arrays:
        raise ir.FormatError(f"{path}: missing the 'meta' array; not a qsel network file "
                             f"(arrays: {', '.join(sorted(arrays)) or 'none'})")
    raw = arrays["meta"]
    if raw.dtype.kind != "U" or raw.ndim != 0:
        raise ir.FormatError(f"{path}: 'meta' must be one JSON string, got a {raw.dtype} array of shape {raw.shape}")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise ir.FormatError(f"{path}: 'meta' is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ir.FormatError(f"{path}: 'meta' does not describe a {FORMAT} file")
    if meta.get("version") != VERSION:
        raise ir.FormatError(f"{path}: {FORMAT} version {meta.get('version')!r} is not supported (this qsel reads "
                             f"version {VERSION})")
    for key in ("input_shape", "layers"):
        if not isinstance(meta.get(key), list):
            raise ir.FormatError(f"{path}: 'meta' lacks the list {key!r}")
    return meta


def load_npz(path: str | os.PathLike) -> Network:
    """Read a qsel ``.npz`` network; errors name the file and the layer."""
    arrays = _read(path)
    meta = _meta(path, arrays)
    layers = []
    for i, spec in enumerate(meta["layers"]):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ir.FormatError(f"{path}: layer {i}: its description must be an object with a 'name'")
        name = spec["name"]
        where = f"{path}: layer {i} ({name!r})"
        activation = spec.get("activation", "identity")
        if activation not in ACTIVATIONS:
            raise ir.FormatError(f"{where}: unknown activation {activation!r} (known: {', '.join(ACTIVATIONS)})")
        kind = spec.get("kind", "dense")
        if kind not in ("dense", "conv2d"):
            raise ir.FormatError(f"{where}: unknown layer kind {kind!r} (expected dense or conv2d)")
        got = {}
        for part in ("weight", "bias"):
            key = f"layers.{i}.{part}"
            if key not in arrays:
                raise ir.FormatError(f"{where}: missing array {key!r}")
            if arrays[key].dtype.kind not in "fiu":
                raise ir.FormatError(f"{where}: {key!r} is not a numeric array (dtype {arrays[key].dtype})")
            got[part] = arrays[key].astype(np.float64, copy=False)
        try:
            layers.append(Layer(name, kind, got["weight"], got["bias"], activation, int(spec.get("stride", 1)),
                                int(spec.get("padding", 0)), bool(spec.get("flatten_input", False))))
        except (TypeError, ValueError) as exc:
            raise ir.FormatError(f"{where}: bad stride or padding ({exc})") from None
    expected = {"meta"} | {f"layers.{i}.{part}" for i in range(len(layers)) for part in ("weight", "bias")}
    extra = sorted(set(arrays) - expected)
    if extra:
        raise ir.FormatError(f"{path}: arrays {', '.join(extra)} belong to no layer described in 'meta'")
    try:
        network = Network(layers, tuple(int(d) for d in meta["input_shape"]), meta.get("task", "classification"),
                          dict(meta.get("metadata") or {}))
    except (TypeError, ValueError) as exc:
        raise ir.FormatError(f"{path}: {exc}") from None
    return check_network(network, str(path))


MODEL_FORMAT = ModelFormat("npz", (".npz",), "qsel .npz", read=load_npz, write=save_npz)
