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
from hypothesis import given

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


def test_seeds_import(tmp_path):
    for name, data in (("a.qubo", QUBO.encode()), ("a.lp", LP.encode()), ("a.bqm", BQM), ("s.bqm", SPIN_BQM)):
        assert _import(tmp_path, name, data, "seed") == 0, name


@given(mutated_lines(QUBO))
def test_qubo_line_mutations(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("qubo")
    _import(folder, "m.qubo", data, ".qubo import")
    path = folder / "m.qubo"
    loads_or_refuses(".qubo compose", lambda: read_qubo_file(path, LABELS), str(path))


@given(mutated_bytes(QUBO.encode()))
def test_qubo_byte_mutations(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("qubo")
    _import(folder, "b.qubo", data, ".qubo import")
    path = folder / "b.qubo"
    loads_or_refuses(".qubo compose", lambda: read_qubo_file(path, LABELS), str(path))


@given(mutated_lines(LP))
def test_lp_line_mutations(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("lp")
    _import(folder, "m.lp", data, ".lp import")
    path = folder / "m.lp"
    loads_or_refuses(".lp compose", lambda: read_lp_file(path, LABELS, LP_NAMES), str(path))


@given(mutated_bytes(LP.encode()))
def test_lp_byte_mutations(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("lp")
    _import(folder, "b.lp", data, ".lp import")
    path = folder / "b.lp"
    loads_or_refuses(".lp compose", lambda: read_lp_file(path, LABELS, LP_NAMES), str(path))


@given(mutated_bytes(BQM))
def test_bqm_byte_mutations(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("bqm")
    _import(folder, "b.bqm", data, ".bqm import")
    path = folder / "b.bqm"
    loads_or_refuses(".bqm compose", lambda: read_bqm_file(path, LABELS), str(path))


@given(mutated_bytes(SPIN_BQM))
def test_spin_bqm_byte_mutations(tmp_path_factory, data):
    _import(tmp_path_factory.mktemp("bqm"), "s.bqm", data, ".bqm import")
