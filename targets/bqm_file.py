"""dimod's binary BQM file (``DIMODBQM`` version 2.0), written row by row from the IR's arrays.

Why not ``to_bqm(problem).to_file()``: dimod first builds its adjacency in memory (every coupling twice,
(int32, float64) per direction), ``to_file`` copies it into a spooled file, and reading that back for an
atomic write copies it again. For a dense 16,384-unit layer (134M couplings) that path reached 20 GB of
RSS and took 8 minutes. This writer produces the same bytes dimod does (``BinaryQuadraticModel.to_file``,
version 2.0; dimod's own ``write_header`` and ``VariablesSection`` are used for the header and the labels)
from slabs of rows of the symmetric coupling matrix, so its memory is one slab (at most ~256 MB) on top
of the IR. The layout, after the header::

    offset                                   dtype (float64)
    (ni, bias) per variable                  (int32, float64): ni = where its neighbourhood starts
    (v, bias) per neighbour, by variable,    (int32, float64): neighbours sorted by index, both directions
    "VARS" + length + JSON labels            (dimod's VariablesSection)

``dimod.BinaryQuadraticModel.from_file`` reads it back (tested against ``to_file`` byte for byte).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from qsel import ir

_SLAB_ENTRIES = 1 << 25  # entries of one dense slab of rows (256 MB of float64)
_NEIGHBOUR = np.dtype([("v", "<i4"), ("bias", "<f8")])
_LINEAR = np.dtype([("ni", "<i4"), ("b", "<f8")])


def symmetric_slabs(problem: ir.Problem, rows_per_slab: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(r0, S[r0:r1, :]) for consecutive slabs of the symmetric coupling matrix S (S_ij = J_ij, S_ii = 0)."""
    n = problem.num_vars
    rows = rows_per_slab or max(1, _SLAB_ENTRIES // max(n, 1))
    sp = problem.sparse
    for r0 in range(0, n, rows):
        r1 = min(r0 + rows, n)
        slab = np.zeros((r1 - r0, n))
        for block in problem.dense:
            idx = block.index
            local = np.flatnonzero((idx >= r0) & (idx < r1))
            if not local.size:
                continue
            g = idx[local] - r0
            slab[np.ix_(g, idx)] += block.matrix[local, :]
            slab[np.ix_(g, idx)] += block.matrix[:, local].T
        if sp.vals.size:
            m = (sp.rows >= r0) & (sp.rows < r1)
            np.add.at(slab, (sp.rows[m] - r0, sp.cols[m]), sp.vals[m])
            m = (sp.cols >= r0) & (sp.cols < r1)
            np.add.at(slab, (sp.cols[m] - r0, sp.rows[m]), sp.vals[m])
        slab[np.arange(r1 - r0), np.arange(r0, r1)] = 0.0
        yield r0, slab


def write_bqm_file(problem: ir.Problem, path: str | Path) -> int:
    """Write ``problem`` (unconstrained, BINARY, IR labels) as dimod's BQM file; returns its interactions."""
    from dimod.serialization.fileview import VariablesSection, write_header
    from dimod.variables import Variables

    n = problem.num_vars
    degree = np.zeros(n, dtype=np.int64)
    for r0, slab in symmetric_slabs(problem):
        degree[r0:r0 + slab.shape[0]] = np.count_nonzero(slab, axis=1)
    total = int(degree.sum())
    if total >= 2**31:
        raise ir.QselError(f"the problem has {total // 2} couplings: more than dimod's BQM file (int32 "
                           f"neighbourhood indices) holds; partition it first, e.g. -p 'partition{{max-vars=4096}}'")
    linear = np.empty(n, dtype=_LINEAR)
    linear["ni"] = np.concatenate([[0], np.cumsum(degree)[:-1]]) if n else np.zeros(0, np.int64)
    linear["b"] = problem.linear
    labels = problem.labels
    header = dict(shape=(n, total // 2), dtype="float64", itype="int32", ntype="int32", vartype="BINARY",
                  type="BinaryQuadraticModel", variables=labels != list(range(n)))
    with ir.atomic_write(Path(path), "wb") as fh:
        write_header(fh, b"DIMODBQM", header, version=(2, 0))
        fh.write(np.float64(problem.offset).tobytes())
        fh.write(linear.tobytes())
        for r0, slab in symmetric_slabs(problem):
            for k in range(slab.shape[0]):
                nz = np.flatnonzero(slab[k])
                row = np.empty(nz.size, dtype=_NEIGHBOUR)
                row["v"] = nz
                row["bias"] = slab[k, nz]
                fh.write(row.tobytes())
        if header["variables"]:
            fh.write(VariablesSection(Variables(labels)).dumps())
    return total // 2


# ------------------------------------------------------------------ reading
_BQM_MAGIC = b"DIMODBQM"
_BIASES = ("float32", "float64")
_INDICES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def load_bqm(data: bytes, source: str):
    """A ``dimod.BinaryQuadraticModel`` from the bytes of a ``.bqm`` file, checked before dimod reads it.

    dimod's ``from_file`` trusts its header and its neighbour indices: a neighbour index beyond the
    variable count silently adds variables up to it (one flipped byte asked for 2^31 variables: minutes
    of CPU and gigabytes), an ``object`` dtype in the header is used as is, and a short file can pass
    unnoticed. This guard re-reads the same layout with numpy (header: magic, version byte pair, uint32
    length, ASCII JSON; then the offset, n (nidx, bias) pairs and 2m (outvar, bias) pairs) and checks:
    version 1.x or 2.x; shape (n, m) non-negative integers whose bytes fit in the file; dtypes plain
    floats and integers; nidx non-decreasing from 0 to 2m; every neighbour index in [0, n). Only then
    does dimod parse it (so the result is exactly dimod's). Errors are QselErrors naming ``source``.
    """
    import json
    import struct

    import dimod

    def bad(why: str) -> ir.FormatError:
        return ir.FormatError(f"{source}: not a readable dimod BQM file ({why})")

    if not data.startswith(_BQM_MAGIC):
        raise bad(f"missing the magic prefix {_BQM_MAGIC!r}")
    if len(data) < 14:
        raise bad("truncated inside its header")
    major, hlen = data[8], struct.unpack_from("<I", data, 10)[0]
    if major not in (1, 2):
        raise bad(f"format version {major}.{data[9]} is not 1.x or 2.x")
    if 14 + hlen > len(data):
        raise bad(f"header length {hlen} runs past the end of the file ({len(data)} bytes)")
    try:
        header = json.loads(data[14:14 + hlen].decode("ascii"))
    except (ValueError, RecursionError) as exc:
        raise bad(f"header is not ASCII JSON: {str(exc)[:120]}") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    shape = header.get("shape")
    if (not isinstance(shape, list) or len(shape) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise bad(f"header field 'shape' is {shape!r}")
    n, m = shape
    if header.get("dtype") not in _BIASES or header.get("itype") not in _INDICES or header.get("ntype") not in _INDICES:
        raise bad(f"header dtypes {header.get('dtype')!r}, {header.get('itype')!r}, {header.get('ntype')!r}: "
                  f"expected a float type for biases and integer types for indices")
    if header.get("vartype") not in ("BINARY", "SPIN"):
        raise bad(f"header field 'vartype' is {header.get('vartype')!r}")
    bias = np.dtype(header["dtype"]).newbyteorder("<")
    lin = np.dtype([("nidx", np.dtype(header["ntype"]).newbyteorder("<")), ("bias", bias)])
    quad = np.dtype([("outvar", np.dtype(header["itype"]).newbyteorder("<")), ("bias", bias)])
    start = 14 + hlen + bias.itemsize
    need = start + n * lin.itemsize + 2 * m * quad.itemsize  # Python ints: no overflow
    if need > len(data):
        raise bad(f"header shape {n} variables, {m} interactions needs {need} bytes, the file has {len(data)}")
    nidx = np.frombuffer(data, lin, n, start)["nidx"].astype(np.int64)
    outvar = np.frombuffer(data, quad, 2 * m, start + n * lin.itemsize)["outvar"].astype(np.int64)
    if n and (nidx[0] != 0 or np.any(np.diff(nidx) < 0) or nidx[-1] > 2 * m):
        raise bad("neighbourhood starts are not non-decreasing from 0 to twice the interaction count")
    if outvar.size and (outvar.min() < 0 or outvar.max() >= n):
        raise bad(f"a neighbour index lies outside 0..{n - 1}")
    try:
        return dimod.BinaryQuadraticModel.from_file(data)
    except Exception as exc:  # dimod raises ValueError/KeyError/... on what the checks above let through
        raise bad(f"{type(exc).__name__}: {exc}") from None
