"""Stored ``.qirz`` files of every binary format version load as the problem their ``.qir`` twin spells out.

``tests/fixtures/qirz/v<major>.<minor>/`` holds files written by the writer of that version
(``make_fixtures.py``). They stand for the files users already have: a reader change that stops loading
one of them, or loads it differently, fails here. A version whose major number this qsel does not read
must be refused with the located version error, not misread.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest

from qsel import ir

FIXTURES = Path(__file__).parent / "fixtures" / "qirz"
FILES = sorted(FIXTURES.glob("v*/*.qirz"))


def version_of_folder(path: Path) -> tuple[int, int]:
    m = re.fullmatch(r"v(\d+)\.(\d+)", path.parent.name)
    assert m, f"{path.parent}: fixture folders are named v<major>.<minor>"
    return int(m.group(1)), int(m.group(2))


def test_the_current_version_has_fixtures():
    # a FORMAT_VERSION bump without `python tests/fixtures/qirz/make_fixtures.py` fails here
    assert {version_of_folder(p) for p in FILES} >= {tuple(ir.FORMAT_VERSION)}
    assert len([p for p in FILES if version_of_folder(p) == tuple(ir.FORMAT_VERSION)]) >= 4


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_a_stored_file_loads_as_its_text_twin(path: Path):
    data = path.read_bytes()
    major, minor = struct.unpack_from("<HH", data, 8)
    assert (major, minor) == version_of_folder(path), "the file's header and its folder disagree"
    if major != ir.FORMAT_VERSION[0]:
        with pytest.raises(ir.FormatError, match=rf"{re.escape(str(path))}: binary format version {major}\.{minor} "
                                                 r"is not supported"):
            ir.load(path)
        return
    got = ir.load(path)
    want = ir.load(path.with_suffix(".qir"))
    # the text printer is byte-exact (shortest round-trip floats), so equal text is an equal problem:
    # labels, provenance, every coefficient bit, constraints, partitions and metadata
    assert ir.text_printer.dumps(got) == ir.text_printer.dumps(want)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(16, want.num_vars)).astype(np.float64)
    assert np.array_equal(got.energies(X), want.energies(X)) if want.num_vars else got.num_vars == 0


def test_a_stored_file_cut_short_is_refused_with_its_name(tmp_path: Path):
    source = next(p for p in FILES if p.name == "everything.qirz" and version_of_folder(p) == tuple(ir.FORMAT_VERSION))
    short = tmp_path / "short.qirz"
    short.write_bytes(source.read_bytes()[:-9])
    with pytest.raises(ir.FormatError, match=re.escape(str(short))):
        ir.load(short)
