"""Calibration batches read in chunks: the same IR as the in-memory compile, with memory set by the chunk.

No cluster here: streaming must work in one process (qsel compile --chunk N)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main
from qsel.frontend import lowering
from qsel.frontend.compile import CompileOptions, compile_network
from qsel.frontend.data import Dataset, fingerprint, load_dataset, stream_dataset
from qsel.frontend.init import init_network
from qsel.frontend.models import save_model
from qsel.scaleout.compile import compile_streamed
from strategies import scale_of

EPS = np.finfo(np.float64).eps


def _terms_tol(t: lowering.Terms, m: int) -> float:
    """Rounding of sums over m samples and n terms grows with m + n times the size of the terms."""
    return 8 * (m + t.Q.shape[0]) * EPS * max(1.0, float(np.abs(t.Q).max()), float(np.abs(t.r).max()), abs(t.const))


@pytest.mark.parametrize("chunk", [1, 7, 64, 500])
def test_chunk_sums_give_the_reconstruct_terms(chunk):
    rng = np.random.default_rng(chunk)
    m, n, k = 500, 30, 6
    A, W = rng.normal(size=(m, n)), rng.normal(size=(k, n))
    want = lowering.neuron_terms(A, W)
    sums = lowering.ChunkSums.zeros(n)
    for s in range(0, m, chunk):
        sums.add(A[s:s + chunk])
    got = sums.terms(W)
    tol = _terms_tol(want, m)
    np.testing.assert_allclose(got.Q, want.Q, rtol=0, atol=tol)
    np.testing.assert_allclose(got.r, want.r, rtol=0, atol=tol)
    assert got.const == pytest.approx(want.const, rel=0, abs=tol * n * n)


@pytest.mark.parametrize("aligned", [True, False])
def test_chunk_sums_give_the_fit_terms_and_scale(aligned):
    """T = c Y - b from sums of A^T Y, ||Y||^2 and A^T 1; c as fit_target_scale, also when it falls back
    to the dense output's RMS (labels anti-aligned with every unit: c <= 0)."""
    rng = np.random.default_rng(3)
    m, n, k = 400, 25, 4
    A = np.abs(rng.normal(size=(m, n)))
    W = np.abs(rng.normal(size=(k, n))) * (1 if aligned else -1)
    b = rng.normal(size=k)
    Y = np.eye(k)[rng.integers(0, k, m)]
    c = lowering.fit_target_scale(A, W, b, Y, 10)
    want = lowering.neuron_terms(A, W, c * Y - b)
    sums = lowering.ChunkSums.zeros(n, k)
    for s in range(0, m, 33):
        sums.add(A[s:s + 33], Y[s:s + 33])
    got, c_got = sums.fit_terms(W, b, 10)
    assert c_got == pytest.approx(c, rel=1e-12)
    tol = _terms_tol(want, m)
    np.testing.assert_allclose(got.Q, want.Q, rtol=0, atol=tol)
    np.testing.assert_allclose(got.r, want.r, rtol=0, atol=tol)
    assert got.const == pytest.approx(want.const, rel=1e-12)


def test_tiled_gram_accumulation_matches_one_product():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(90, 50))
    G = np.zeros((50, 50))
    lowering.gram_add(G, A[:40], tile=16)
    lowering.gram_add(G, A[40:], tile=16)
    lowering.mirror_upper(G, tile=16)
    np.testing.assert_allclose(G, A.T @ A, rtol=0, atol=1e-12 * np.abs(A).max() ** 2 * 90)
    W = rng.normal(size=(5, 50))
    Q = G.copy()
    lowering.hadamard_gram(Q, W, tile=16)
    np.testing.assert_allclose(Q, G * (W.T @ W), rtol=1e-13, atol=1e-12)


@pytest.fixture
def model_and_batch(tmp_path: Path):
    net = init_network([12, 40, 30, 5], seed=4)
    path = tmp_path / "net.npz"
    save_model(net, path)
    X = np.random.default_rng(1).normal(size=(1000, 12)).astype(np.float32)
    np.save(tmp_path / "batch.npy", X)
    return net, path, tmp_path / "batch.npy", X


def test_stream_dataset_memory_maps_and_fingerprints_like_load(model_and_batch):
    _, _, npy, X = model_and_batch
    whole = load_dataset(str(npy))
    streamed = stream_dataset(str(npy), 64)
    assert isinstance(streamed.X, np.memmap)  # stays on disk
    assert streamed.fingerprint == whole.fingerprint == fingerprint(X.astype(np.float64), None)
    assert len(streamed.chunks) == -(-1000 // 64)
    again = np.concatenate([c for _, _, c in streamed.chunks])
    np.testing.assert_array_equal(again, X.astype(np.float64))
    limited = stream_dataset(str(npy), 64, limit=100)
    assert len(limited) == 100 and limited.fingerprint == load_dataset(str(npy), limit=100).fingerprint


def test_stream_dataset_names_the_first_bad_row(tmp_path: Path):
    X = np.ones((50, 3))
    X[37, 2] = np.nan
    np.save(tmp_path / "bad.npy", X)
    with pytest.raises(ir.QselError, match=r"row 37"):
        stream_dataset(str(tmp_path / "bad.npy"), 8)


@pytest.mark.parametrize("objective", ["reconstruct", "fit"])
def test_streamed_compile_equals_in_memory_compile(objective):
    net = init_network([10, 35, 25, 4], seed=2)
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(700, 10)), rng.integers(0, 4, 700)
    options = CompileOptions(objective=objective, keep=0.4)
    want = compile_network(net, X, y, options)
    ds = Dataset(X, y, "x", "train", "classification", fingerprint(X, y), "none", 4)
    got = compile_streamed(net, ds, options, chunk=64)
    assert got.labels == want.labels
    assert [c.rhs for c in got.constraints] == [c.rhs for c in want.constraints]
    S = rng.integers(0, 2, size=(50, want.num_vars))
    np.testing.assert_allclose(got.energies(S), want.energies(S), rtol=0, atol=1e-12 * scale_of(want))
    for name, info in want.metadata["layers"].items():
        assert got.metadata["layers"][name]["objective"] == info["objective"]
        assert got.metadata["layers"][name]["target_scale"] == pytest.approx(info["target_scale"], rel=1e-12) \
            if info["target_scale"] else got.metadata["layers"][name]["target_scale"] is None


