"""The qbsolv ``.qubo`` text format: one reader (:func:`parse`, strict, errors at ``file:line:column``) for
``qsel import`` and for compose's block files, and the writer (:func:`dumps`) the ``qubo`` target uses.

qbsolv's README, "qbsolv QUBO Input File Format", defines the format; qbsolv itself is no longer maintained
and no maintained Python library reads it, so it is parsed here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from qsel import ir

from .convert import coo
from .textfiles import read_bytes, text_of


@dataclass(frozen=True)
class QuboData:
    """A parsed ``.qubo`` file: E(x) = sum_k node_vals[k] x[nodes[k]] + sum_k cvals[k] x[ci[k]] x[cj[k]]."""

    topology: str
    max_nodes: int
    nodes: np.ndarray
    node_vals: np.ndarray
    ci: np.ndarray
    cj: np.ndarray
    cvals: np.ndarray


@dataclass
class _Program:
    line: int
    text: str
    topology: str
    max_nodes: int
    n_nodes: int
    n_couplers: int
    columns: "_Columns"  # 1-based columns of the six fields


class _Columns:
    """1-based start columns of a line's whitespace-separated fields, computed only when an error needs one."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: list[int] | None = None

    def __getitem__(self, k: int) -> int:
        if self._starts is None:
            self._starts = [m.start() + 1 for m in re.finditer(r"\S+", self.text)]
        return self._starts[k]


