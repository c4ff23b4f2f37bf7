"""qsel init / qsel train: the files they write, what they print, and how they fail (exit 2, no traceback)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from qsel.cli import main
from qsel.frontend.init import init_network
from qsel.frontend.models import load_model


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def qsel(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qsel.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_init_writes_the_seeded_network(tmp_path):
    out = tmp_path / "net.npz"
    r = run("init", "--sizes", "64,32,10", "--act", "tanh", "--init", "xavier-uniform", "--seed", "3", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert "net.npz" in r.stderr and "2,410 parameters" in r.stderr
    net, ref = load_model(out), init_network([64, 32, 10], "tanh", "xavier-uniform", 3)
    assert net.names == ref.names and [la.activation for la in net.layers] == ["tanh", "identity"]
    for a, b in zip(net.layers, ref.layers):
        np.testing.assert_array_equal(a.weight, b.weight)
    assert net.metadata["trained"] is False


@pytest.mark.slow
def test_train_prints_train_and_test_accuracy_and_writes_each_format(tmp_path):
    net = tmp_path / "net.npz"
    assert run("init", "--sizes", "64,64,10", "-o", str(net)).exit_code == 0
    r = run("train", str(net), "--data", "digits", "-o", str(tmp_path / "t.npz"), "--epochs", "15", "--seed", "1")
    assert r.exit_code == 0, r.output
    assert "15 epochs on digits (1347 samples): train accuracy" in r.stdout
    test_acc = float(r.stdout.split("test accuracy ")[1].split()[0])
    assert test_acc >= 0.93 and "(digits test, 450 samples)" in r.stdout
    trained = load_model(tmp_path / "t.npz")
    assert trained.metadata["trained"] is True and trained.metadata["training"]["seed"] == 1
    for suffix in (".onnx", ".pt"):
        if suffix == ".pt":
            pytest.importorskip("torch")
        r = run("train", str(net), "--data", "digits", "--samples", "200", "-o", str(tmp_path / f"t{suffix}"),
                "--epochs", "2")
        assert r.exit_code == 0, r.output
        assert "(200 samples)" in r.stdout and load_model(tmp_path / f"t{suffix}").names == ["fc1", "fc2"]


def test_train_on_a_file_without_a_test_split(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    np.savez(tmp_path / "d.npz", X=X, y=(X[:, 0] > 0).astype(int))
    assert run("init", "--sizes", "3,8,2", "-o", str(tmp_path / "n.npz")).exit_code == 0
    r = run("train", str(tmp_path / "n.npz"), "--data", str(tmp_path / "d.npz"), "-o", str(tmp_path / "o.npz"),
            "--epochs", "3")
    assert r.exit_code == 0, r.output
    assert "train accuracy" in r.stdout and "test accuracy" not in r.stdout
    r = run("train", str(tmp_path / "n.npz"), "--data", str(tmp_path / "d.npz"), "--eval-data", str(tmp_path / "d.npz"),
            "-o", str(tmp_path / "o.npz"), "--epochs", "3")
    assert "test accuracy" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["init", "--sizes", "64", "-o", "{d}/o.npz"], "--sizes needs at least two sizes"),
    (["init", "--sizes", "64,x", "-o", "{d}/o.npz"], "--sizes: expected comma-separated integers"),
    (["init", "--sizes", "4,2", "--act", "gelu", "-o", "{d}/o.npz"], "unknown activation 'gelu' (choices:"),
    (["init", "--sizes", "4,2", "--init", "he", "-o", "{d}/o.npz"], "unknown init 'he' (choices:"),
    (["init", "--sizes", "4,2", "-o", "{d}/o.h5"], "unknown model file type '.h5'; qsel can write .npz, .onnx"),
    (["train", "{d}/missing.npz", "--data", "digits", "-o", "{d}/o.npz"], "missing.npz: no such file"),
    (["train", "{d}/net.npz", "--data", "moons", "-o", "{d}/o.npz"],
     "moons: the network expects inputs of shape (64,) (64 features) but the data has 2"),
    (["train", "{d}/net.npz", "--data", "mnist", "-o", "{d}/o.npz"], "unknown dataset 'mnist'"),
    (["train", "{d}/net.npz", "--data", "digits", "--lr", "0", "-o", "{d}/o.npz"], "--lr must be"),
    (["train", "{d}/net.npz", "--data", "digits", "-o", "{d}/o.joblib"], "does not write scikit-learn files"),
    (["train", "{d}/clf.joblib", "--data", "digits", "-o", "{d}/o.npz"], "pass --trust-pickle"),
])
def test_user_errors_exit_2_with_one_line_and_write_nothing(tmp_path, args, message):
    import joblib
    from sklearn.neural_network import MLPClassifier

    assert run("init", "--sizes", "64,16,10", "-o", str(tmp_path / "net.npz")).exit_code == 0
    joblib.dump(MLPClassifier(), tmp_path / "clf.joblib")
    (tmp_path / "o.npz").write_bytes(b"precious")
    r = run(*[a.format(d=tmp_path) for a in args])
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("qsel: error: ") and message in r.stderr and "Traceback" not in r.output
    assert (tmp_path / "o.npz").read_bytes() == b"precious"
    assert {p.name for p in tmp_path.iterdir()} == {"net.npz", "clf.joblib", "o.npz"}  # no output, no temp file


def test_real_entry_point_exits_2_without_traceback(tmp_path):
    p = qsel("train", str(tmp_path / "nope.npz"), "--data", "digits", "-o", str(tmp_path / "o.npz"))
    assert p.returncode == 2
    assert p.stderr.startswith("qsel: error: ") and "nope.npz: no such file" in p.stderr
    assert "Traceback" not in p.stderr + p.stdout and not (tmp_path / "o.npz").exists()
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n")
    p = qsel("init", "--sizes", "2,4,2", "-o", str(tmp_path / "n.npz"))
    assert p.returncode == 0, p.stderr
    p = qsel("train", str(tmp_path / "n.npz"), "--data", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "o.npz"))
    assert p.returncode == 2 and "bad.csv:2: not a number: 'x' (column 'b')" in p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "o.npz").exists()
