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


def _compose(work: Path, manifest: Path, samples: list[Path], reader: str, with_ir: bool = True) -> int:
    """``qsel compose``; an error may name any of its inputs (a damaged manifest can show up as a sample set
    that no longer fits its block), all of which lie under ``work``. Without ``--ir`` compose reads the
    block files and cross_terms.npz for the energy."""
    args = ["compose", str(manifest), *map(str, samples), "-o", str(work / "composed.json")]
    args += ["--ir", str(work / "l.qir")] if with_ir else []
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


@given(st.sampled_from(["b0.bqm", "b1.bqm", "b2.bqm"]), st.data())
def test_block_file_byte_mutations(tmp_path_factory, name, data):
    """compose without --ir reads the block files back for their energies (through BLOCK_READERS)."""
    folder = tmp_path_factory.mktemp("blocks")
    shutil.copytree(SEEDS, folder, dirs_exist_ok=True)
    seed = (SEEDS / "emit" / name).read_bytes()
    (folder / "emit" / name).write_bytes(data.draw(mutated_bytes(seed)))
    _compose(folder, folder / "emit" / "manifest.json", _samples(folder), "block file bytes", with_ir=False)


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
    _compose(folder, folder / "emit" / "manifest.json", _samples(folder), "cross_terms.npz bytes", with_ir=False)


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


def test_cross_terms_zip_bomb_is_refused_before_it_inflates(tmp_path):
    """A 64 MB array of zeros deflates to ~64 KB; the manifest declares 45 cross terms (about 1 KB)."""
    import io
    import zipfile

    import numpy as np

    shutil.copytree(SEEDS, tmp_path, dirs_exist_ok=True)
    with zipfile.ZipFile(tmp_path / "emit" / "cross_terms.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("vals.npy", "w", force_zip64=True) as fh:
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (1 << 23,)})
            fh.write(header.getvalue())
            for _ in range(16):
                fh.write(b"\0" * (1 << 22))
    assert (tmp_path / "emit" / "cross_terms.npz").stat().st_size < 1 << 20
    args = ["compose", str(tmp_path / "emit"), *map(str, _samples(tmp_path)), "-o", str(tmp_path / "c.json")]
    assert cli_loads_or_refuses("found", args, str(tmp_path / "emit" / "cross_terms.npz")) == 2
    assert not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("field,value", [("assignment", None), ("broken_constraints", None), ("energy", "low"),
                                         ("feasible", 3), ("solver", [])])
def test_result_fields_of_the_wrong_type_are_refused(work, field, value):
    """Found by the fuzz: ``"assignment": null`` and ``"broken_constraints": null`` were TypeError tracebacks."""
    path = work / "typed-result.json"
    path.write_text(json.dumps(dict(RESULT, **{field: value})))
    args = ["apply", str(work / "m.npz"), str(path), "-o", str(work / "pruned.npz")]
    assert cli_loads_or_refuses("found", args, str(path)) == 2


def test_onnx_metadata_that_is_not_utf8_is_ignored_like_bad_json(work):
    """Found by the fuzz: protobuf hands a non-UTF-8 string property over as bytes; json.loads raised
    UnicodeDecodeError. The metadata is optional, so the model loads without it."""
    pytest.importorskip("onnx")
    from qsel.frontend.models import load_model

    seed = (SEEDS / "p.onnx").read_bytes()
    at = seed.index(b'{"pruned"')
    path = work / "latin1-meta.onnx"
    path.write_bytes(seed[:at] + b"\xff" + seed[at + 1:])
    network = loads_or_refuses("found", lambda: load_model(path), str(path))
    assert not isinstance(network, Exception) and [layer.name for layer in network.layers] == ["fc1", "fc2"]


def test_onnx_tensor_of_undefined_type_is_refused(work):
    """Found by the fuzz: an initializer whose element type is UNDEFINED raised TypeError inside onnx."""
    onnx = pytest.importorskip("onnx")
    from qsel.frontend.models import load_model

    model = onnx.load(str(SEEDS / "p.onnx"))
    model.graph.initializer[0].data_type = 0
    path = work / "undefined.onnx"
    path.write_bytes(model.SerializeToString())
    err = loads_or_refuses("found", lambda: load_model(path), str(path))
    assert "is damaged" in str(err)


