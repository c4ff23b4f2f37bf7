"""Calibration data: built-ins are fixed and deterministic, files load exactly, bad input names the problem."""

from __future__ import annotations

import re
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_moons
from sklearn.model_selection import train_test_split

from qsel import ir
from qsel.frontend.data import BUILTINS, check_compatible, fingerprint, load_dataset
from qsel.frontend.network import Layer, Network

SIZES = {"digits": (1347, 450, 64, 10), "moons": (750, 250, 2, 2), "circles": (750, 250, 2, 2),
         "blobs": (750, 250, 2, 3), "gaussian2d": (750, 250, 2, 2)}


# ----------------------------------------------------------------------------- built-ins

@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_splits_are_fixed_stratified_and_disjoint(name):
    train, test = load_dataset(name, "train"), load_dataset(name, "test")
    n_train, n_test, features, classes = SIZES[name]
    assert train.X.shape == (n_train, features) and test.X.shape == (n_test, features)
    assert train.X.dtype == np.float64 and train.y.dtype == np.int64
    assert train.num_classes == test.num_classes == classes and train.task == "classification"
    assert (train.name, train.split, test.split) == (name, "train", "test")
    # stratified: every class in the same proportion (to one sample) in both splits
    for c in range(classes):
        assert abs(np.mean(train.y == c) - np.mean(test.y == c)) < 2.0 / n_test
    # disjoint: no test sample is also a train sample
    train_rows = {row.tobytes() for row in train.X}
    assert not any(row.tobytes() in train_rows for row in test.X)
    again = load_dataset(name, "train")
    np.testing.assert_array_equal(again.X, train.X)
    assert again.fingerprint == train.fingerprint != test.fingerprint
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", train.fingerprint)


def test_digits_are_sklearn_digits_over_16_with_the_documented_split():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    np.testing.assert_array_equal(train.X, Xtr / 16.0)
    np.testing.assert_array_equal(test.y, yte)
    assert train.standardisation == "x / 16" and 0.0 <= train.X.min() and train.X.max() <= 1.0


def test_standardisation_uses_the_train_split_for_both_splits():
    X, y = make_moons(1000, noise=0.2, random_state=0)
    Xtr, Xte, _, _ = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    mu, sigma = Xtr.mean(0), Xtr.std(0)
    train, test = load_dataset("moons", "train"), load_dataset("moons", "test")
    np.testing.assert_allclose(train.X, (Xtr - mu) / sigma, rtol=0, atol=1e-12)
    np.testing.assert_allclose(test.X, (Xte - mu) / sigma, rtol=0, atol=1e-12)
    np.testing.assert_allclose(train.X.mean(0), 0.0, atol=1e-12)
    assert "train split" in test.standardisation and f"{mu[0]:.6g}" in test.standardisation
    raw = load_dataset("moons", "test", standardise=False)
    np.testing.assert_array_equal(raw.X, Xte)
    assert raw.standardisation == "none" and raw.fingerprint != test.fingerprint


def test_limit_takes_the_first_samples_and_keeps_the_class_count():
    full = load_dataset("digits", "test")
    part = load_dataset("digits", "test", limit=7)
    np.testing.assert_array_equal(part.X, full.X[:7])
    np.testing.assert_array_equal(part.y, full.y[:7])
    assert part.num_classes == 10 and part.fingerprint == fingerprint(full.X[:7], full.y[:7]) != full.fingerprint
    assert len(load_dataset("moons", limit=10_000)) == 750


def test_fingerprint_covers_x_and_y():
    X, y = np.ones((3, 2)), np.array([0, 1, 0])
    assert fingerprint(X, y) != fingerprint(X, None) != fingerprint(np.nextafter(X, 2.0), None)
    assert fingerprint(X, y) != fingerprint(X, np.array([0, 1, 1]))


# ----------------------------------------------------------------------------- files

