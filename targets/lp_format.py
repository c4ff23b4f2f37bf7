"""LP files (CPLEX/Gurobi syntax) over binary variables: the writer (:func:`lp_text`) the ``lp`` target uses,
and the one parse path (:func:`load_cqm`) that ``qsel import`` and compose's block reader share.

Parsing is dimod's LP reader (``dimod.lp.loads``, C++); the bytes are first checked to be UTF-8 text without
control characters (:func:`~.textfiles.text_of`), because that reader loops forever on a NUL byte.
"""

from __future__ import annotations

import re
from pathlib import Path

from qsel import ir

from .convert import coo
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


def _num(v: float) -> str:
    return repr(float(v))


def _term(coef: float, name: str) -> str:
    return f"{'-' if coef < 0 else '+'} {_num(abs(coef))} {name}"


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


def load_cqm(path: Path | str, data: bytes):
    """The ``dimod.ConstrainedQuadraticModel`` of an LP file's bytes, or a QselError naming ``path``."""
    import dimod

    text = text_of(path, data, "an LP text file")
    try:
        return dimod.lp.loads(text)
    except Exception as exc:  # the C++ reader raises ValueError("... illegal file format") and others
        raise ir.QselError(f"{path}: not a readable LP file ({exc}); note that quadratic objective terms must be "
                           f"written as [ ... ]/2 and constraint names must be unique") from None
