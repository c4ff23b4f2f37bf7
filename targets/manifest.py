"""manifest.json: what ``qsel emit`` wrote and how to compose results back into IR assignments.

One entry per subproblem file. ``labels[i]`` is the IR label of the file's
i-th variable (in the file's own variable order), so a sample produced
anywhere — a D-Wave SampleSet, qiskit counts, an OpenQAOA result — maps back
to IR variables.

**Energies.** Write the emitted IR as E_IR(x) = c + h.x + sum_{i<j} J_ij x_i x_j
and let the blocks B_1 .. B_m split its variables. Block b's energy is

    E_b(x_b) = c_b + sum_{i in B_b} h_i x_i + sum_{i<j both in B_b} J_ij x_i x_j
             = E_IR(x with block b at x_b, every other variable at 0) - sum_{b' != b} c_b'

with block constants c_b = E_b(0) that sum to c (:func:`block_constants` says
which part of c each block gets), and cross(x) = sum of J_ij x_i x_j over pairs
in different blocks. Each block file holds E_b, up to the entry's ``scale`` and
``offset``: E_b(x_b) = scale_b * E_file_b(x_b) + offset_b (the constant c_b
lies in the file where the format has one: dimod BQM/CQM, LP, Ising JSON; else
in ``offset``). So for every assignment x of the emitted IR, exactly:

    E_IR(x) = sum_blocks (scale_b * E_file_b(x_b) + offset_b) + cross(x)

The couplings of cross(x) are written next to the manifest, in
``cross_terms.npz`` (``energy["cross_file"]``; arrays ``labels`` — the
manifest's :attr:`Manifest.labels` — and ``rows``, ``cols`` (positions in
``labels``), ``vals``: cross(x) = sum_k vals[k] x[rows[k]] x[cols[k]]); their
number is ``cross_terms``. ``energy`` states the identity and the
block-constant rule; each block's ``extra["constant"]`` gives c_b and its parts.

Besides the blocks, the manifest keeps what composing results needs without
the IR: ``provenance`` (label -> layer/unit/output/granularity, for decoding
masks), ``constraints`` (the IR's remaining constraints by label),
``lowered_constraints`` (the original constraints a penalty pass replaced,
as the pass recorded them) — so feasibility is reported by constraint label —
plus ``penalties`` and ``scale`` (E_original = E_IR / scale["factor"]).
:meth:`Manifest.skeleton` rebuilds a term-free IR problem from all this.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from qsel import ir
from qsel.ir.jsonfile import read_document, write_json
from qsel.ir.terms import row_tiles

FORMAT = "qsel-manifest"
VERSION = 1
CROSS_FILE = "cross_terms.npz"
# cross(x) has O(n^2) couplings on a dense layer: beyond this many the file is not written (the IR holds them)
CROSS_FILE_MAX = 20_000_000
IDENTITY = "E_IR(x) = sum_b (scale_b * E_file_b(x_b) + offset_b) + cross(x)"
CONSTANT_RULE = (
    "c_b = E_b(0) = scale_b * E_file_b(0) + offset_b is: the constants P b^2 of the penalties lowered from "
    "constraints whose variables (and slack bits) all lie in block b (metadata.lowered_constraints[].constant, "
    "times the scale factor applied since), plus the objective constant of every layer whose first block (in "
    "manifest order) is b (metadata.layers[L].offset, e.g. ||T||^2/m, times the scale factor), plus, in the "
    "first block only, the rest of the IR offset: objective constants without layer provenance, penalty "
    "constants of constraints spanning blocks, and constants from fixed or clamped variables")


@dataclass
class BlockConstants:
    """How the IR offset c splits into block constants: ``values[b]`` = c_b, sum_b c_b = c."""

    values: np.ndarray  # (blocks,) float64
    parts: list[dict[str, Any]]  # per block: {"value", "penalties": {label: v}, "layers": {name: v}, "rest"}
    rest_block: int = 0


def block_constants(problem: ir.Problem, index_sets: Sequence[np.ndarray]) -> BlockConstants:
    """Split ``problem.offset`` into one constant per block (IR indices per block in ``index_sets``).

    With c_b as below, E_b(x_b) := c_b + (the linear and quadratic terms inside block b) satisfies
    E_IR(x) = sum_b E_b(x_b) + cross(x) exactly, for any split with sum_b c_b = c. The split follows
    provenance (:data:`CONSTANT_RULE`), with F the current cumulative scale factor:

    * a penalty P (a.x + w.s - b)^2 lowered by ``lower-constraints`` adds P b^2 to c (recorded as
      ``constant`` with the factor F_k then in force): F / F_k * P b^2 goes to the block holding all of the
      constraint's remaining variables and slack bits, so that block's energy of a feasible x_b (best
      slack) is its objective part, penalty 0;
    * the objective constant of layer L (``metadata["layers"][L]["offset"]``, written by the frontend before
      any pass: F_L = 1) goes to the first block holding a variable of layer L;
    * the rest, c - (all of the above), goes to the first block (``rest_block`` = 0): objective constants
      without layer provenance, penalties of constraints spanning blocks or fixed away, constants folded in
      by fix-variables or clamping. So the identity holds whatever the metadata says."""
    from qsel.passes.mapping import scale_factor

    nb = len(index_sets)
    n = problem.num_vars
    owner = np.full(n, -1, dtype=np.int64)
    for b, idx in enumerate(index_sets):
        owner[np.asarray(idx, dtype=np.int64)] = b
    parts: list[dict[str, Any]] = [{"value": 0.0, "penalties": {}, "layers": {}, "rest": 0.0} for _ in range(nb)]
    values = np.zeros(nb)
    if not nb:
        return BlockConstants(values, parts)
    try:
        factor = scale_factor(problem)
    except ir.QselError:
        factor = 1.0
    meta = problem.metadata
    pos = problem.variables.index
    records = meta.get("lowered_constraints", [])
    for rec in records if isinstance(records, list) else []:
        if not isinstance(rec, dict) or not _number(rec.get("constant")):
            continue
        at = _number(rec.get("scale_factor")) and rec["scale_factor"] > 0
        value = float(rec["constant"]) * factor / (float(rec["scale_factor"]) if at else 1.0)
        labels = [*(rec.get("variables") or []), *(rec.get("slack") or [])]
        idx = np.array([pos[lab] for lab in labels if isinstance(lab, str) and lab in pos], dtype=np.int64)
        owners = np.unique(owner[idx])
        if value != 0.0 and owners.size == 1 and owners[0] >= 0:
            b = int(owners[0])
            values[b] += value
            parts[b]["penalties"][str(rec.get("label"))] = value
    layers = meta.get("layers")
    v = problem.variables
    for name, info in (layers.items() if isinstance(layers, dict) else ()):
        if not isinstance(info, dict) or not _number(info.get("offset")) or name not in v.layer_names:
            continue
        held = owner[v.layer == v.layer_names.index(name)]
        held = held[held >= 0]
        if held.size and info["offset"] != 0:
            b = int(held.min())
            values[b] += float(info["offset"]) * factor
            parts[b]["layers"][str(name)] = float(info["offset"]) * factor
    rest = float(problem.offset) - float(values.sum())
    values[0] += rest
    parts[0]["rest"] = rest
    for b in range(nb):
        parts[b]["value"] = float(values[b])
    return BlockConstants(values, parts, 0)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def cross_couplings(problem: ir.Problem, index_sets: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray,
                                                                                       np.ndarray]:
    """(rows, cols, vals) in IR indices of the couplings J_ij whose ends lie in different blocks (or in none).

    Dense blocks are scanned in row tiles, so a large layer never expands into n^2 index arrays (a pair
    stored by several terms is summed into one coupling); one block holding every variable has none."""
    owner = np.full(problem.num_vars, -1, dtype=np.int64)
    for b, idx in enumerate(index_sets):
        owner[np.asarray(idx, dtype=np.int64)] = b
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if not problem.num_vars or (owner[0] >= 0 and np.all(owner == owner[0])):
        return empty
    rows, cols, vals = [empty[0]], [empty[1]], [empty[2]]
    for block in problem.dense:
        o = owner[block.index]
        for r0, m in row_tiles(block.matrix):
            i, j = np.nonzero((m != 0) & (o[r0:r0 + m.shape[0], None] != o[None, :]))
            rows.append(block.index[i + r0])
            cols.append(block.index[j])
            vals.append(m[i, j])
    sp = problem.sparse
    cut = (sp.vals != 0) & (owner[sp.rows] != owner[sp.cols])
    rows.append(sp.rows[cut].astype(np.int64))
    cols.append(sp.cols[cut].astype(np.int64))
    vals.append(sp.vals[cut])
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    r, c = np.minimum(r, c), np.maximum(r, c)
    n = problem.num_vars
    keys, inverse = np.unique(r * n + c, return_inverse=True)  # a pair stored by several terms: one coupling
    summed = np.bincount(inverse.ravel(), weights=v, minlength=keys.size)
    keep = summed != 0
    return keys[keep] // n, keys[keep] % n, summed[keep]


@dataclass
class BlockEntry:
    name: str
    file: str  # path relative to the manifest's folder
    format: str  # e.g. "dimod-bqm", "coo", "qubo", "lp", "openqaoa-json", "qasm3", "qpy"
    labels: list[str]
    offset: float = 0.0
    scale: float = 1.0
    run: str = ""  # how the file is meant to be run
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Manifest:
    target: str
    options: dict[str, Any]
    num_vars: int
    blocks: list[BlockEntry]
    fixed: dict[str, int] = field(default_factory=dict)
    fixed_provenance: dict[str, dict] = field(default_factory=dict)
    penalties: dict[str, float] = field(default_factory=dict)
    scale: dict[str, Any] = field(default_factory=dict)
    cross_terms: int = 0  # couplings between blocks that no single file contains
    compile: dict[str, Any] = field(default_factory=dict)  # the IR's source/calibration/objective/layers
    extra: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, dict] = field(default_factory=dict)  # label -> {layer, unit, output, granularity}
    constraints: list[dict] = field(default_factory=list)  # [{label, labels, coeffs, sense, rhs}] still in the IR
    lowered_constraints: list = field(default_factory=list)  # metadata["lowered_constraints"] of the IR, verbatim
    energy: dict[str, Any] = field(default_factory=dict)  # identity, block-constant rule, cross_file

    @classmethod
    def for_problem(cls, problem: ir.Problem, target: str, options: dict[str, Any], blocks: list[BlockEntry],
                    block_indices: Sequence[np.ndarray] | None = None, *, constants: BlockConstants | None = None,
                    **extra: Any) -> "Manifest":
        """A manifest for ``blocks`` emitted from ``problem``, with every IR-level record filled in.

        ``block_indices`` (IR indices per block) lets it count the couplings between blocks; ``constants``
        (:func:`block_constants`, how the blocks were given their constants) is stated in ``energy``."""
        meta = problem.metadata

        def as_dict(key: str) -> dict:
            v = meta.get(key, {})
            return dict(v) if isinstance(v, dict) else {}

        cross = 0
        if block_indices is not None and len(block_indices) > 1:
            cross = int(cross_couplings(problem, block_indices)[0].shape[0])
        energy: dict[str, Any] = {"identity": IDENTITY, "cross_file": None}
        if constants is not None:
            energy.update(block_constant=CONSTANT_RULE,
                          rest_block=blocks[constants.rest_block].name if blocks else None)
        labels = problem.labels
        v = problem.variables
        prov = {}
        for i in np.flatnonzero((v.layer >= 0) & (v.unit >= 0)).tolist():
            prov[labels[i]] = {"layer": v.layer_of(i), "unit": int(v.unit[i]), "output": int(v.output[i]),
                               "granularity": v.granularity_of(i).value}
        constraints = [{"label": c.label, "labels": [labels[i] for i in c.indices.tolist()],
                        "coeffs": [float(w) for w in c.coeffs.tolist()], "sense": c.sense.value,
                        "rhs": float(c.rhs)} for c in problem.constraints]
        lowered = meta.get("lowered_constraints", [])
        history = meta.get("history", [])
        return cls(target=target, options=dict(options), num_vars=problem.num_vars, blocks=list(blocks),
                   fixed={k: int(x) for k, x in as_dict("fixed").items()},
                   fixed_provenance=as_dict("fixed_provenance"), penalties=as_dict("penalties"),
                   scale=as_dict("scale"), cross_terms=cross,
                   compile={k: meta[k] for k in ("source", "calibration", "objective", "layers") if k in meta},
                   extra={**({"history": history} if history else {}), **extra},
                   provenance=prov, constraints=constraints,
                   lowered_constraints=list(lowered) if isinstance(lowered, (list, dict)) else [], energy=energy)

    def write_cross_terms(self, problem: ir.Problem, folder: str | Path) -> str | None:
        """Write the couplings between blocks to ``folder``/cross_terms.npz (positions in :attr:`labels`) and
        record the file in ``energy["cross_file"]``; None (nothing written) when there are none or more than
        :data:`CROSS_FILE_MAX` (then ``energy["cross_file_omitted"]`` says why)."""
        labels = self.labels
        pos = problem.variables.index
        idx = np.array([pos[lab] for lab in labels if lab in pos], dtype=np.int64)
        sets, k = [], 0
        for b in self.blocks:
            sets.append(idx[k:k + len(b.labels)])
            k += len(b.labels)
        r, c, v = cross_couplings(problem, sets)
        self.energy["cross_file"] = None
        if not v.size:
            return None
        if v.size > CROSS_FILE_MAX:
            self.energy["cross_file_omitted"] = (f"{v.size} couplings between blocks (more than {CROSS_FILE_MAX}); "
                                                 f"give the IR (--ir) for cross(x)")
            return None
        if len(idx) != len(labels):
            raise ir.QselError("manifest: a block file names a variable the IR does not have (internal error)")
        where = np.full(problem.num_vars, -1, dtype=np.int64)
        where[idx] = np.arange(idx.size)
        if (where[r] < 0).any() or (where[c] < 0).any():
            raise ir.QselError("manifest: a coupling touches a variable that no block holds (internal error)")
        with ir.atomic_write(Path(folder) / CROSS_FILE, "wb") as fh:
            np.savez(fh, labels=np.array(labels, dtype=np.str_), rows=where[r], cols=where[c], vals=v)
        self.energy["cross_file"] = CROSS_FILE
        return CROSS_FILE

    def cross_energies(self, folder: str | Path, X: np.ndarray) -> np.ndarray | None:
        """cross(x) for rows X over :attr:`labels` (read from the cross-terms file); zeros when no coupling
        joins two blocks; None when the couplings were not written (old manifests, very large cuts)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        name = self.energy.get("cross_file") if isinstance(self.energy, dict) else None
        if not name:
            return np.zeros(X.shape[0]) if self.cross_terms == 0 else None
        path = Path(folder) / str(name)
        labels, r, c, v = self._read_cross(path)
        n = len(self.labels)
        if labels != self.labels or not (r.shape == c.shape == v.shape) or r.ndim != 1:
            raise ir.QselError(f"{path}: its labels or arrays do not match the manifest's blocks")
        if r.dtype.kind not in "iu" or c.dtype.kind not in "iu" or v.dtype.kind != "f":
            raise ir.QselError(f"{path}: not a qsel cross-terms file (rows and cols must be integers, vals floats)")
        if r.size and (min(r.min(), c.min()) < 0 or max(r.max(), c.max()) >= n or not np.isfinite(v).all()):
            raise ir.QselError(f"{path}: a cross term's variable index lies outside 0..{n - 1} or its value is "
                               f"not finite")
        return (X[:, r] * X[:, c]) @ v

    def _read_cross(self, path: Path) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
        """The arrays of a cross-terms ``.npz``, refusing more uncompressed bytes than the manifest's
        ``cross_terms`` count (at most :data:`CROSS_FILE_MAX`) can need (a zip bomb would otherwise inflate in
        memory), and any damage."""
        import zipfile
        import zlib

        labels = self.labels
        terms = min(max(int(self.cross_terms), 0), CROSS_FILE_MAX)
        # int64 rows and cols, float64 vals per term; labels as UCS-4 of the longest; 64 KiB of zip and npy headers
        bound = (1 << 16) + 24 * terms + 4 * len(labels) * max((len(lab) for lab in labels), default=0)
        try:
            with zipfile.ZipFile(path) as zf:
                size = sum(info.file_size for info in zf.infolist())
            if size > bound:
                raise ir.QselError(f"{path}: {size} bytes uncompressed, more than the {self.cross_terms} cross "
                                   f"terms the manifest declares can need ({bound})")
            with np.load(path, allow_pickle=False) as z:
                return list(z["labels"].tolist()), z["rows"], z["cols"], z["vals"]
        except FileNotFoundError:
            raise ir.QselError(f"{path}: no such file (the manifest's cross terms)") from None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError) as exc:
            raise ir.QselError(f"{path}: not a qsel cross-terms file ({type(exc).__name__}: {exc})") from None

    @property
    def labels(self) -> list[str]:
        """Every variable of the emitted IR that some block file holds, in block order."""
        return [lab for b in self.blocks for lab in b.labels]

    def skeleton(self) -> ir.Problem:
        """A term-free IR problem over the blocks' variables with their provenance, the remaining constraints,
        and the metadata decoding needs (fixed variables, layers, scale, lowered constraints): energies are 0,
        but masks, feasibility and broken-constraint labels come out as from the real IR."""
        labels = self.labels
        n = len(labels)
        layers, units, outputs, grans = [], np.full(n, -1, np.int64), np.full(n, -1, np.int64), []
        for i, lab in enumerate(labels):
            p = self.provenance.get(lab)
            layers.append(p["layer"] if p else None)
            grans.append(p["granularity"] if p else "generic")
            if p:
                units[i], outputs[i] = int(p["unit"]), int(p.get("output", -1))
        variables = ir.Variables.build(labels, layer=layers, unit=units, output=outputs, granularity=grans)
        pos = {lab: i for i, lab in enumerate(labels)}
        cons = []
        for c in self.constraints:
            idx, coeffs, rhs = [], [], float(c["rhs"])
            for lab, w in zip(c["labels"], c["coeffs"]):
                if lab in pos:
                    idx.append(pos[lab])
                    coeffs.append(float(w))
                elif lab in self.fixed:
                    rhs -= float(w) * self.fixed[lab]
                else:
                    raise ir.QselError(f"manifest: constraint {c['label']!r} names {lab!r}, which is in no block "
                                       f"and not fixed")
            cons.append(ir.Constraint(c["label"], np.asarray(idx, np.int64), np.asarray(coeffs, np.float64),
                                      ir.Sense(c["sense"]), rhs))
        meta: dict[str, Any] = dict(self.compile)
        for key, value in (("fixed", self.fixed), ("fixed_provenance", self.fixed_provenance),
                           ("scale", self.scale), ("penalties", self.penalties),
                           ("lowered_constraints", self.lowered_constraints)):
            if value:
                meta[key] = value
        return ir.Problem(variables, np.zeros(n), 0.0, constraints=tuple(cons), metadata=meta)

    def to_json(self) -> dict:
        d = asdict(self)
        return {"format": FORMAT, "version": VERSION, **d}

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "Manifest":
        where = str(path)
        d = read_document(path, FORMAT, VERSION, "qsel manifest")
        missing = [k for k in ("target", "options", "num_vars", "blocks") if k not in d]
        if missing:
            raise ir.QselError(f"{where}: malformed manifest: missing {', '.join(repr(k) for k in missing)}")
        if not isinstance(d["options"], dict) or not isinstance(d["target"], str):
            raise ir.QselError(f"{where}: malformed manifest: 'target' must be a string and 'options' an object")
        if not isinstance(d["num_vars"], int) or isinstance(d["num_vars"], bool) or d["num_vars"] < 0:
            raise ir.QselError(f"{where}: malformed manifest: 'num_vars' must be a non-negative integer")
        if not isinstance(d["blocks"], list):
            raise ir.QselError(f"{where}: malformed manifest: 'blocks' must be a list")
        blocks = [_block_entry(b, k, where) for k, b in enumerate(d["blocks"])]
        names = [b.name for b in blocks]
        if len(set(names)) != len(names):
            dup = next(nm for nm in names if names.count(nm) > 1)
            raise ir.QselError(f"{where}: malformed manifest: two blocks are named {dup!r}")
        seen: dict[str, str] = {}
        for b in blocks:
            for lab in b.labels:
                if lab in seen and seen[lab] != b.name:
                    raise ir.QselError(f"{where}: variable {lab!r} is in blocks {seen[lab]!r} and {b.name!r}")
                seen[lab] = b.name
        known = ("fixed", "fixed_provenance", "penalties", "scale", "cross_terms", "compile", "extra",
                 "provenance", "constraints", "lowered_constraints", "energy")
        rest = {k: d[k] for k in known if k in d}
        for key in ("fixed", "fixed_provenance", "penalties", "scale", "compile", "extra", "provenance", "energy"):
            if key in rest and not isinstance(rest[key], dict):
                raise ir.QselError(f"{where}: malformed manifest: {key!r} must be an object")
        if not all(isinstance(v, (int, float)) and v in (0, 1) for v in rest.get("fixed", {}).values()):
            raise ir.QselError(f"{where}: malformed manifest: 'fixed' values must be 0 or 1")
        for key in ("constraints", "lowered_constraints"):
            if key in rest and not isinstance(rest[key], list):
                raise ir.QselError(f"{where}: malformed manifest: {key!r} must be a list")
        for k, c in enumerate(rest.get("constraints", [])):
            ok = (isinstance(c, dict) and isinstance(c.get("label"), str) and isinstance(c.get("labels"), list)
                  and isinstance(c.get("coeffs"), list) and len(c["labels"]) == len(c["coeffs"])
                  and c.get("sense") in ("==", "<=", ">=") and isinstance(c.get("rhs"), (int, float)))
            if not ok:
                raise ir.QselError(f"{where}: malformed manifest: constraint {k} needs label, labels, coeffs "
                                   f"(same length), sense (==, <=, >=) and a numeric rhs")
        cross_file = rest.get("energy", {}).get("cross_file")
        if cross_file is not None and (not isinstance(cross_file, str) or "/" in cross_file or "\\" in cross_file
                                       or cross_file in ("", ".", "..") or not cross_file.isprintable()):
            raise ir.QselError(f"{where}: malformed manifest: energy.cross_file must be a file name next to it")
        cross = rest.get("cross_terms", 0)
        if not isinstance(cross, int) or isinstance(cross, bool):
            raise ir.QselError(f"{where}: malformed manifest: 'cross_terms' must be an integer")
        return cls(blocks=blocks, target=d["target"], options=dict(d["options"]), num_vars=d["num_vars"], **rest)


