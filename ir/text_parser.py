"""Parse the ``.qir`` text format back into a :class:`Problem`.

Grammar (one statement per line; ``#`` starts a comment; names are bare
identifiers ``[A-Za-z_][A-Za-z0-9_.[]/@+-]*`` or JSON strings)::

    file        := comment* "qsel-ir" MAJOR.MINOR  statement*
    statement   := "meta" NAME JSON
                 | "offset" FLOAT
                 | "var" NAME FLOAT attr*            attr := KEY "=" VALUE
                 | "dense" SIZE ":" NAME{SIZE}       followed by SIZE-1 indented rows,
                                                     row r holding M[r, r+1:]
                 | "coupling" NAME NAME FLOAT
                 | "constraint" NAME SENSE FLOAT ":" term*   term := NAME | FLOAT "*" NAME
                 | "partition" NAME ":" NAME*

Variables must be declared (``var``) before use. Every error names
``file:line:column`` and what was expected there.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from .constraints import Constraint, Partition, Sense
from .errors import ParseError
from .problem import FORMAT_VERSION, Problem
from .terms import Couplings, DenseBlock
from .text_printer import MAGIC_LINE
from .variables import Granularity, Variables

_TOKEN = re.compile(
    r"""(?P<ws>[ \t]+)
      | (?P<comment>\#.*)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<sense>==|<=|>=)
      | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?))
      | (?P<word>[A-Za-z_][A-Za-z0-9_.\[\]/@+\-]*)
      | (?P<punct>[:=*])
    """,
    re.VERBOSE,
)
_VAR_ATTRS = ("layer", "unit", "output", "granularity", "group")


@dataclass
class Token:
    kind: str
    text: str
    col: int  # 1-based
    end: int  # 0-based offset just past the token


class _Line:
    """Tokens of one line with a cursor; every error it raises points into this line."""

    def __init__(self, parser: "_Parser", lineno: int, text: str) -> None:
        self.p, self.lineno, self.text = parser, lineno, text
        self._scanner = self._scan()  # lazy: a meta line's JSON tail is never tokenized
        self._current: Token | None = None
        self._done = False

    def error(self, message: str, col: int | None = None) -> ParseError:
        if col is None:
            tok = self.peek()
            col = tok.col if tok is not None else len(self.text.rstrip()) + 1
        return ParseError(message, source=self.p.source, line=self.lineno, column=col, line_text=self.text)

    def _scan(self) -> Iterator[Token]:
        i, n = 0, len(self.text)
        while i < n:
            m = _TOKEN.match(self.text, i)
            if m is None:
                raise self.error(f"unexpected character {self.text[i]!r}", col=i + 1)
            kind = m.lastgroup
            assert kind is not None
            if kind == "comment":
                return
            if kind != "ws":
                yield Token(kind, m.group(), i + 1, m.end())
            i = m.end()

    # ------------------------------------------------------------ cursor helpers
    def peek(self) -> Token | None:
        if self._current is None and not self._done:
            self._current = next(self._scanner, None)
            self._done = self._current is None
        return self._current

    def take(self, what: str) -> Token:
        tok = self.peek()
        if tok is None:
            raise self.error(f"expected {what}, found end of line")
        self._current = None
        return tok

    def name(self, what: str = "a name") -> str:
        tok = self.take(what)
        if tok.kind == "word":
            return tok.text
        if tok.kind == "string":
            try:
                return json.loads(tok.text)
            except json.JSONDecodeError as exc:
                raise self.error(f"bad string escape in {what}: {exc.msg}", col=tok.col) from None
        raise self.error(f"expected {what}, found {tok.text!r}", col=tok.col)

    def number(self, what: str = "a number") -> float:
        tok = self.take(what)
        if tok.kind != "number":
            raise self.error(f"expected {what} (a finite number), found {tok.text!r}", col=tok.col)
        value = float(tok.text)
        if not math.isfinite(value):
            raise self.error(f"{what} {tok.text} overflows a double", col=tok.col)
        return value

    def integer(self, what: str) -> int:
        tok = self.take(what)
        if tok.kind != "number" or not re.fullmatch(r"[-+]?\d+", tok.text):
            raise self.error(f"expected {what} (an integer), found {tok.text!r}", col=tok.col)
        return int(tok.text)

    def punct(self, char: str) -> None:
        tok = self.take(f"'{char}'")
        if tok.text != char:
            raise self.error(f"expected '{char}', found {tok.text!r}", col=tok.col)

    def variable(self, what: str = "a variable label") -> int:
        tok = self.peek()
        label = self.name(what)
        try:
            return self.p.index[label]
        except KeyError:
            assert tok is not None
            raise self.error(f"unknown variable {label!r} (declare it with a 'var' line before use)",
                             col=tok.col) from None

    def end(self) -> None:
        tok = self.peek()
        if tok is not None:
            raise self.error(f"unexpected {tok.text!r} at end of statement", col=tok.col)


class _Parser:
    def __init__(self, lines: Iterable[str], source: str, progress: Callable[[int], None] | None) -> None:
        self.source = source
        self.lines = enumerate(lines, start=1)
        self.progress = progress
        self.index: dict[str, int] = {}
        self.labels: list[str] = []
        self.h: list[float] = []
        self.attrs: dict[str, list] = {k: [] for k in _VAR_ATTRS}
        self.offset: float | None = None
        self.meta: dict = {}
        self.dense: list[DenseBlock] = []
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.vals: list[float] = []
        self.constraints: list[Constraint] = []
        self.partitions: list[Partition] = []

    def next_line(self) -> tuple[int, str] | None:
        for lineno, raw in self.lines:
            return lineno, raw.rstrip("\r\n")
        return None

    def parse(self) -> Problem:
        first = self.next_line()
        while first is not None and (not first[1].strip() or first[1].lstrip().startswith("#")):
            first = self.next_line()  # comments (e.g. a test's RUN line) may precede the header
        if first is None:
            raise ParseError("empty file: expected the header line 'qsel-ir 1.0'", source=self.source, line=1, column=1)
        self._header(*first)
        while (item := self.next_line()) is not None:
            lineno, text = item
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            line = _Line(self, lineno, text)
            keyword = line.take("a statement")
            handler = getattr(self, f"_st_{keyword.text}", None) if keyword.kind == "word" else None
            if handler is None:
                raise line.error(f"unknown statement {keyword.text!r} (expected one of: meta, offset, var, "
                                 "dense, coupling, constraint, partition)", col=keyword.col)
            handler(line)
        return self._build()

    def _header(self, lineno: int, text: str) -> None:
        m = re.fullmatch(rf"{MAGIC_LINE} (\d+)\.(\d+)\s*", text)
        if m is None:
            raise ParseError(f"not a qsel IR text file: the first line must be '{MAGIC_LINE} "
                             f"{FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}'", source=self.source, line=lineno,
                             column=1, line_text=text)
        major = int(m.group(1))
        if major != FORMAT_VERSION[0]:
            raise ParseError(f"text format version {m.group(1)}.{m.group(2)} is not supported by this qsel "
                             f"(it reads {FORMAT_VERSION[0]}.x)", source=self.source, line=lineno,
                             column=len(MAGIC_LINE) + 2, line_text=text)

    # ------------------------------------------------------------ statements
    def _st_meta(self, line: _Line) -> None:
        key_tok = line.peek()
        key = line.name("a metadata key")
        assert key_tok is not None
        if key in self.meta:
            raise line.error(f"metadata key {key!r} given twice", col=key_tok.col)
        raw = line.text[key_tok.end:]
        try:
            self.meta[key] = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise line.error(f"metadata {key!r}: invalid JSON ({exc.msg})", col=key_tok.end + exc.pos + 1) from None

    def _st_offset(self, line: _Line) -> None:
        if self.offset is not None:
            raise line.error("offset given twice", col=1)
        self.offset = line.number("the offset")
        line.end()

    def _st_var(self, line: _Line) -> None:
        tok = line.peek()
        label = line.name("a variable label")
        if label in self.index:
            assert tok is not None
            raise line.error(f"variable {label!r} declared twice (first on an earlier var line)", col=tok.col)
        h = line.number("the linear bias")
        values: dict[str, object] = {}
        while (key_tok := line.peek()) is not None:
            key = line.name("an attribute")
            if key not in _VAR_ATTRS:
                raise line.error(f"unknown variable attribute {key!r} (expected one of: {', '.join(_VAR_ATTRS)})",
                                 col=key_tok.col)
            if key in values:
                raise line.error(f"attribute {key!r} given twice", col=key_tok.col)
            line.punct("=")
            val_tok = line.peek()
            if key in ("unit", "output"):
                v = line.integer(f"{key} index")
                if v < 0:
                    raise line.error(f"{key} index must be >= 0", col=val_tok.col if val_tok else None)
                values[key] = v
            elif key == "granularity":
                g = line.name("a granularity")
                try:
                    values[key] = Granularity(g)
                except ValueError:
                    raise line.error(f"unknown granularity {g!r} (expected one of: "
                                     f"{', '.join(x.value for x in Granularity)})",
                                     col=val_tok.col if val_tok else None) from None
            else:
                values[key] = line.name(f"a {key} name")
        self.index[label] = len(self.labels)
        self.labels.append(label)
        self.h.append(h)
        for key in _VAR_ATTRS:
            self.attrs[key].append(values.get(key))

    def _st_dense(self, line: _Line) -> None:
        size_tok = line.peek()
        size = line.integer("the block size")
        if size < 1:
            raise line.error("a dense block needs at least one variable", col=size_tok.col if size_tok else None)
        line.punct(":")
        index = np.array([line.variable() for _ in range(size)], dtype=np.int64)
        line.end()
        matrix = np.zeros((size, size))
        for r in range(size - 1):
            item = self.next_line()
            expected = size - 1 - r
            if item is None:
                raise line.error(f"dense block ends early: expected {size - 1} rows, the file ends after {r}",
                                 col=1)
            lineno, text = item
            row = self._dense_row(lineno, text, expected, r)
            matrix[r, r + 1:] = row
            if self.progress is not None:
                self.progress(1)
        self.dense.append(DenseBlock(index, matrix))

    def _dense_row(self, lineno: int, text: str, expected: int, r: int) -> np.ndarray:
        parts = text.split()
        if len(parts) == expected and text[:1].isspace():
            try:
                row = np.array(parts, dtype=np.float64)
            except ValueError:
                row = None  # fall through to the precise tokenizer for a located error
            if row is not None and np.all(np.isfinite(row)):
                return row
        line = _Line(self, lineno, text)
        if not text[:1].isspace():
            raise line.error(f"expected row {r} of the dense block (an indented line of {expected} numbers)", col=1)
        values, columns = [], []
        while (tok := line.peek()) is not None:
            columns.append(tok.col)
            values.append(line.number(f"coupling value (row {r}, entry {len(values)})"))
        if len(values) != expected:
            # Point at the first value too many, or at the end of a row that is too short.
            col = columns[expected] if len(values) > expected else None
            raise line.error(f"row {r} of the dense block has {len(values)} values, expected {expected}", col=col)
        return np.asarray(values)

    def _st_coupling(self, line: _Line) -> None:
        a = line.variable()
        b_tok = line.peek()
        b = line.variable()
        if a == b:
            raise line.error("a variable cannot be coupled with itself (use its linear bias)",
                             col=b_tok.col if b_tok else None)
        self.rows.append(a)
        self.cols.append(b)
        self.vals.append(line.number("the coupling value"))
        line.end()

    def _st_constraint(self, line: _Line) -> None:
        label = line.name("a constraint label")
        sense_tok = line.take("a sense (==, <= or >=)")
        if sense_tok.kind != "sense":
            raise line.error(f"expected a sense (==, <= or >=), found {sense_tok.text!r}", col=sense_tok.col)
        rhs = line.number("the right-hand side")
        line.punct(":")
        idx: list[int] = []
        coeffs: list[float] = []
        while (tok := line.peek()) is not None:
            if tok.kind == "number":
                coeffs.append(line.number("a coefficient"))
                line.punct("*")
            else:
                coeffs.append(1.0)
            idx.append(line.variable())
        self.constraints.append(Constraint(label, np.asarray(idx, dtype=np.int64), np.asarray(coeffs),
                                           Sense(sense_tok.text), rhs))

    def _st_partition(self, line: _Line) -> None:
        pname = line.name("a partition name")
        line.punct(":")
        idx = []
        while line.peek() is not None:
            idx.append(line.variable())
        self.partitions.append(Partition(pname, np.asarray(idx, dtype=np.int64)))

    # ------------------------------------------------------------ result
    def _build(self) -> Problem:
        variables = Variables.build(
            self.labels,
            layer=self.attrs["layer"],
            unit=[-1 if u is None else u for u in self.attrs["unit"]],
            output=[-1 if o is None else o for o in self.attrs["output"]],
            granularity=[g or Granularity.GENERIC for g in self.attrs["granularity"]],
            group=self.attrs["group"],
        )
        return Problem(
            variables=variables,
            linear=np.asarray(self.h, dtype=np.float64),
            offset=0.0 if self.offset is None else self.offset,
            dense=tuple(self.dense),
            sparse=Couplings.from_arrays(self.rows, self.cols, self.vals),
            constraints=tuple(self.constraints),
            partitions=tuple(self.partitions),
            metadata=self.meta,
        )


def loads(text: str, source: str = "<string>") -> Problem:
    return _Parser(text.splitlines(), source, None).parse()


def load_lines(lines: Iterable[str], source: str, progress: Callable[[int], None] | None = None) -> Problem:
    return _Parser(lines, source, progress).parse()
