"""Pass registry: name -> lazy loader, filled by discovery and extended by the ``qsel.passes`` entry-point group.

A pass module of this package registers its passes by ending with ``PASSES = (MyPass,)``
(:mod:`qsel.passes.discovery` reads that, and each class's ``name``, from the source without
importing it), so a new pass is one new file. Passes are imported only when looked up, so
listing or parsing a pipeline stays fast. A plugin package registers more with::

    [project.entry-points."qsel.passes"]
    my-pass = "my_pkg.my_module:MyPass"
"""

from __future__ import annotations

import difflib
import functools
import os
from importlib.metadata import entry_points

from qsel.ir import QselError

from . import discovery
from .base import Pass

_REGISTERED: dict[str, str] = {}  # added by register() (tests, embedding applications)


@functools.lru_cache(maxsize=1)
def builtin() -> dict[str, str]:
    """name -> 'module:Class' of every pass this package declares (discovered once per process)."""
    package, path = __name__.rpartition(".")[0], [os.path.dirname(__file__)]
    return {e.name: e.ref for e in discovery.discover(package, path, ("PASSES",))}


def available() -> dict[str, str]:
    """Every known pass name -> its 'module:Class' reference (built-ins, registered, then plugins)."""
    names = {**builtin(), **_REGISTERED}
    for ep in entry_points(group="qsel.passes"):
        names.setdefault(ep.name, ep.value)
    return names


def register(name: str, ref: str) -> None:
    """Register a pass programmatically (``ref`` is 'module:Class')."""
    _REGISTERED[name] = ref


def unregister(name: str) -> None:
    """Forget a pass added by :func:`register` (built-ins stay)."""
    _REGISTERED.pop(name, None)


def get(name: str) -> type[Pass]:
    names = available()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise QselError(f"unknown pass '{name}'{hint} (available: {', '.join(sorted(names))})")
    return discovery.load(names[name], name if builtin().get(name) == names[name] else None)
