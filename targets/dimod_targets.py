"""dimod targets: one BQM (dimod's binary file, or COO text) or one CQM file per block.

``dimod-bqm`` (pipeline ``canonicalize,lower-constraints{penalty=auto}``):

* ``format=bqm`` (default) — ``NAME.bqm``: ``BinaryQuadraticModel.to_file()``
  (dimod's "DIMODBQM" binary serialisation); variables are the IR labels,
  the vartype BINARY; each block's file carries its own constant c_b (the
  penalty constants of the constraints lowered inside it, its layers' objective
  constant, the rest of the IR offset in the first block:
  :func:`qsel.targets.manifest.block_constants`).
  Read it with ``dimod.BinaryQuadraticModel.from_file(open(path, "rb"))``.
* ``format=coo`` — ``NAME.coo``: dimod's COO text (``# vartype=BINARY``
  header, then ``i i h_i`` for every variable and ``i j J_ij`` (i < j) for every
  coupling), readable by ``dimod.serialization.coo.load``. Index i is the
  block's i-th variable, ``labels[i]`` in the manifest; numbers are written in
  the shortest positional form that reads back to the same double (dimod's COO
  reader takes no exponents). COO has no constant: c_b is the block's
  ``offset`` in the manifest.

``dimod-cqm`` (pipeline ``canonicalize``): ``NAME.cqm``,
``ConstrainedQuadraticModel.to_file()``: the objective as a binary model with
the IR labels, every constraint inside the block kept as a native constraint
with its IR label (cardinality stays ``sum x == K``), the objective's offset
being the block's constant c_b. A constraint spanning two blocks is refused
(lower it, or partition so that each constraint lies in one block).

Every format has a reader here that returns the block as an IR problem whose
variable i is the manifest's ``labels[i]`` (energies of the file, without the
manifest's ``offset``/``scale``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from qsel import ir

from .base import Block, Target
from .bqm_file import write_bqm_file
from .convert import coo, to_bqm, to_cqm
from .manifest import BlockEntry

_RUN_BQM = ("dimod.BinaryQuadraticModel.from_file(open(FILE, 'rb')), sample with any dimod sampler, save "
            "json.dumps(sampleset.to_serializable()) and run `qsel compose manifest.json SAMPLES.json`; "
            "variables are IR labels; E_IR = scale * E_file + offset (+ cross terms)")
_RUN_COO = ("dimod.serialization.coo.load(open(FILE), vartype='BINARY') (or any COO reader); variable i is "
            "labels[i]; E_IR = scale * E_file + offset (+ cross terms)")
_RUN_CQM = ("dimod.ConstrainedQuadraticModel.from_file(open(FILE, 'rb')), e.g. LeapHybridCQMSampler; constraints "
            "are native and keep their IR labels; E_IR = scale * objective + offset (+ cross terms)")


def positional(v: float) -> str:
    """Shortest positional decimal that reads back to the same double (no exponent)."""
    return np.format_float_positional(float(v), unique=True, trim="-")


def write_bytes(path: Path, data: bytes) -> None:
    with ir.atomic_write(path, "wb") as fh:
        fh.write(data)


def coo_text(problem: ir.Problem, name: str) -> str:
    """dimod COO text of ``problem`` (offset not included: dimod's COO has no constant)."""
    n = problem.num_vars
    r, c, v = coo(problem)
    lines = ["# vartype=BINARY",
             f"# qsel block {name}: {n} variables (index i = labels[i] in manifest.json), {len(v)} couplings; "
             f"constant {problem.offset!r} is the block offset in manifest.json"]
    lines += [f"{i} {i} {positional(h)}" for i, h in enumerate(problem.linear.tolist())]
    lines += [f"{i} {j} {positional(w)}" for i, j, w in zip(r.tolist(), c.tolist(), v.tolist())]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class DimodBQMTarget(Target):
    """One dimod BQM per block (dimod's binary file or COO text); constraints lowered to penalties first."""

    name: ClassVar[str] = "dimod-bqm"
    description: ClassVar[str] = ("dimod BinaryQuadraticModel per block: dimod's file format (.bqm, IR labels) "
                                  "or COO text (.coo)")
    default_pipeline: ClassVar[str] = "canonicalize,lower-constraints{penalty=auto}"
    block_constraints: ClassVar[str] = "none"

    format: Literal["bqm", "coo"] = "bqm"

    def emit_block(self, block: Block, sub: ir.Problem, outdir: Path, stem: str) -> BlockEntry:
        if self.format == "coo":
            fname = f"{stem}.coo"
            with ir.atomic_write(outdir / fname, "w") as fh:
                fh.write(coo_text(sub, block.name))
            info = {"variables": sub.num_vars, "interactions": int(to_bqm(sub, check=False).num_interactions),
                    "vartype": "BINARY"}
            return BlockEntry(block.name, fname, "coo", sub.labels, offset=float(sub.offset), scale=1.0,
                              run=_RUN_COO, extra=info)
        fname = f"{stem}.bqm"
        interactions = write_bqm_file(sub, outdir / fname)  # dimod's bytes, streamed (see bqm_file)
        info = {"variables": sub.num_vars, "interactions": interactions, "vartype": "BINARY"}
        return BlockEntry(block.name, fname, "dimod-bqm", sub.labels, offset=0.0, scale=1.0, run=_RUN_BQM,
                          extra={**info, "file_offset": float(sub.offset)})


@dataclass(frozen=True)
class DimodCQMTarget(Target):
    """One dimod CQM per block: objective plus native constraints (cardinality kept as sum x == K)."""

    name: ClassVar[str] = "dimod-cqm"
    description: ClassVar[str] = "dimod ConstrainedQuadraticModel per block (.cqm): constraints stay native, by label"
    default_pipeline: ClassVar[str] = "canonicalize"
    block_constraints: ClassVar[str] = "inside"

    def emit_block(self, block: Block, sub: ir.Problem, outdir: Path, stem: str) -> BlockEntry:
        cqm = to_cqm(sub)
        fname = f"{stem}.cqm"
        with cqm.to_file() as fh:
            write_bytes(outdir / fname, fh.read())
        return BlockEntry(block.name, fname, "dimod-cqm", sub.labels, offset=0.0, scale=1.0, run=_RUN_CQM,
                          extra={"variables": sub.num_vars, "constraints": [c.label for c in sub.constraints],
                                 "file_offset": float(sub.offset)})


# ------------------------------------------------------------------ readers
def problem_from_bqm(bqm, labels: list[str], where: str) -> ir.Problem:
    """An IR problem over ``labels`` (in that order) with the BQM's energies; BINARY or SPIN (x = (1 + s)/2)."""
    import dimod

    bqm = bqm.change_vartype(dimod.BINARY, inplace=False) if bqm.vartype is dimod.SPIN else bqm.copy()
    have = set(bqm.variables)
    missing = [lab for lab in labels if lab not in have]
    extra = [v for v in bqm.variables if v not in set(labels)]
    if extra:
        raise ir.QselError(f"{where}: variable {extra[0]!r} is not one of the block's {len(labels)} variables")
    for lab in missing:
        bqm.add_variable(lab, 0.0)
    lin, (r, c, q), off = bqm.to_numpy_vectors(variable_order=labels)
    return ir.Problem(ir.Variables.from_labels(labels), np.asarray(lin, np.float64), float(off),
                      sparse=ir.Couplings.from_arrays(r, c, q))


def read_bqm_file(path: Path, labels: list[str]) -> ir.Problem:
    from .bqm_file import load_bqm

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ir.QselError(f"{path}: no such file") from None
    except OSError as exc:
        raise ir.QselError(f"{path}: cannot read: {exc.strerror or exc}") from None
    bqm = load_bqm(data, str(path))
    return problem_from_bqm(bqm, labels, str(path))


def read_coo_file(path: Path, labels: list[str]) -> ir.Problem:
    """dimod COO text: integer indices into ``labels``; values may be written with exponents too."""
    n = len(labels)
    h = np.zeros(n)
    rows, cols, vals = [], [], []
    from .textfiles import read_bytes, text_of

    lines = text_of(path, read_bytes(path), "a dimod COO text file").splitlines()
    for lineno, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        try:
            i, j, w = int(parts[0]), int(parts[1]), float(parts[2])
            if len(parts) != 3:
                raise ValueError
        except (ValueError, IndexError):
            raise ir.QselError(f"{path}:{lineno}: expected 'i j bias', found {text!r}") from None
        if not (0 <= i < n and 0 <= j < n):
            raise ir.QselError(f"{path}:{lineno}: index out of range (the block has {n} variables)")
        if not np.isfinite(w):
            raise ir.QselError(f"{path}:{lineno}: bias {parts[2]!r} is not a finite number")
        if i == j:
            h[i] += w
        else:
            rows.append(i)
            cols.append(j)
            vals.append(w)
    return ir.Problem(ir.Variables.from_labels(labels), h, 0.0, sparse=ir.Couplings.from_arrays(rows, cols, vals))


def problem_from_cqm(cqm, labels: list[str], where: str, names: list[str] | None = None) -> ir.Problem:
    """The CQM's objective and constraints as an IR problem over ``labels``; ``names[i]`` is the file's
    name of ``labels[i]`` when the file does not use the IR labels (LP files)."""
    names = labels if names is None else names
    pos = {nm: i for i, nm in enumerate(names)}
    unknown = [v for v in cqm.variables if v not in pos]
    if unknown:
        raise ir.QselError(f"{where}: variable {unknown[0]!r} is not one of the block's {len(labels)} variables")
    obj = cqm.objective
    h = np.zeros(len(labels))
    for v, w in obj.linear.items():
        h[pos[v]] += w
    quad = list(obj.quadratic.items())
    rows = [pos[u] for (u, _), _ in quad]
    cols = [pos[v] for (_, v), _ in quad]
    vals = [float(w) for _, w in quad]
    cons = []
    for label, con in cqm.constraints.items():
        lhs = con.lhs
        if not lhs.is_linear():
            raise ir.QselError(f"{where}: constraint {label!r} is quadratic; the IR keeps linear constraints only")
        terms = [(pos[v], float(w)) for v, w in lhs.linear.items()]
        idx = np.asarray([t[0] for t in terms], np.int64)
        coeffs = np.asarray([t[1] for t in terms], np.float64)
        sense = {"==": ir.Sense.EQ, "<=": ir.Sense.LE, ">=": ir.Sense.GE}[con.sense.value]
        cons.append(ir.Constraint(str(label), idx, coeffs, sense, float(con.rhs) - float(lhs.offset)))
    return ir.Problem(ir.Variables.from_labels(labels), h, float(obj.offset),
                      sparse=ir.Couplings.from_arrays(rows, cols, vals), constraints=tuple(cons))


def read_cqm_file(path: Path, labels: list[str]) -> ir.Problem:
    import dimod

    try:
        with open(path, "rb") as fh:
            cqm = dimod.ConstrainedQuadraticModel.from_file(fh)
    except FileNotFoundError:
        raise ir.QselError(f"{path}: no such file") from None
    except Exception as exc:
        raise ir.QselError(f"{path}: not a dimod CQM file ({exc})") from None
    return problem_from_cqm(cqm, labels, str(path))


TARGETS = (DimodBQMTarget, DimodCQMTarget)