@pytest.mark.parametrize("location", ["../../../etc/hostname", "/etc/hostname"])
def test_onnx_external_data_outside_the_model_folder_is_refused(work, location):
    """An ONNX tensor stored as external data names a file to read; one outside the model's folder is refused
    (onnx checks this itself on load) before any byte of it is read."""
    onnx = pytest.importorskip("onnx")
    from qsel.frontend.models import load_model

    model = onnx.load(str(SEEDS / "p.onnx"))
    t = model.graph.initializer[1]
    t.ClearField("raw_data")
    t.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "24")):
        entry = t.external_data.add()
        entry.key, entry.value = key, value
    path = work / "external.onnx"
    path.write_bytes(model.SerializeToString())
    err = loads_or_refuses("found", lambda: load_model(path), str(path))
    assert isinstance(err, Exception) and ("outside the directory" in str(err) or "absolute path" in str(err))


@pytest.mark.parametrize("name", ["b0\x00.bqm", "b0\n.bqm", "\u202e\x00"])
def test_manifest_file_name_with_control_characters_is_refused(work, name):
    """Found by the long fuzz run: a NUL byte in a block's file name raised ValueError in path resolution."""
    doc = json.loads(json.dumps(MANIFEST))
    doc["blocks"][0]["file"] = name
    path = work / "emit" / "nul-manifest.json"
    path.write_text(json.dumps(doc))
    assert _compose(work, path, _samples(work), "found") == 2


def test_onnx_node_name_that_is_not_utf8_is_refused(work):
    """Found by the long fuzz run: protobuf hands a non-UTF-8 node name over as bytes (TypeError later)."""
    pytest.importorskip("onnx")
    from qsel.frontend.models import load_model

    seed = (SEEDS / "p.onnx").read_bytes()
    at = seed.index(b"\x1a\x03fc1") + 2
    path = work / "bytes-name.onnx"
    path.write_bytes(seed[:at] + b"\xff" + seed[at + 1:])
    err = loads_or_refuses("found", lambda: load_model(path), str(path))
    assert "not UTF-8" in str(err)


def test_block_file_whose_energies_overflow_is_refused(tmp_path):
    """Found by the long fuzz run: two biases of 1e308 in a block file made an infinite energy, and the
    energy histogram raised ValueError. compose verifies each block it reads and bounds sum |coefficients|."""
    import dimod

    shutil.copytree(SEEDS, tmp_path, dirs_exist_ok=True)
    entry = MANIFEST["blocks"][2]
    bqm = dimod.BinaryQuadraticModel({lab: 1e308 for lab in entry["labels"]}, {}, 0.0, "BINARY")
    (tmp_path / "emit" / entry["file"]).write_bytes(bqm.to_file().read())
    args = ["compose", str(tmp_path / "emit"), *map(str, _samples(tmp_path)), "-o", str(tmp_path / "c.json")]
    assert cli_loads_or_refuses("found", args, entry["file"]) == 2


def test_cross_file_name_with_a_nul_byte_is_refused(work):
    doc = json.loads(json.dumps(MANIFEST))
    doc["energy"]["cross_file"] = "cross\x00.npz"
    path = work / "emit" / "nul-cross.json"
    path.write_text(json.dumps(doc))
    assert _compose(work, path, _samples(work), "found") == 2


def test_sampleset_with_a_structured_energy_vector_is_refused(work):
    """Found by the long fuzz run: ``"data_type": []`` makes dimod build an empty record dtype for the
    energies, and casting it raised TypeError in compose."""
    doc = json.loads(json.dumps(SAMPLES))
    doc["vectors"]["energy"]["data_type"] = []
    path = work / "emit" / "record.samples.json"
    path.write_text(json.dumps(doc))
    assert _compose(work, work / "emit" / "manifest.json", [path, *_samples(work)[1:]], "found") == 2
