"""Extra objectives and constraints over compiled variables, written with pyqubo and merged into the IR.

A user function ``build(x)`` receives ``x``, a mapping IR label -> ``pyqubo.Binary``
(each Binary is made on first use, so a 4,096-variable problem costs nothing
for the labels a build never touches) and returns one of

* a pyqubo expression ``H``,
* ``(H, [constraint, ...])`` where each constraint is a first-class IR
  constraint, e.g. from :func:`at_least` / :func:`at_most` / :func:`exactly`
  (``H`` may be ``None``),
* ``None`` (nothing), or a plain number (a constant).

:func:`add_terms` compiles ``H`` with pyqubo, ``H.compile().to_qubo(feed_dict=params)``
= ({(u, v): q_uv}, c), and merges it: q_uu adds to the linear bias of u,
q_uv (u != v) becomes a sparse coupling, c adds to the offset, so for every x

    E_merged(x) = E_problem(x) + H(x).

pyqubo ``Placeholder``s take their values from ``params``; a missing value is an
error naming the placeholder, and the values used are recorded in
``metadata["parameters"]``. Each pyqubo ``Constraint(expr, label=...)`` is
recorded in ``metadata["extra_constraints"][label]`` as the quadratic polynomial
of its own energy (offset, linear and quadratic coefficients by label, recovered
exactly from pyqubo's ``decode_sample``), so :func:`broken_extra_constraints`
can tell, like pyqubo's ``decode_sample``, which ones a sample breaks (energy != 0).

pyqubo 1.5 cannot evaluate ``product + sum`` (``a*b + (c + d)`` raises a
TypeError from ``__radd__``): write the sum first, ``(c + d) + a*b``.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import math
import re
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from qsel import ir

RECORD_LIMIT = 256
"""pyqubo constraints are recorded term by term only when the terms use at most this many variables:
recovering the polynomials costs about 8 (n + 1) pyqubo decodes of O(n) each (n = 300: about 1 s)."""

_SUPPORT_BASES = 6
_CHECK_SAMPLES = 32


# ---------------------------------------------------------------------- the x mapping
class TermVariables(Mapping):
    """Mapping IR label -> ``pyqubo.Binary(label)`` over one problem's variables, built lazily.

    ``x["fc1.n3"]`` makes (once) and returns the Binary; an unknown label raises
    :class:`qsel.ir.QselError` naming it (with close matches). ``x.group(name)``
    and ``x.layer(name)`` list the labels whose provenance says so; ``x.problem``
    is the problem the terms are added to.
    """

    def __init__(self, problem: ir.Problem) -> None:
        self.problem = problem
        self._index = problem.variables.index
        self._made: dict[str, Any] = {}

    def __getitem__(self, label: str) -> Any:
        made = self._made.get(label)
        if made is not None:
            return made
        if label not in self._index:
            raise ir.QselError(unknown_label_message(label, self._index))
        import pyqubo

        made = self._made[label] = pyqubo.Binary(label)
        return made

    def __contains__(self, label: object) -> bool:
        return label in self._index

    def get(self, label: str, default: Any = None) -> Any:
        return self[label] if label in self._index else default

    def __iter__(self) -> Iterator[str]:
        return iter(self.problem.labels)

    def __len__(self) -> int:
        return self.problem.num_vars

    @property
    def used(self) -> list[str]:
        """Labels whose Binary has been made so far."""
        return list(self._made)

    def group(self, name: str) -> list[str]:
        """Labels of the variables in provenance group ``name`` (QselError if there is no such group)."""
        return self._by_code(self.problem.variables.group, self.problem.variables.group_names, name, "group")

    def layer(self, name: str) -> list[str]:
        """Labels of the variables of layer ``name`` (QselError if there is no such layer)."""
        return self._by_code(self.problem.variables.layer, self.problem.variables.layer_names, name, "layer")

    def _by_code(self, codes: np.ndarray, names: tuple[str, ...], name: str, what: str) -> list[str]:
        if name not in names:
            known = ", ".join(names) or "none"
            raise ir.QselError(f"no {what} {name!r} in the problem (its {what}s: {known})")
        labels = self.problem.variables.labels
        return [str(s) for s in labels[codes == names.index(name)].tolist()]


def unknown_label_message(label: object, index: Mapping[str, int]) -> str:
    """'unknown variable LABEL ...' with up to three close matches."""
    close = difflib.get_close_matches(str(label), list(index), n=3) if len(index) <= 100_000 else []
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    if isinstance(label, str) and " * " in label:
        hint += (" (it looks like the auxiliary variable pyqubo adds to reduce a term of degree > 2: qsel merges "
                 "only quadratic terms over existing variables)")
    return f"unknown variable {label!r}: not a label of the problem{hint}"


# ---------------------------------------------------------------------- first-class constraints
@dataclass(frozen=True, eq=False)
class LabelledConstraint(ir.Constraint):
    """An IR constraint written over labels; :func:`add_terms` resolves it to indices.

    Until resolved, ``indices`` is empty: use :meth:`resolve` (or add_terms)
    before evaluating it.
    """

    labels: tuple[str, ...] = ()

    def resolve(self, problem: ir.Problem) -> ir.Constraint:
        index = problem.variables.index
        for lab in self.labels:
            if lab not in index:
                raise ir.QselError(f"constraint {self.label!r}: {unknown_label_message(lab, index)}")
        idx = np.fromiter((index[lab] for lab in self.labels), np.int64, len(self.labels))
        return ir.Constraint(self.label, idx, self.coeffs, self.sense, self.rhs)


def _cardinality(labels: Iterable[str], k: int, label: str, sense: ir.Sense) -> LabelledConstraint:
    labs = tuple(str(s) for s in labels)
    if not label:
        raise ir.QselError("a constraint needs a non-empty label")
    if len(set(labs)) != len(labs):
        dup = next(s for s in labs if labs.count(s) > 1)
        raise ir.QselError(f"constraint {label!r}: variable {dup!r} is listed twice")
    if isinstance(k, bool) or not float(k).is_integer():
        raise ir.QselError(f"constraint {label!r}: the count must be an integer, got {k!r}")
    k = int(k)
    if k < 0 or (sense is not ir.Sense.LE and k > len(labs)):
        raise ir.QselError(f"constraint {label!r} can never hold: {sense.value} {k} of {len(labs)} variables")
    return LabelledConstraint(label, np.zeros(0, np.int64), np.ones(len(labs)), sense, float(k), labels=labs)


def at_least(labels: Iterable[str], k: int, label: str) -> LabelledConstraint:
    """sum_{l in labels} x_l >= k (a cardinality constraint, resolved by :func:`add_terms`)."""
    return _cardinality(labels, k, label, ir.Sense.GE)


def at_most(labels: Iterable[str], k: int, label: str) -> LabelledConstraint:
    """sum_{l in labels} x_l <= k."""
    return _cardinality(labels, k, label, ir.Sense.LE)


def exactly(labels: Iterable[str], k: int, label: str) -> LabelledConstraint:
    """sum_{l in labels} x_l == k."""
    return _cardinality(labels, k, label, ir.Sense.EQ)


# ---------------------------------------------------------------------- compiled terms
@dataclass(frozen=True)
class CompiledTerms:
    """pyqubo's QUBO mapped onto a problem's indices: sum_i linear_i x_i + sum_k vals_k x_rows_k x_cols_k + offset."""

    linear: np.ndarray  # (n,) over the problem's variables
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray
    offset: float
    parameters: dict[str, float]  # the placeholders the expression uses, with their values
    constraints: dict[str, dict]  # pyqubo constraint label -> recorded polynomial
    num_variables: int  # distinct problem variables the expression uses


def compile_terms(problem: ir.Problem, expr: Any, params: Mapping[str, float] | None = None, *,
                  record_limit: int = RECORD_LIMIT) -> CompiledTerms:
    """Compile a pyqubo expression and map its QUBO onto ``problem``'s variable indices."""
    feed = _feed_dict(params)
    try:
        model = expr.compile()
    except Exception as exc:  # pyqubo's C++ core raises RuntimeError/TypeError on bad expressions
        raise ir.QselError(f"pyqubo could not compile the extra terms: {exc}") from None
    qubo, const = _to_qubo(model, feed)  # first: it names a placeholder without a value (energy() would abort)
    _check_finite(model, feed)
    used = {name: feed[name] for name in feed if _uses_placeholder(model, feed, name)}
    unused = sorted(set(feed) - set(used))
    if unused:
        raise ir.QselError(f"parameter {unused[0]!r} is not a placeholder of the extra terms "
                           f"(placeholders used: {', '.join(sorted(used)) or 'none'})")
    index = problem.variables.index
    for lab in model.variables:
        if lab not in index:
            raise ir.QselError(unknown_label_message(lab, index))
    items = list(qubo.items())
    m = len(items)
    r = np.fromiter((index[u] for (u, _), _ in items), np.int64, m)
    c = np.fromiter((index[v] for (_, v), _ in items), np.int64, m)
    q = np.fromiter((val for _, val in items), np.float64, m)
    if not np.all(np.isfinite(q)) or not math.isfinite(const):
        raise NonFiniteTerms("the extra terms have a NaN or infinite coefficient")
    diag = r == c
    linear = np.zeros(problem.num_vars)
    np.add.at(linear, r[diag], q[diag])
    keep = ~diag & (q != 0)
    lo, hi = np.minimum(r[keep], c[keep]), np.maximum(r[keep], c[keep])
    constraints = _record_constraints(model, feed, record_limit, index)
    return CompiledTerms(linear, lo, hi, q[keep], float(const), used, constraints, len(model.variables))


