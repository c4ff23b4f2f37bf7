"""The pass framework: passes, the property set, and typed options.

A pass is a frozen dataclass with a kebab-case ``name``, its options as
fields (snake_case in Python, kebab-case in pipeline strings) and one
``run`` method. :class:`AnalysisPass` only writes facts into the
:class:`PropertySet`; :class:`TransformationPass` returns a new problem and
declares whether it is *exact* (energies of every assignment preserved) or
lossy, in which case it returns a :class:`Transformed` carrying a bound on
|E_before(x) - E_after(x)| over all assignments x.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args, get_origin

from qsel.ir import Problem, QselError


class PropertySet(dict):
    """Facts written by analyses and read by later passes; a missing key reads as None."""

    def __missing__(self, key: str) -> None:
        return None


@dataclass(frozen=True)
class Transformed:
    """What a transformation returns when it has more to say than the new problem."""

    problem: Problem
    bound: float = 0.0  # max over x of |E_before(x) - E_after(x)| (in the input's units)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pass:
    name: ClassVar[str] = ""
    exact: ClassVar[bool] = True
    # What "exact" means for this pass:
    #   "identity": same variables, E_out(x) == E_in(x) and the same feasible set for every x;
    #   "mapped":   exact through what the pass records in the metadata (fixed values restored,
    #               energies divided by the scale factor, slack bits minimised over on the
    #               feasible set); each such pass states its mapping, qsel.passes.mapping applies it.
    correspondence: ClassVar[str] = "identity"

    def run(self, problem: Problem, props: PropertySet) -> Problem | Transformed:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------ options
    @classmethod
    def option_fields(cls) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(cls) if f.init]

    @classmethod
    def option_types(cls) -> dict[str, Any]:
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in cls.option_fields()}

    @classmethod
    def summary(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    def spec(self) -> str:
        """This pass as it would be written in a pipeline: non-default options only."""
        return spec_of(self)


def spec_of(obj: Any) -> str:
    """The spec string of a configured pass, target or solver (a frozen dataclass with a ``name``): the
    non-default options only, kebab-case, and a wrapped solver (a field with ``metadata["child"]``) in (...)."""
    opts = []
    child = None
    for f in dataclasses.fields(obj):
        if not f.init:
            continue
        value = getattr(obj, f.name)
        if f.metadata.get("child"):
            child = value
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        if value != default:
            opts.append(f"{f.name.replace('_', '-')}={format_value(value)}")
    head = f"{obj.name}{{{','.join(opts)}}}" if opts else obj.name
    return f"{head}({spec_of(child)})" if child is not None else head


class AnalysisPass(Pass):
    """Reads the problem, writes facts into the property set, never changes the problem."""

    def run(self, problem: Problem, props: PropertySet) -> Problem:
        self.analyze(problem, props)
        return problem

    def analyze(self, problem: Problem, props: PropertySet) -> None:  # pragma: no cover
        raise NotImplementedError


class TransformationPass(Pass):
    """Returns a new problem; ``exact`` says whether energies are preserved."""


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ":".join(format_value(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def convert_option(pass_name: str, option: str, text: str, typ: Any, kind: str = "pass") -> Any:
    """Convert a pipeline option string to the field's type, or raise a QselError that says what was expected
    (naming the ``kind``: pass, target or solver)."""
    def bad(expected: str) -> QselError:
        return QselError(f"{kind} '{pass_name}': option '{option}' expects {expected}, got {text!r}")

    origin = get_origin(typ)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in get_args(typ) if a is not type(None)]
        if text.lower() in ("none", "") and len(args) < len(get_args(typ)):
            return None
        errors = []
        for a in args:
            try:
                return convert_option(pass_name, option, text, a, kind)
            except QselError as exc:
                errors.append(str(exc).split(" expects ")[1].split(", got")[0])
        raise bad(" or ".join(errors))
    if origin is Literal:
        choices = [str(c) for c in get_args(typ)]
        if text in choices:
            return get_args(typ)[choices.index(text)]
        raise bad("one of " + ", ".join(choices))
    if origin is tuple:
        parts = text.split(":")
        args = get_args(typ)
        if len(parts) != len(args):
            raise bad(":".join(a.__name__ for a in args) + f" ({len(args)} values separated by ':')")
        return tuple(convert_option(pass_name, option, p, a, kind) for p, a in zip(parts, args))
    if typ is bool:
        if text.lower() in ("true", "1", "yes", "on"):
            return True
        if text.lower() in ("false", "0", "no", "off"):
            return False
        raise bad("true or false")
    if typ is int:
        try:
            return int(text)
        except ValueError:
            raise bad("an integer") from None
    if typ is float:
        try:
            value = float(text)
        except ValueError:
            raise bad("a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise bad("a finite number")
        return value
    if typ is str:
        return text
    raise bad(f"a value of type {typ}")  # pragma: no cover - a pass declared an unsupported type
