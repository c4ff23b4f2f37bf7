"""Hostile .qubo, .lp and .bqm files, through ``qsel import`` and through the readers compose uses.

Seeds are files qsel's own targets write (so they are what a user feeds back), mutated line by line
and byte by byte. Every input must import, or exit 2 with one ``qsel: error:`` line naming the file.
dimod's binary BQM reader is C code underneath: its cases run in a child process too.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import dimod
import numpy as np
from click.testing import CliRunner
from hypothesis import given

from qsel.cli import main
from qsel.ir import QselError

from strategies import Tally, cli_loads_or_refuses, loads_or_refuses, mutated_bytes, mutated_lines
from qsel.targets.bqm_file import write_bqm_file
from qsel.targets.dimod_targets import read_bqm_file
from qsel.targets.file_targets import lp_names, lp_text, qubo_text, read_lp_file, read_qubo_file
from test_fuzz_ir import SEED

PLAIN = SEED.replace(constraints=(), partitions=())
LABELS = list(SEED.labels)
QUBO = qubo_text(PLAIN, "b0")
LP_NAMES = lp_names(LABELS, "x")
LP = lp_text(SEED, "b0", LP_NAMES, lp_names([c.label for c in SEED.constraints], "c"))


def _bqm_bytes() -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        write_bqm_file(PLAIN, os.path.join(d, "s.bqm"))
        with open(os.path.join(d, "s.bqm"), "rb") as fh:
            return fh.read()


BQM = _bqm_bytes()
SPIN_BQM = dimod.generators.gnp_random_bqm(5, 0.7, "SPIN", random_state=2).relabel_variables(
    {k: f"s{k}" for k in range(5)}, inplace=False).to_file().read()


def _import(folder, name: str, data: bytes, reader: str) -> int:
    path = folder / name
    path.write_bytes(data)
    return cli_loads_or_refuses(reader, ["import", str(path), "-o", str(folder / "out.qir")], str(path))


def _import_and_compose(factory, name: str, data: bytes, compose) -> None:
    """``qsel import`` of the mutated file, then compose's block reader ``compose(path)`` of the same bytes:
    each loads or refuses with one located error (never a crash)."""
    suffix = name[name.index("."):]
    folder = factory.mktemp(suffix[1:])
    _import(folder, name, data, f"{suffix} import")
    path = folder / name
    loads_or_refuses(f"{suffix} compose", lambda: compose(path), str(path))


def test_seeds_import(tmp_path):
    for name, data in (("a.qubo", QUBO.encode()), ("a.lp", LP.encode()), ("a.bqm", BQM), ("s.bqm", SPIN_BQM)):
        assert _import(tmp_path, name, data, "seed") == 0, name


@given(mutated_lines(QUBO))
def test_qubo_line_mutations(tmp_path_factory, data):
    _import_and_compose(tmp_path_factory, "m.qubo", data, lambda path: read_qubo_file(path, LABELS))


@given(mutated_bytes(QUBO.encode()))
def test_qubo_byte_mutations(tmp_path_factory, data):
    _import_and_compose(tmp_path_factory, "b.qubo", data, lambda path: read_qubo_file(path, LABELS))


@given(mutated_lines(LP))
def test_lp_line_mutations(tmp_path_factory, data):
    _import_and_compose(tmp_path_factory, "m.lp", data, lambda path: read_lp_file(path, LABELS, LP_NAMES))


@given(mutated_bytes(LP.encode()))
def test_lp_byte_mutations(tmp_path_factory, data):
    _import_and_compose(tmp_path_factory, "b.lp", data, lambda path: read_lp_file(path, LABELS, LP_NAMES))


@given(mutated_bytes(BQM))
def test_bqm_byte_mutations(tmp_path_factory, data):
    _import_and_compose(tmp_path_factory, "b.bqm", data, lambda path: read_bqm_file(path, LABELS))


@given(mutated_bytes(SPIN_BQM))
def test_spin_bqm_byte_mutations(tmp_path_factory, data):
    _import(tmp_path_factory.mktemp("bqm"), "s.bqm", data, ".bqm import")


def _bqm_with(**changes) -> bytes:
    """The seed .bqm with header fields changed (same length header: the JSON is re-padded with spaces)."""
    hlen = int.from_bytes(BQM[10:14], "little")
    header = json.loads(BQM[14:14 + hlen])
    header.update(changes)
    blob = json.dumps(header).encode().ljust(hlen)
    assert len(blob) == hlen
    return BQM[:14] + blob + BQM[14 + hlen:]


def _bqm_neighbour(index: int) -> bytes:
    """The seed .bqm with its first neighbour index set to ``index`` (dimod grew the model up to it)."""
    hlen = int.from_bytes(BQM[10:14], "little")
    first = 14 + hlen + 8 + PLAIN.num_vars * 12
    return BQM[:first] + np.int32(index).tobytes() + BQM[first + 4:]


# Each case made a reader hang, exhaust memory or raise a traceback before it was fixed.
FOUND = {
    "nul.lp": (LP.replace("keep2", "ke\0p2").encode(), "control character"),  # dimod's C++ reader looped forever
    "latin1.lp": (LP.replace("keep2", "k\xe9ep2").encode("latin-1"), "not UTF-8"),
    "latin1.qubo": (b"\x80" + QUBO.encode(), "not UTF-8"),
    # node numbers beyond int64: OverflowError traceback
    "huge-maxnodes.qubo": (b"p qubo 0 100000000000000000000 1 0\n99999999999999999999 99999999999999999999 1.0\n",
                           "MAXNODES"),
    "far-neighbour.bqm": (_bqm_neighbour(2**31 - 1), "neighbour index"),  # 2^31 variables in dimod
    "negative-neighbour.bqm": (_bqm_neighbour(-5), "neighbour index"),
    "object-dtype.bqm": (_bqm_with(dtype="object"), "dtypes"),
    "huge-shape.bqm": (_bqm_with(shape=[2**40, 2**41]), "needs"),
}


def test_found_cases_are_refused_with_a_located_message(tmp_path):
    for name, (data, words) in FOUND.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert _import(tmp_path, name, data, "found") == 2, name
        result = CliRunner().invoke(main, ["import", str(path), "-o", str(tmp_path / "o.qir")])
        assert words in result.stderr, (name, result.stderr)
        reader = {".lp": lambda: read_lp_file(path, LABELS, LP_NAMES), ".qubo": lambda: read_qubo_file(path, LABELS),
                  ".bqm": lambda: read_bqm_file(path, LABELS)}[path.suffix]
        assert isinstance(loads_or_refuses(f"{path.suffix} found", reader, str(path)), QselError)


def test_lp_nul_byte_is_located(tmp_path):
    path = tmp_path / "nul.lp"
    path.write_bytes(FOUND["nul.lp"][0])
    line = 1 + LP[:LP.index("keep2")].count("\n")
    col = LP.index("keep2") - LP.rfind("\n", 0, LP.index("keep2")) - 1 + 3
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(tmp_path / "o.qir")])
    assert result.stderr.startswith(f"qsel: error: {path}:{line}:{col}: not an LP text file"), result.stderr


COO = "".join(f"{i} {i} {h!r}\n" for i, h in enumerate(PLAIN.linear.tolist())) + "0 1 -3.0\n3 4 -1.25\n4 5 0.001\n"


@given(mutated_lines(COO))
def test_coo_block_line_mutations(tmp_path_factory, data):
    from qsel.targets.dimod_targets import read_coo_file

    path = tmp_path_factory.mktemp("coo") / "m.coo"
    path.write_bytes(data)
    loads_or_refuses(".coo compose", lambda: read_coo_file(path, LABELS), str(path))


@given(mutated_bytes(COO.encode()))
def test_coo_block_byte_mutations(tmp_path_factory, data):
    from qsel.targets.dimod_targets import read_coo_file

    path = tmp_path_factory.mktemp("coo") / "b.coo"
    path.write_bytes(data)
    loads_or_refuses(".coo compose", lambda: read_coo_file(path, LABELS), str(path))