class NonFiniteTerms(ir.QselError):
    """The extra terms hold a NaN or infinite coefficient (:func:`add_terms` adds where the file made it)."""


def _check_finite(model: Any, feed: dict[str, float]) -> None:
    """Raise :class:`NonFiniteTerms` when a coefficient of the compiled model is NaN or infinite.

    pyqubo's ``to_qubo`` drops NaN terms without a word, so the check evaluates the energy at x = all ones
    first: E(1) = c + sum of every coefficient, which is NaN or infinite exactly when some coefficient is
    (or, for finite ones, when their sum overflows float64, which no usable QUBO does). One O(terms) pass."""
    e = model.energy({v: 1 for v in model.variables}, vartype="BINARY", feed_dict=feed)
    if not math.isfinite(e):
        raise NonFiniteTerms("the extra terms have a NaN or infinite coefficient")


def _feed_dict(params: Mapping[str, float] | None) -> dict[str, float]:
    feed: dict[str, float] = {}
    for name, value in (params or {}).items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ir.QselError(f"parameter {name!r}: value must be a number, got {value!r}") from None
        if not math.isfinite(v):
            raise ir.QselError(f"parameter {name!r}: value must be finite, got {value!r}")
        feed[str(name)] = v
    return feed


_MISSING = re.compile(r"the value of (.+) is not provided in feed_dict")


