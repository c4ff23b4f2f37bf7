"""Hostile manifest.json, result.json, sample sets, cross_terms.npz and model files, through the CLI.

Seeds (tests/fixtures/fuzz/, made by the commands in its README) are what qsel wrote for a 64-12-10 MLP:
``m.npz`` (model), ``l.qir`` (compiled layer), ``r.json`` (``qsel solve`` result), ``p.onnx`` (``qsel
apply`` output) and ``emit/`` (``qsel emit -t dimod-bqm`` in three blocks, with dimod sample sets).
Each test damages one of them and runs the command a user would: ``compose`` for the emit folder,
``apply`` for results and models. Every run must exit 0, or 2 with one ``qsel: error:`` line naming the
damaged file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies import cli_loads_or_refuses, loads_or_refuses, mutated_bytes, mutated_json

SEEDS = Path(__file__).parent / "fixtures" / "fuzz"
MANIFEST = json.loads((SEEDS / "emit" / "manifest.json").read_text())
RESULT = json.loads((SEEDS / "r.json").read_text())
SAMPLES = json.loads((SEEDS / "emit" / "b0.samples.json").read_text())


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A private copy of the seeds (the tests write damaged files next to them)."""
    folder = tmp_path_factory.mktemp("fuzz-docs")
    shutil.copytree(SEEDS, folder, dirs_exist_ok=True)
    return folder


def _compose(work: Path, manifest: Path, samples: list[Path], reader: str) -> int:
    """``qsel compose``; an error may name any of its inputs (a damaged manifest can show up as a sample set
    that no longer fits its block), all of which lie under ``work``."""
    args = ["compose", str(manifest), *map(str, samples), "-o", str(work / "composed.json"), "--ir", str(work / "l.qir")]
    return cli_loads_or_refuses(reader, args, str(work))


def _samples(work: Path) -> list[Path]:
    return sorted((work / "emit").glob("b*.samples.json"))


def test_seeds_are_accepted(work):
    assert _compose(work, work / "emit" / "manifest.json", _samples(work), "seed") == 0
    args = ["apply", str(work / "m.npz"), str(work / "r.json"), "-o", str(work / "p2.npz")]
    assert cli_loads_or_refuses("seed", args, "") == 0


@given(st.data())
def test_manifest_field_mutations(work, data):
    path = work / "emit" / "fuzz-manifest.json"
    path.write_text(json.dumps(data.draw(mutated_json(MANIFEST))))
    _compose(work, path, _samples(work), "manifest.json fields")


@given(mutated_bytes(json.dumps(MANIFEST, indent=1).encode()))
def test_manifest_byte_mutations(work, data):
    path = work / "emit" / "fuzz-manifest.json"
    path.write_bytes(data)
    _compose(work, path, _samples(work), "manifest.json bytes")


@given(st.data())
def test_sampleset_field_mutations(work, data):
    path = work / "emit" / "fuzz.samples.json"
    path.write_text(json.dumps(data.draw(mutated_json(SAMPLES))))
    samples = [path, *_samples(work)[1:]]
    _compose(work, work / "emit" / "manifest.json", samples, "sample set fields")


@given(mutated_bytes((SEEDS / "emit" / "cross_terms.npz").read_bytes()))
def test_cross_terms_byte_mutations(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("cross")
    shutil.copytree(SEEDS, folder, dirs_exist_ok=True)
    (folder / "emit" / "cross_terms.npz").write_bytes(data)
    _compose(folder, folder / "emit" / "manifest.json", _samples(folder), "cross_terms.npz bytes")


@given(st.data())
def test_result_field_mutations(work, data):
    path = work / "fuzz-result.json"
    path.write_text(json.dumps(data.draw(mutated_json(RESULT))))
    args = ["apply", str(work / "m.npz"), str(path), "-o", str(work / "pruned.npz")]
    cli_loads_or_refuses("result.json fields", args, str(work))


@given(mutated_bytes((SEEDS / "r.json").read_bytes()))
def test_result_byte_mutations(work, data):
    path = work / "fuzz-result.json"
    path.write_bytes(data)
    args = ["apply", str(work / "m.npz"), str(path), "-o", str(work / "pruned.npz")]
    cli_loads_or_refuses("result.json bytes", args, str(work))


@given(mutated_bytes((SEEDS / "m.npz").read_bytes()))
def test_npz_model_byte_mutations(work, data):
    path = work / "fuzz-model.npz"
    path.write_bytes(data)
    args = ["apply", str(path), str(work / "r.json"), "-o", str(work / "pruned.npz"), "--force"]
    cli_loads_or_refuses("model .npz bytes", args, str(work))


@given(mutated_bytes((SEEDS / "p.onnx").read_bytes()))
def test_onnx_model_byte_mutations(work, data):
    pytest.importorskip("onnx")
    from qsel.frontend.models import load_model

    path = work / "fuzz-model.onnx"
    path.write_bytes(data)
    loads_or_refuses("model .onnx bytes", lambda: load_model(path), str(path))
