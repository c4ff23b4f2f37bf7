"""Structural invariants of the IR, checked after loading and (with --verify-each) after every pass.

Checked: array shapes and dtypes agree with n; every coefficient is finite;
labels are non-empty, printable, unique; provenance codes point into their
name tables; block / coupling / constraint / partition indices are in range;
sparse couplings never couple a variable with itself; dense blocks have
distinct indices and a strictly upper-triangular matrix; constraint and
partition labels are unique; partitions are disjoint; metadata is JSON.
"""

from __future__ import annotations

import json

import numpy as np

from .errors import VerificationError
from .problem import Problem
from .terms import row_tiles


def check(problem: Problem) -> list[str]:
    """Every invariant the problem breaks, as readable sentences (empty: valid)."""
    out: list[str] = []
    v = problem.variables
    n = len(v)

    for name in ("layer", "unit", "output", "granularity", "group"):
        arr = getattr(v, name)
        if arr.shape != (n,):
            out.append(f"provenance '{name}' has shape {arr.shape}, expected ({n},)")
    if problem.linear.shape != (n,):
        out.append(f"linear biases have shape {problem.linear.shape}, expected ({n},)")
    if out:
        return out  # the checks below assume consistent shapes

    labels = v.labels.tolist()
    seen: dict[str, int] = {}
    for i, lab in enumerate(labels):
        if not lab:
            out.append(f"variable {i} has an empty label")
        elif not lab.isprintable():
            out.append(f"variable {i} label {lab!r} has non-printable characters")
        if lab in seen:
            out.append(f"label {lab!r} is used by variables {seen[lab]} and {i}")
        seen.setdefault(lab, i)
    if np.any((v.layer < -1) | (v.layer >= len(v.layer_names))):
        out.append("a variable's layer code is outside the layer name table")
    if np.any((v.group < -1) | (v.group >= len(v.group_names))):
        out.append("a variable's group code is outside the group name table")
    from .variables import Granularity

    if np.any(v.granularity >= len(Granularity)):
        out.append("a variable has an unknown granularity code")

    if not np.isfinite(problem.offset):
        out.append(f"offset is not finite ({problem.offset})")
    _finite(problem.linear, "linear bias", labels, out)

    for b, block in enumerate(problem.dense):
        where = f"dense block {b}"
        m = block.matrix
        if m.shape != (block.size, block.size):
            out.append(f"{where}: matrix shape {m.shape} does not match its {block.size} variables")
            continue
        if not _indices_ok(block.index, n, where, out):
            continue
        if np.unique(block.index).shape[0] != block.size:
            out.append(f"{where}: a variable appears twice")
        finite, upper = matrix_checks(m)
        if not finite:
            out.append(f"{where}: matrix has NaN or Inf entries")
        if not upper:
            out.append(f"{where}: matrix must be strictly upper triangular (diagonal and lower part zero)")

    sp = problem.sparse
    if not (sp.rows.shape == sp.cols.shape == sp.vals.shape):
        out.append("sparse couplings: rows, cols and vals have different lengths")
    else:
        ok = _indices_ok(sp.rows, n, "sparse couplings (row)", out) & _indices_ok(sp.cols, n, "sparse couplings (col)", out)
        if ok and np.any(sp.rows == sp.cols):
            k = int(np.argmax(sp.rows == sp.cols))
            out.append(f"sparse coupling {k} couples {labels[sp.rows[k]]!r} with itself (use a linear bias)")
        if not np.all(np.isfinite(sp.vals)):
            out.append("sparse couplings have NaN or Inf values")

    names: set[str] = set()
    for c in problem.constraints:
        where = f"constraint {c.label!r}"
        if c.label in names:
            out.append(f"{where} is defined twice")
        names.add(c.label)
        if c.indices.shape != c.coeffs.shape:
            out.append(f"{where}: {c.indices.shape[0]} variables but {c.coeffs.shape[0]} coefficients")
            continue
        _indices_ok(c.indices, n, where, out)  # a repeated variable is allowed: its coefficients add up
        if not (np.all(np.isfinite(c.coeffs)) and np.isfinite(c.rhs)):
            out.append(f"{where}: NaN or Inf coefficient or right-hand side")

    owner = np.full(n, -1, dtype=np.int64)
    pnames: set[str] = set()
    for p_i, p in enumerate(problem.partitions):
        where = f"partition {p.name!r}"
        if p.name in pnames:
            out.append(f"{where} is defined twice")
        pnames.add(p.name)
        if not _indices_ok(p.indices, n, where, out):
            continue
        if np.unique(p.indices).shape[0] != p.size:
            out.append(f"{where}: a variable appears twice")
        taken = owner[p.indices]
        if np.any(taken >= 0):
            k = int(np.argmax(taken >= 0))
            other = problem.partitions[int(taken[k])].name
            out.append(f"partitions {other!r} and {p.name!r} overlap (both hold {labels[p.indices[k]]!r})")
        owner[p.indices] = p_i

    try:
        json.dumps(problem.metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        out.append(f"metadata is not plain JSON: {exc}")
    return out


def verify(problem: Problem, context: str = "") -> Problem:
    """Raise :class:`VerificationError` listing every broken invariant; return the problem if valid."""
    problems = check(problem)
    if problems:
        raise VerificationError(problems, context=context)
    return problem


def _indices_ok(idx: np.ndarray, n: int, where: str, out: list[str]) -> bool:
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx[(idx < 0) | (idx >= n)][0])
        out.append(f"{where}: variable index {bad} out of range (problem has {n} variables)")
        return False
    return True


def _finite(arr: np.ndarray, what: str, labels: list[str], out: list[str]) -> None:
    bad = ~np.isfinite(arr)
    if np.any(bad):
        i = int(np.argmax(bad))
        out.append(f"{what} of {labels[i]!r} is {arr[i]} (must be finite)")


def matrix_checks(m: np.ndarray) -> tuple[bool, bool]:
    """(all entries finite, strictly upper triangular), in row tiles: no n x n boolean or tril temporaries."""
    finite, upper = True, True
    for r0, rows in row_tiles(m):
        finite = finite and bool(np.isfinite(rows).all())
        # row r0 + k must be zero in columns 0 .. r0 + k
        upper = upper and not np.any(np.tril(rows, r0) != 0)
        if not (finite or upper):
            break
    return finite, upper