def parse(path: Path | str, data: bytes) -> QuboData:
    """qbsolv's ``.qubo`` text format, E(x) = sum_nodes q_ii x_i + sum_couplers q_ij x_i x_j.

    Rules (qbsolv README, "qbsolv QUBO Input File Format"): lines starting
    with ``c`` are comments, anywhere; the first other line is the program
    line ``p qubo TOPOLOGY MAXNODES NNODES NCOUPLERS``; then NNODES node lines
    ``i i value`` followed by NCOUPLERS coupler lines ``i j value`` with i < j;
    node numbers lie in 0..MAXNODES-1; duplicate nodes or couplers are errors.
    Enforced here too: the counts, and the order (no coupler before all node
    lines, no node line after a coupler). Accepted leniently, as qbsolv's own
    reader does: blank lines, upper-case ``C``/``P``, zero coupler strengths and
    couplers on nodes without a node line. Variables are the node numbers that
    occur, sorted, labelled ``x<i>`` (by :func:`qsel.importers.read_qubo`).
    """
    source = str(path)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ir.FormatError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    text = text_of(path, data, "a qbsolv .qubo text file")  # and no control characters

    def error(msg: str, lineno: int, col: int, line_text: str | None) -> ir.ParseError:
        return ir.ParseError(msg, source=source, line=lineno, column=col, line_text=line_text)

    prog: _Program | None = None
    node_idx: list[int] = []
    node_val: list[float] = []
    node_line: list[int] = []
    cpl_i: list[int] = []
    cpl_j: list[int] = []
    cpl_val: list[float] = []
    cpl_line: list[int] = []
    lineno = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line_text = raw.rstrip("\r\n")
        stripped = line_text.strip()
        if not stripped or stripped[0] in "cC":
            continue
        fields = line_text.split()
        cols = _Columns(line_text)
        if prog is None:
            if stripped[0] not in "pP":
                raise error("expected the program line 'p qubo TOPOLOGY MAXNODES NNODES NCOUPLERS' before any "
                            "node or coupler line", lineno, cols[0], line_text)
            prog = _parse_program(fields, cols, lineno, line_text, error)
            continue
        if stripped[0] in "pP":
            raise error(f"a second program line (the first is on line {prog.line})", lineno, cols[0], line_text)
        if len(fields) != 3:
            col = cols[3] if len(fields) > 3 else len(line_text) + 1
            raise error(f"expected 'i j value' (3 fields), found {len(fields)} field(s)", lineno, col, line_text)
        ends = []
        for k in (0, 1):
            try:
                num = int(fields[k])
            except ValueError:
                raise error(f"node number must be an integer, found {fields[k]!r}", lineno, cols[k],
                            line_text) from None
            if not 0 <= num < prog.max_nodes:
                raise error(f"node number {num} out of range 0..{prog.max_nodes - 1} (MAXNODES = "
                            f"{prog.max_nodes} on line {prog.line})", lineno, cols[k], line_text)
            ends.append(num)
        try:
            value = float(fields[2])
        except ValueError:
            raise error(f"value must be a number, found {fields[2]!r}", lineno, cols[2], line_text) from None
        if not math.isfinite(value):
            raise error(f"value must be finite, found {fields[2]!r}", lineno, cols[2], line_text)
        i, j = ends
        if i == j:
            if cpl_line:
                raise error(f"node line after coupler lines (first coupler on line {cpl_line[0]}); the format "
                            f"lists all node lines 'i i value' before the couplers", lineno, cols[0], line_text)
            if len(node_idx) == prog.n_nodes:
                raise error(f"more node lines than the {prog.n_nodes} declared by the program line (line "
                            f"{prog.line})", lineno, cols[0], line_text)
            node_idx.append(i)
            node_val.append(value)
            node_line.append(lineno)
        else:
            if i > j:
                raise error(f"coupler '{i} {j}' must list the smaller node first (i < j)", lineno, cols[0], line_text)
            if len(node_idx) < prog.n_nodes:
                raise error(f"coupler before the nodes section is complete: the program line (line {prog.line}) "
                            f"declares {prog.n_nodes} node lines 'i i value' first, only {len(node_idx)} came "
                            f"before this line", lineno, cols[0], line_text)
            if len(cpl_i) == prog.n_couplers:
                raise error(f"more coupler lines than the {prog.n_couplers} declared by the program line (line "
                            f"{prog.line})", lineno, cols[0], line_text)
            cpl_i.append(i)
            cpl_j.append(j)
            cpl_val.append(value)
            cpl_line.append(lineno)

    if prog is None:
        raise error("no program line 'p qubo TOPOLOGY MAXNODES NNODES NCOUPLERS' found", max(lineno, 1), 1, None)
    if len(node_idx) != prog.n_nodes:
        raise error(f"the program line declares {prog.n_nodes} node lines but the file has {len(node_idx)}",
                    prog.line, prog.columns[4], prog.text)
    if len(cpl_i) != prog.n_couplers:
        raise error(f"the program line declares {prog.n_couplers} coupler lines but the file has {len(cpl_i)}",
                    prog.line, prog.columns[5], prog.text)

    nodes = np.asarray(node_idx, dtype=np.int64)
    ci, cj = np.asarray(cpl_i, dtype=np.int64), np.asarray(cpl_j, dtype=np.int64)
    dup = _first_duplicate(nodes, np.asarray(node_line))
    if dup is not None:
        at, first = dup
        lines = text.splitlines()
        raise error(f"node {nodes[node_line.index(at)]} is listed twice (first on line {first})", at, 1,
                    lines[at - 1])
    dup = _first_duplicate(ci * prog.max_nodes + cj, np.asarray(cpl_line))
    if dup is not None:
        at, first = dup
        lines = text.splitlines()
        k = cpl_line.index(at)
        raise error(f"coupler '{ci[k]} {cj[k]}' is listed twice (first on line {first})", at, 1, lines[at - 1])

    return QuboData(prog.topology, prog.max_nodes, nodes, np.asarray(node_val, dtype=np.float64), ci, cj,
                    np.asarray(cpl_val, dtype=np.float64))


