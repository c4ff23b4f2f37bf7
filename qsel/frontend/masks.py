"""Selections: which units, channels or edges stay, per layer — decoded from IR assignments.

Decoding uses each variable's provenance (layer, unit, output, granularity), so
a solution over any labels maps back to the right neurons. Variables that a
pass fixed and removed are restored from ``metadata["fixed"]`` (label -> value)
with their provenance from ``metadata["fixed_provenance"]``.

* neuron / channel: a unit mask of shape (units,) multiplying layer l's output;
* edge: a weight mask of the layer's weight shape (out, in).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsel import ir


@dataclass
class LayerMask:
    layer: str
    granularity: str  # "neuron" | "channel" | "edge"
    mask: np.ndarray  # float 0/1: (units,) or (out, in)

    @property
    def kept(self) -> int:
        return int(np.count_nonzero(self.mask))

    def to_json(self) -> dict:
        if self.granularity == "edge":
            return {"granularity": "edge", "shape": list(self.mask.shape),
                    "keep": np.argwhere(self.mask != 0).tolist()}
        return {"granularity": self.granularity, "units": int(self.mask.shape[0]),
                "keep": np.flatnonzero(self.mask).tolist()}

    @classmethod
    def from_json(cls, layer: str, d: dict, where: str) -> "LayerMask":
        """Read one layer's mask; every ``keep`` entry must be an in-range index (no negative ones, which numpy
        would wrap to the last units), listed once, and at least one unit (or edge) must stay."""
        head = f"{where}: mask for layer {layer!r}"
        if not isinstance(d, dict):
            raise ir.QselError(f"{head} must be an object with 'granularity' and 'keep'")
        gran = d.get("granularity")
        if gran not in ("neuron", "channel", "edge"):
            raise ir.QselError(f"{head}: unknown granularity {gran!r} (neuron, channel or edge)")
        if gran == "edge":
            shape = _size_list(d.get("shape"), 2, f"{head}: 'shape'")
            keep = _index_rows(d.get("keep"), shape, f"{head}: 'keep'")
            mask = np.zeros(shape)
            mask[keep[:, 0], keep[:, 1]] = 1.0
        else:
            (units,) = _size_list([d.get("units")], 1, f"{head}: 'units'")
            keep = _index_rows(d.get("keep"), (units,), f"{head}: 'keep'")
            mask = np.zeros(units)
            mask[keep[:, 0]] = 1.0
        return cls(layer, gran, mask)


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _size_list(value: object, dims: int, what: str) -> tuple[int, ...]:
    """``dims`` positive integers (a mask's shape), or a QselError naming ``what``."""
    if not isinstance(value, (list, tuple)) or len(value) != dims or not all(_is_int(v) and v > 0 for v in value):
        raise ir.QselError(f"{what} must be {'a positive integer' if dims == 1 else f'{dims} positive integers'}, "
                           f"got {value[0] if dims == 1 and isinstance(value, list) else value!r}")
    return tuple(int(v) for v in value)


def _has_bool(value: list) -> bool:
    """Whether a keep list (of indices or of index pairs) holds a JSON true/false, which numpy reads as 1/0."""
    return any(type(v) is bool or isinstance(v, list) and any(type(u) is bool for u in v) for v in value)


def _index_rows(value: object, shape: tuple[int, ...], what: str) -> np.ndarray:
    """The kept indices as a (k, len(shape)) int64 array: each entry an integer (a pair for edges) inside
    ``shape``, none twice, at least one; else a QselError naming the first bad entry. Checked on arrays; only
    the error message walks the list (and a type test per entry: JSON true/false would pass as 1/0)."""
    if not isinstance(value, list):
        raise ir.QselError(f"{what} must be a list of indices")
    if not value:
        raise ir.QselError(f"{what} is empty: a layer must keep at least one unit")
    dims = len(shape)
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged pairs
        arr = np.zeros(0)
    shape_ok = arr.shape == ((len(value), dims) if dims > 1 else (len(value),))
    if arr.dtype.kind not in "iu" or not shape_ok or _has_bool(value):
        kind = "an [output, input] pair of integers" if dims > 1 else "an integer index"
        for k, entry in enumerate(value):
            items = entry if dims > 1 and isinstance(entry, list) else [entry]
            if len(items) != dims or not all(_is_int(v) for v in items):
                raise ir.QselError(f"{what}[{k}] = {entry!r} is not {kind}")
            if not all(0 <= v < n for v, n in zip(items, shape)):  # beyond int64: numpy made no int array
                ranges = ", ".join(f"0..{n - 1}" for n in shape)
                raise ir.QselError(f"{what}[{k}] = {entry!r} is out of range ({ranges}: the mask has shape {shape})")
        raise ir.QselError(f"{what} must hold {kind} per entry")
    if arr.dtype.kind == "u":  # 2^63 .. 2^64-1 would wrap to negative in int64: out of range at the top
        arr = np.minimum(arr, np.iinfo(np.int64).max)
    rows = arr.astype(np.int64).reshape(len(value), dims)
    bad = np.flatnonzero(((rows < 0) | (rows >= np.asarray(shape))).any(axis=1))
    if bad.size:
        k = int(bad[0])
        ranges = ", ".join(f"0..{n - 1}" for n in shape)
        why = "negative indices are not allowed" if (rows[k] < 0).any() else f"the mask has shape {shape}"
        raise ir.QselError(f"{what}[{k}] = {value[k]!r} is out of range ({ranges}: {why})")
    flat = np.ravel_multi_index(tuple(rows.T), shape)
    order = np.argsort(flat, kind="stable")
    twice = np.flatnonzero(flat[order][1:] == flat[order][:-1])
    if twice.size:
        k = int(order[twice[0] + 1])
        raise ir.QselError(f"{what}[{k}] = {value[k]!r} is listed twice")
    return rows


@dataclass
class Selection:
    masks: dict[str, LayerMask]

    def unit_masks(self) -> dict[str, np.ndarray]:
        return {k: m.mask for k, m in self.masks.items() if m.granularity != "edge"}

    def weight_masks(self) -> dict[str, np.ndarray]:
        return {k: m.mask for k, m in self.masks.items() if m.granularity == "edge"}

    def to_json(self) -> dict:
        return {k: m.to_json() for k, m in self.masks.items()}

    @classmethod
    def from_json(cls, d: dict, where: str) -> "Selection":
        if not isinstance(d, dict):
            raise ir.QselError(f"{where}: 'masks' must be an object of layer -> mask")
        return cls({k: LayerMask.from_json(k, v, where) for k, v in d.items()})

    @classmethod
    def from_assignment(cls, problem: ir.Problem, x: np.ndarray) -> "Selection":
        """Decode a 0/1 assignment of ``problem``'s variables (plus its fixed ones) into layer masks."""
        x = np.asarray(x, dtype=np.float64).ravel()
        if x.shape[0] != problem.num_vars:
            raise ValueError(f"assignment has {x.shape[0]} values, the problem has {problem.num_vars} variables")
        v = problem.variables
        layer_names = list(v.layer_names)
        layer = v.layer.astype(np.int64)
        unit, output, gran = v.unit.copy(), v.output.copy(), v.granularity.astype(np.int64)
        values = x.copy()
        fixed = problem.metadata.get("fixed", {})
        prov = problem.metadata.get("fixed_provenance", {})
        if fixed:
            extra = [(lab, val, prov.get(lab)) for lab, val in fixed.items() if prov.get(lab)]
            for _, _, p in extra:
                if p["layer"] not in layer_names:
                    layer_names.append(p["layer"])
            layer = np.concatenate([layer, [layer_names.index(p["layer"]) for _, _, p in extra]]).astype(np.int64)
            unit = np.concatenate([unit, [p["unit"] for _, _, p in extra]]).astype(np.int64)
            output = np.concatenate([output, [p.get("output", -1) for _, _, p in extra]]).astype(np.int64)
            codes = [ir.Granularity(p["granularity"]).code for _, _, p in extra]
            gran = np.concatenate([gran, codes]).astype(np.int64)
            values = np.concatenate([values, [float(val) for _, val, _ in extra]])
        sizes = problem.metadata.get("layers", {})
        masks: dict[str, LayerMask] = {}
        grans = ir.Granularity.codes()
        for code, name in enumerate(layer_names):
            # generic variables (discrete-weight bits, qsel.frontend.discrete) are no keep-masks
            sel = (layer == code) & (unit >= 0) & (gran != ir.Granularity.GENERIC.code)
            if not np.any(sel):
                continue
            g = grans[int(gran[sel][0])]
            if np.any(gran[sel] != gran[sel][0]):
                raise ir.QselError(f"layer {name!r} mixes granularities; cannot decode one mask for it")
            info = sizes.get(name, {})
            if g is ir.Granularity.EDGE:
                shape = tuple(info.get("weight_shape") or (int(output[sel].max()) + 1, int(unit[sel].max()) + 1))
                mask = np.ones(shape)
                mask[output[sel], unit[sel]] = values[sel]
            else:
                units = int(info.get("units") or int(unit[sel].max()) + 1)
                mask = np.ones(units)
                mask[unit[sel]] = values[sel]
            masks[name] = LayerMask(name, g.value, mask)
        return cls(masks)

    def check_against(self, network, where: str) -> None:
        """Raise a QselError when a mask names a missing layer or has the wrong size."""
        for name, m in self.masks.items():
            try:
                layer = network.layer(name)
            except KeyError:
                raise ir.QselError(f"{where}: mask names layer {name!r}, which the network does not have "
                                   f"(layers: {', '.join(network.names)})") from None
            expected = layer.weight.shape[:2] if m.granularity == "edge" else (layer.units,)
            if tuple(m.mask.shape) != tuple(expected):
                raise ir.QselError(f"{where}: mask for layer {name!r} has shape {tuple(m.mask.shape)}, "
                                   f"the layer needs {tuple(expected)}")
            if m.granularity != "edge" and network.next_layer(name) is None:
                raise ir.QselError(f"{where}: layer {name!r} is the output layer; its units cannot be dropped")
