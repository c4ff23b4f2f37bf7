"""The model-format registry: formats are found by discovery, so a new format is one new file."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from qsel import ir
from qsel.frontend import formats, models
from qsel.frontend.network import Layer, Network


def test_the_built_in_formats_and_their_suffixes():
    reg = formats.registry()
    assert {n: f.suffixes for n, f in reg.items()} == {
        "npz": (".npz",), "sklearn": (".joblib", ".pkl"), "onnx": (".onnx",), "torch": (".pt", ".pth")}
    assert reg["sklearn"].write is None and reg["sklearn"].pickle and not reg["npz"].pickle
    assert sorted(models.suffixes(for_writing=True)) == [".npz", ".onnx", ".pt", ".pth"]
    assert models.model_format("dir/Net.ONNX").name == "onnx"


def write_package(root, name: str, modules: dict[str, str]) -> None:
    pkg = root / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for module, text in modules.items():
        (pkg / f"{module}.py").write_text(textwrap.dedent(text))


TEXT_FORMAT = """
    import json
    import numpy as np
    from qsel.frontend.formats.base import ModelFormat
    from qsel.frontend.network import Layer, Network

    def read(path):
        d = json.loads(open(path).read())
        return Network([Layer("fc1", "dense", np.array(d["w"], dtype=float), np.array(d["b"], dtype=float))],
                       (len(d["w"][0]),))

    def write(network, path):
        layer = network.layers[0]
        open(path, "w").write(json.dumps({"w": layer.weight.tolist(), "b": layer.bias.tolist()}))

    MODEL_FORMAT = ModelFormat("jsonnet", (".jsonnet",), "JSON network", read=read, write=write)
"""


def test_a_new_format_is_one_new_module_in_the_package(tmp_path, monkeypatch):
    write_package(tmp_path, "fmts_one", {"jsonnet": TEXT_FORMAT})
    monkeypatch.syspath_prepend(str(tmp_path))
    found = formats.discover("fmts_one", [str(tmp_path / "fmts_one")])
    assert list(found) == ["jsonnet"]
    # with it in the registry, load_model and save_model use it by suffix, checking the network both ways
    monkeypatch.setattr(models, "registry", lambda: {**formats.registry(), **found})
    net = Network([Layer("fc1", "dense", np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([0.1, 0.2]))], (2,))
    models.save_model(net, tmp_path / "n.jsonnet")
    back = models.load_model(tmp_path / "n.jsonnet")
    assert np.array_equal(back.layers[0].weight, net.layers[0].weight)
    bad = Network([Layer("fc1", "dense", np.array([[np.nan, 1.0]]), np.array([0.0]))], (2,))
    with pytest.raises(ir.QselError, match=r"refusing to write .*n2.jsonnet: layer 'fc1': weight has 1 NaN"):
        models.save_model(bad, tmp_path / "n2.jsonnet")
    assert not (tmp_path / "n2.jsonnet").exists()
    sys.modules.pop("fmts_one.jsonnet", None)


def test_a_module_without_a_declaration_or_a_claimed_suffix_is_refused(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    write_package(tmp_path, "fmts_two", {"plain": "X = 1\n"})
    with pytest.raises(TypeError, match="fmts_two.plain: a model format module must declare MODEL_FORMAT"):
        formats.discover("fmts_two", [str(tmp_path / "fmts_two")])
    clash = TEXT_FORMAT.replace('"jsonnet", (".jsonnet",)', '"other", (".npz",)')
    write_package(tmp_path, "fmts_three", {"a_npz": "from qsel.frontend.formats.npz import MODEL_FORMAT\n",
                                           "b": clash})
    with pytest.raises(ValueError, match=r"suffix \.npz is claimed by the model formats 'npz' and 'other'"):
        formats.discover("fmts_three", [str(tmp_path / "fmts_three")])
