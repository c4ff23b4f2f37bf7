"""Pass registry: name -> lazy loader, extended by the ``qsel.passes`` entry-point group.

Built-in passes are imported only when used, so listing or parsing a pipeline
stays fast. A plugin package registers more with::

    [project.entry-points."qsel.passes"]
    my-pass = "my_pkg.my_module:MyPass"
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points

from qsel.ir import QselError

from .base import Pass

_BUILTIN: dict[str, str] = {
    "canonicalize": "qsel.passes.canonicalize:Canonicalize",
    "stats": "qsel.passes.stats:Stats",
    "verify": "qsel.passes.verify:Verify",
    "prune": "qsel.passes.prune:Prune",
    "fix-variables": "qsel.passes.fix_variables:FixVariables",
    "partition": "qsel.passes.partition:PartitionPass",
    "lower-constraints": "qsel.passes.lower_constraints:LowerConstraints",
    "scale": "qsel.passes.scale:Scale",
    "quantize": "qsel.passes.quantize:Quantize",
    "embed-check": "qsel.passes.embed_check:EmbedCheck",
}


def _load(ref: str) -> type[Pass]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def available() -> dict[str, str]:
    """Every known pass name -> its 'module:Class' reference (built-ins, then plugins)."""
    names = dict(_BUILTIN)
    for ep in entry_points(group="qsel.passes"):
        names.setdefault(ep.name, ep.value)
    return names


def register(name: str, ref: str) -> None:
    """Register a pass programmatically (``ref`` is 'module:Class')."""
    _BUILTIN[name] = ref


def get(name: str) -> type[Pass]:
    names = available()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise QselError(f"unknown pass '{name}'{hint} (available: {', '.join(sorted(names))})")
    return _load(names[name])
