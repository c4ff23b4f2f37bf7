"""Import binary quadratic problems written by other tools into the qsel IR.

``import_problem(path)`` picks the reader from the suffix:

* ``.bqm``  dimod's binary BQM file (``BinaryQuadraticModel.to_file``);
  SPIN models are converted to BINARY exactly (see :func:`spin_to_binary`).
* ``.qubo`` qbsolv's text format, parsed here with ``file:line:column`` errors
  (see :func:`read_qubo`).
* ``.lp``   LP files with a quadratic objective over binary variables, read
  with dimod's LP reader; linear constraints become IR constraints
  (see :func:`read_lp`).

Every imported problem has ``metadata["source"] = {"format", "path"
(basename), "sha256" (of the file's bytes), ...}``. The quadratic part becomes
one dense block over all variables when at least ``dense_threshold`` of the
n(n-1)/2 pairs are coupled (and n <= :data:`DENSE_MAX`), sparse COO otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Hashable, Sequence

import numpy as np

from qsel import ir

DENSE_THRESHOLD = 0.5
"""Fraction of coupled pairs from which the couplings are stored as one dense block."""

DENSE_MAX = 16_384
"""Largest variable count stored densely (a 16,384^2 float64 block is 2 GiB)."""


# ---------------------------------------------------------------------- dispatch
def import_problem(path: str | os.PathLike, *, dense_threshold: float = DENSE_THRESHOLD) -> ir.Problem:
    """Read ``path`` (``.bqm``, ``.qubo`` or ``.lp``) into a verified :class:`qsel.ir.Problem`."""
    p = Path(path)
    reader = READERS.get(p.suffix.lower())
    if reader is None:
        supported = ", ".join(sorted(READERS))
        raise ir.QselError(f"{path}: cannot import files of type {p.suffix or '(no suffix)'!r} "
                           f"(supported: {supported})")
    from qsel.targets.textfiles import read_bytes

    data = read_bytes(p, "to import")
    problem = reader(p, data, dense_threshold)
    return ir.verify(problem, context=f"importing {path}")


def _source(fmt: str, path: Path, data: bytes, **extra: object) -> dict:
    return {"format": fmt, "path": path.name, "sha256": hashlib.sha256(data).hexdigest(), **extra}


# ---------------------------------------------------------------------- assembly
def problem_from_coo(labels: Sequence[str], linear: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                     vals: np.ndarray, offset: float = 0.0, *, metadata: dict | None = None,
                     dense_threshold: float = DENSE_THRESHOLD,
                     constraints: Sequence[ir.Constraint] = ()) -> ir.Problem:
    """E(x) = offset + linear . x + sum_k vals[k] x[rows[k]] x[cols[k]] as an IR problem.

    Terms with rows == cols are folded into the linear biases (x_i^2 = x_i);
    the others are stored with row < col, as one dense block over all n
    variables when the coupling entries number at least ``dense_threshold``
    of the n(n-1)/2 pairs (duplicates summed), as COO otherwise (duplicates
    kept; ``canonicalize`` sums them). Sums use np.bincount: O(nnz + n^2).
    """
    n = len(labels)
    h = np.array(linear, dtype=np.float64, copy=True).reshape(n)
    r = np.asarray(rows, dtype=np.int64).ravel()
    c = np.asarray(cols, dtype=np.int64).ravel()
    v = np.asarray(vals, dtype=np.float64).ravel()
    diag = r == c
    if np.any(diag):
        h += np.bincount(r[diag], weights=v[diag], minlength=n)
        r, c, v = r[~diag], c[~diag], v[~diag]
    lo, hi = np.minimum(r, c), np.maximum(r, c)
    pairs = n * (n - 1) // 2
    variables = ir.Variables.from_labels(list(labels))
    common = dict(offset=float(offset), constraints=tuple(constraints), metadata=dict(metadata or {}))
    if 2 <= n <= DENSE_MAX and v.size > 0 and v.size >= dense_threshold * pairs:
        matrix = np.bincount(lo * n + hi, weights=v, minlength=n * n).reshape(n, n)
        block = ir.DenseBlock(np.arange(n, dtype=np.int64), matrix)
        return ir.Problem(variables, h, dense=(block,), **common)
    return ir.Problem(variables, h, sparse=ir.Couplings.from_arrays(lo, hi, v), **common)


# ---------------------------------------------------------------------- labels
def label_strings(labels: Sequence[Hashable]) -> tuple[list[str], dict[str, str]]:
    """Unique, printable IR labels for arbitrary hashable labels, deterministically.

    A non-empty printable string keeps its value; any other string becomes its
    JSON form (``"a\\tb"`` -> ``"\\"a\\\\tb\\""``); every other label becomes its
    ``repr`` (``3`` -> ``3``, ``(0, 'a')`` -> ``(0, 'a')``), or ``ascii`` when the
    repr is not printable. Plain strings are placed first; a later label whose
    text is already taken gets the first free ``TEXT#k`` (k = 1, 2, ...), in
    variable order. Returns the labels and ``{new label: repr(original)}`` for
    the ones renamed that way.
    """
    out: list[str | None] = [None] * len(labels)
    taken: set[str] = set()
    for i, lab in enumerate(labels):
        if isinstance(lab, str) and lab and lab.isprintable() and lab not in taken:
            out[i] = lab
            taken.add(lab)
    renamed: dict[str, str] = {}
    for i, lab in enumerate(labels):
        if out[i] is not None:
            continue
        if isinstance(lab, str):
            text = json.dumps(lab)
        else:
            text = repr(lab)
            if not text.isprintable():
                text = ascii(lab)
        if text in taken:
            k = 1
            while f"{text}#{k}" in taken:
                k += 1
            text = f"{text}#{k}"
            renamed[text] = repr(lab)
        out[i] = text
        taken.add(text)
    return [str(s) for s in out], renamed


# ---------------------------------------------------------------------- .bqm
def spin_to_binary(h: np.ndarray, rows: np.ndarray, cols: np.ndarray, J: np.ndarray,
                   offset: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact SPIN -> BINARY rewrite with s = 2x - 1 (x in {0,1} <-> s in {-1,+1}).

        h s        = 2h x - h
        J s s'     = J (2x - 1)(2x' - 1) = 4J x x' - 2J x - 2J x' + J

    so a_i = 2 h_i - 2 sum_{k: i in pair k} J_k, b_k = 4 J_k and
    c' = c - sum_i h_i + sum_k J_k. Returns (a, b, c'); rows/cols are unchanged.
    """
    a = 2.0 * np.asarray(h, dtype=np.float64)
    J = np.asarray(J, dtype=np.float64)
    n = a.shape[0]
    a -= 2.0 * (np.bincount(rows, weights=J, minlength=n) + np.bincount(cols, weights=J, minlength=n))
    const = float(offset) - float(np.sum(h)) + float(np.sum(J))
    return a, 4.0 * J, const


