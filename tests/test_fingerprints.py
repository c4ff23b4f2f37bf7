"""Model fingerprints across formats: the same weights saved as .npz (float64), .onnx or .pt (float32) are one
model, so a result made for the .npz applies to its exports; another model's export is still refused; a
result that records the older float64 fingerprint still applies to the model it was made for."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qsel.cli import main
from qsel.frontend.init import init_network
from qsel.frontend.models import load_model, save_model
from qsel.ir.fingerprints import legacy_model_fingerprint, model_fingerprint

FORMATS = [".onnx", pytest.param(".pt", marks=pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                                                  reason="PyTorch is not installed"))]


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """Two 2-12-2 networks with other weights (a, b) as .npz, and a greedy result for a.npz."""
    d = tmp_path_factory.mktemp("fingerprints")
    out = {}
    for name, seed in (("a", 1), ("b", 2)):
        out[name] = d / f"{name}.npz"
        save_model(init_network([2, 12, 2], "tanh", "kaiming-uniform", seed), out[name])
    out["result"] = d / "ra.json"
    r = run("baseline", out["a"], "--data", "moons", "--keep-count", 4, "--method", "greedy", "-o", out["result"])
    assert r.exit_code == 0, r.output
    return out


@pytest.mark.parametrize("suffix", FORMATS)
def test_an_export_keeps_the_fingerprint_of_its_npz(models, tmp_path, suffix):
    a, b = load_model(models["a"]), load_model(models["b"])
    save_model(a, tmp_path / f"a{suffix}")
    exported = load_model(tmp_path / f"a{suffix}")
    assert any(not np.array_equal(x.weight, y.weight) for x, y in zip(a.layers, exported.layers))  # rounded
    assert model_fingerprint(exported) == model_fingerprint(a) != model_fingerprint(b)
    exported.layers[0].weight[0, 0] *= 1 + 1e-6  # a change float32 can hold is another model
    assert model_fingerprint(exported) != model_fingerprint(a)


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_result_for_the_npz_applies_to_its_export_and_not_to_another_models(models, tmp_path, suffix):
    for name in ("a", "b"):
        save_model(load_model(models[name]), tmp_path / f"{name}{suffix}")
    out = tmp_path / "pruned.npz"
    r = run("apply", tmp_path / f"a{suffix}", models["result"], "-o", out)
    assert r.exit_code == 0 and out.exists(), r.output
    assert "warning" not in r.output and "fc1 4/12" in r.output
    out.unlink()
    r = run("apply", tmp_path / f"b{suffix}", models["result"], "-o", out)
    assert r.exit_code == 2 and "another model" in r.output and not out.exists(), r.output


def test_a_result_recording_the_older_float64_fingerprint_still_applies(models, tmp_path):
    a, b = load_model(models["a"]), load_model(models["b"])
    old = legacy_model_fingerprint(a)
    assert old != model_fingerprint(a)
    d = json.loads(models["result"].read_text())
    d["fingerprints"]["model"] = old
    path = tmp_path / "old.json"
    path.write_text(json.dumps(d))
    out = tmp_path / "pruned.npz"
    r = run("apply", models["a"], path, "-o", out)
    assert r.exit_code == 0 and out.exists() and "warning" not in r.output, r.output
    out.unlink()
    r = run("apply", models["b"], path, "-o", out)
    assert r.exit_code == 2 and "another model" in r.output and not out.exists(), r.output
    assert legacy_model_fingerprint(b) != old