def _to_qubo(model: Any, feed: dict[str, float]) -> tuple[dict, float]:
    try:
        return model.to_qubo(index_label=False, feed_dict=feed)
    except ValueError as exc:
        m = _MISSING.search(str(exc))
        if m is None:
            raise ir.QselError(f"pyqubo could not build the QUBO of the extra terms: {exc}") from None
        name = m.group(1)
        raise ir.QselError(f"placeholder {name!r} has no value: give it in params (CLI: --param {name}=VALUE)") from None


def _uses_placeholder(model: Any, feed: dict[str, float], name: str) -> bool:
    try:
        model.to_qubo(index_label=False, feed_dict={k: v for k, v in feed.items() if k != name})
    except ValueError as exc:
        m = _MISSING.search(str(exc))
        return m is not None and m.group(1) == name
    return False


# ---------------------------------------------------------------------- pyqubo constraints
def _record_constraints(model: Any, feed: dict[str, float], limit: int, order: Mapping[str, int]) -> dict[str, dict]:
    """Each pyqubo constraint's energy as {offset, linear, quadratic} over labels, recovered by evaluation.

    With e_i the unit vectors: c = C(0), a_i = C(e_i) - c and
    b_ij = C(e_i + e_j) - C(e_i) - C(e_j) + c. A variable is in the support of
    C when flipping it changes C from the zero state, the all-ones state or a
    few random states; pairs are evaluated only inside the support. Random
    samples then check the recovered polynomial against pyqubo (degree <= 2)
    and that pyqubo calls a sample satisfied exactly when C(x) == 0 (the
    default condition; a custom ``condition=`` cannot be recorded).
    """
    names = sorted((str(v) for v in model.variables), key=order.__getitem__)  # the problem's variable order
    n = len(names)

    def decode(samples: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        sat: dict[str, list[bool]] = {}
        energy: dict[str, list[float]] = {}
        for s in samples.tolist():
            for lab, (ok, e) in model.decode_sample(dict(zip(names, s)), vartype="BINARY",
                                                    feed_dict=feed).constraints().items():
                sat.setdefault(lab, []).append(bool(ok))
                energy.setdefault(lab, []).append(float(e))
        return {lab: (np.array(sat[lab]), np.array(energy[lab])) for lab in sat}

    zero = np.zeros((1, n), dtype=np.int64)
    labels = sorted(decode(zero))
    if not labels:
        return {}
    if n > limit:
        note = (f"not recorded: the extra terms use {n} variables (limit {limit}); use at_least/at_most/exactly "
                f"for large groups")
        return {lab: {"condition": "energy == 0", "terms": None, "note": note} for lab in labels}

    rng = np.random.default_rng(0)
    bases = np.vstack([zero, np.ones((1, n), np.int64), rng.integers(0, 2, (_SUPPORT_BASES, n))])
    flips = np.vstack([np.vstack([b, b ^ np.eye(n, dtype=np.int64)]) for b in bases])
    values = decode(flips)
    checks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [(flips, *values[lab]) for lab in labels]  # type: ignore[misc]
    support: dict[str, np.ndarray] = {}
    for lab in labels:
        e = values[lab][1].reshape(len(bases), n + 1)
        delta = np.abs(e[:, 1:] - e[:, :1])
        support[lab] = np.nonzero(np.any(delta > 1e-12 * max(1.0, float(np.abs(e).max())), axis=0))[0]
    pairs = sorted({(int(i), int(j)) for s in support.values() for i in s for j in s if i < j})
    pair_samples = np.zeros((len(pairs), n), np.int64)
    if pairs:
        pi, pj = np.array(pairs).T
        pair_samples[np.arange(len(pairs)), pi] = 1
        pair_samples[np.arange(len(pairs)), pj] = 1
    pair_values = decode(pair_samples) if pairs else {}
    pair_pos = {p: k for k, p in enumerate(pairs)}
    checks_x = rng.integers(0, 2, (_CHECK_SAMPLES, n))
    check_values = decode(checks_x)

    out: dict[str, dict] = {}
    for lab in labels:
        e0 = values[lab][1][: n + 1]
        c0 = float(e0[0])
        s = support[lab]
        a = e0[1:] - c0
        quad = []
        for u in range(len(s)):
            for w in range(u + 1, len(s)):
                i, j = int(s[u]), int(s[w])
                b = float(pair_values[lab][1][pair_pos[(i, j)]]) - a[i] - a[j] - c0
                if b != 0.0:
                    quad.append((i, j, float(b)))
        rec = {"condition": "energy == 0", "offset": c0,
               "linear": {names[int(i)]: float(a[i]) for i in s if a[i] != 0.0},
               "quadratic": [[names[i], names[j], b] for i, j, b in quad]}
        predicted = _poly_energies(rec, checks_x, {nm: k for k, nm in enumerate(names)})
        sat, actual = check_values[lab]
        scale = max(1.0, float(np.abs(actual).max()))
        if not np.allclose(predicted, actual, rtol=1e-9, atol=1e-9 * scale):
            raise ir.QselError(f"cannot record pyqubo constraint {lab!r}: its energy is not a quadratic polynomial "
                               f"of the variables (degree > 2?)")
        for xs, sat_k, e_k in [checks[labels.index(lab)], (checks_x, sat, actual)]:
            bad = np.nonzero(sat_k != (e_k == 0.0))[0]
            if bad.size:
                raise ir.QselError(f"pyqubo constraint {lab!r} uses a custom condition (pyqubo calls energy "
                                   f"{e_k[bad[0]]:g} {'satisfied' if sat_k[bad[0]] else 'broken'}); qsel records "
                                   f"constraints as 'energy == 0' only: write the penalty so that it is 0 exactly "
                                   f"when the constraint holds, or use at_least/at_most/exactly")
        out[lab] = rec
    return out


def _poly_energies(rec: dict, X: np.ndarray, index: Mapping[str, int]) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    e = np.full(X.shape[0], float(rec["offset"]))
    lin = rec["linear"]
    if lin:
        e += X[:, [index[k] for k in lin]] @ np.fromiter(lin.values(), np.float64, len(lin))
    quad = rec["quadratic"]
    if quad:
        u = [index[q[0]] for q in quad]
        v = [index[q[1]] for q in quad]
        e += (X[:, u] * X[:, v]) @ np.array([q[2] for q in quad], dtype=np.float64)
    return e


def extra_constraint_energies(problem: ir.Problem, X: np.ndarray) -> dict[str, np.ndarray]:
    """Energy of every recorded pyqubo constraint for each row of X (samples x n, 0/1), vectorised."""
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    index = problem.variables.index
    out = {}
    for lab, rec in problem.metadata.get("extra_constraints", {}).items():
        if rec.get("terms", True) is None:
            continue
        for name in [*rec["linear"], *(q[k] for q in rec["quadratic"] for k in (0, 1))]:
            if name not in index:
                raise ir.QselError(f"extra constraint {lab!r} uses variable {name!r}, which the problem no longer "
                                   f"has (decode against the problem before variables were removed)")
        out[lab] = _poly_energies(rec, X, index)
    return out


def broken_extra_constraints(problem: ir.Problem, x: np.ndarray, tol: float = 1e-9) -> list[str]:
    """Labels of the recorded pyqubo constraints that assignment ``x`` breaks (energy != 0, like pyqubo).

    Constraints recorded without terms (too many variables) are not listed.
    """
    out = []
    for lab, e in extra_constraint_energies(problem, np.asarray(x)[None, :]).items():
        rec = problem.metadata["extra_constraints"][lab]
        scale = max(1.0, abs(rec["offset"]), *(abs(v) for v in rec["linear"].values()),
                    *(abs(q[2]) for q in rec["quadratic"]))
        if abs(float(e[0])) > tol * scale:
            out.append(lab)
    return out


# ---------------------------------------------------------------------- merging
Build = Callable[[TermVariables], Any]


def add_terms(problem: ir.Problem, build: Build, params: Mapping[str, float] | None = None, *,
              source: str | None = None, record_limit: int = RECORD_LIMIT) -> ir.Problem:
    """Return ``problem`` with the terms and constraints ``build(x)`` returns merged in (see the module doc).

    E_new(x) = E(x) + H(x) for every x; new constraints are appended; the
    metadata gains ``parameters`` (placeholder -> value), ``extra_constraints``
    (pyqubo constraint label -> recorded polynomial) and one ``extra_terms``
    entry describing this call (``source``: where the terms came from).
    """
    x = TermVariables(problem)
    result = build(x)
    expr, constraints = _split_result(result)
    if source is None:
        source = str(getattr(build, "path", getattr(build, "__name__", "python")))

    if expr is None or isinstance(expr, (int, float, np.number)):
        const = 0.0 if expr is None else float(expr)
        if not math.isfinite(const):
            raise ir.QselError(f"the extra terms are a constant that is not finite ({const})")
        feed = _feed_dict(params)
        if feed:
            raise ir.QselError(f"parameter {sorted(feed)[0]!r} is not a placeholder of the extra terms "
                               f"(placeholders used: none)")
        e = np.zeros(0, np.int64)
        terms = CompiledTerms(np.zeros(problem.num_vars), e, e, np.zeros(0), const, {}, {}, 0)
    else:
        try:
            terms = compile_terms(problem, expr, params, record_limit=record_limit)
        except NonFiniteTerms as exc:
            line = build.non_finite_line(TermVariables(problem)) if isinstance(build, TermsFile) else None
            where = str(build.path) if isinstance(build, TermsFile) else source
            where = f"{where}:{line}" if line is not None else where
            raise ir.QselError(f"{where}: {exc} (pyqubo would drop it silently; check the numbers and the "
                               f"parameter values)") from None

    resolved = [_resolve(c, problem) for c in constraints]
    labels_seen = {c.label for c in problem.constraints}
    for c in resolved:
        if c.label in labels_seen:
            raise ir.QselError(f"constraint {c.label!r} already exists in the problem")
        labels_seen.add(c.label)

    meta = dict(problem.metadata)
    parameters = dict(meta.get("parameters", {}))
    for name, value in terms.parameters.items():
        if name in parameters and parameters[name] != value:
            raise ir.QselError(f"parameter {name!r} is already recorded with value {parameters[name]!r} (now "
                               f"{value!r}); use another placeholder name")
        parameters[name] = value
    extra_constraints = dict(meta.get("extra_constraints", {}))
    for lab, rec in terms.constraints.items():
        if lab in extra_constraints:
            raise ir.QselError(f"pyqubo constraint label {lab!r} is already recorded; use another label")
        extra_constraints[lab] = rec
    if parameters:
        meta["parameters"] = parameters
    if extra_constraints:
        meta["extra_constraints"] = extra_constraints
    meta["extra_terms"] = [*meta.get("extra_terms", []), {
        "source": source, "variables": terms.num_variables, "linear": int(np.count_nonzero(terms.linear)),
        "couplings": int(terms.vals.shape[0]), "offset": terms.offset, "parameters": terms.parameters,
        "pyqubo_constraints": sorted(terms.constraints), "constraints": [c.label for c in resolved],
    }]
    merged = problem.replace(
        linear=problem.linear + terms.linear,
        offset=float(problem.offset) + terms.offset,
        sparse=problem.sparse.concat(ir.Couplings.from_arrays(terms.rows, terms.cols, terms.vals)),
        constraints=(*problem.constraints, *resolved),
        metadata=meta,
    )
    return ir.verify(merged, context="add-terms")


def _split_result(result: Any) -> tuple[Any, list]:
    if isinstance(result, tuple):
        if len(result) != 2:
            raise ir.QselError(f"the terms function returned a tuple of {len(result)} items; expected "
                               f"(expression, [constraints])")
        expr, cons = result
        if isinstance(cons, ir.Constraint):
            cons = [cons]
        try:
            cons = list(cons or [])
        except TypeError:
            raise ir.QselError(f"the constraints must be a list of qsel constraints, got {type(cons).__name__}") from None
    else:
        expr, cons = result, []
    if not (expr is None or isinstance(expr, (int, float, np.number)) or hasattr(expr, "compile")):
        raise ir.QselError(f"the terms function returned {type(expr).__name__}; expected a pyqubo expression, "
                           f"(expression, [constraints]) or None")
    for c in cons:
        if not isinstance(c, ir.Constraint):
            raise ir.QselError(f"expected qsel constraints (at_least/at_most/exactly), got {type(c).__name__}")
    return expr, cons


def _resolve(c: ir.Constraint, problem: ir.Problem) -> ir.Constraint:
    if isinstance(c, LabelledConstraint):
        return c.resolve(problem)
    return ir.Constraint(c.label, c.indices, c.coeffs, c.sense, c.rhs)


# ---------------------------------------------------------------------- terms files
@dataclass(frozen=True)
class TermsFile:
    """A loaded ``terms.py``: calling it with ``x`` runs ``terms(x, x.problem)`` and reports errors by file and line."""

    path: Path
    function: Callable[[TermVariables, ir.Problem], Any] = field(repr=False)

    def __call__(self, x: TermVariables) -> Any:
        try:
            return self.function(x, x.problem)
        except Exception as exc:
            raise ir.QselError(f"{self._where(exc)}: error in terms(): {_describe(exc)}") from None

    def non_finite_line(self, x: TermVariables, budget: int = 20_000_000) -> int | None:
        """The line of the file after which a NaN or infinite number first appears in a local variable (a
        float, a numpy array, or a pyqubo expression, whose text holds ``nan``/``inf``), or the ``return``
        line whose value holds one; else the line where ``terms`` returned (a product that overflows only
        inside pyqubo); None when the function did not return.

        Runs ``terms`` again under ``sys.settrace`` (called only once the terms were found non-finite, so a
        normal run pays nothing); expressions are printed to text at most ``budget`` characters in all, so a
        large build is not slowed down quadratically. Hand-written: Python offers no hook on the float that a
        pyqubo expression swallows."""
        target = str(self.path.resolve())
        left = [budget]
        last: dict[int, int] = {}
        found: list[int] = []
        returned: list[int] = []  # where terms() returned: the line whose value overflowed inside pyqubo
        code = getattr(self.function, "__code__", None)

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "line":
                if any(_holds_non_finite(v, left) for v in frame.f_locals.values()):
                    found.append(last.get(id(frame), frame.f_lineno))
                    raise _Found
                last[id(frame)] = frame.f_lineno
            elif event == "return":
                if _holds_non_finite(arg, left):
                    found.append(frame.f_lineno)
                    raise _Found
                if frame.f_code is code:
                    returned.append(frame.f_lineno)
            return local

        def calls(frame: Any, event: str, arg: Any) -> Any:
            return local if frame.f_code.co_filename == target else None

        previous = sys.gettrace()
        sys.settrace(calls)
        try:
            self.function(x, x.problem)
        except Exception:  # noqa: BLE001 - _Found, or the user's own error (reported by the first run)
            pass
        finally:
            sys.settrace(previous)
        return found[0] if found else returned[0] if returned else None

    def _where(self, exc: BaseException) -> str:
        target = str(self.path.resolve())
        line = None
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == target:
                line = frame.lineno
        return f"{self.path}:{line}" if line is not None else str(self.path)


class _Found(Exception):
    """Stops the traced re-run of ``terms`` at the first non-finite value."""


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")
_NON_FINITE = re.compile(r"(?<![\w.])-?(nan|inf)(?![\w.])", re.IGNORECASE)


def _holds_non_finite(v: Any, left: list[int]) -> bool:
    """Whether ``v`` is or holds (one level of list/tuple/dict) a NaN or infinite number; pyqubo expressions
    are printed (labels in quotes left out) while ``left[0]`` characters of budget remain."""
    if isinstance(v, (list, tuple)):
        return any(_holds_non_finite(u, left) for u in v[:1000])
    if isinstance(v, dict):
        return any(_holds_non_finite(u, left) for u in list(v.values())[:1000])
    if isinstance(v, (float, np.floating)):
        return not math.isfinite(float(v))
    if isinstance(v, np.ndarray):
        return v.dtype.kind in "fc" and not bool(np.isfinite(v).all())
    if type(v).__module__ == "cpp_pyqubo" and left[0] > 0:
        text = str(v)
        left[0] -= len(text)
        return _NON_FINITE.search(_QUOTED.sub("", text)) is not None
    return False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ir.QselError):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, TypeError) and "__radd__" in text:
        text += (" (pyqubo 1.5 cannot evaluate 'product + sum' such as a*b + (c + d): write the sum first, "
                 "(c + d) + a*b)")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_terms_file(path: str | Path) -> TermsFile:
    """Load a user ``terms.py`` that defines ``def terms(x, problem)``.

    Contract: ``x`` is a :class:`TermVariables` (IR label -> ``pyqubo.Binary``,
    plus ``x.group(name)`` / ``x.layer(name)`` label lists) and ``problem`` the
    :class:`qsel.ir.Problem`; ``terms`` returns a pyqubo expression,
    ``(expression or None, [constraints])`` with constraints from
    :func:`at_least` / :func:`at_most` / :func:`exactly` (importable from
    ``qsel.extra_terms``), or ``None``. Example::

        from pyqubo import Constraint, Placeholder
        from qsel.extra_terms import at_least

        def terms(x, problem):
            g = x.group("g")
            k = sum(x[l] for l in g)
            penalty = Placeholder("P") * Constraint((k - 2) * (k - 3), label="g_at_least_2")  # |g| = 3
            return penalty, [at_least(g, 1, "g_nonempty")]

    Loading **executes the file as Python code** with the user's rights: that is
    the point of this option, so only load files you trust. A missing file, a
    syntax error, an exception while loading or a missing ``terms`` function
    raise :class:`qsel.ir.QselError` naming the file (and line); so do
    exceptions raised later inside ``terms``.
    """
    p = Path(path)
    if not p.is_file():
        raise ir.QselError(f"{path}: no such file" if not p.exists() else f"{path}: not a file")
    name = "qsel_user_terms_" + hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise ir.QselError(f"{path}: cannot load as a Python file (expected a .py file)")
    module = importlib.util.module_from_spec(spec)
    try:
        source = p.read_bytes()
        code = compile(source, str(p.resolve()), "exec")
    except SyntaxError as exc:
        raise ir.QselError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except (OSError, ValueError) as exc:
        raise ir.QselError(f"{path}: cannot read: {exc}") from None
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except Exception as exc:
        sys.modules.pop(name, None)
        where = TermsFile(p, lambda x, problem: None)._where(exc)
        raise ir.QselError(f"{where}: error while loading: {_describe(exc)}") from None
    fn = getattr(module, "terms", None)
    if fn is None:
        raise ir.QselError(f"{path}: defines no function 'terms(x, problem)'")
    if not callable(fn):
        raise ir.QselError(f"{path}: 'terms' is a {type(fn).__name__}, expected a function terms(x, problem)")
    return TermsFile(p, fn)


__all__ = [
    "CompiledTerms", "LabelledConstraint", "RECORD_LIMIT", "TermVariables", "TermsFile", "add_terms", "at_least",
    "at_most", "broken_extra_constraints", "compile_terms", "exactly", "extra_constraint_energies",
    "load_terms_file",
]