@pytest.mark.parametrize("objective", ["reconstruct", "fit"])
def test_one_chunk_lowering_is_the_in_memory_compile_bit_for_bit(objective):
    """What select --cluster lowers on the workers (the whole batch as one chunk) is the in-memory IR itself,
    not just equal to rounding: masks and energies then match exactly with and without a cluster."""
    net = init_network([64, 256, 10], seed=3)
    data = load_dataset("digits", "train")
    options = CompileOptions(objective=objective, keep=0.25)
    want = compile_network(net, data.X, data.y, options)
    got = compile_streamed(net, data, options, chunk=len(data))
    S = np.random.default_rng(0).integers(0, 2, size=(64, want.num_vars))
    assert np.array_equal(got.energies(S), want.energies(S)) and np.array_equal(got.linear, want.linear)
    assert got.offset == want.offset and got.metadata["layers"] == want.metadata["layers"]


def test_cli_compile_chunk_gives_the_same_ir(model_and_batch, tmp_path: Path):
    _, model, npy, _ = model_and_batch
    runner = CliRunner()
    a, b = tmp_path / "a.qirz", tmp_path / "b.qirz"
    common = ["compile", str(model), "--data", str(npy), "--objective", "reconstruct", "--keep", "0.5"]
    assert runner.invoke(main, [*common, "-o", str(a)]).exit_code == 0
    r = runner.invoke(main, [*common, "--chunk", "100", "-o", str(b)])
    assert r.exit_code == 0, r.output
    pa, pb = ir.load(a), ir.load(b)
    S = np.random.default_rng(0).integers(0, 2, size=(40, pa.num_vars))
    np.testing.assert_allclose(pb.energies(S), pa.energies(S), rtol=1e-9, atol=0)
    assert pb.metadata["calibration"]["fingerprint"] == pa.metadata["calibration"]["fingerprint"]
    assert pb.metadata["calibration"]["chunk"] == 100


@pytest.mark.parametrize("extra, what", [(["--granularity", "edge"], "--granularity edge"),
                                         (["--schedule", "sequential", "--solver", "greedy"], "--schedule"),
                                         (["--chunk", "0"], "--chunk must be at least 1")])
def test_cli_chunk_refuses_what_it_does_not_stream(model_and_batch, tmp_path: Path, extra, what):
    _, model, npy, _ = model_and_batch
    out = tmp_path / "x.qirz"
    args = ["compile", str(model), "--data", str(npy), "--keep", "0.5", "-o", str(out)]
    r = CliRunner().invoke(main, [*args, *(extra if "--chunk" in extra else [*extra, "--chunk", "10"])])
    assert r.exit_code == 2
    assert r.output.startswith("qsel: error:") and what in r.output and r.output.count("\n") == 1
    assert not out.exists()


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_follows_the_chunk_not_the_batch(tmp_path: Path):
    """Lowering a layer from a batch 10x its chunk needs about what one chunk in memory needs."""
    from qsel.scaleout.compile import layer_tasks
    from qsel.scaleout.lower import lower_layer

    net = init_network([64, 300, 10], seed=0)
    X = np.random.default_rng(0).normal(size=(20_000, 64))
    np.save(tmp_path / "big.npy", X)
    options = CompileOptions(objective="reconstruct", keep=0.5)
    one = Dataset(X[:2000], None, "x", "train", "classification", "f", "none", None)
    streamed = stream_dataset(str(tmp_path / "big.npy"), 2000)
    del X
    in_memory = _peak(lambda: compile_network(net, one.X, None, options))
    tasks, _ = layer_tasks(net, streamed, options)
    chunked = _peak(lambda: lower_layer(tasks[0]))
    assert chunked <= 1.5 * in_memory


def test_zarr_store_streams_with_labels_and_compiles_like_in_memory(tmp_path: Path):
    """A Zarr store with X and y: read chunk by chunk (fit objective, labels whole), same fingerprint and IR
    as the arrays in memory."""
    zarr = pytest.importorskip("zarr")
    net = init_network([10, 30, 4], seed=6)
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(600, 10)), rng.integers(0, 4, 600)
    store = tmp_path / "batch.zarr"
    group = zarr.open_group(str(store), mode="w")
    group.create_array("X", data=X, chunks=(128, 10))
    group.create_array("y", data=y)
    ds = stream_dataset(str(store), 100)
    assert ds.fingerprint == fingerprint(X, y) and ds.task == "classification" and ds.num_classes == 4
    options = CompileOptions(objective="fit", keep=0.5)
    got = compile_streamed(net, ds, options, chunk=100)
    want = compile_network(net, X, y, options)
    S = rng.integers(0, 2, size=(30, want.num_vars))
    np.testing.assert_allclose(got.energies(S), want.energies(S), rtol=0, atol=1e-12 * scale_of(want))
    with pytest.raises(ir.QselError, match="no array named 'X'"):
        zarr.open_group(str(tmp_path / "empty.zarr"), mode="w")
        stream_dataset(str(tmp_path / "empty.zarr"), 10)
