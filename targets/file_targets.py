"""Solver files: qbsolv ``.qubo`` text and LP with a quadratic objective, one file per block.

``qubo`` (pipeline ``canonicalize,lower-constraints{penalty=auto}``) writes
``NAME.qubo`` in qbsolv's format::

    c comment lines start with c in column 1
    p qubo 0 N N M          topology 0 (unconstrained), maxNodes, nNodes, nCouplers
    i i Q_ii                N node lines, one per variable (0 <= i < N)
    i j Q_ij                M coupler lines, i < j, no duplicates, no zeros

minimising E(x) = sum_i Q_ii x_i + sum_{i<j} Q_ij x_i x_j. Node i is the
block's i-th variable (``labels[i]`` in the manifest); the format has no
constant, so the block's constant c_b (its penalties' P b^2, its layers'
objective constant; see :func:`qsel.targets.manifest.block_constants`) is the
block's ``offset`` in the manifest. Numbers
are the shortest strings that read back to the same double.

``lp`` (pipeline ``canonicalize``: constraints stay native) writes ``NAME.lp``
in the CPLEX LP format that MIQP solvers read (CPLEX, Gurobi, HiGHS, SCIP,
dimod.lp)::

    Minimize
     obj:
      + h_i x_i ...
      + [ 2 J_ij x_i * x_j ... ] / 2        quadratic terms, LP's [ ] / 2 convention
      + c                                   the block's constant c_b (manifest.block_constants)
    Subject To
     LABEL: + c_k x_k ... = rhs             constraints inside the block, by IR label
    Binaries
     x_i ...
    End

Variables keep their IR labels when every label of the block is a valid LP
name (letters, digits, ``_`` and ``.``, not starting with a digit, ``.``,
``e``/``E``, not a keyword); otherwise they are named ``x0 .. x{n-1}``. The
manifest records the names (``extra["names"]``); constraint names likewise
(``c0 ..`` when a label is not LP-safe, ``extra["constraint_names"]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


from qsel import ir

from . import qubo_format
from .base import Block, Target
from .convert import coo
from .manifest import BlockEntry
from .textfiles import read_bytes, text_of

_RUN_QUBO = ("qbsolv -i FILE (minimises); node i is labels[i]; E_IR = scale * E_file + offset (+ cross terms); "
             "write the solution as a dimod SampleSet JSON or qiskit-style counts for `qsel compose`")
_RUN_LP = ("any MIQP solver, e.g. `cplex -c 'read FILE' optimize`, `gurobi_cl FILE`, HiGHS, or dimod.lp.load(FILE); "
           "variable names in extra.names map to labels; E_IR = scale * objective + offset (+ cross terms)")

_LP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,254}\Z")
_LP_KEYWORDS = {
    "minimize", "minimise", "minimum", "min", "maximize", "maximise", "maximum", "max", "subject", "to", "st",
    "such", "that", "bound", "bounds", "binary", "binaries", "bin", "general", "generals", "gen", "integer",
    "integers", "semi", "semis", "semi-continuous", "sos", "end", "free", "inf", "infinity", "obj",
}


def lp_safe(name: str) -> bool:
    return bool(_LP_NAME.match(name)) and name[0] not in "eE" and name.lower() not in _LP_KEYWORDS


def lp_names(labels: list[str], prefix: str) -> list[str]:
    """The labels themselves when all are LP-safe (and distinct ignoring case), else prefix0 .. prefix{n-1}."""
    if all(lp_safe(lab) for lab in labels) and len({lab.lower() for lab in labels}) == len(labels):
        return list(labels)
    return [f"{prefix}{i}" for i in range(len(labels))]


def _num(v: float) -> str:
    return repr(float(v))


def _term(coef: float, name: str) -> str:
    return f"{'-' if coef < 0 else '+'} {_num(abs(coef))} {name}"


# ------------------------------------------------------------------ qubo
def qubo_text(problem: ir.Problem, name: str) -> str:
    """``.qubo`` text of an unconstrained block; :func:`qubo_format.dumps`."""
    return qubo_format.dumps(problem, name)


def read_qubo_file(path: Path, labels: list[str]) -> ir.Problem:
    """A ``.qubo`` block file over ``labels`` (node i = labels[i]); :func:`qubo_format.load`."""
    return qubo_format.load(path, labels)


@dataclass(frozen=True)
class QuboTarget(Target):
    """qbsolv .qubo text per block (constraints lowered to penalties first)."""

    name: ClassVar[str] = "qubo"
    description: ClassVar[str] = "qbsolv .qubo text per block (node i = labels[i]; offset in the manifest)"
    default_pipeline: ClassVar[str] = "canonicalize,lower-constraints{penalty=auto}"
    block_constraints: ClassVar[str] = "none"

    def emit_block(self, block: Block, sub: ir.Problem, outdir: Path, stem: str) -> BlockEntry:
        fname = f"{stem}.qubo"
        with ir.atomic_write(outdir / fname, "w") as fh:
            fh.write(qubo_text(sub, block.name))
        return BlockEntry(block.name, fname, "qubo", sub.labels, offset=float(sub.offset), scale=1.0, run=_RUN_QUBO,
                          extra={"variables": sub.num_vars, "couplers": int(len(coo(sub)[2]))})


# ------------------------------------------------------------------ lp
def lp_text(problem: ir.Problem, name: str, names: list[str], con_names: list[str]) -> str:
    r, c, v = coo(problem)
    out = [f"\\ qsel block {name}: {problem.num_vars} binary variables, {len(v)} couplings, "
           f"{len(problem.constraints)} constraints",
           "\\ variable names map to IR labels through manifest.json (extra.names)",
           "Minimize", " obj:"]
    terms = [f"  {_term(w, names[i])}" for i, w in enumerate(problem.linear.tolist()) if w != 0]
    if len(v):
        terms.append("  + [")
        terms += [f"  {'-' if w < 0 else '+'} {_num(2.0 * abs(w))} {names[i]} * {names[j]}"
                  for i, j, w in zip(r.tolist(), c.tolist(), v.tolist())]
        terms.append("  ] / 2")
    if problem.offset != 0:
        terms.append(f"  {'-' if problem.offset < 0 else '+'} {_num(abs(problem.offset))}")
    if not terms:
        terms.append(f"  + 0 {names[0]}")
    out += terms
    out.append("Subject To")
    for con, cname in zip(problem.constraints, con_names):
        lhs = " ".join(_term(w, names[i]) for i, w in zip(con.indices.tolist(), con.coeffs.tolist()))
        sense = "=" if con.sense is ir.Sense.EQ else con.sense.value
        out.append(f" {cname}: {lhs or '0 ' + names[0]} {sense} {_num(con.rhs)}")
    out.append("Binaries")
    for k in range(0, len(names), 10):
        out.append(" " + " ".join(names[k:k + 10]))
    out.append("End")
    return "\n".join(out) + "\n"


def read_lp_file(path: Path, labels: list[str], names: list[str] | None = None) -> ir.Problem:
    """Read an LP file back with dimod's LP reader (a real one) into an IR problem over ``labels``."""
    import dimod

    from .dimod_targets import problem_from_cqm

    text = text_of(path, read_bytes(path), "an LP text file")
    try:
        cqm = dimod.lp.loads(text)
    except Exception as exc:
        raise ir.QselError(f"{path}: not a readable LP file ({exc})") from None
    return problem_from_cqm(cqm, labels, str(path), names)


@dataclass(frozen=True)
class LPTarget(Target):
    """LP with a quadratic objective per block (constraints native), readable by MIQP solvers."""

    name: ClassVar[str] = "lp"
    description: ClassVar[str] = "LP file per block: quadratic objective ([ ] / 2), binaries, constraints kept native"
    default_pipeline: ClassVar[str] = "canonicalize"
    block_constraints: ClassVar[str] = "inside"

    def emit_block(self, block: Block, sub: ir.Problem, outdir: Path, stem: str) -> BlockEntry:
        names = lp_names(sub.labels, "x")
        con_names = lp_names([c.label for c in sub.constraints], "c")
        fname = f"{stem}.lp"
        with ir.atomic_write(outdir / fname, "w") as fh:
            fh.write(lp_text(sub, block.name, names, con_names))
        return BlockEntry(block.name, fname, "lp", sub.labels, offset=0.0, scale=1.0, run=_RUN_LP,
                          extra={"variables": sub.num_vars, "names": names,
                                 "constraint_names": dict(zip(con_names, (c.label for c in sub.constraints))),
                                 "file_offset": float(sub.offset)})
