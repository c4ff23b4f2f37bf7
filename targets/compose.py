"""Compose results produced anywhere back into one IR assignment: manifest + per-block result files.

Result files (one per block; the format is recognised from the content):

* **dimod SampleSet** — ``json.dump(sampleset.to_serializable(), f)``.
  Variables are IR labels (``dimod-bqm``/``dimod-cqm`` files), the LP names of
  ``extra["names"]`` (``lp`` files), or integer indices i meaning
  ``labels[i]`` (``coo``/``qubo`` files). BINARY samples are used as they are,
  SPIN ones with dimod's convention x = (1 + s) / 2. Energies come along.
* **qiskit counts** — ``{"0110": 12, ...}`` (or ``{"counts": {...}}``), the
  mapping ``result.get_counts()`` / ``BitArray.get_counts()`` returns.
  Little-endian as qiskit prints them: qubit 0 is the *rightmost* character,
  so for a key k of length n, x_i = int(k[n - 1 - i]) with qubit i =
  ``labels[i]``. Spaces (register separators) are ignored; ``0x..`` hex keys
  are accepted. Non-integer values (quasi-probabilities) are used as weights.
* **OpenQAOA result** — ``{"solution": {label or index: 0/1, ...}}`` (one
  assignment), qsel's OpenQAOA runner output ``{"samples": [{"bitstring":
  "0101", "count": 37, "energy": -1.5}, ...]}``, or an OpenQAOA result dump
  holding ``solutions_bitstrings``
  (e.g. under ``most_probable_states`` or ``lowest_cost_bitstrings``, at any
  depth): OpenQAOA writes bitstrings with variable 0 *leftmost*; energies
  from ``bitstring_energy`` / ``bitstrings_energies`` when present.

Pairing files with blocks: ``NAME=FILE`` names the block; otherwise a sample
set whose variables are exactly a block's labels goes to that block, then a
file whose name starts with a block file's stem and a dot (``p0.samples.json``
for ``p0.bqm``), then the rest in manifest order.

Per block the best row is taken: lowest total violation of the block's own
constraints, then lowest energy — the energy the sampler minimised: the block
file read back (``dimod-bqm``, ``coo``, ``dimod-cqm``, ``qubo``, ``lp``), else
the energies in the result file, else the IR (``--ir``, restricted to the
block, its constraints inside the block), else the most frequent row. The full assignment adds the manifest's fixed
variables. With the IR, energies and feasibility are exact (cross terms
included); without it, the energy is the manifest's identity
sum_b (scale_b * E_file_b + offset_b) + cross(x), each block file carrying its
own constant and cross(x) read from ``cross_terms.npz`` — the emitted IR's
energy exactly. A manifest without that file (older ones, or a cut too large to
write) gives the block sum without cross terms, said in ``notes``. The masks and
constraint checks come from the manifest (:meth:`Manifest.skeleton`).

**What compose reads.** Only files inside the manifest's folder: every block
``file`` and the cross-terms file are resolved (symlinks followed) and one that
lands outside the folder, or is not a regular file (a device such as
/dev/zero, a fifo, a folder), is refused with an error naming the manifest and
the entry, before anything is read. A block file qsel reads back may hold at
most :func:`block_byte_cap` bytes, a bound from the block's declared variables
(a file over it is refused unread), and an ``lp`` file must be an LP (an
objective section and ``End``), not any text that parses as an empty problem.
A block file that is missing is noted and composing goes on without it; one
that is there but unreadable is an error. With ``--ir``, the model and
calibration fingerprints the IR records must be the ones the manifest records
(:func:`qsel.ir.fingerprints.check_source`), unless ``force``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from qsel import ir

from .base import VIOLATION_TOL, Block, block_problem, energy_summary
from .manifest import BlockEntry, Manifest

_BITS = re.compile(r"[01]+\Z")


@dataclass
class BlockResult:
    """Rows of one result file, in the order of its block's ``labels``."""

    path: Path
    kind: str  # dimod-sampleset | qiskit-counts | openqaoa
    X: np.ndarray  # (rows, len(labels)) int8
    weights: np.ndarray  # (rows,) int64
    energies: np.ndarray | None = None  # as reported by the file (file units)


