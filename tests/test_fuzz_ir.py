"""Hostile .qir and .qirz files: every input loads or is refused with a QselError naming the file.

Mutation-based: each seed is a file qsel itself wrote (every IR feature present), damaged byte by byte,
line by line, or field by field in the binary header (which carries no checksum). Hand-made cases cover
the header lengths, dtypes and shapes that used to overflow, exhaust memory or crash the interpreter.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qsel import ir
from qsel.ir import binary_format
from strategies import AWKWARD_JSON, Tally, cli_loads_or_refuses, mutated_bytes, mutated_json, mutated_lines


def seed_problem() -> ir.Problem:
    """Six variables with provenance, a dense block, sparse couplings, two constraints, two partitions."""
    v = ir.Variables.build(["fc1.n0", "fc1.n1", "fc1.n2", "fc2.n0", "fc2.n1", "odd label"],
                           layer=["fc1", "fc1", "fc1", "fc2", "fc2", None], unit=[0, 1, 2, 0, 1, -1],
                           granularity=["neuron"] * 5 + ["generic"], group=["a", "a", None, "b", "b", None])
    dense = (ir.DenseBlock(np.array([0, 1, 2]), np.triu(np.arange(9.0).reshape(3, 3) - 4, 1)),)
    sparse = ir.Couplings.from_arrays([0, 3, 4], [3, 4, 5], [0.5, -1.25, 1e-3])
    cons = (ir.Constraint.cardinality("keep2", [0, 1, 2], "==", 2),
            ir.Constraint("budget", np.array([3, 4]), np.array([1.5, 2.0]), ir.Sense.LE, 2.5))
    parts = (ir.Partition("p0", np.array([0, 1, 2])), ir.Partition("p1", np.array([3, 4, 5])))
    return ir.Problem(v, np.array([1.0, -2.0, 0.1, 3.0, -0.5, 7.0]), 0.25, dense, sparse, cons, parts,
                      {"source": {"format": "test"}, "note": [1, 2.5, None]})


SEED = seed_problem()
TEXT = ir.dumps(SEED)
BINARY = binary_format.dumps(SEED)


def _split(data: bytes) -> tuple[dict, bytes]:
    """(header JSON, the data region) of a .qirz file."""
    hlen = struct.unpack_from("<Q", data, 12)[0]
    start = -(-(20 + hlen) // 64) * 64
    return json.loads(data[20:20 + hlen]), data[start:]


def _join(header, region: bytes, hlen: int | None = None) -> bytes:
    """A .qirz file with ``header`` (any JSON) before ``region``; ``hlen`` overrides the length field."""
    blob = json.dumps(header).encode()
    start = -(-(20 + len(blob)) // 64) * 64
    prefix = struct.pack("<8sHHQ", binary_format.MAGIC, *ir.FORMAT_VERSION, len(blob) if hlen is None else hlen)
    return prefix + blob + b"\0" * (start - 20 - len(blob)) + region


def _load(tmp_path, name: str, data: bytes, reader: str):
    """``qsel inspect`` on ``data`` saved as ``name``: loads, or exits 2 with one line naming the file."""
    path = tmp_path / name
    path.write_bytes(data)
    return cli_loads_or_refuses(reader, ["inspect", str(path)], str(path))


def test_seeds_load():
    assert ir.dumps(binary_format.loads(BINARY)) == TEXT
    header, region = _split(BINARY)
    assert ir.dumps(binary_format.loads(_join(header, region))) == TEXT


@given(mutated_bytes(BINARY))
def test_qirz_byte_mutations(tmp_path_factory, data):
    _load(tmp_path_factory.mktemp("qirz"), "m.qirz", data, ".qirz bytes")


@given(st.data())
def test_qirz_header_field_mutations(tmp_path_factory, data):
    header, region = _split(BINARY)
    _load(tmp_path_factory.mktemp("qirz"), "h.qirz", _join(data.draw(mutated_json(header)), region), ".qirz header")


@given(mutated_lines(TEXT))
def test_qir_line_mutations(tmp_path_factory, data):
    _load(tmp_path_factory.mktemp("qir"), "m.qir", data, ".qir lines")


@given(mutated_bytes(TEXT.encode()))
def test_qir_byte_mutations(tmp_path_factory, data):
    _load(tmp_path_factory.mktemp("qir"), "b.qir", data, ".qir bytes")


def _entry(header: dict, name: str) -> dict:
    return next(e for e in header["arrays"] if e["name"] == name)


def hostile_qirz() -> dict[str, bytes]:
    """Hand-made hostile .qirz files, each one of issue 11's findings or a neighbour of one."""
    header, region = _split(BINARY)
    out = {}
    for hlen in (2**50, 2**63, 2**64 - 1, len(BINARY)):
        out[f"hlen-{hlen}"] = _join(header, region, hlen=hlen)
    for dtype in ("|O", "O", ">f8", "<U8", "V8", "<M8[s]", "<c16", "<f2", [["a", "<f8"]], 3, None):
        h = json.loads(json.dumps(header))
        _entry(h, "linear")["dtype"] = dtype
        out[f"dtype-{dtype}"] = _join(h, region)
    for shape in ([2**40], [2**40, 2**40], [2**62, 4], [-1], [6, 1, 1], [1.5], "6", [True]):
        h = json.loads(json.dumps(header))
        _entry(h, "linear")["shape"] = shape
        _entry(h, "linear")["nbytes"] = 8 * int(np.prod(shape)) if isinstance(shape, list) and all(
            isinstance(s, int) for s in shape) else 48
        out[f"shape-{shape}"] = _join(h, region)
    for field, value in (("offset", 2**64), ("offset", -64), ("nbytes", 2**63), ("offset", "0"),
                         ("crc32", None)):
        h = json.loads(json.dumps(header))
        _entry(h, "linear")[field] = value
        out[f"{field}-{value}"] = _join(h, region)
    # Every array pointing at the whole data region: memory would grow with entries x file size.
    h = json.loads(json.dumps(header))
    h["arrays"] += [dict(_entry(h, "linear"), name=f"copy{k}") for k in range(2000)]
    out["overlapping-arrays"] = _join(h, region)
    # A dense block whose header size would allocate a huge square.
    for size in (2**20, 2**40, -3, 2.0):
        h = json.loads(json.dumps(header))
        h["dense_sizes"] = [size]
        out[f"dense-size-{size}"] = _join(h, region)
    out["deep-json"] = _join("[" * 100_000 + "]" * 100_000, b"")
    out["header-not-object"] = _join([1, 2, 3], region)
    out["data-bytes-huge"] = _join(dict(header, data_bytes=2**64), region)
    for key in ("num_vars", "layer_names", "constraints", "partitions", "metadata", "offset"):
        for value in AWKWARD_JSON[:12]:
            out[f"header-{key}-{value!r}"] = _join(dict(header, **{key: value}), region)
    return out