def _block_entry(b: Any, k: int, where: str) -> BlockEntry:
    """One manifest block, checked field by field (errors name the file, the block and the field)."""
    if not isinstance(b, dict):
        raise ir.QselError(f"{where}: block {k} must be an object")
    name = b.get("name", k)
    head = f"{where}: block {k} ({name!r})"
    for key in ("name", "file", "format"):
        if not isinstance(b.get(key), str) or not b[key]:
            raise ir.QselError(f"{head}: {key!r} must be a non-empty string")
    if not b["file"].isprintable():  # a NUL byte made path resolution raise ValueError (found by the fuzz)
        raise ir.QselError(f"{head}: 'file' {b['file']!r} has control or non-printable characters")
    labels = b.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ir.QselError(f"{head}: 'labels' must be a list of variable labels (strings)")
    if len(set(labels)) != len(labels):
        raise ir.QselError(f"{head}: 'labels' lists a variable twice")
    for key in ("offset", "scale"):
        if key in b and (not isinstance(b[key], (int, float)) or isinstance(b[key], bool)
                         or not math.isfinite(b[key])):
            raise ir.QselError(f"{head}: {key!r} must be a finite number")
    if "scale" in b and b["scale"] == 0:
        raise ir.QselError(f"{head}: 'scale' must not be 0")
    unknown = set(b) - {"name", "file", "format", "labels", "offset", "scale", "run", "extra"}
    if unknown:
        raise ir.QselError(f"{head}: unknown field(s) {', '.join(sorted(map(repr, unknown)))}")
    if "extra" in b and not isinstance(b["extra"], dict):
        raise ir.QselError(f"{head}: 'extra' must be an object")
    return BlockEntry(name=b["name"], file=b["file"], format=b["format"], labels=list(labels),
                      offset=float(b.get("offset", 0.0)), scale=float(b.get("scale", 1.0)),
                      run=str(b.get("run", "")), extra=dict(b.get("extra", {})))
