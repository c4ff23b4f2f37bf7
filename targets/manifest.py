"""manifest.json: what ``qsel emit`` wrote and how to compose results back into IR assignments.

One entry per subproblem file. ``labels[i]`` is the IR label of the file's
i-th variable (in the file's own variable order), so a sample produced
anywhere — a D-Wave SampleSet, qiskit counts, an OpenQAOA result — maps back
to IR variables. The energy of the block's variables in the IR is
``scale * E_file(x) + offset`` (plus cross terms to other blocks, listed as
``cross_terms`` when partitions were solved independently).

So for an assignment x of the emitted IR (fixed variables from ``fixed``):

    E_IR(x) = sum_blocks (scale_b * E_file_b(x_b) + offset_b) + (cross terms between blocks)

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

FORMAT = "qsel-manifest"
VERSION = 1


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

    @classmethod
    def for_problem(cls, problem: ir.Problem, target: str, options: dict[str, Any], blocks: list[BlockEntry],
                    block_indices: Sequence[np.ndarray] | None = None, **extra: Any) -> "Manifest":
        """A manifest for ``blocks`` emitted from ``problem``, with every IR-level record filled in.

        ``block_indices`` (IR indices per block) lets it count the couplings between blocks."""
        meta = problem.metadata

        def as_dict(key: str) -> dict:
            v = meta.get(key, {})
            return dict(v) if isinstance(v, dict) else {}

        cross = 0
        if block_indices is not None and len(block_indices) > 1:
            from .convert import coo

            owner = np.full(problem.num_vars, -1, dtype=np.int64)
            for b, idx in enumerate(block_indices):
                owner[np.asarray(idx, dtype=np.int64)] = b
            r, c, _ = coo(problem)
            cross = int(np.count_nonzero(owner[r] != owner[c]))
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
                   lowered_constraints=list(lowered) if isinstance(lowered, (list, dict)) else [])

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
                 "provenance", "constraints", "lowered_constraints")
        rest = {k: d[k] for k in known if k in d}
        for key in ("fixed", "fixed_provenance", "penalties", "scale", "compile", "extra", "provenance"):
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