_CHILD = r"""
import json, os, resource, sys, tempfile
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # a reader that sizes memory from the header dies here
sys.path.insert(0, sys.argv[1])
import qsel
from click.testing import CliRunner
from qsel.cli import main
from test_fuzz_ir import hostile_qirz

out = {}
folder = tempfile.mkdtemp()
for name, data in hostile_qirz().items():
    path = os.path.join(folder, "hostile.qirz")
    with open(path, "wb") as fh:
        fh.write(data)
    try:
        qsel.load(path)
        api = "loaded"
    except qsel.QselError as exc:
        api = "QselError"
    except BaseException as exc:
        api = type(exc).__name__
    r = CliRunner().invoke(main, ["inspect", path])
    out[name] = {"api": api, "exit": r.exit_code, "stderr": r.stderr, "path": path}
print(json.dumps(out))
"""


def test_hostile_qirz_in_a_memory_limited_subprocess():
    """Each hostile file through ``qsel.load`` and ``qsel inspect`` in a child limited to 4 GiB of address
    space, where a segmentation fault cannot take pytest down: exit 2 with one line saying "corrupted" or
    "truncated" (never "out of memory"), and QselError from the API, for every one of them."""
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _CHILD, os.path.dirname(__file__)], capture_output=True,
                          text=True, timeout=300)
    if proc.returncode != 0:
        Tally.add(".qirz hostile", "crash")
    assert proc.returncode == 0, f"the child died (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    results = json.loads(proc.stdout)
    assert len(results) == len(hostile_qirz())
    failures = []
    for name, r in sorted(results.items()):
        err = r["stderr"]
        if name.startswith("header-") and r["exit"] == 0 and r["api"] == "loaded":
            Tally.add(".qirz hostile", "loaded")  # an awkward but valid value (an offset of -1, a null note)
            continue
        ok = (r["api"] == "QselError" and r["exit"] == 2 and err.startswith(f"qsel: error: {r['path']}: ")
              and err.count("qsel: error:") == 1 and "Traceback" not in err and "memory" not in err)
        if name.startswith(("hlen", "dtype", "shape", "offset", "nbytes", "dense-size", "data-bytes")):
            ok = ok and ("corrupted" in err or "truncated" in err)
        Tally.add(".qirz hostile", "refused" if ok else "other")
        if not ok:
            failures.append(f"{name}: api {r['api']}, exit {r['exit']}: {err}")
    assert not failures, "\n".join(failures)
