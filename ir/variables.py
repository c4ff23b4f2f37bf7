"""Binary variables: unique labels plus provenance, stored column-wise as arrays.

A variable ``fc1.n17`` says "keep unit 17 of layer fc1". Provenance records where
it came from so that a solution can be decoded back into a mask:

* ``layer``   index into :attr:`Variables.layer_names` (-1: none)
* ``unit``    unit / channel / input index in that layer (-1: none)
* ``output``  for edge granularity, the output unit the edge feeds (-1: none)
* ``granularity`` code of :class:`Granularity`
* ``group``   index into :attr:`Variables.group_names` (-1: none)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Sequence

import numpy as np

from .errors import QselError


class Granularity(str, Enum):
    """What one variable selects. The enum value is the spelling used in files."""

    GENERIC = "generic"
    NEURON = "neuron"
    CHANNEL = "channel"
    EDGE = "edge"

    @classmethod
    def codes(cls) -> list["Granularity"]:
        return list(cls)

    @property
    def code(self) -> int:
        return list(Granularity).index(self)

    @classmethod
    def parse(cls, text: str) -> "Granularity":
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(g.value for g in cls)
            raise QselError(f"unknown granularity {text!r} (expected one of: {choices})") from None


BARE_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_.\[\]/@+\-]*\Z")
"""Labels matching this are printed bare in text files; others are quoted."""


def _as_index_array(values: Iterable[int] | np.ndarray | None, n: int, dtype: type) -> np.ndarray:
    if values is None:
        return np.full(n, -1, dtype=dtype)
    arr = np.asarray(values, dtype=dtype)
    if arr.shape != (n,):
        raise ValueError(f"provenance array has shape {arr.shape}, expected ({n},)")
    return arr


@dataclass(frozen=True, eq=False)
class Variables:
    """Column store of variable labels and provenance (all arrays have length ``n``)."""

    labels: np.ndarray
    layer: np.ndarray
    unit: np.ndarray
    output: np.ndarray
    granularity: np.ndarray
    group: np.ndarray
    layer_names: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()
    _index: dict[str, int] | None = field(default=None, repr=False, compare=False)

    # ---------------------------------------------------------------- builders
    @classmethod
    def from_labels(cls, labels: Sequence[str]) -> "Variables":
        """Plain variables with no provenance."""
        return cls.build(labels)

    @classmethod
    def build(
        cls,
        labels: Sequence[str],
        *,
        layer: Sequence[str | None] | str | None = None,
        unit: Iterable[int] | np.ndarray | None = None,
        output: Iterable[int] | np.ndarray | None = None,
        granularity: Granularity | str | Sequence[Granularity | str] = Granularity.GENERIC,
        group: Sequence[str | None] | None = None,
    ) -> "Variables":
        """Build from per-variable values; ``layer``/``granularity`` may be one value for all."""
        labels_arr = np.asarray(list(labels), dtype=str)
        n = labels_arr.shape[0]
        if n == 0:
            labels_arr = np.zeros(0, dtype="<U1")
        if layer is None or isinstance(layer, str):
            layer_names: tuple[str, ...] = () if layer is None else (layer,)
            layer_idx = np.full(n, -1 if layer is None else 0, dtype=np.int32)
        else:
            layer_names, layer_idx = _intern(layer, n)
        if group is None:
            group_names: tuple[str, ...] = ()
            group_idx = np.full(n, -1, dtype=np.int32)
        else:
            group_names, group_idx = _intern(group, n)
        if isinstance(granularity, (str, Granularity)):
            gran = np.full(n, _granularity_code(granularity), dtype=np.uint8)
        else:
            gran = np.asarray([_granularity_code(g) for g in granularity], dtype=np.uint8)
        return cls(
            labels=labels_arr,
            layer=layer_idx,
            unit=_as_index_array(unit, n, np.int64),
            output=_as_index_array(output, n, np.int64),
            granularity=gran,
            group=group_idx,
            layer_names=tuple(layer_names),
            group_names=tuple(group_names),
        )

    # ---------------------------------------------------------------- queries
    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def index(self) -> dict[str, int]:
        """Mapping label -> position (built once, lazily)."""
        if self._index is None:
            object.__setattr__(self, "_index", {str(lab): i for i, lab in enumerate(self.labels.tolist())})
        assert self._index is not None
        return self._index

    def positions(self, labels: Iterable[str]) -> np.ndarray:
        """Positions of ``labels``; raises :class:`QselError` naming the first unknown label."""
        idx = self.index
        out = []
        for lab in labels:
            try:
                out.append(idx[lab])
            except KeyError:
                raise QselError(f"unknown variable {lab!r}") from None
        return np.asarray(out, dtype=np.int64)

    def layer_of(self, i: int) -> str | None:
        code = int(self.layer[i])
        return None if code < 0 else self.layer_names[code]

    def group_of(self, i: int) -> str | None:
        code = int(self.group[i])
        return None if code < 0 else self.group_names[code]

    def granularity_of(self, i: int) -> Granularity:
        return Granularity.codes()[int(self.granularity[i])]

    # ---------------------------------------------------------------- transforms
    def take(self, keep: np.ndarray) -> "Variables":
        """The sub-table at positions ``keep`` (order kept, name tables unchanged)."""
        keep = np.asarray(keep)
        return Variables(
            labels=self.labels[keep],
            layer=self.layer[keep],
            unit=self.unit[keep],
            output=self.output[keep],
            granularity=self.granularity[keep],
            group=self.group[keep],
            layer_names=self.layer_names,
            group_names=self.group_names,
        )

    @staticmethod
    def concat(parts: Sequence["Variables"]) -> "Variables":
        """Stack several tables, re-interning layer and group names."""
        if not parts:
            return Variables.build([])
        layer_names: list[str] = []
        group_names: list[str] = []

        def remap(codes: np.ndarray, names: tuple[str, ...], table: list[str]) -> np.ndarray:
            lookup = np.empty(len(names) + 1, dtype=np.int32)
            lookup[-1] = -1
            for k, name in enumerate(names):
                if name not in table:
                    table.append(name)
                lookup[k] = table.index(name)
            return lookup[codes]

        layers = [remap(p.layer, p.layer_names, layer_names) for p in parts]
        groups = [remap(p.group, p.group_names, group_names) for p in parts]
        return Variables(
            labels=np.concatenate([p.labels for p in parts]),
            layer=np.concatenate(layers).astype(np.int32),
            unit=np.concatenate([p.unit for p in parts]),
            output=np.concatenate([p.output for p in parts]),
            granularity=np.concatenate([p.granularity for p in parts]),
            group=np.concatenate(groups).astype(np.int32),
            layer_names=tuple(layer_names),
            group_names=tuple(group_names),
        )


def _granularity_code(g: Granularity | str) -> int:
    return (g if isinstance(g, Granularity) else Granularity.parse(g)).code


def _intern(values: Sequence[str | None], n: int) -> tuple[tuple[str, ...], np.ndarray]:
    values = list(values)
    if len(values) != n:
        raise ValueError(f"provenance list has {len(values)} entries, expected {n}")
    names: dict[str, int] = {}
    codes = np.empty(n, dtype=np.int32)
    for i, v in enumerate(values):
        if v is None:
            codes[i] = -1
        else:
            codes[i] = names.setdefault(v, len(names))
    return tuple(names), codes