def _parse_program(fields: list[str], cols: "_Columns", lineno: int, line_text: str,
                   error: Callable[..., ir.ParseError]) -> _Program:
    if fields[0].lower() != "p":
        raise error(f"expected 'p' to start the program line, found {fields[0]!r}", lineno, cols[0], line_text)
    if len(fields) != 6:
        col = cols[6] if len(fields) > 6 else len(line_text) + 1
        raise error(f"the program line needs 6 fields 'p qubo TOPOLOGY MAXNODES NNODES NCOUPLERS', found "
                    f"{len(fields)}", lineno, col, line_text)
    if fields[1].lower() != "qubo":
        raise error(f"expected file type 'qubo' on the program line, found {fields[1]!r}", lineno, cols[1], line_text)
    counts = []
    for k, name in ((3, "MAXNODES"), (4, "NNODES"), (5, "NCOUPLERS")):
        try:
            value = int(fields[k])
        except ValueError:
            value = -1
        if value < 0:
            raise error(f"{name} must be a non-negative integer, found {fields[k]!r}", lineno, cols[k], line_text)
        counts.append(value)
    max_nodes, n_nodes, n_couplers = counts
    if max_nodes > QUBO_MAX_NODES:  # node numbers then fit int64, and so do the coupler keys i * MAXNODES + j
        raise error(f"MAXNODES ({max_nodes}) exceeds {QUBO_MAX_NODES} (qbsolv numbers nodes with a C int)",
                    lineno, cols[3], line_text)
    if n_nodes > max_nodes:
        raise error(f"NNODES ({n_nodes}) exceeds MAXNODES ({max_nodes})", lineno, cols[4], line_text)
    return _Program(lineno, line_text, fields[2], max_nodes, n_nodes, n_couplers, cols)


QUBO_MAX_NODES = 2**31 - 1
"""Largest MAXNODES accepted in a .qubo program line."""


def _first_duplicate(keys: np.ndarray, lines: np.ndarray) -> tuple[int, int] | None:
    """(line of the earliest repeated key's second occurrence, line of its first occurrence), or None."""
    if keys.size < 2:
        return None
    order = np.argsort(keys, kind="stable")
    k_sorted, l_sorted = keys[order], lines[order]
    repeat = np.nonzero(k_sorted[1:] == k_sorted[:-1])[0] + 1
    if repeat.size == 0:
        return None
    at = int(np.argmin(l_sorted[repeat]))
    pos = repeat[at]
    first = pos
    while first > 0 and k_sorted[first - 1] == k_sorted[pos]:
        first -= 1
    return int(l_sorted[pos]), int(l_sorted[first])


def load(path: Path | str, labels: list[str]) -> ir.Problem:
    """A block file over ``labels``: node i is ``labels[i]``, and MAXNODES must equal their count."""
    q = parse(path, read_bytes(path))
    if q.max_nodes != len(labels):
        raise ir.FormatError(f"{path}: the file has MAXNODES {q.max_nodes} but the manifest block has "
                             f"{len(labels)} variables")
    h = np.zeros(len(labels))
    h[q.nodes] = q.node_vals
    return ir.Problem(ir.Variables.from_labels(labels), h, 0.0, sparse=ir.Couplings.from_arrays(q.ci, q.cj, q.cvals))


def _num(v: float) -> str:
    return repr(float(v))


def dumps(problem: ir.Problem, name: str) -> str:
    """``problem`` (unconstrained) as ``.qubo`` text: node i is variable i; the offset is left to the caller."""
    n = problem.num_vars
    r, c, v = coo(problem)
    lines = [f"c qsel block {name}: {n} variables (node i = labels[i] in manifest.json), {len(v)} couplers",
             f"c minimise sum_i Q_ii x_i + sum_(i<j) Q_ij x_i x_j; the constant {problem.offset!r} is the block "
             f"offset in manifest.json",
             f"p qubo 0 {n} {n} {len(v)}"]
    lines += [f"{i} {i} {_num(h)}" for i, h in enumerate(problem.linear.tolist())]
    lines += [f"{i} {j} {_num(w)}" for i, j, w in zip(r.tolist(), c.tolist(), v.tolist())]
    return "\n".join(lines) + "\n"