def test_npy_npz_csv_files_load_exactly_and_whole_for_either_split(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 4, size=20)
    np.save(tmp_path / "x.npy", X)
    np.savez(tmp_path / "xy.npz", X=X, y=y)
    lines = ["a,label,b,c"] + [f"{r[0]},{lab},{r[1]},{r[2]}" for r, lab in zip(X.tolist(), y)]
    (tmp_path / "xy.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "x.csv").write_text("\n".join(",".join(repr(v) for v in r) for r in X.tolist()) + "\n")
    npy = load_dataset(str(tmp_path / "x.npy"))
    np.testing.assert_array_equal(npy.X, X)
    assert npy.y is None and npy.num_classes is None and npy.standardisation == "none"
    for name in ("xy.npz", "xy.csv"):
        for split in ("train", "test"):
            d = load_dataset(str(tmp_path / name), split)
            np.testing.assert_array_equal(d.X, X)
            np.testing.assert_array_equal(d.y, y)
            assert d.task == "classification" and d.num_classes == int(y.max()) + 1
    np.testing.assert_array_equal(load_dataset(str(tmp_path / "x.csv")).X, X)
    assert load_dataset(str(tmp_path / "x.csv")).y is None
    std = load_dataset(str(tmp_path / "x.npy"), standardise=True)
    np.testing.assert_allclose(std.X, (X - X.mean(0)) / X.std(0), atol=1e-12)


def test_float_labels_make_a_regression_set_and_images_keep_their_shape(tmp_path):
    X = np.arange(24.0).reshape(2, 1, 3, 4)
    np.savez(tmp_path / "r.npz", X=X, y=np.array([0.5, 1.25]))
    d = load_dataset(str(tmp_path / "r.npz"))
    assert d.task == "regression" and d.num_classes is None and d.X.shape == (2, 1, 3, 4) and d.num_features == 12


def _message(spec, **kw) -> str:
    with pytest.raises(ir.QselError) as exc:
        load_dataset(spec, **kw)
    return str(exc.value)


def test_unknown_dataset_lists_the_builtins():
    msg = _message("mnist")
    assert "unknown dataset 'mnist'" in msg and all(name in msg for name in BUILTINS)
    assert "unknown split" in _message("digits", split="validation")
    assert "at least 1" in _message("digits", limit=0)


def test_bad_files_name_the_file_and_the_problem(tmp_path):
    assert _message(str(tmp_path / "none.npy")).endswith("none.npy: no such file")
    (tmp_path / "d.txt").write_text("1,2\n")
    assert _message(str(tmp_path / "d.txt")).endswith("d.txt: unsupported data file type '.txt' (use .npy, .npz, .csv)")
    np.savez(tmp_path / "good.npz", X=np.ones((4, 2)))
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    assert "cut.npz" in _message(str(tmp_path / "cut.npz")) and "truncated or corrupt" in _message(
        str(tmp_path / "cut.npz"))
    (tmp_path / "text.npz").write_text("hello")
    assert "not an .npz archive" in _message(str(tmp_path / "text.npz"))
    np.save(tmp_path / "cut.npy", np.ones((50, 4)))
    raw = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:200])
    assert "cut.npy: unreadable .npy file" in _message(str(tmp_path / "cut.npy"))
    np.savez(tmp_path / "nox.npz", data=np.ones((2, 2)), y=np.zeros(2))
    msg = _message(str(tmp_path / "nox.npz"))
    assert "nox.npz: no array named 'X'" in msg and "data" in msg
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "obj.npy" in _message(str(tmp_path / "obj.npy"))
    np.save(tmp_path / "flat.npy", np.ones(5))
    assert "at least 2-D" in _message(str(tmp_path / "flat.npy"))
    np.save(tmp_path / "empty.npy", np.ones((0, 3)))
    assert "empty batch" in _message(str(tmp_path / "empty.npy"))
    np.savez(tmp_path / "short.npz", X=np.ones((3, 2)), y=np.zeros(2))
    assert "X has 3 samples but y has 2" in _message(str(tmp_path / "short.npz"))
    with zipfile.ZipFile(tmp_path / "good.npz", "a") as z:  # a member that is not a valid .npy
        z.writestr("y.npy", b"garbage")
    assert "good.npz" in _message(str(tmp_path / "good.npz"))


def test_non_finite_values_are_located(tmp_path):
    X = np.zeros((5, 4))
    X[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", X)
    msg = _message(str(tmp_path / "nan.npy"))
    assert "nan.npy" in msg and "row 3, column 2" in msg
    (tmp_path / "inf.csv").write_text("a,b,y\n1,2,0\n3,inf,1\n")
    assert _message(str(tmp_path / "inf.csv")).endswith("inf.csv:3: inf in column 'b'; the data must be finite")


def test_csv_errors_give_file_and_line(tmp_path):
    (tmp_path / "bad.csv").write_text("x1,x2,label\n1,2,0\n3,four,1\n")
    assert _message(str(tmp_path / "bad.csv")).endswith("bad.csv:3: not a number: 'four' (column 'x2')")
    (tmp_path / "ragged.csv").write_text("1,2\n3,4\n5\n")
    assert _message(str(tmp_path / "ragged.csv")).endswith("ragged.csv:3: expected 2 cells, found 1")
    (tmp_path / "empty.csv").write_text("\n\n")
    assert "empty.csv: empty file" in _message(str(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("a,b\n")
    assert "header.csv: empty batch" in _message(str(tmp_path / "header.csv"))
    (tmp_path / "neg.csv").write_text("a,y\n1,-1\n")
    assert "class labels must be >= 0" in _message(str(tmp_path / "neg.csv"))


# ----------------------------------------------------------------------------- compatibility

def _dense(n_in: int, n_out: int = 10) -> Network:
    return Network([Layer("fc1", "dense", np.zeros((n_out, n_in)), np.zeros(n_out))], (n_in,))


def test_check_compatible_names_both_sizes():
    moons = load_dataset("moons")
    with pytest.raises(ir.QselError, match=r"expects inputs of shape \(64,\) \(64 features\) but the data has 2"):
        check_compatible(_dense(64), moons)
    with pytest.raises(ir.QselError, match="labels go up to 9 but the network has only 3"):
        check_compatible(_dense(64, 3), load_dataset("digits", "test"))
    assert check_compatible(_dense(2, 2), moons) is moons


def test_check_compatible_reshapes_flat_images_for_a_conv_network():
    conv = Network([Layer("conv1", "conv2d", np.zeros((2, 1, 3, 3)), np.zeros(2)),
                    Layer("fc1", "dense", np.zeros((10, 72)), np.zeros(10), flatten_input=True)], (1, 8, 8))
    d = load_dataset("digits", "test", limit=5)
    before = d.fingerprint
    flat = d.X.copy()
    shaped = check_compatible(conv, d)
    assert shaped.X.shape == (5, 1, 8, 8) and shaped.fingerprint == before == fingerprint(shaped.X, shaped.y)
    assert d.X.shape == (5, 64)  # the caller's dataset is left as it was
    np.testing.assert_array_equal(shaped.X.reshape(5, -1), flat)
    assert conv.forward(shaped.X).shape == (5, 10)