@dataclass
class Composed:
    problem: ir.Problem  # the IR given with --ir, or the manifest's skeleton
    x: np.ndarray  # assignment over problem's variables
    energy: float | None
    exact_energy: bool  # True when computed with the IR
    report: dict[str, Any] = field(default_factory=dict)


STREAM_BYTES_MAX = 1 << 28  # a result read from a pipe or device (not a regular file) may hold at most 256 MiB


def _read_text(path: Path) -> str:
    """A result file's text; from a pipe or device (``<(...)``, /dev/stdin) at most :data:`STREAM_BYTES_MAX`
    bytes are read, so /dev/zero cannot take the memory."""
    with open(path, "rb") as fh:
        if path.is_file():
            data = fh.read()
        else:
            data = fh.read(STREAM_BYTES_MAX + 1)
            if len(data) > STREAM_BYTES_MAX:
                raise ir.QselError(f"{path}: not a regular file and more than {STREAM_BYTES_MAX} bytes; not a "
                                   f"result file")
    return data.decode("utf-8")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except FileNotFoundError:
        raise ir.QselError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ir.QselError(f"{path}: is a folder, expected a result file") from None
    except UnicodeDecodeError:
        raise ir.QselError(f"{path}: not UTF-8 JSON text") from None
    except json.JSONDecodeError as exc:
        raise ir.QselError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise ir.QselError(f"{path}: JSON nested too deeply") from None
    except OSError as exc:
        raise ir.QselError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None


def _columns(variables: list, entry: BlockEntry, path: Path) -> np.ndarray:
    """For each of the file's variables, its position in ``entry.labels`` (by label, LP name or index)."""
    n = len(entry.labels)
    tables = [{lab: i for i, lab in enumerate(entry.labels)}]
    names = entry.extra.get("names")
    if isinstance(names, list) and len(names) == n:
        tables.append({nm: i for i, nm in enumerate(names)})
    for table in tables:
        if all(isinstance(v, str) and v in table for v in variables):
            return np.array([table[v] for v in variables], dtype=np.int64)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < n for v in variables):
        return np.array(variables, dtype=np.int64)
    bad = next((v for v in variables if not any(isinstance(v, str) and v in t for t in tables)), variables[0])
    raise ir.QselError(f"{path}: variable {bad!r} is not one of block {entry.name!r}'s {n} variables "
                       f"(expected its labels{', LP names' if len(tables) > 1 else ''} or indices 0..{n - 1})")


def _full_rows(cols: np.ndarray, values: np.ndarray, entry: BlockEntry, path: Path) -> np.ndarray:
    n = len(entry.labels)
    if np.unique(cols).size != cols.size:
        raise ir.QselError(f"{path}: a variable of block {entry.name!r} appears twice")
    if cols.size != n:
        have = np.zeros(n, dtype=bool)
        have[cols] = True
        missing = entry.labels[int(np.flatnonzero(~have)[0])]
        raise ir.QselError(f"{path}: no value for variable {missing!r} of block {entry.name!r} "
                           f"({cols.size} of {n} variables assigned)")
    X = np.zeros((values.shape[0], n), dtype=np.int8)
    X[:, cols] = values
    return X


