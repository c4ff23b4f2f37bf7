"""Fingerprints that tie a result to the model and the IR it came from.

* **model** — ``sha256:`` + 16 hex digits of SHA-256 over the network as it
  computes: input shape, task, and per layer its name, kind, activation,
  stride, padding, flatten flag, weight and bias (their shapes and float32
  bytes). The weights are hashed rounded to float32, the precision ``.onnx``
  and ``.pt`` files store, so the same weights saved as ``.npz`` (float64),
  ``.onnx`` or ``.pt`` agree: a result made for ``model.npz`` applies to its
  export ``model.pt``. Two models of the same shape whose weights differ in
  float32 differ; weights that differ only below float32's resolution
  (relative 6e-8) count as the same model. The frontend stamps it into the
  IR's ``metadata["source"]["fingerprint"]`` when it compiles, so every IR,
  manifest (``compile.source``) and result derived from it carries it.
  Results written before the float32 rounding (``qsel-model-1``: float64
  bytes) still match the model they were made for: :func:`check_model`
  accepts either (:func:`check_source` compares two recorded values: an IR
  compiled after the change does not match a manifest emitted before it).
* **ir** — the same over the IR's terms as stored: labels, linear biases,
  offset, each dense block (index and matrix), the sparse couplings, and the
  constraints (label, indices, coefficients, sense, right-hand side).
  Metadata is left out (history, timings). It fingerprints the representation,
  not the energy function: the same energy written with other blocks gives
  another fingerprint; a file read back (text or binary) gives the same one.

Hashing streams over the arrays' own buffers (no copies beyond a dtype
conversion), O(size of the IR or the model).

``result.json`` records both under ``fingerprints``; ``apply``, ``eval`` and
``compose`` compare them with the model or IR they are given
(:func:`check_model`, :func:`check_source`) and refuse a mismatch unless
``--force``; a result written before fingerprints existed gets a warning.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import numpy as np

from qsel import ir

PREFIX = "sha256:"


def _digest(h: "hashlib._Hash") -> str:
    return f"{PREFIX}{h.hexdigest()[:16]}"


def _array(h: "hashlib._Hash", a: np.ndarray, dtype: Any) -> None:
    a = np.ascontiguousarray(a, dtype=dtype)
    h.update(repr(a.shape).encode())
    h.update(memoryview(a).cast("B"))


def _text(h: "hashlib._Hash", s: str) -> None:
    b = s.encode("utf-8")
    h.update(len(b).to_bytes(8, "little"))
    h.update(b)


def _model_digest(network: Any, tag: bytes, dtype: Any) -> str:
    h = hashlib.sha256(tag)
    _text(h, repr(tuple(int(v) for v in network.input_shape)))
    _text(h, str(network.task))
    for layer in network.layers:
        for part in (layer.name, layer.kind, layer.activation, str(int(layer.stride)), str(int(layer.padding)),
                     str(bool(layer.flatten_input))):
            _text(h, str(part))
        with np.errstate(over="ignore"):  # beyond float32's range: inf, as a float32 file would hold
            _array(h, layer.weight, dtype)
            _array(h, layer.bias, dtype)
    return _digest(h)


def model_fingerprint(network: Any) -> str:
    """Fingerprint of a :class:`qsel.frontend.network.Network`, weights rounded to float32 (see the module
    docstring)."""
    return _model_digest(network, b"qsel-model-2", np.float32)


def legacy_model_fingerprint(network: Any) -> str:
    """The fingerprint results recorded before :func:`model_fingerprint` rounded to float32 (float64 bytes)."""
    return _model_digest(network, b"qsel-model-1", np.float64)


def ir_fingerprint(problem: ir.Problem) -> str:
    """Fingerprint of an IR problem's terms and constraints as stored (see the module docstring)."""
    h = hashlib.sha256(b"qsel-ir-1")
    labels = problem.labels
    h.update(len(labels).to_bytes(8, "little"))
    for lab in labels:
        _text(h, lab)
    _array(h, problem.linear, np.float64)
    _array(h, np.array([problem.offset], dtype=np.float64), np.float64)
    for block in problem.dense:
        _array(h, block.index, np.int64)
        _array(h, block.matrix, np.float64)
    sp = problem.sparse
    for a, dt in ((sp.rows, np.int64), (sp.cols, np.int64), (sp.vals, np.float64)):
        _array(h, a, dt)
    for c in problem.constraints:
        _text(h, c.label)
        _text(h, c.sense.value)
        _array(h, c.indices, np.int64)
        _array(h, c.coeffs, np.float64)
        _array(h, np.array([c.rhs], dtype=np.float64), np.float64)
    return _digest(h)


def source_fingerprints(metadata: dict) -> dict[str, str | None]:
    """The model and calibration-data fingerprints an IR's metadata records (None where absent)."""
    src = metadata.get("source")
    cal = metadata.get("calibration")
    model = src.get("fingerprint") if isinstance(src, dict) else None
    data = cal.get("fingerprint") if isinstance(cal, dict) else None
    return {"model": model if isinstance(model, str) else None, "data": data if isinstance(data, str) else None}


def result_fingerprints(problem: ir.Problem, *, with_ir: bool = True) -> dict[str, str | None]:
    """What a result written from an assignment of ``problem`` records under ``fingerprints``."""
    out: dict[str, str | None] = {"model": source_fingerprints(problem.metadata)["model"]}
    out["ir"] = ir_fingerprint(problem) if with_ir else None
    return out


Warn = Callable[[str], None]


def check_model(recorded: Any, network: Any, *, result: str, model: str, force: bool, warn: Warn) -> None:
    """Refuse (QselError) a result whose recorded model fingerprint is not ``network``'s (today's, or the
    float64 one an older result records), unless ``force`` (then warn); warn when the result records none
    (written before fingerprints, or from an IR that was not compiled from a model)."""
    if not isinstance(recorded, str) or not recorded:
        warn(f"{result} records no model fingerprint (an older result, or an IR not compiled by qsel): it "
             f"is not checked against {model}")
        return
    actual = model_fingerprint(network)
    if recorded in (actual, legacy_model_fingerprint(network)):
        return
    message = (f"{result} was computed for another model (model fingerprint {recorded}) than {model} "
               f"({actual})")
    if not force:
        raise ir.QselError(message + "; give --force to use it anyway")
    warn(message + "; used anyway (--force)")


def check_source(recorded: dict, given: dict, *, recorded_where: str, given_where: str, force: bool,
                 warn: Warn) -> None:
    """Refuse a mismatch of the model or calibration fingerprints between two IR metadata records (a manifest's
    ``compile`` section and an IR's metadata), unless ``force``; warn when either side has none."""
    a, b = source_fingerprints(recorded), source_fingerprints(given)
    for key, what in (("model", "model"), ("data", "calibration data")):
        if a[key] is None or b[key] is None:
            if a[key] is not None or b[key] is not None:
                side = recorded_where if a[key] is None else given_where
                warn(f"{side} records no {what} fingerprint: {recorded_where} and {given_where} are not checked "
                     f"against each other for it")
            continue
        if a[key] != b[key]:
            message = (f"{given_where} comes from another {what} ({b[key]}) than {recorded_where} ({a[key]})")
            if not force:
                raise ir.QselError(message + "; give --force to use it anyway")
            warn(message + "; used anyway (--force)")


__all__ = ["check_model", "check_source", "ir_fingerprint", "legacy_model_fingerprint", "model_fingerprint",
           "result_fingerprints", "source_fingerprints"]
