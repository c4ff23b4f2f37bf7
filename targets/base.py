"""Targets and solvers: the two extension points of qsel.targets.

A **Target** is a frozen dataclass with a ``name``, options as fields, a
``default_pipeline`` (the pass pipeline that makes an IR fit it, e.g.
``canonicalize,partition{topology=pegasus},lower-constraints{penalty=auto}``) and
one ``emit(problem, outdir) -> Manifest`` that writes one file per subproblem
plus what is needed to compose results back.

A **Solver** samples one block-sized IR problem: ``sample(problem, *,
num_reads, seed) -> Samples``. Composition over partitions (independent or
iterated like qbsolv) is written once, on top of this interface
(:mod:`qsel.targets.solve`).

Shared pieces both sides use:

* :func:`blocks_of` — the blocks of a (partitioned) IR: one per partition,
  leftovers as ``"unpartitioned"``, the whole problem as ``"all"`` when there
  is no partition; :func:`block_problem` cuts one out (everything else
  clamped to 0, the IR offset kept by the first block only).
* :func:`from_spec` — ``"sa{num-sweeps=500}"`` -> a configured instance, with
  the pipeline grammar and option checking of the passes.
* :func:`energy_summary` — min/median/mean/max and a histogram of energies.
* ``Target.emit`` has a default implementation: it calls ``emit_block`` once
  per block and builds the manifest with :meth:`Manifest.for_problem`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from qsel import ir
from qsel.passes.base import spec_of

from .manifest import BlockEntry, Manifest, block_constants


@dataclass(frozen=True)
class Target:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    default_pipeline: ClassVar[str] = "canonicalize"

    def emit(self, problem: ir.Problem, outdir: Path) -> Manifest:
        """Write one file per block into ``outdir`` and return the manifest (the caller saves it).

        The default calls :meth:`emit_block` for every block of :func:`blocks_of`, each block cut out by
        :func:`block_problem` with its own constant c_b from :func:`~qsel.targets.manifest.block_constants`
        (the penalty constants of the constraints lowered inside it, its layers' objective constants, the
        rest of the offset in the first block; recorded in the entry's ``extra["constant"]``), and writes the
        couplings between blocks to ``cross_terms.npz``, so that E_IR(x) = sum_b (scale_b E_file_b(x_b) +
        offset_b) + cross(x) holds exactly from the files and the manifest alone."""
        outdir = Path(outdir)
        if self.block_constraints == "none":
            from .convert import require_unconstrained

            require_unconstrained(problem, self.name)
        blocks = blocks_of(problem, constraints=self.block_constraints)
        if not blocks:
            raise ir.QselError(f"target '{self.name}': the problem has no variables left (all fixed?); "
                               f"nothing to emit — use 'qsel solve' to decode it directly")
        stems = unique_stems([b.name for b in blocks])
        constants = block_constants(problem, [b.indices for b in blocks])
        entries = []
        for k, (b, stem) in enumerate(zip(blocks, stems)):
            entry = self.emit_block(b, block_problem(problem, b, offset=float(constants.values[k])), outdir, stem)
            entry.extra["constant"] = constants.parts[k]
            entries.append(entry)
        manifest = Manifest.for_problem(problem, self.name, self.options(), entries, [b.indices for b in blocks],
                                        constants=constants)
        manifest.write_cross_terms(problem, outdir)
        return manifest

    # constraint handling of the default emit: "inside" keeps the constraints that lie in one
    # block and refuses ones that span blocks; "none" expects none (they must be lowered first)
    block_constraints: ClassVar[str] = "inside"

    def emit_block(self, block: "Block", sub: ir.Problem, outdir: Path, stem: str) -> BlockEntry:  # pragma: no cover
        raise NotImplementedError(f"target '{self.name}' implements neither emit nor emit_block")

    def options(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def spec(self) -> str:
        return spec_of(self)


@dataclass
class Samples:
    """Samples of one problem: X (samples x n, 0/1 in the problem's variable order), their energies."""

    X: np.ndarray
    energies: np.ndarray
    num_occurrences: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.energies = np.asarray(self.energies, dtype=np.float64).ravel()
        X = np.asarray(self.X)
        if X.ndim != 2:
            X = X.reshape(self.energies.shape[0], -1) if X.size else np.zeros((self.energies.shape[0], 0), np.int8)
        self.X = X
        if self.num_occurrences is not None:
            self.num_occurrences = np.asarray(self.num_occurrences, dtype=np.int64)

    @property
    def weights(self) -> np.ndarray:
        """How many times each row was seen (ones when the sampler does not aggregate)."""
        return self.num_occurrences if self.num_occurrences is not None else np.ones(len(self.energies), np.int64)

    def order(self, problem: ir.Problem | None = None) -> np.ndarray:
        """Row order best first: by total constraint violation (when ``problem`` has constraints), then energy."""
        if problem is not None and problem.constraints and len(self.energies):
            viol = problem.violations(self.X).sum(axis=1)
            viol = np.where(viol <= VIOLATION_TOL, 0.0, viol)
            return np.lexsort((self.energies, viol))
        return np.argsort(self.energies, kind="stable")

    def best(self, problem: ir.Problem | None = None) -> np.ndarray:
        """Lowest-energy sample; feasible ones first when a problem with constraints is given."""
        order = np.argsort(self.energies, kind="stable")
        if problem is not None and problem.constraints:
            feasible = problem.feasible(self.X[order])
            if feasible.any():
                return self.X[order[int(np.argmax(feasible))]]
        return self.X[order[0]]


@dataclass(frozen=True)
class Solver:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    max_vars: ClassVar[int | None] = None  # largest block it accepts (None: no limit)
    handles_constraints: ClassVar[bool] = False  # True: enforces IR constraints natively

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:  # pragma: no cover
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def spec(self) -> str:
        return spec_of(self)


VIOLATION_TOL = 1e-9


# ------------------------------------------------------------------ blocks
@dataclass(frozen=True)
class Block:
    """One block of the IR: ``indices[i]`` is the IR index of the block's variable i."""

    name: str
    indices: np.ndarray  # int64, sorted
    constraints: tuple[int, ...] = ()  # positions in problem.constraints of the constraints lying inside it

    @property
    def size(self) -> int:
        return int(self.indices.shape[0])


def blocks_of(problem: ir.Problem, *, constraints: str = "inside", unpartitioned: str = "all",
              leftover: bool = True) -> list[Block]:
    """The blocks of ``problem``: its partitions (sorted indices), the uncovered variables as one more block
    ``"unpartitioned"`` (unless not ``leftover``), or, when it has no partitions, one block ``"all"``
    (``unpartitioned="all"``) or one block per layer named by the layer (``"layers"``; variables of no layer:
    ``"(no layer)"``). Empty blocks are skipped.

    ``constraints``: ``"inside"`` refuses a constraint spanning several blocks (a QselError saying what to
    do); ``"ignore"`` lets it through (the caller deals with it); ``"none"`` refuses any constraint."""
    n = problem.num_vars
    parts = [(p.name, np.sort(p.indices).astype(np.int64)) for p in problem.partitions if p.size]
    covered = np.zeros(n, dtype=bool)
    for _, idx in parts:
        covered[idx] = True
    if not parts and unpartitioned == "layers":
        v = problem.variables
        parts = [(v.layer_names[code] if code >= 0 else "(no layer)", np.flatnonzero(v.layer == code))
                 for code in np.unique(v.layer)]
    elif not parts:
        parts = [("all", np.arange(n, dtype=np.int64))] if n else []
    elif not covered.all() and leftover:
        parts.append(("unpartitioned", np.flatnonzero(~covered).astype(np.int64)))
    owner = block_owner(n, [idx for _, idx in parts])
    inside: list[list[int]] = [[] for _ in parts]
    for k, c in enumerate(problem.constraints):
        if constraints == "none":
            raise ir.QselError(f"constraint {c.label!r} is still in the IR; run the 'lower-constraints' pass first")
        owners = np.unique(owner[c.indices]) if c.indices.size else np.zeros(0, np.int64)
        if owners.size == 1 and owners[0] >= 0:
            inside[int(owners[0])].append(k)
        elif owners.size > 1 and constraints == "inside":
            names = ", ".join(repr(parts[int(o)][0]) for o in owners[:4])
            raise ir.QselError(
                f"constraint {c.label!r} spans several blocks ({names}{', ...' if owners.size > 4 else ''}); "
                f"block files cannot honour it: lower it first ('lower-constraints' before 'partition'), "
                f"or partition so that each constraint lies in one block")
    return [Block(name, idx, tuple(cs)) for (name, idx), cs in zip(parts, inside)]


def block_owner(n: int, index_sets: Sequence[np.ndarray]) -> np.ndarray:
    """owner[i] = position of the block holding variable i (-1: none)."""
    owner = np.full(n, -1, dtype=np.int64)
    for b, idx in enumerate(index_sets):
        owner[idx] = b
    return owner


def block_problem(problem: ir.Problem, block: Block, *, first: bool = True,
                  values: np.ndarray | None = None, offset: float | None = None) -> ir.Problem:
    """The block as its own problem (variable i = IR variable ``block.indices[i]``).

    ``values`` None: every other variable clamped to 0 (cross terms dropped: ``ir.restrict``), only the
    constraints inside the block kept, and as constant either ``offset`` (the block's own constant c_b from
    :func:`~qsel.targets.manifest.block_constants`: E_block(x_b) = c_b + the terms inside the block, so
    that sum_b E_block(x_b) + cross(x) = E(x) when the c_b sum to the IR offset) or, without ``offset``,
    the whole IR offset when ``first`` and 0 otherwise. ``values`` given (a full 0/1 assignment): the other
    variables clamped at those values, cross terms folded into the linear biases and every constraint
    touching the block kept with its right-hand side shifted (exact conditional problem:
    E_block(x_b) == E(x with x_b in the block); ``first`` and ``offset`` do not apply)."""
    keep = np.zeros(problem.num_vars, dtype=bool)
    keep[block.indices] = True
    others = np.flatnonzero(~keep)
    if values is None:
        cons = tuple(problem.constraints[k] for k in block.constraints)
        base = problem.replace(constraints=cons, partitions=())
        sub = ir.restrict(base.replace(offset=0.0), block.indices)
        if offset is not None:
            return sub.replace(offset=float(offset))
        return sub.replace(offset=float(problem.offset)) if first else sub
    cons = tuple(c for c in problem.constraints if keep[c.indices].any())
    base = problem.replace(constraints=cons, partitions=())
    if not others.size:
        return base
    return ir.clamp(base, others, np.asarray(values, dtype=np.float64)[others], record=False)


def unique_stems(names: Sequence[str]) -> list[str]:
    """File-name-safe, unique stems for block names (``p0``, ``fc1_part_2`` ...)."""
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip(".") or "block"
        cand, k = stem, 1
        while cand.lower() in seen:
            k += 1
            cand = f"{stem}_{k}"
        seen.add(cand.lower())
        out.append(cand)
    return out


# ------------------------------------------------------------------ specs
def from_spec(text: str, kind: str, getter: Callable[[str], type]) -> Any:
    """``NAME`` or ``NAME{key=value,...}`` -> an instance of the registered class, options type-checked.

    Solvers may nest: ``NAME{...}(CHILD)`` builds the composite NAME around the solver CHILD (see
    :mod:`qsel.targets.composites`). ``kind`` is "target" or "solver" (for messages); ``getter`` the registry
    lookup."""
    from qsel.passes.pipeline import PipelineError, construct, parse

    head, child_text, column = split_composite(text)
    items = parse(head)
    if len(items) != 1:
        raise ir.QselError(f"expected one {kind} name (optionally with {{options}}), got {text!r}")
    obj = construct(kind, items[0], getter(items[0].name))
    composite = any(f.metadata.get("child") for f in dataclasses.fields(obj))
    if child_text is None:
        return obj
    if not composite:
        raise PipelineError(text, column, f"{kind} '{items[0].name}' wraps no other {kind}; only composites "
                                          f"(decompose, polish, lower ...) take one in (...)")
    return dataclasses.replace(obj, child=from_spec(child_text, kind, getter))


def split_composite(text: str) -> tuple[str, str | None, int]:
    """(head ``NAME{...}``, the child spec inside ``(...)`` or None, 1-based column of the ``(``)."""
    from qsel.passes.pipeline import PipelineError

    depth = 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "(" and depth == 0:
            close = text.rstrip()
            if not close.endswith(")"):
                raise PipelineError(text, len(close) + 1, "expected ')' closing the wrapped solver")
            inner = close[i + 1:-1]
            if inner.count("(") != inner.count(")"):
                raise PipelineError(text, i + 1, "unbalanced parentheses")
            if not inner.strip():
                raise PipelineError(text, i + 2, "expected a solver inside (...)")
            return text[:i], inner, i + 1
        elif ch == ")" and depth == 0:
            raise PipelineError(text, i + 1, "')' without a matching '('")
    return text, None, 0


def option_fields(cls: type) -> list[tuple[str, Any]]:
    """(kebab-case name, default) of a target's or solver's options, for listings."""
    return [(f.name.replace("_", "-"), f.default) for f in dataclasses.fields(cls)
            if f.init and not f.metadata.get("child")]


# ------------------------------------------------------------------ energies
def energy_summary(energies: np.ndarray, weights: np.ndarray | None = None, *, bins: int = 20) -> dict[str, Any]:
    """count, min, median, mean, max and a histogram (``edges``, ``counts``) of weighted energies.

    Energies whose magnitude times their count passes 1e307 are summarised at a power-of-two scale (exact in
    binary floating point) so that spans, sums and midpoints cannot overflow; (nearly) one energy gets one bin, never bins narrower than the
    float spacing."""
    e = np.asarray(energies, dtype=np.float64).ravel()
    if e.size == 0:
        return {"count": 0}
    lo, hi = float(e.min()), float(e.max())
    big = max(abs(lo), abs(hi)) * e.size > 1e307  # a span or a sum could overflow: a power-of-two scale
    scale = 2.0 ** -(int(np.ceil(np.log2(e.size))) + 1) if big else 1.0
    h = e * scale
    hlo, hhi = lo * scale, hi * scale
    one_bin = not hhi - hlo > 1e-9 * max(1.0, abs(hlo), abs(hhi))
    span = (hlo, hhi) if hhi > hlo else (hlo - 0.5, hlo + 0.5)
    if weights is None:  # O(n): no sort (the exact solver summarises up to 2^24 energies)
        w = None
        total, median, mean = int(e.size), float(np.median(h)), float(h.mean())
    else:
        w = np.asarray(weights, dtype=np.int64).ravel()
        order = np.argsort(h, kind="stable")
        cw = np.cumsum(w[order])
        total = int(cw[-1])
        median = float(h[order][min(int(np.searchsorted(cw, total / 2.0)), e.size - 1)]) if total else float("nan")
        mean = float(h @ (w / total)) if total else float("nan")  # weights as fractions: no partial sum overflows
    if one_bin:
        counts, edges = np.array([total]), np.array(span)
    else:
        counts, edges = np.histogram(h, bins=max(1, int(bins)), range=span, weights=w)
    if scale != 1.0:  # subnormal energies lose digits at the scale: keep the summary inside [min, max]
        median, mean = (float(np.clip(v / scale, lo, hi)) for v in (median, mean))
    return {"count": total, "min": lo, "median": median, "mean": mean, "max": hi,
            "histogram": {"edges": [float(v) / scale for v in edges], "counts": [int(round(c)) for c in counts]}}