def _read_sampleset(d: dict, entry: BlockEntry, path: Path) -> BlockResult:
    import dimod

    try:
        ss = dimod.SampleSet.from_serializable(d)
    except Exception as exc:
        raise ir.QselError(f"{path}: not a valid dimod SampleSet ({exc})") from None
    if not len(ss):
        raise ir.QselError(f"{path}: the sample set is empty")
    for name in ("sample", "energy", "num_occurrences"):  # a record field can be anything the JSON says
        if name not in ss.record.dtype.names or np.asarray(ss.record[name]).dtype.kind not in "biuf":
            raise ir.QselError(f"{path}: the sample set's {name!r} vectors are missing or not numeric")
    values = np.asarray(ss.record.sample)
    if ss.vartype is dimod.SPIN:
        values = (values + 1) // 2
    elif ss.vartype is not dimod.BINARY:
        raise ir.QselError(f"{path}: sample set vartype {ss.vartype.name} is neither BINARY nor SPIN")
    if not np.isin(values, (0, 1)).all():
        raise ir.QselError(f"{path}: samples must be 0/1 (BINARY) or -1/+1 (SPIN)")
    X = _full_rows(_columns(list(ss.variables), entry, path), values, entry, path)
    return BlockResult(path, "dimod-sampleset", X, np.asarray(ss.record.num_occurrences, dtype=np.int64),
                       np.asarray(ss.record.energy, dtype=np.float64))


def _weights(values: list, path: Path) -> np.ndarray:
    w = np.asarray(values, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ir.QselError(f"{path}: counts must be finite numbers >= 0")
    if np.all(w == np.round(w)):
        return w.astype(np.int64)
    return np.round(w / w.sum() * 1_000_000).astype(np.int64)  # quasi-probabilities -> parts per million


def _read_counts(counts: dict, entry: BlockEntry, path: Path) -> BlockResult:
    n = len(entry.labels)
    rows, weights = [], []
    for key, value in counts.items():
        k = str(key).replace(" ", "")
        if k.lower().startswith("0x"):
            try:
                k = format(int(k, 16), f"0{n}b")
            except ValueError:
                raise ir.QselError(f"{path}: bad hex key {key!r}") from None
        if not _BITS.match(k):
            raise ir.QselError(f"{path}: count key {key!r} is not a bitstring")
        if len(k) != n:
            raise ir.QselError(f"{path}: bitstring {key!r} has {len(k)} bits but block {entry.name!r} has "
                               f"{n} variables")
        rows.append([int(ch) for ch in reversed(k)])  # little-endian: qubit 0 is the rightmost character
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ir.QselError(f"{path}: count of {key!r} must be a number")
        weights.append(value)
    if not rows:
        raise ir.QselError(f"{path}: no counts")
    return BlockResult(path, "qiskit-counts", np.asarray(rows, dtype=np.int8).reshape(len(rows), n),
                       _weights(weights, path))


def _find(d: Any, key: str, depth: int = 0) -> Any:
    if depth > 5:
        return None
    if isinstance(d, dict):
        if key in d:
            return d[key]
        for v in d.values():
            found = _find(v, key, depth + 1)
            if found is not None:
                return found
    elif isinstance(d, list):
        for v in d[:20]:
            found = _find(v, key, depth + 1)
            if found is not None:
                return found
    return None


def _is_runner_output(d: Any) -> bool:
    return (isinstance(d, dict) and isinstance(d.get("samples"), list) and bool(d["samples"])
            and all(isinstance(r, dict) and "bitstring" in r for r in d["samples"]))


def _read_openqaoa(d: dict, entry: BlockEntry, path: Path) -> BlockResult:
    n = len(entry.labels)
    if _is_runner_output(d):  # qsel's OpenQAOA runner: samples with counts and energies
        rows, counts, energies = [], [], []
        for r in d["samples"]:
            s = r["bitstring"]
            if not isinstance(s, str) or not _BITS.match(s) or len(s) != n:
                raise ir.QselError(f"{path}: OpenQAOA bitstring {s!r} is not {n} bits of 0/1 for block "
                                   f"{entry.name!r}")
            rows.append([int(ch) for ch in s])  # OpenQAOA: variable 0 is the leftmost character
            counts.append(r.get("count", 1))
            energies.append(r.get("energy"))
        e = (np.asarray(energies, dtype=np.float64)
             if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in energies) else None)
        return BlockResult(path, "openqaoa", np.asarray(rows, dtype=np.int8), _weights(counts, path), e)
    if "solution" in d:
        sol = d["solution"]
        if isinstance(sol, str):
            d = {"solutions_bitstrings": [sol]}
        elif isinstance(sol, dict):
            keys = list(sol)
            variables = [int(k) if isinstance(k, str) and k.isdigit() and k not in entry.labels else k for k in keys]
            vals = np.array([[sol[k] for k in keys]])
            if not np.isin(vals, (0, 1)).all():
                raise ir.QselError(f"{path}: 'solution' values must be 0 or 1")
            X = _full_rows(_columns(variables, entry, path), vals, entry, path)
            energy = d.get("energy")
            return BlockResult(path, "openqaoa", X, np.ones(1, np.int64),
                               np.array([float(energy)]) if isinstance(energy, (int, float)) else None)
        else:
            raise ir.QselError(f"{path}: 'solution' must map labels or indices to 0/1 (or be a bitstring)")
    strings = _find(d, "solutions_bitstrings")
    if not isinstance(strings, list) or not strings:
        raise ir.QselError(f"{path}: no 'solutions_bitstrings' found in the OpenQAOA result")
    rows = []
    for s in strings:
        if not isinstance(s, str) or not _BITS.match(s) or len(s) != n:
            raise ir.QselError(f"{path}: OpenQAOA bitstring {s!r} is not {n} bits of 0/1 for block {entry.name!r}")
        rows.append([int(ch) for ch in s])  # OpenQAOA: variable 0 is the leftmost character
    energies = _find(d, "bitstrings_energies")
    if energies is None:
        one = _find(d, "bitstring_energy")
        energies = [one] * len(rows) if isinstance(one, (int, float)) else None
    e = None
    if isinstance(energies, list) and len(energies) == len(rows) and all(isinstance(v, (int, float)) for v in energies):
        e = np.asarray(energies, dtype=np.float64)
    return BlockResult(path, "openqaoa", np.asarray(rows, dtype=np.int8), np.ones(len(rows), np.int64), e)


