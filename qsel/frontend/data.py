"""Calibration and evaluation data: built-in datasets (offline, deterministic) and .npy/.npz/.csv files.

Built-ins, each with a fixed 75/25 stratified train/test split
(``train_test_split(test_size=0.25, stratify=y, random_state=0)``):

| name         | source                                                        | features | classes | scaling      |
|--------------|---------------------------------------------------------------|----------|---------|--------------|
| ``digits``   | scikit-learn's bundled 8x8 digits (1,797 images)              | 64       | 10      | x / 16       |
| ``moons``    | ``make_moons(1000, noise=0.2, random_state=0)``               | 2        | 2       | standardised |
| ``circles``  | ``make_circles(1000, noise=0.1, factor=0.5, random_state=0)`` | 2        | 2       | standardised |
| ``blobs``    | ``make_blobs(1000, centers=3, random_state=0)``               | 2        | 3       | standardised |
| ``gaussian2d`` | N((-1,-1), I) vs N((1,1), I), 500 each, ``default_rng(0)``  | 2        | 2       | standardised |

"standardised" is x' = (x - mu) / sigma with mu, sigma per feature from the
*train* split (so both splits share one transform); the transform is recorded
in :attr:`Dataset.standardisation`.

Files are used whole for either split: ``.npy`` (X only), ``.npz`` (``X`` and
optional ``y``), ``.csv`` (numbers; a header column called ``y`` or ``label``
holds the labels). :func:`stream_dataset` reads a ``.npy`` batch larger than
memory through a memory map, or a Zarr store (arrays ``X`` and optional ``y``;
the ``zarr`` extra), one chunk of samples at a time (:class:`Chunks`). Integer-valued labels make a classification set, other
labels a regression set.
"""

from __future__ import annotations

import dataclasses

import csv
import hashlib
import functools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from qsel import ir

from .network import Network

Task = Literal["classification", "regression"]
BUILTINS = ("digits", "moons", "circles", "blobs", "gaussian2d")
FILE_SUFFIXES = (".npy", ".npz", ".csv")
LABEL_COLUMNS = ("y", "label")
_SAMPLES = 1000


@dataclass
class Dataset:
    """A batch: X (m, features...) float64, labels y (m,) or (m, k), and where it came from."""

    X: np.ndarray
    y: np.ndarray | None
    name: str
    split: str
    task: Task
    fingerprint: str
    standardisation: str
    num_classes: int | None
    chunks: "Chunks | None" = None  # streamed: read in chunks (stream_dataset), X may be a read-only memory map

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def num_features(self) -> int:
        return int(np.prod(self.X.shape[1:]))


