"""Model file formats: each converts between a file and a :class:`qsel.frontend.network.Network`.

A registry like the ones of passes, targets and solvers, filled by discovery: every module of this
package (except :mod:`.base`) declares ``MODEL_FORMAT = ModelFormat(...)`` (see :mod:`.base`), and
:func:`registry` imports the modules and collects the declarations, so a new format is one new file
here. Formats import their heavy libraries (onnx, torch, joblib) inside their readers and writers, so
discovery costs only the modules themselves. Two formats claiming one suffix is an error.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Iterable

from .base import ModelFormat


def discover(package: str, path: Iterable[str]) -> dict[str, ModelFormat]:
    """name -> format of every module under ``path`` (the package ``package``) that declares ``MODEL_FORMAT``."""
    found: dict[str, ModelFormat] = {}
    owners: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(list(path)), key=lambda m: m.name):
        if info.name == "base" or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        fmt = getattr(module, "MODEL_FORMAT", None)
        if not isinstance(fmt, ModelFormat):
            raise TypeError(f"{module.__name__}: a model format module must declare MODEL_FORMAT = ModelFormat(...)")
        if fmt.name in found:
            raise ValueError(f"model format {fmt.name!r} is declared twice ({owners[fmt.name]}, {module.__name__})")
        for suffix in fmt.suffixes:
            other = next((f.name for f in found.values() if suffix in f.suffixes), None)
            if other is not None:
                raise ValueError(f"suffix {suffix} is claimed by the model formats {other!r} and {fmt.name!r}")
        found[fmt.name] = fmt
        owners[fmt.name] = module.__name__
    return found


@functools.lru_cache(maxsize=1)
def registry() -> dict[str, ModelFormat]:
    """Every model format of this package, by name (discovered once per process)."""
    return discover(__name__, __path__)


__all__ = ["ModelFormat", "discover", "registry"]