def sampleset_variables(d: Any) -> list | None:
    """The variable labels of a serialised SampleSet (None when ``d`` is not one)."""
    if isinstance(d, dict) and (d.get("type") == "SampleSet" or d.get("basetype") == "SampleSet"):
        v = d.get("variable_labels", d.get("variables"))
        return list(v) if isinstance(v, list) else None
    return None


def read_result(path: str | Path, entry: BlockEntry, data: Any = None) -> BlockResult:
    """Read one result file for ``entry`` (format recognised from the content)."""
    path = Path(path)
    d = _load_json(path) if data is None else data
    if isinstance(d, dict) and (d.get("type") == "SampleSet" or d.get("basetype") == "SampleSet"):
        return _read_sampleset(d, entry, path)
    if isinstance(d, dict) and ("solution" in d or _is_runner_output(d)
                                or _find(d, "solutions_bitstrings") is not None):
        return _read_openqaoa(d, entry, path)
    if isinstance(d, dict) and isinstance(d.get("counts"), dict):
        return _read_counts(d["counts"], entry, path)
    if isinstance(d, dict) and d and all(isinstance(k, str) and _BITS.match(k.replace(" ", "") or "x")
                                         or k.lower().startswith("0x") for k in d):
        return _read_counts(d, entry, path)
    if isinstance(d, dict) and d.get("format") == "qsel-result":
        raise ir.QselError(f"{path}: is a qsel result.json (already composed), not a per-block result")
    raise ir.QselError(f"{path}: not a recognised result file: expected a dimod SampleSet "
                       f"(sampleset.to_serializable()), qiskit counts {{\"0101\": 12, ...}}, or an OpenQAOA result "
                       f"with 'solution' or 'solutions_bitstrings'")


# ------------------------------------------------------------------ block files
_LP_SENSE = re.compile(r"^\s*(minimi[sz]e|maximi[sz]e|minimum|maximum|min|max)\b", re.IGNORECASE | re.MULTILINE)
_LP_END = re.compile(r"^\s*end\s*$", re.IGNORECASE | re.MULTILINE)


