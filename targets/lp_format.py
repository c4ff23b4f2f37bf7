"""LP files (CPLEX/Gurobi syntax) over binary variables: the writer (:func:`lp_text`) the ``lp`` target uses,
and the one parse path (:func:`load_cqm`) that ``qsel import`` and compose's block reader share.

Writing is dimod's LP writer (``dimod.lp.dumps``) on the block's CQM (:func:`.convert.to_cqm`, built from
numpy arrays, named by :func:`lp_names`). It writes each bias as the shortest decimal that reads back to the
same double (``repr``; integral values as integers), quadratic objective terms as ``+ [ 2J x_i * x_j ... ]/2``,
the constant as a bare term in the objective, constraints natively, and breaks lines near 80 characters.
qsel adds three things around it:

- two ``\\`` comment lines in front (dimod's writer has no comment option; a comment line is valid LP);
- a ``0 <= v <= 1`` line in ``Bounds`` for each variable that has no non-zero term anywhere. dimod skips
  zero biases, so such a variable would appear only in the ``Binary`` section, and SCIP 10 (pyscipopt
  6.3) then refuses the whole file ("unknown variable in binaries section"); the hand-written writer this
  replaced had the same fault;
- an empty ``Minimize obj:`` when the objective is all zero: dimod then writes no objective section, which
  LP allows, but compose's check that a file is an LP looks for one (dimod, SCIP and HiGHS read both).

A coupling with |J| > DBL_MAX / 2 is refused: ``[ ]/2`` needs 2J, which overflows to inf.

Cost: dimod's writer is Python with a line-width wrapper, about 3x the hand-written writer it replaced:
4.5 s against 1.4 s for a dense 1,000-variable block (499,500 couplings, 21 MB of LP), measured here.

Parsing is dimod's LP reader (``dimod.lp.loads``, C++); the bytes are first checked to be UTF-8 text without
control characters (:func:`~.textfiles.text_of`), because that reader loops forever on a NUL byte.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from qsel import ir

from .convert import constraint_terms, coo, to_cqm
from .textfiles import text_of

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


def lp_text(problem: ir.Problem, name: str, names: list[str], con_names: list[str]) -> str:
    """The LP file of ``problem`` (one block): variable k named ``names[k]``, constraint k ``con_names[k]``."""
    import dimod

    r, c, v = coo(problem)
    if len(v) and float(np.abs(v).max()) > np.finfo(np.float64).max / 2:
        raise ir.QselError(f"block {name}: a coupling of magnitude {float(np.abs(v).max())!r} cannot be written to "
                           f"LP, whose [ ]/2 form needs twice it (beyond the largest double); scale the problem")
    used = problem.linear != 0  # the variables dimod writes a term for: non-zero (summed) biases
    used[r] = used[c] = True
    for con in problem.constraints:
        idx, coeffs = constraint_terms(con)
        used[idx[coeffs != 0]] = True
    body = dimod.lp.dumps(to_cqm(problem, names, con_names))
    if not used.all():
        bounds = "".join(f" 0 <= {names[k]} <= 1\n" for k in np.flatnonzero(~used).tolist())
        body = body.replace("\nBounds\n", f"\nBounds\n{bounds}", 1)
    if not body.startswith("Minimize\n"):  # all-zero objective: dimod writes no objective section
        body = "Minimize\n obj: \n" + body
    header = (f"\\ qsel block {name}: {problem.num_vars} binary variables, {len(v)} couplings, "
              f"{len(problem.constraints)} constraints\n"
              "\\ variable names map to IR labels through manifest.json (extra.names)\n")
    return header + body + "\n"


def load_cqm(path: Path | str, data: bytes):
    """The ``dimod.ConstrainedQuadraticModel`` of an LP file's bytes, or a QselError naming ``path``."""
    import dimod

    text = text_of(path, data, "an LP text file")
    try:
        return dimod.lp.loads(text)
    except Exception as exc:  # the C++ reader raises ValueError("... illegal file format") and others
        raise ir.QselError(f"{path}: not a readable LP file ({exc}); note that quadratic objective terms must be "
                           f"written as [ ... ]/2 and constraint names must be unique") from None