def fingerprint(X: np.ndarray, y: np.ndarray | None) -> str:
    """``sha256:`` + the first 16 hex digits of SHA-256 over X's float64 bytes, then y's bytes."""
    h = hashlib.sha256(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    if y is not None:
        h.update(np.ascontiguousarray(y).tobytes())
    return f"sha256:{h.hexdigest()[:16]}"


@dataclass(frozen=True, eq=False)
class Chunks:
    """A calibration batch read ``size`` samples at a time, as float64 copies of one chunk each.

    ``path`` (a ``.npy`` file) is opened with ``np.load(mmap_mode="r")`` by whichever process reads it, so
    the object pickles as a file name, never as the data (a cluster's workers read the file themselves:
    on a real cluster it must be on a file system they share); ``array`` holds a batch already in memory.
    Peak memory while lowering a layer is set by ``size``, not by the batch."""

    size: int
    m: int
    path: str | None = None
    array: np.ndarray | None = None
    sample_shape: tuple[int, ...] = ()
    key: str | None = None  # the array's name when ``path`` is a Zarr store

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ir.QselError(f"--chunk must be at least 1 sample, got {self.size}")

    def _source(self) -> np.ndarray:
        if self.array is not None:
            return self.array
        assert self.path is not None
        if self.key is not None:
            import zarr

            return zarr.open_group(self.path, mode="r")[self.key]  # slices read only their chunks
        return np.load(self.path, mmap_mode="r", allow_pickle=False)

    def __iter__(self):
        """(start, stop, X[start:stop] as float64 with the batch's sample shape), in order."""
        X = self._source()
        for start in range(0, self.m, self.size):
            stop = min(start + self.size, self.m)
            chunk = np.array(X[start:stop], dtype=np.float64)
            yield start, stop, chunk.reshape(stop - start, *self.sample_shape) if self.sample_shape else chunk

    def __len__(self) -> int:
        return -(-self.m // self.size)

    def reshaped(self, sample_shape: tuple[int, ...]) -> "Chunks":
        return dataclasses.replace(self, sample_shape=tuple(int(d) for d in sample_shape))


def stream_dataset(spec: str, chunk: int, split: str = "train", *, limit: int | None = None) -> Dataset:
    """Like :func:`load_dataset`, but a ``.npy`` file stays on disk (memory map) and is checked and
    fingerprinted chunk by chunk (the same ``sha256:`` value as loading it whole); ``dataset.chunks`` reads
    it ``chunk`` samples at a time. Other sources are loaded as usual and then read in chunks."""
    if chunk < 1:
        raise ir.QselError(f"--chunk must be at least 1 sample, got {chunk}")
    path = Path(spec)
    if path.suffix.lower() == ".zarr":
        return _stream_zarr(spec, chunk, split, limit)
    if path.suffix.lower() != ".npy":
        ds = load_dataset(spec, split, limit=limit)
        return dataclasses.replace(ds, chunks=Chunks(chunk, len(ds), array=ds.X))
    if limit is not None and limit < 1:
        raise ir.QselError(f"{spec}: the sample limit must be at least 1, got {limit}")
    if not path.is_file():
        raise ir.QselError(f"{spec}: no such file" if not path.exists() else f"{spec}: is a folder, expected a data file")
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ir.FormatError(f"{spec}: unreadable .npy file ({exc})") from None
    if X.dtype.kind not in "fiub":
        raise ir.FormatError(f"{spec}: X must be numeric, got dtype {X.dtype}")
    if X.ndim < 2 or X.shape[0] == 0 or int(np.prod(X.shape[1:])) == 0:
        raise ir.QselError(f"{spec}: X must be a non-empty samples x features array, got shape {X.shape}")
    m = X.shape[0] if limit is None else min(limit, X.shape[0])
    chunks = Chunks(chunk, m, path=str(path), sample_shape=tuple(X.shape[1:]))
    return Dataset(X[:m], None, str(spec), split, "classification", _scan(spec, chunks, None), "none",
                   None, chunks=chunks)


def _scan(spec: str, chunks: Chunks, y: np.ndarray | None) -> str:
    """One pass over the chunks: every value finite (else a QselError naming the row), and the same
    ``sha256:`` fingerprint as :func:`fingerprint` of the whole batch."""
    h = hashlib.sha256()
    for start, _, part in chunks:
        bad = ~np.isfinite(part)
        if bad.any():
            row, *col = (int(i) for i in np.argwhere(bad)[0])
            raise ir.QselError(f"{spec}: X has NaN/Inf at row {start + row}, feature index {tuple(col)} "
                               f"(0-based); the data must be finite")
        h.update(np.ascontiguousarray(part).tobytes())
    if y is not None:
        h.update(np.ascontiguousarray(y).tobytes())
    return f"sha256:{h.hexdigest()[:16]}"


def _stream_zarr(spec: str, chunk: int, split: str, limit: int | None) -> Dataset:
    """A Zarr store (group) with an array ``X`` (samples first) and optional labels ``y`` (read whole)."""
    try:
        import zarr
    except ImportError:
        raise ir.QselError(f"{spec}: reading a Zarr store needs the zarr package (pip install 'qsel[zarr]')") from None
    try:
        group = zarr.open_group(spec, mode="r")
        names = set(group.array_keys())
    except Exception as exc:  # zarr raises several types for a missing or broken store
        raise ir.FormatError(f"{spec}: not a readable Zarr store ({type(exc).__name__}: {exc})") from None
    if "X" not in names:
        raise ir.FormatError(f"{spec}: no array named 'X' (arrays: {', '.join(sorted(names)) or 'none'})")
    X = group["X"]
    if np.dtype(X.dtype).kind not in "fiub":
        raise ir.FormatError(f"{spec}: X must be numeric, got dtype {X.dtype}")
    if len(X.shape) < 2 or X.shape[0] == 0 or int(np.prod(X.shape[1:])) == 0:
        raise ir.QselError(f"{spec}: X must be a non-empty samples x features array, got shape {X.shape}")
    m = X.shape[0] if limit is None else min(limit, X.shape[0])
    y = np.asarray(group["y"][:]) if "y" in names else None
    if y is not None:
        if y.shape[0] != X.shape[0]:
            raise ir.QselError(f"{spec}: X has {X.shape[0]} samples but y has {y.shape[0]}")
        if y.dtype.kind not in "fiub" or not np.all(np.isfinite(y.astype(np.float64))):
            raise ir.QselError(f"{spec}: y must be finite numbers")
    task, y, classes = _labels(spec, y)
    y = None if y is None else y[:m]
    chunks = Chunks(chunk, m, path=str(spec), sample_shape=tuple(int(d) for d in X.shape[1:]), key="X")
    # X stays the Zarr array (shape and slices, nothing read): every reader goes through ``chunks``
    return Dataset(X, y, str(spec), split, task, _scan(spec, chunks, y), "none", classes, chunks=chunks)


def load_dataset(spec: str, split: str = "train", *, standardise: bool | None = None,
                 limit: int | None = None) -> Dataset:
    """A built-in dataset's ``split`` ('train' or 'test'), or a whole data file.

    ``standardise``: None keeps each source's default (built-ins as in the table,
    files untouched); True standardises with the train split's (or the whole
    file's) per-feature mean and standard deviation; False turns it off
    (digits keep x / 16). ``limit`` takes the first N samples.
    """
    if split not in ("train", "test"):
        raise ir.QselError(f"unknown split {split!r} (expected train or test)")
    if limit is not None and limit < 1:
        raise ir.QselError(f"{spec}: the sample limit must be at least 1, got {limit}")
    if Path(spec).suffix.lower() in FILE_SUFFIXES:
        X, y = _read_file(spec)
        X, note = _scale(X, X, bool(standardise), "the whole file's")
        name, note = str(spec), note or "none"
    elif spec in BUILTINS:
        X, y, note = _builtin(spec, split, standardise)
        name = spec
    elif Path(spec).suffix.lower() == ".zarr" and Path(spec).exists():
        raise ir.QselError(f"{spec}: a Zarr store is read in chunks: add --chunk N (compile)")
    elif Path(spec).is_file():
        raise ir.QselError(f"{spec}: unsupported data file type {Path(spec).suffix!r} "
                           f"(use {', '.join(FILE_SUFFIXES)})")
    else:
        hint = f" (no such file: {spec})" if any(c in spec for c in "/\\.") else ""
        raise ir.QselError(f"unknown dataset {spec!r}{hint}; built-ins: {', '.join(BUILTINS)}, "
                           f"or a {'/'.join(FILE_SUFFIXES)} file")
    task, y, classes = _labels(spec, y)  # on the whole split/file, so a limit keeps the class count
    if limit is not None:
        X = X[:limit]
        y = None if y is None else y[:limit]
    X = np.ascontiguousarray(X, dtype=np.float64)
    return Dataset(X, y, name, split, task, fingerprint(X, y), note, classes)


def check_compatible(network: Network, dataset: Dataset) -> Dataset:
    """Raise a QselError unless ``dataset`` fits ``network``'s input (and, for classifiers, its outputs).

    When only the layout differs (64 features for a (1, 8, 8) input) the returned
    dataset has X reshaped to the network's input shape; the fingerprint is unchanged.
    """
    want = tuple(int(d) for d in network.input_shape)
    have = tuple(int(d) for d in dataset.X.shape[1:])
    if have != want:
        if int(np.prod(want)) != int(np.prod(have)):
            raise ir.QselError(f"{dataset.name}: the network expects inputs of shape {want} "
                               f"({int(np.prod(want))} features) but the data has {int(np.prod(have))} "
                               f"feature(s) per sample (shape {have})")
        X = dataset.X.reshape(dataset.X.shape[0], *want) if isinstance(dataset.X, np.ndarray) else dataset.X
        dataset = dataclasses.replace(dataset, X=X,
                                      chunks=None if dataset.chunks is None else dataset.chunks.reshaped(want))
    if network.task == "classification" and dataset.y is not None:
        outputs = network.layers[-1].units
        if dataset.task != "classification":
            raise ir.QselError(f"{dataset.name}: the network is a classifier but the labels are not integers")
        top = int(dataset.y.max()) if dataset.y.size else -1
        if top >= outputs:
            raise ir.QselError(f"{dataset.name}: labels go up to {top} but the network has only {outputs} "
                               f"output(s)")
    return dataset


# ----------------------------------------------------------------------------- built-ins

def _builtin(name: str, split: str, standardise: bool | None) -> tuple[np.ndarray, np.ndarray, str]:
    from sklearn.model_selection import train_test_split

    X, y = _generate(name)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    X, y = (Xtr, ytr) if split == "train" else (Xte, yte)
    if name == "digits":
        X = X / 16.0
        if not standardise:
            return X, y, "x / 16"
        Xs, note = _scale(X, Xtr / 16.0, True, "the train split's")
        return Xs, y, f"x / 16, then {note}"
    if standardise is False:
        return X, y, "none"
    Xs, note = _scale(X, Xtr, True, "the train split's")
    return Xs, y, note


@functools.lru_cache(maxsize=None)
def _generate(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The full built-in set (callers never modify it: the split below copies)."""
    from sklearn import datasets

    if name == "digits":
        return datasets.load_digits(return_X_y=True)
    if name == "moons":
        return datasets.make_moons(_SAMPLES, noise=0.2, random_state=0)
    if name == "circles":
        return datasets.make_circles(_SAMPLES, noise=0.1, factor=0.5, random_state=0)
    if name == "blobs":
        return datasets.make_blobs(_SAMPLES, centers=3, n_features=2, random_state=0)
    rng = np.random.default_rng(0)
    half = _SAMPLES // 2
    X = np.concatenate([rng.normal(-1.0, 1.0, size=(half, 2)), rng.normal(1.0, 1.0, size=(half, 2))])
    return X, np.repeat([0, 1], half)


def _scale(X: np.ndarray, ref: np.ndarray, on: bool, what: str) -> tuple[np.ndarray, str]:
    """(X - mean(ref)) / std(ref) per feature (std 0 -> 1), and its description; X unchanged when off."""
    if not on:
        return X, ""
    flat = ref.reshape(ref.shape[0], -1)
    mu = flat.mean(axis=0)
    sigma = flat.std(axis=0)
    sigma = np.where(sigma > 0, sigma, 1.0)
    Xs = ((X.reshape(X.shape[0], -1) - mu) / sigma).reshape(X.shape)
    fmt = lambda v: "[" + ", ".join(f"{x:.6g}" for x in v) + "]"  # noqa: E731
    shown = f"mean {fmt(mu)} std {fmt(sigma)}" if mu.size <= 8 else f"{mu.size} per-feature means and stds"
    return Xs, f"(x - mean) / std with {what} {shown}"


# ----------------------------------------------------------------------------- files

def _read_file(spec: str) -> tuple[np.ndarray, np.ndarray | None]:
    path = Path(spec)
    if not path.exists():
        raise ir.QselError(f"{spec}: no such file")
    if path.is_dir():
        raise ir.QselError(f"{spec}: is a folder, expected a data file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            X, y = _read_csv(path)
        elif suffix == ".npy":
            X, y = np.load(path, allow_pickle=False), None
        else:
            X, y = _read_npz(path)
    except ir.QselError:
        raise
    except (zipfile.BadZipFile, EOFError) as exc:
        raise ir.FormatError(f"{spec}: unreadable {suffix} file (truncated or corrupt: {exc})") from None
    except ValueError as exc:
        raise ir.FormatError(f"{spec}: unreadable {suffix} file ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ir.FormatError(f"{spec}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ir.FormatError(f"{spec}: cannot read ({exc.strerror or exc})") from None
    return _check_arrays(spec, X, y)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    with open(path, "rb") as fh:
        if fh.read(2) != b"PK":
            raise ir.FormatError(f"{path}: not an .npz archive (no zip signature at the start of the file)")
    with np.load(path, allow_pickle=False) as archive:
        if "X" not in archive.files:
            raise ir.FormatError(f"{path}: no array named 'X' (arrays: {', '.join(archive.files) or 'none'})")
        arrays = {k: archive[k] for k in ("X", "y") if k in archive.files}
    for k, v in arrays.items():
        if not isinstance(v, np.ndarray):
            raise ir.FormatError(f"{path}: member {k!r} is not a .npy array")
    return arrays["X"], arrays.get("y")


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Numeric CSV; the first row is a header when any of its cells is not a number."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = [(n, row) for n, row in enumerate(csv.reader(fh), start=1) if row and any(c.strip() for c in row)]
    if not rows:
        raise ir.QselError(f"{path}: empty file (no samples)")
    header = None
    if any(not _is_number(c) for c in rows[0][1]):
        header = [c.strip() for c in rows[0][1]]
        rows = rows[1:]
    width = len(header) if header else len(rows[0][1])
    column = (lambda c: f"column {header[c]!r}") if header else (lambda c: f"column {c + 1}")
    try:
        values = np.array([row for _, row in rows], dtype=np.float64).reshape(len(rows), width)
    except ValueError:  # locate the first bad row or cell (the slow path, only on error)
        for line, row in rows:
            if len(row) != width:
                raise ir.QselError(f"{path}:{line}: expected {width} cells, found {len(row)}") from None
            for c, cell in enumerate(row):
                if not _is_number(cell):
                    raise ir.QselError(f"{path}:{line}: not a number: {cell.strip()!r} ({column(c)})") from None
        raise
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        line, row = rows[r]
        raise ir.QselError(f"{path}:{line}: {row[c].strip()} in {column(c)}; the data must be finite")
    label = next((i for i, h in enumerate(header or []) if h.lower() in LABEL_COLUMNS), None)
    if label is None:
        return values, None
    return np.delete(values, label, axis=1), values[:, label]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _check_arrays(spec: str, X: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    if X.dtype.kind not in "fiub":
        raise ir.FormatError(f"{spec}: X must be numeric, got dtype {X.dtype}")
    if X.ndim < 2:
        raise ir.QselError(f"{spec}: X must be at least 2-D (samples x features), got shape {X.shape}; "
                           f"a single sample is X.reshape(1, -1)")
    if X.shape[0] == 0:
        raise ir.QselError(f"{spec}: empty batch (0 samples)")
    if int(np.prod(X.shape[1:])) == 0:
        raise ir.QselError(f"{spec}: samples have no features (shape {X.shape})")
    X = X.astype(np.float64, copy=False)
    bad = ~np.isfinite(X)
    if bad.any():
        row, *col = (int(i) for i in np.argwhere(bad)[0])
        where = f"column {col[0]}" if len(col) == 1 else f"feature index {tuple(col)}"
        raise ir.QselError(f"{spec}: X has {int(bad.sum())} NaN/Inf value(s), first at row {row}, {where} "
                           f"(0-based); the data must be finite")
    if y is not None:
        if y.dtype.kind not in "fiub":
            raise ir.FormatError(f"{spec}: y must be numeric, got dtype {y.dtype}")
        if y.shape[0] != X.shape[0]:
            raise ir.QselError(f"{spec}: X has {X.shape[0]} samples but y has {y.shape[0]}")
        ybad = ~np.isfinite(y.astype(np.float64))
        if ybad.any():
            raise ir.QselError(f"{spec}: y has NaN/Inf at row {int(np.argwhere(ybad)[0][0])} (0-based)")
    return X, y


def _labels(spec: str, y: np.ndarray | None) -> tuple[Task, np.ndarray | None, int | None]:
    """Integer-valued 1-D labels -> classification (int64, classes = max + 1); anything else -> regression."""
    if y is None:
        return "classification", None, None
    yf = np.asarray(y, dtype=np.float64)
    if yf.ndim == 1 and np.all(yf == np.round(yf)):
        yi = yf.astype(np.int64)
        if yi.size and yi.min() < 0:
            raise ir.QselError(f"{spec}: class labels must be >= 0, found {int(yi.min())}")
        return "classification", yi, int(yi.max()) + 1 if yi.size else 0
    return "regression", yf, None


__all__ = ["BUILTINS", "Chunks", "Dataset", "check_compatible", "fingerprint", "load_dataset", "stream_dataset"]