def block_byte_cap(entry: BlockEntry, constraints: int = 1) -> int:
    """Most bytes a block file of ``entry`` may hold: 1 MiB + 2 x (T x (2L + 64) + C x n x (L + 40)).

    n = the block's variables, T = n(n+1)/2 + 1 terms (every pair, every linear bias, the constant), L = the
    longest label or LP name in UTF-8 bytes, C = ``constraints`` + 1 constraints of up to n terms each. Per term
    64 bytes cover the formats qsel writes (dimod's BQM file stores each pair twice as an index and a float64,
    32 bytes; text formats write a float in at most 24 characters, the indices or names and separators) and
    the factor 2 is a margin, so an honest file is far below the cap (a dense 60-variable block: 44 kB of BQM,
    66 kB of LP, cap 1.3 MB) while a file the manifest's sizes cannot explain is refused before it is read."""
    n = len(entry.labels)
    names = entry.extra.get("names") if isinstance(entry.extra.get("names"), list) else []
    longest = max((len(str(v).encode("utf-8")) for v in [*entry.labels, *names]), default=1)
    terms = n * (n + 1) // 2 + 1
    return (1 << 20) + 2 * (terms * (2 * longest + 64) + (constraints + 1) * n * (longest + 40))


def inside_folder(folder: Path, name: str, where: str, what: str) -> Path:
    """``folder / name`` when it resolves (symlinks followed) inside ``folder`` and is a regular file or
    missing; else a QselError naming ``where`` (the manifest) and ``what`` (the entry)."""
    root = Path(folder).resolve()
    path = Path(folder) / name
    try:
        real = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ir.QselError(f"{where}: {what} file {name!r} cannot be resolved ({type(exc).__name__})") from None
    if real != root and root not in real.parents:
        raise ir.QselError(f"{where}: {what} file {name!r} lies outside the manifest's folder {root}; compose "
                           f"reads only files next to the manifest")
    if real.exists() and not real.is_file():
        kind = "a folder" if real.is_dir() else "not a regular file (a device, fifo or socket)"
        raise ir.QselError(f"{where}: {what} file {name!r} is {kind}")
    return path


def block_file(entry: BlockEntry, folder: Path, where: str = "manifest.json", constraints: int = 1) -> Path:
    """The checked path of ``entry``'s file (see :func:`inside_folder`); for formats qsel reads back, also at
    most :func:`block_byte_cap` bytes, and an ``lp`` file must look like an LP."""
    what = f"block {entry.name!r}"
    path = inside_folder(folder, entry.file, where, what)
    if entry.format not in BLOCK_READERS or not path.is_file():
        return path
    size = path.stat().st_size
    cap = block_byte_cap(entry, constraints)
    if size > cap:
        raise ir.QselError(f"{where}: {what} file {entry.file!r} is {size} bytes, more than a block of "
                           f"{len(entry.labels)} variables can take ({cap} bytes); not read")
    if entry.format == "lp":
        text = path.read_bytes().decode("utf-8", errors="replace")
        if not (_LP_SENSE.search(text) and _LP_END.search(text)):
            raise ir.QselError(f"{where}: {what} file {entry.file!r} is declared 'lp' but is not an LP file "
                               f"(no Minimize/Maximize section and End line)")
    return path


def _lp_block(path: Path, entry: BlockEntry) -> ir.Problem:
    from .file_targets import read_lp_file

    p = read_lp_file(path, list(entry.labels), entry.extra.get("names"))
    rename = entry.extra.get("constraint_names") or {}
    return p.replace(constraints=tuple(
        ir.Constraint(rename.get(c.label, c.label), c.indices, c.coeffs, c.sense, c.rhs) for c in p.constraints))


def _reader(module: str, name: str) -> Callable[[Path, BlockEntry], ir.Problem]:
    """``module.name(path, labels)`` imported on first use (dimod loads only when a block needs it)."""
    def read(path: Path, entry: BlockEntry) -> ir.Problem:
        import importlib

        return getattr(importlib.import_module(module, __package__), name)(path, list(entry.labels))
    return read


