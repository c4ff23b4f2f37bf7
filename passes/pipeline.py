"""Pipeline strings: ``canonicalize,prune{eps=1e-4,mode=relative},partition{max-vars=120}``.

Grammar::

    pipeline := item ("," item)*
    item     := NAME ( "{" option ("," option)* "}" )?
    option   := KEY "=" VALUE          VALUE: any characters but , { } =

Option keys are kebab-case (``max-vars``) and map to snake_case fields
(``max_vars``); values are converted to the field's declared type. Errors
name the pass, the option and the column in the pipeline string.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from qsel.ir import QselError

from . import registry
from .base import Pass, convert_option

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class PipelineItem:
    name: str
    options: dict[str, str]
    column: int  # 1-based column of the pass name


class PipelineError(QselError):
    def __init__(self, text: str, column: int, message: str) -> None:
        super().__init__(f"pipeline:{column}: {message}\n    {text}\n    {' ' * (column - 1)}^")


def parse(text: str) -> list[PipelineItem]:
    """Split a pipeline string into items (names and raw option strings), checking its syntax."""
    items: list[PipelineItem] = []
    i, n = 0, len(text)

    def skip_ws() -> None:
        nonlocal i
        while i < n and text[i].isspace():
            i += 1

    skip_ws()
    if i >= n:
        return items
    while True:
        skip_ws()
        m = _NAME.match(text, i)
        if m is None:
            raise PipelineError(text, i + 1, "expected a pass name" + (f", found {text[i]!r}" if i < n else ""))
        name, col = m.group(), i + 1
        i = m.end()
        options: dict[str, str] = {}
        skip_ws()
        if i < n and text[i] == "{":
            i += 1
            while True:
                skip_ws()
                if i < n and text[i] == "}" and not options:
                    i += 1
                    break
                km = _NAME.match(text, i)
                if km is None:
                    raise PipelineError(text, i + 1, f"pass '{name}': expected an option name")
                key = km.group()
                i = km.end()
                skip_ws()
                if i >= n or text[i] != "=":
                    raise PipelineError(text, i + 1, f"pass '{name}': expected '=' after option '{key}'")
                i += 1
                start = i
                while i < n and text[i] not in ",{}=":
                    i += 1
                value = text[start:i].strip()
                if not value:
                    raise PipelineError(text, start + 1, f"pass '{name}': option '{key}' has no value")
                if key in options:
                    raise PipelineError(text, km.start() + 1, f"pass '{name}': option '{key}' given twice")
                options[key] = value
                if i < n and text[i] == ",":
                    i += 1
                    continue
                if i < n and text[i] == "}":
                    i += 1
                    break
                raise PipelineError(text, i + 1, f"pass '{name}': expected ',' or '}}' after option '{key}'")
        items.append(PipelineItem(name, options, col))
        skip_ws()
        if i >= n:
            return items
        if text[i] != ",":
            raise PipelineError(text, i + 1, f"expected ',' between passes, found {text[i]!r}")
        i += 1


def construct(kind: str, item: PipelineItem, cls: type) -> object:
    """Instantiate the dataclass ``cls`` from an item's raw options, converting each to its declared type.

    Shared by passes, targets and solvers: an unknown option is named with a close match and the
    valid ones; a bad value or a failed ``__post_init__`` check names the {kind} and its message."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    types = {f.name: hints.get(f.name, str) for f in dataclasses.fields(cls)
             if f.init and not f.metadata.get("child")}  # a composite's wrapped solver is no option
    kwargs = {}
    for key, raw in item.options.items():
        field_name = key.replace("-", "_")
        if field_name not in types:
            valid = sorted(k.replace("_", "-") for k in types)
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            listing = ", ".join(valid) if valid else "none"
            raise QselError(f"{kind} '{item.name}' has no option '{key}'{hint} (its options: {listing})")
        kwargs[field_name] = convert_option(item.name, key, raw, types[field_name], kind)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise QselError(f"{kind} '{item.name}': {exc}") from None


def instantiate(item: PipelineItem) -> Pass:
    """Build the pass an item names, converting each option to its declared type."""
    return construct("pass", item, registry.get(item.name))  # type: ignore[return-value]


def build(text: str) -> list[Pass]:
    """Parse a pipeline string and instantiate its passes."""
    return [instantiate(item) for item in parse(text)]


def render(passes: list[Pass]) -> str:
    return ",".join(p.spec() for p in passes)
