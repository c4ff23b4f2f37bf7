"""Model files in and out: the format follows the suffix; every loaded network is checked.

The formats are the modules of :mod:`qsel.frontend.formats`, found by its registry (a new format is
one new file there). :func:`check_network` (:mod:`qsel.frontend.network_check`) runs on every network
read or written, so every format fails the same way, naming the file and the layer.
"""

from __future__ import annotations

import os
from pathlib import Path

from qsel import ir

from .formats import ModelFormat, registry
from .network import Network
from .network_check import check_network

__all__ = ["check_network", "load_model", "model_format", "save_model", "suffixes"]


def suffixes(*, for_writing: bool = False) -> dict[str, ModelFormat]:
    """suffix -> format, of the formats qsel reads (or writes)."""
    return {s: f for f in registry().values() if f.write is not None or not for_writing for s in f.suffixes}


def model_format(path: str | os.PathLike, *, for_writing: bool = False) -> ModelFormat:
    """The format of ``path`` from its suffix; a QselError listing the choices otherwise."""
    table = suffixes(for_writing=for_writing)
    suffix = Path(path).suffix.lower()
    if suffix in table:
        return table[suffix]
    readable = suffixes()
    if for_writing and suffix in readable:
        raise ir.QselError(f"{path}: qsel reads but does not write {readable[suffix].title} files; "
                           f"write one of {', '.join(table)} instead")
    verb = "write" if for_writing else "read"
    raise ir.QselError(f"{path}: unknown model file type {suffix or '(no suffix)'!r}; qsel can {verb} "
                       f"{', '.join(table)}")


def load_model(path: str | os.PathLike, *, trust_pickle: bool = False) -> Network:
    """Read a model file (format by suffix) into a checked :class:`Network`."""
    fmt = model_format(path)
    p = Path(path)
    if not p.exists():
        raise ir.QselError(f"{path}: no such file")
    if p.is_dir():
        raise ir.QselError(f"{path}: is a folder, expected a model file")
    network = fmt.load(p, trust_pickle=trust_pickle)
    return check_network(network, str(path))


def save_model(network: Network, path: str | os.PathLike) -> None:
    """Write ``network`` in the format its suffix names, atomically (nothing is written on error)."""
    fmt = model_format(path, for_writing=True)
    check_network(network, f"refusing to write {path}")
    assert fmt.write is not None  # suffixes(for_writing=True) holds writable formats only
    fmt.write(network, path)
