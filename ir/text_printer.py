"""Print a :class:`Problem` in the ``.qir`` text format (see ``ir/text_parser.py`` for the grammar).

Floats are written with ``repr`` (the shortest string that reads back to the
same double), so print -> parse -> print is byte-identical and energies are
preserved bit for bit. The ``#`` header lines are derived from the content,
so they too come back identical.
"""

from __future__ import annotations

import json
from typing import Callable, Iterator, TextIO

import numpy as np

from .problem import FORMAT_VERSION, Problem
from .stats import compute
from .variables import BARE_LABEL, Granularity

MAGIC_LINE = "qsel-ir"
ProgressFn = Callable[[int], None]


def name(text: str) -> str:
    """A label or name, bare when it is a plain identifier, else JSON-quoted."""
    return text if BARE_LABEL.match(text) else json.dumps(text)


def number(x: float) -> str:
    return repr(float(x))


def _floats(values: np.ndarray) -> str:
    # repr of a list of floats is done in C, about 2x faster than " ".join(map(repr, ...)).
    return str(values.tolist())[1:-1].replace(",", "")


def header_lines(problem: Problem) -> list[str]:
    s = compute(problem)
    plural = "s" if len(problem.dense) != 1 else ""
    lines = [
        f"# variables {s.num_vars} · couplings {s.num_couplings} "
        f"(dense {s.num_dense_blocks} block{plural}, sparse {s.num_sparse}) · "
        f"constraints {s.num_constraints} · partitions {len(s.partitions)}",
        f"# h in [{s.h_min:.6g}, {s.h_max:.6g}] · J in [{s.j_min:.6g}, {s.j_max:.6g}] · "
        f"density {s.density:.4g} · dynamic range {s.dynamic_range_bits:.2f} bits",
    ]
    if s.partitions:
        lines.append(f"# partition sizes: min {min(s.partitions)} max {max(s.partitions)}")
    for label, value in sorted(s.penalties.items()):
        lines.append(f"# penalty {label} = {value!r}")
    return lines


def iter_lines(problem: Problem, progress: ProgressFn | None = None) -> Iterator[str]:
    """Yield the text form line by line (no trailing newlines). ``progress(k)`` is called
    with the number of dense-block rows just written, for progress bars on big blocks."""
    v = problem.variables
    labels = [name(x) for x in v.labels.tolist()]
    yield f"{MAGIC_LINE} {FORMAT_VERSION[0]}.{FORMAT_VERSION[1]}"
    yield from header_lines(problem)
    for key in sorted(problem.metadata):
        yield f"meta {name(key)} {json.dumps(problem.metadata[key], sort_keys=True, allow_nan=False)}"
    yield f"offset {number(problem.offset)}"

    grans = Granularity.codes()
    layer_names = [name(x) for x in v.layer_names]
    group_names = [name(x) for x in v.group_names]
    h = problem.linear.tolist()
    layer, unit, output = v.layer.tolist(), v.unit.tolist(), v.output.tolist()
    gran, group = v.granularity.tolist(), v.group.tolist()
    for i, lab in enumerate(labels):
        parts = [f"var {lab} {h[i]!r}"]
        if layer[i] >= 0:
            parts.append(f"layer={layer_names[layer[i]]}")
        if unit[i] >= 0:
            parts.append(f"unit={unit[i]}")
        if output[i] >= 0:
            parts.append(f"output={output[i]}")
        if gran[i]:
            parts.append(f"granularity={grans[gran[i]].value}")
        if group[i] >= 0:
            parts.append(f"group={group_names[group[i]]}")
        yield " ".join(parts)

    for block in problem.dense:
        b = block.size
        yield f"dense {b} : " + " ".join(labels[j] for j in block.index.tolist())
        m = block.matrix
        for r in range(b - 1):
            yield "  " + _floats(m[r, r + 1:])
            if progress is not None:
                progress(1)

    sp = problem.sparse
    for r, c, val in zip(sp.rows.tolist(), sp.cols.tolist(), sp.vals.tolist()):
        yield f"coupling {labels[r]} {labels[c]} {val!r}"

    for con in problem.constraints:
        terms = [labels[j] if w == 1.0 else f"{w!r}*{labels[j]}"
                 for j, w in zip(con.indices.tolist(), con.coeffs.tolist())]
        yield f"constraint {name(con.label)} {con.sense.value} {number(con.rhs)} : " + " ".join(terms)

    for part in problem.partitions:
        yield f"partition {name(part.name)} : " + " ".join(labels[j] for j in part.indices.tolist())


def dense_rows(problem: Problem) -> int:
    """Number of dense-block rows :func:`iter_lines` reports through ``progress``."""
    return sum(max(b.size - 1, 0) for b in problem.dense)


def dumps(problem: Problem) -> str:
    return "\n".join(iter_lines(problem)) + "\n"


def dump(problem: Problem, fh: TextIO, progress: ProgressFn | None = None) -> None:
    for line in iter_lines(problem, progress):
        fh.write(line)
        fh.write("\n")