BLOCK_READERS: dict[str, Callable[[Path, BlockEntry], ir.Problem]] = {
    "dimod-bqm": _reader(".dimod_targets", "read_bqm_file"),
    "coo": _reader(".dimod_targets", "read_coo_file"),
    "dimod-cqm": _reader(".dimod_targets", "read_cqm_file"),
    "qubo": _reader(".file_targets", "read_qubo_file"),
    "lp": _lp_block,
}
"""Block-file format (a manifest entry's ``format``) -> reader of that file over the entry's labels."""


def read_block(entry: BlockEntry, folder: Path, where: str = "manifest.json", constraints: int = 1
               ) -> ir.Problem | None:
    """The block file as an IR problem over ``entry.labels`` (file energies), or None for formats qsel does not
    read back (circuits, embedded Ising ...). The file is checked first (:func:`block_file`)."""
    path = block_file(entry, folder, where, constraints)
    reader = BLOCK_READERS.get(entry.format)
    if reader is None:
        return None
    problem = ir.verify(reader(path, entry), context=str(path))  # finite coefficients, indices in range ...
    with np.errstate(over="ignore"):  # an overflow is what this looks for
        total = abs(problem.offset) + float(np.abs(problem.linear).sum()) + float(np.abs(problem.sparse.vals).sum()) \
            + sum(float(np.abs(b.matrix).sum()) for b in problem.dense)
    if not np.isfinite(total):  # then an energy can overflow to inf (found by the fuzz tests)
        raise ir.FormatError(f"{path}: the coefficients' magnitudes add up beyond the float range")
    return problem


# ------------------------------------------------------------------ pairing
def pair_files(manifest: Manifest, args: list[str], where: str) -> list[tuple[BlockEntry, Path, Any]]:
    """(block, file, parsed JSON) for every block: NAME=FILE, label sets, file-name stems, then manifest order."""
    by_name = {b.name: b for b in manifest.blocks}
    chosen: dict[str, tuple[Path, Any]] = {}
    loose: list[tuple[Path, Any]] = []
    for arg in args:
        name, sep, rest = arg.partition("=")
        if sep and name in by_name and not Path(arg).exists():
            if name in chosen:
                raise ir.QselError(f"block {name!r} is given two result files")
            chosen[name] = (Path(rest), _load_json(Path(rest)))
        else:
            loose.append((Path(arg), _load_json(Path(arg))))
    if len(chosen) + len(loose) != len(manifest.blocks):
        names = ", ".join(b.name for b in manifest.blocks[:6]) + (", ..." if len(manifest.blocks) > 6 else "")
        raise ir.QselError(f"{where} lists {len(manifest.blocks)} block(s) ({names}) but "
                           f"{len(chosen) + len(loose)} result file(s) were given; give one per block, in manifest "
                           f"order or as NAME=FILE")
    label_sets = {frozenset(b.labels): b.name for b in manifest.blocks}
    rest: list[tuple[Path, Any]] = []
    for path, data in loose:  # labelled sample sets find their block themselves
        variables = sampleset_variables(data)
        name = label_sets.get(frozenset(v for v in variables if isinstance(v, str))) if variables else None
        if name is not None and name not in chosen and len(set(variables)) == len(variables):
            chosen[name] = (path, data)
        else:
            rest.append((path, data))
    stems = {b.name: Path(b.file).name.split(".")[0] + "." for b in manifest.blocks}
    rest2 = []
    for path, data in rest:
        hits = [nm for nm, st in stems.items() if nm not in chosen and path.name.startswith(st)]
        if len(hits) == 1:
            chosen[hits[0]] = (path, data)
        else:
            rest2.append((path, data))
    free = [b.name for b in manifest.blocks if b.name not in chosen]
    for name, item in zip(free, rest2):
        chosen[name] = item
    return [(b, *chosen[b.name]) for b in manifest.blocks]


# ------------------------------------------------------------------ compose
def _rank(rows: BlockResult, bp: ir.Problem | None) -> np.ndarray:
    """Row order best first: by (violation, energy) under ``bp``, else reported energies, else frequency."""
    if bp is not None:
        e = bp.energies(rows.X)
        viol = np.zeros(len(e))
        if bp.constraints:
            viol = bp.violations(rows.X).sum(axis=1)
            viol[viol <= VIOLATION_TOL] = 0.0
        return np.lexsort((e, viol))
    if rows.energies is not None:
        return np.argsort(rows.energies, kind="stable")
    return np.argsort(-rows.weights, kind="stable")


