"""The .qirz binary format: lossless, versioned, and loud about damage."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given

from qsel import ir
from strategies import assignments, problems


@given(problems())
def test_binary_round_trip_is_lossless(problem):
    back = ir.binary_format.loads(ir.binary_format.dumps(problem))
    assert ir.dumps(back) == ir.dumps(problem)
    X = assignments(problem)
    np.testing.assert_array_equal(back.energies(X), problem.energies(X))


@given(problems())
def test_text_binary_text_is_lossless(problem):
    text = ir.dumps(problem)
    assert ir.dumps(ir.binary_format.loads(ir.binary_format.dumps(ir.loads(text)))) == text


def _sample() -> bytes:
    rng = np.random.default_rng(0)
    return ir.binary_format.dumps(ir.Problem.from_qubo_matrix(rng.normal(size=(20, 20))))


def test_truncated_file_is_reported(tmp_path):
    data = _sample()
    for cut in (4, 15, 40, len(data) - 7):
        path = tmp_path / f"cut{cut}.qirz"
        path.write_bytes(data[:cut])
        with pytest.raises(ir.FormatError) as info:
            ir.load(path)
        msg = str(info.value)
        assert msg.startswith(str(path)) and ("truncated" in msg or "magic" in msg), msg


def test_unknown_version_is_reported(tmp_path):
    data = bytearray(_sample())
    struct.pack_into("<H", data, 8, 7)
    path = tmp_path / "future.qirz"
    path.write_bytes(bytes(data))
    with pytest.raises(ir.FormatError, match=r"version 7\.0 is not supported"):
        ir.load(path)


def test_bad_magic_and_corruption_are_reported(tmp_path):
    path = tmp_path / "x.qirz"
    path.write_bytes(b"PK\x03\x04 not ours")
    with pytest.raises(ir.FormatError, match="not a qsel binary IR file"):
        ir.load(path)
    data = bytearray(_sample())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ir.FormatError, match="checksum mismatch"):
        ir.load(path)


def test_binary_file_starts_with_magic_and_version():
    data = _sample()
    assert data[:8] == b"\x89QSELIR\n"
    assert struct.unpack_from("<HH", data, 8) == ir.FORMAT_VERSION


def test_format_is_sniffed_when_the_suffix_is_unknown(tmp_path):
    p = ir.Problem.from_qubo_matrix(np.eye(2))
    ir.save(p, tmp_path / "a.qirz")
    (tmp_path / "a.bin").write_bytes((tmp_path / "a.qirz").read_bytes())
    assert ir.load(tmp_path / "a.bin").num_vars == 2
