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
in the CPLEX LP format with dimod's writer (``dimod.lp.dumps``, see
:mod:`.lp_format`)::

    \\ qsel block NAME: ...                two comment lines
    Minimize
     obj: + h_i x_i ... + [ + 2J_ij x_j * x_i ... ]/2 + c
                                            quadratic terms in LP's [ ]/2 convention; c the block's
                                            constant c_b (manifest.block_constants)
    Subject To
     LABEL: + c_k x_k ...  = rhs            constraints inside the block, by IR label
    Bounds
     0 <= x_i <= 1                          only variables with no term anywhere
    Binary
     x_i ...
    General
    End

A block with quadratic terms is an MIQP: SCIP (``scip -f FILE``), Gurobi and
CPLEX solve it; HiGHS reads it but refuses a quadratic objective over integer
variables, so the manifest's ``run`` hint names HiGHS only for a block without
quadratic terms (a MILP).

Variables keep their IR labels when every label of the block is a valid LP
name (letters, digits, ``_`` and ``.``, not starting with a digit, ``.``,
``e``/``E``, not a keyword); otherwise they are named ``x0 .. x{n-1}``. The
manifest records the names (``extra["names"]``); constraint names likewise
(``c0 ..`` when a label is not LP-safe, ``extra["constraint_names"]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


from qsel import ir

from . import lp_format, qubo_format
from .base import Block, Target
from .convert import coo
from .manifest import BlockEntry
from .lp_format import lp_names, lp_text
from .textfiles import read_bytes

_RUN_QUBO = ("qbsolv -i FILE (minimises); node i is labels[i]; E_IR = scale * E_file + offset (+ cross terms); "
             "write the solution as a dimod SampleSet JSON or qiskit-style counts for `qsel compose`")
_RUN_LP_READ = ("dimod.lp.load(FILE) reads it; variable names in extra.names map to labels; "
                "E_IR = scale * objective + offset (+ cross terms)")
_RUN_MIQP = ("an MIQP solver (quadratic objective over binaries): `scip -f FILE`, `gurobi_cl FILE` or "
             "`cplex -c 'read FILE' optimize` (HiGHS reads the file but does not solve MIQPs); " + _RUN_LP_READ)
_RUN_MILP = ("a MILP solver (this block has no quadratic terms): `highs FILE`, `scip -f FILE`, `gurobi_cl FILE` or "
             "`cplex -c 'read FILE' optimize`; " + _RUN_LP_READ)

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
def read_lp_file(path: Path, labels: list[str], names: list[str] | None = None) -> ir.Problem:
    """Read an LP file back with dimod's LP reader (a real one) into an IR problem over ``labels``."""
    from .dimod_targets import problem_from_cqm

    return problem_from_cqm(lp_format.load_cqm(path, read_bytes(path)), labels, str(path), names)


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
        run = _RUN_MIQP if len(coo(sub)[2]) else _RUN_MILP
        return BlockEntry(block.name, fname, "lp", sub.labels, offset=0.0, scale=1.0, run=run,
                          extra={"variables": sub.num_vars, "names": names,
                                 "constraint_names": dict(zip(con_names, (c.label for c in sub.constraints))),
                                 "file_offset": float(sub.offset)})


TARGETS = (QuboTarget, LPTarget)