def compose(manifest_path: str | Path, result_paths: list[str], *, problem: ir.Problem | None = None,
            ir_path: str | None = None, bins: int = 20, force: bool = False,
            warn: Callable[[str], None] = lambda message: None) -> Composed:
    """Compose per-block result files into one assignment (see the module docstring); ``force`` uses an IR
    whose fingerprints differ from the manifest's (``warn`` says so)."""
    manifest_path = Path(manifest_path)
    if manifest_path.is_dir():
        manifest_path = manifest_path / "manifest.json"
    manifest = Manifest.load(manifest_path)
    folder = manifest_path.parent
    where = str(manifest_path)
    ncons = len(manifest.constraints) + len(manifest.lowered_constraints)
    for entry in manifest.blocks:  # every file the manifest names is checked before anything is read
        block_file(entry, folder, where, ncons)
    if isinstance(manifest.energy, dict) and manifest.energy.get("cross_file"):
        cross = inside_folder(folder, str(manifest.energy["cross_file"]), where, "cross-terms")
        cap = (1 << 20) + 2 * (24 * manifest.cross_terms
                               + 4 * max((len(lab) for lab in manifest.labels), default=1) * len(manifest.labels))
        if cross.is_file() and cross.stat().st_size > cap:
            raise ir.QselError(f"{where}: cross-terms file {cross.name!r} is {cross.stat().st_size} bytes, more "
                               f"than {manifest.cross_terms} couplings take ({cap} bytes); not read")
    if problem is not None:
        from qsel.ir.fingerprints import check_source

        check_source(manifest.compile, problem.metadata, recorded_where=where,
                     given_where=ir_path or "the IR", force=force, warn=warn)
    pairs = pair_files(manifest, list(result_paths), where)
    per_block: list[dict[str, Any]] = []
    notes: list[str] = []
    values: dict[str, int] = {lab: int(v) for lab, v in manifest.fixed.items()}
    ranked: list[tuple[BlockEntry, BlockResult, np.ndarray]] = []
    file_energy: list[np.ndarray | None] = []
    for entry, path, data in pairs:
        rows = read_result(path, entry, data)
        fb = None
        if not (folder / entry.file).exists():
            if entry.format in BLOCK_READERS:  # a format qsel reads back
                notes.append(f"block {entry.name!r}: block file {entry.file!r} is missing; ranked without it")
        else:
            fb = read_block(entry, folder, where, ncons)  # a file that is there but unreadable is an error
        # rank by what the sampler minimised: the block file, else the file's own energies, else the IR
        bp, source = (fb, "block file") if fb is not None else (None, "")
        if bp is None and rows.energies is None and problem is not None:
            idx = [problem.variables.index.get(lab) for lab in entry.labels]
            if all(i is not None for i in idx):
                inside = tuple(k for k, c in enumerate(problem.constraints)
                               if set(c.indices.tolist()) <= set(idx))
                bp, source = block_problem(problem, Block(entry.name, np.asarray(idx, np.int64), inside)), "ir"
        order = _rank(rows, bp)
        if bp is None:
            source = "result file energies" if rows.energies is not None else "most frequent"
        best = int(order[0])
        for lab, v in zip(entry.labels, rows.X[best].tolist()):
            values[lab] = int(v)
        fe = None
        if fb is not None:
            fe = entry.scale * fb.energies(rows.X[order]) + entry.offset
        elif rows.energies is not None:
            fe = entry.scale * rows.energies[order] + entry.offset
        file_energy.append(fe)
        ranked.append((entry, rows, order))
        per_block.append({"name": entry.name, "file": str(path), "kind": rows.kind, "rows": int(len(rows.X)),
                          "reads": int(rows.weights.sum()), "ranked_by": source,
                          "energy": None if fe is None else float(fe[0])})
    if problem is not None:
        pos = problem.variables.index
        missing = [lab for lab in problem.labels if lab not in values]
        if missing:
            raise ir.QselError(f"the results and the manifest's fixed variables give no value to {missing[0]!r} of "
                               f"{ir_path or 'the IR'} ({len(missing)} variable(s) missing); is it the IR the "
                               f"manifest was emitted from?")
        x = np.array([values[lab] for lab in problem.labels], dtype=np.float64)
        energy: float | None = problem.energy(x)
        target = problem
        unused = sorted(set(values) - set(pos) - set(manifest.fixed))
        if unused:
            notes.append(f"{len(unused)} variable(s) of the block files are not in the IR and were ignored "
                         f"(e.g. slack variables): {', '.join(unused[:5])}{' ...' if len(unused) > 5 else ''}")
    else:
        target = manifest.skeleton().with_metadata(skeleton=where)  # no IR fingerprint for a term-free skeleton
        x = np.array([values[lab] for lab in target.labels], dtype=np.float64)
        energy = float(sum(fe[0] for fe in file_energy)) if all(fe is not None for fe in file_energy) else None
        cross = manifest.cross_energies(folder, x[None, :]) if energy is not None else None
        if energy is None:
            notes.append("no energy: some block's file is not readable by qsel and its result file has no energies "
                         "(give --ir)")
        elif cross is None:
            notes.append(f"energy excludes the {manifest.cross_terms} couplings between blocks (give --ir for the "
                         f"exact energy)")
        else:
            energy += float(cross[0])
            if manifest.cross_terms:
                notes.append(f"energy of the emitted IR (its penalties and scale included): the block files plus the "
                             f"{manifest.cross_terms} couplings between blocks from "
                             f"{manifest.energy.get('cross_file')}")
    dist = _distribution(problem, manifest, ranked, file_energy, bins, folder)
    report = {"blocks": per_block, "notes": notes, "manifest": str(manifest_path), "target": manifest.target}
    if dist:
        report["distribution"] = dist
    return Composed(target, x, energy, problem is not None, report)


