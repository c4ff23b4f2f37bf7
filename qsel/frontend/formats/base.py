"""What a model format declares: its name, suffixes, reader and (optional) writer.

Every module of :mod:`qsel.frontend.formats` other than this one ends with one declaration::

    MODEL_FORMAT = ModelFormat("npz", (".npz",), "qsel .npz", read=load_npz, write=save_npz)

and :func:`qsel.frontend.formats.registry` finds it; nothing else names the format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from qsel import ir
from qsel.frontend.network import Network

Reader = Callable[..., Network]  # (path) -> Network, or (path, *, trust_pickle) when ``pickle``
Writer = Callable[[Network, "str | os.PathLike"], None]


@dataclass(frozen=True)
class ModelFormat:
    """A model file format (compare dimod's ``dimod.serialization`` modules, one per format)."""

    name: str  # the short name error messages and ``qsel`` listings use
    suffixes: tuple[str, ...]  # lower-case, with the dot; unique across formats
    title: str  # what the files are, in words: "scikit-learn", "ONNX"
    read: Reader
    write: Writer | None = None  # None: qsel reads the format but does not write it
    pickle: bool = False  # the reader may unpickle: it takes ``trust_pickle`` (refuses unless True)

    def __post_init__(self) -> None:
        if not self.suffixes or any(not s.startswith(".") or s != s.lower() for s in self.suffixes):
            raise ValueError(f"model format {self.name!r}: suffixes must be lower-case and start with '.', "
                             f"got {self.suffixes}")

    def load(self, path: "str | os.PathLike", *, trust_pickle: bool = False) -> Network:
        return self.read(path, trust_pickle=trust_pickle) if self.pickle else self.read(path)


def as_stored(layer: str, part: str, values: Any, dtype: Any) -> np.ndarray:
    """``values`` as the ``dtype`` a writer stores, refused (QselError naming the layer and part) when they lie
    beyond its range: a float32 file would hold inf there."""
    values = np.asarray(values, dtype=np.float64)
    limit = np.finfo(dtype).max
    if values.size and np.abs(values).max() > limit:
        raise ir.QselError(f"layer {layer!r}: a {part} of {np.abs(values).max():.3g} is beyond "
                           f"{np.dtype(dtype).name}'s range ({limit:.3g}); save the network as .npz (float64) instead")
    return values.astype(dtype)