def read_bqm(path: Path, data: bytes, dense_threshold: float = DENSE_THRESHOLD) -> ir.Problem:
    """A dimod BQM file (``DIMODBQM`` magic, format 1.x or 2.x) as an IR problem."""
    import dimod

    from qsel.targets.bqm_file import load_bqm

    bqm = load_bqm(data, str(path))
    order = list(bqm.variables)
    vec = bqm.to_numpy_vectors(variable_order=order)
    h = np.asarray(vec.linear_biases, dtype=np.float64)
    rows = np.asarray(vec.quadratic.row_indices, dtype=np.int64)
    cols = np.asarray(vec.quadratic.col_indices, dtype=np.int64)
    J = np.asarray(vec.quadratic.biases, dtype=np.float64)
    offset = float(vec.offset)
    vartype = bqm.vartype.name
    if bqm.vartype is dimod.SPIN:
        h, J, offset = spin_to_binary(h, rows, cols, J, offset)
    labels, renamed = label_strings(order)
    extra: dict = {"vartype": vartype}
    if vartype == "SPIN":
        extra["conversion"] = "s = 2x - 1"
    if renamed:
        extra["renamed_labels"] = renamed
    meta = {"source": _source("bqm", path, data, **extra)}
    return problem_from_coo(labels, h, rows, cols, J, offset, metadata=meta, dense_threshold=dense_threshold)


# ---------------------------------------------------------------------- .qubo
def read_qubo(path: Path, data: bytes, dense_threshold: float = DENSE_THRESHOLD) -> ir.Problem:
    """qbsolv's ``.qubo`` text (parsed by :func:`qsel.targets.qubo_format.parse`, which states the rules);
    variables are the node numbers that occur, sorted, labelled ``x<i>``."""
    from qsel.targets.qubo_format import parse

    q = parse(path, data)
    used = np.unique(np.concatenate([q.nodes, q.ci, q.cj]))
    h = np.zeros(used.shape[0])
    h[np.searchsorted(used, q.nodes)] = q.node_vals
    rows, cols_ = np.searchsorted(used, q.ci), np.searchsorted(used, q.cj)
    labels = [f"x{k}" for k in used.tolist()]
    meta = {"source": _source("qubo", path, data, topology=q.topology, max_nodes=q.max_nodes)}
    return problem_from_coo(labels, h, rows, cols_, q.cvals, 0.0, metadata=meta, dense_threshold=dense_threshold)