def _distribution(problem: ir.Problem | None, manifest: Manifest, ranked, file_energy, bins: int,
                  folder: Path) -> dict | None:
    """Energies of rows composed across blocks (row r = each block's r-th best)."""
    rows = min(max(len(o) for _, _, o in ranked), 1000)
    if problem is not None:
        pos = problem.variables.index
        X = np.zeros((rows, problem.num_vars), dtype=np.int8)
        for lab, v in manifest.fixed.items():
            if lab in pos:
                X[:, pos[lab]] = v
        for entry, res, order in ranked:
            take = order[np.minimum(np.arange(rows), len(order) - 1)]
            cols = [pos.get(lab, -1) for lab in entry.labels]
            keep = [k for k, c in enumerate(cols) if c >= 0]
            X[:, [cols[k] for k in keep]] = res.X[take][:, keep]
        w = ranked[0][1].weights[ranked[0][2][:rows]] if len(ranked) == 1 else np.ones(rows, np.int64)
        return {**energy_summary(problem.energies(X), w, bins=bins), "of": "composed rows, IR energies"}
    if all(fe is not None for fe in file_energy):
        E = np.zeros(rows)
        X = np.zeros((rows, len(manifest.labels)))
        start = 0
        for fe, (entry, res, order) in zip(file_energy, ranked):
            E += fe[np.minimum(np.arange(rows), len(fe) - 1)]
            X[:, start:start + len(entry.labels)] = res.X[order[np.minimum(np.arange(rows), len(order) - 1)]]
            start += len(entry.labels)
        cross = manifest.cross_energies(folder, X)
        if cross is not None:
            E += cross
        w = ranked[0][1].weights[ranked[0][2][:rows]] if len(ranked) == 1 else np.ones(rows, np.int64)
        return {**energy_summary(E, w, bins=bins),
                "of": "composed rows, sum of block-file energies" + (" plus cross terms" if cross is not None else "")}
    return None