# ---------------------------------------------------------------------- .lp
def read_lp(path: Path, data: bytes, dense_threshold: float = DENSE_THRESHOLD) -> ir.Problem:
    """An LP file (CPLEX/Gurobi syntax) over binary variables, read by ``dimod.lp.load``.

    dimod's reader multiplies every quadratic objective term by 1/2, so the
    objective must write them as ``[ ... ]/2`` (``+ [ 4 x * y ]/2`` is 2 x y;
    without ``/2`` the file is rejected); ``x ^ 2`` is x for a binary x. A
    ``Maximize`` objective is negated (minimise -f). Variables must be binary:
    declared under ``Binary``, or integers with bounds inside [0, 1]; a bound
    that fixes one (``x = 1``) becomes the constraint ``bound.x == 1``. Linear
    constraints ``sum c_k x_k + const SENSE rhs`` become IR constraints with
    rhs - const; all coefficients 1 with an integer rhs is a cardinality
    constraint. Unnamed constraints are called ``c<i>`` (i: their 1-based position).
    """
    import dimod

    from qsel.targets.lp_format import load_cqm

    cqm = load_cqm(path, data)
    order = list(cqm.variables)
    labels, renamed = label_strings(order)
    pos = {v: i for i, v in enumerate(order)}
    fixed: list[ir.Constraint] = []
    integer_as_binary: list[str] = []
    for v, lab in zip(order, labels):
        vartype = cqm.vartype(v)
        lb, ub = float(cqm.lower_bound(v)), float(cqm.upper_bound(v))
        if vartype is dimod.BINARY or (vartype is dimod.INTEGER and 0.0 <= lb <= ub <= 1.0):
            if vartype is dimod.INTEGER:
                integer_as_binary.append(lab)
            if lb == ub:
                fixed.append(ir.Constraint(f"bound.{lab}", np.array([pos[v]], dtype=np.int64), np.ones(1),
                                           ir.Sense.EQ, lb))
            continue
        kind = {dimod.INTEGER: "general integer", dimod.REAL: "continuous", dimod.SPIN: "spin"}.get(vartype, vartype.name)
        raise ir.QselError(f"{path}: variable {lab!r} is {kind} with bounds [{lb:g}, {ub:g}]; qsel imports binary "
                           f"problems only (declare it under 'Binary')")

    obj = cqm.objective
    lin = list(obj.iter_linear())
    h = np.zeros(len(order))
    if lin:
        h[np.fromiter((pos[v] for v, _ in lin), np.int64, len(lin))] = np.fromiter((b for _, b in lin), np.float64, len(lin))
    quad = list(obj.iter_quadratic())
    rows = np.fromiter((pos[u] for u, _, _ in quad), np.int64, len(quad))
    cols = np.fromiter((pos[v] for _, v, _ in quad), np.int64, len(quad))
    vals = np.fromiter((b for _, _, b in quad), np.float64, len(quad))

    constraints: list[ir.Constraint] = []
    names = _constraint_names(list(cqm.constraints))
    for (key, con), name in zip(cqm.constraints.items(), names):
        lhs = con.lhs
        if not lhs.is_linear():
            u, v, _ = next(iter(lhs.iter_quadratic()))
            raise ir.QselError(f"{path}: constraint {name!r} is quadratic (it has the term {u} * {v}); qsel keeps "
                               f"linear constraints only")
        terms = [(pos[v], b) for v, b in lhs.iter_linear() if b != 0]
        idx = np.fromiter((i for i, _ in terms), np.int64, len(terms))
        coeffs = np.fromiter((b for _, b in terms), np.float64, len(terms))
        rhs = float(con.rhs) - float(lhs.offset)
        constraints.append(ir.Constraint(name, idx, coeffs, ir.Sense(con.sense.value), rhs))
    taken = {c.label for c in constraints}
    for c in fixed:
        if c.label in taken:
            raise ir.QselError(f"{path}: constraint name {c.label!r} clashes with the bound constraint qsel makes "
                               f"for a fixed variable; rename the constraint")
    extra: dict = {"objective": "maximize (negated)" if _is_maximize(data) else "minimize"}
    if integer_as_binary:
        extra["integer_as_binary"] = integer_as_binary
    if renamed:
        extra["renamed_labels"] = renamed
    meta = {"source": _source("lp", path, data, **extra)}
    return problem_from_coo(labels, h, rows, cols, vals, float(obj.offset), metadata=meta,
                            dense_threshold=dense_threshold, constraints=[*constraints, *fixed])


def _constraint_names(keys: list[Hashable]) -> list[str]:
    """Named constraints keep their names; dimod labels unnamed ones by their 0-based position k: those
    become ``c<k+1>`` (CPLEX's convention), with ``_1``, ``_2``, ... appended if that name is taken."""
    names: list[str | None] = [k if isinstance(k, str) else None for k in keys]
    taken = {n for n in names if n is not None}
    out = []
    for k, n in zip(keys, names):
        if n is None:
            base = n = f"c{int(k) + 1}"
            suffix = 1
            while n in taken:
                n, suffix = f"{base}_{suffix}", suffix + 1
            taken.add(n)
        out.append(n)
    return out


def _is_maximize(data: bytes) -> bool:
    """True when the first keyword of the LP file (after ``\\`` comments) is max/maximize/maximum."""
    for raw in data.decode("utf-8", errors="replace").splitlines():
        line = raw.split("\\", 1)[0].strip()
        if line:
            return line.split()[0].lower() in ("max", "maximize", "maximise", "maximum")
    return False


READERS: dict[str, Callable[[Path, bytes, float], ir.Problem]] = {
    ".bqm": read_bqm,
    ".lp": read_lp,
    ".qubo": read_qubo,
}
"""Suffix -> reader(path, file bytes, dense_threshold)."""
