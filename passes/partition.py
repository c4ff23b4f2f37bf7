"""partition: split the variables into blocks of at most max-vars that keep strong couplings inside.

N = ``max-vars``; by default (0) it is the block size of ``topology``
(:meth:`qsel.passes.topology.Topology.block_size`: the largest clique of the
annealer graph less a margin for missing qubits), so that every block can be
placed on that chip as a clique: ``partition{topology=zephyr}``.

The graph has an edge of weight |J_ij| for every effective coupling. Its
connected components are found first (scipy, on the block structure, never on
n^2 Python pairs); a component of at most N = max-vars variables is one piece,
a larger one is split by the method (see :mod:`qsel.passes.graph_split`:
``spectral`` recursive Fiedler bisection with sweep cuts, ``kl`` the same with
Kernighan-Lin refinement, ``community`` Louvain). Pieces are merged while coupled
pieces fit together, then uncoupled ones are packed first-fit decreasing.
``layer`` makes one block per provenance layer (variables without a layer form
the block ``nolayer``), splitting a layer larger than N spectrally into
``LAYER.0``, ``LAYER.1``, ... Existing partitions are replaced.

Energies of every assignment are unchanged (bound 0): the pass only writes
``problem.partitions``. The details report ``cut_weight`` (sum of |J| between
blocks), ``total_weight`` and ``cut_fraction``.

Cardinality constraints spanning several blocks (``budgets=split``, default):
each is replaced by one constraint per block, ``LABEL@BLOCK``, with the same
sense and a budget K_b proportional to the block's share t_b of the T
constrained variables, rounded by largest remainder so that sum_b K_b = K
(0 <= K_b <= t_b). Why: the blocks are solved independently (on hardware
each block is a separate submission), and a penalty for the global constraint
would couple every pair of blocks with 2P, undoing the partition. Per-block
budgets that sum to K imply the global constraint (for ==, <= and >=), so
every feasible block solution composes to a feasible global one; the price is
a smaller feasible set: a global optimum that keeps more units in one block
than its budget is excluded. That is why this pass is declared lossy, even
though its energy bound is 0; ``details["feasible_set"]`` says "restricted"
when a constraint was split. The originals are recorded in
``metadata["split_constraints"]`` (label -> sense, rhs, parts). With
``budgets=keep`` spanning constraints stay global for the composition step
(lower-constraints then leaves them alone by default); non-cardinality
constraints are always kept, because proportional right-hand sides of
weighted constraints need not be satisfiable per block.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qsel.ir import Constraint, Partition, Problem

from . import graph_split
from .base import PropertySet, TransformationPass, Transformed
from .mapping import reserved
from .quadratic import abs_weight_split, components, weight_matrix
from .topology import Topology, option


@dataclass(frozen=True)
class PartitionPass(TransformationPass):
    """Split variables into blocks of <= max-vars keeping strong couplings inside; reports the cut."""

    name = "partition"
    exact = False
    max_vars: int = 0  # 0: the topology's block size
    topology: str = "pegasus16"  # a name of qsel.passes.topology or family:shape; sizes blocks when max-vars is 0
    method: Literal["spectral", "kl", "community", "layer"] = "spectral"
    budgets: Literal["split", "keep"] = "split"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_vars < 0:
            raise ValueError(f"max-vars must be at least 1 (or 0: the topology's block size), got {self.max_vars}")
        option(self.topology)  # an unknown name fails when the pipeline is built

    @property
    def limit(self) -> int:
        """Variables per block: ``max-vars``, or the topology's block size when it is 0."""
        return self.max_vars or Topology.parse(self.topology).block_size()

    def run(self, problem: Problem, props: PropertySet) -> Transformed:
        with _single_threaded_blas():
            return self._run(problem)

    def _run(self, problem: Problem) -> Transformed:
        rng = np.random.default_rng(self.seed)
        comps = components(problem)
        if self.method == "layer":
            blocks, names = self._by_layer(problem, comps, rng)
        else:
            blocks = self._split(problem, comps, self.method, rng)
            names = [f"b{k}" for k in range(len(blocks))]
        owner = np.full(problem.num_vars, -1, dtype=np.int64)
        for k, b in enumerate(blocks):
            owner[b] = k
        constraints, split, kept = _budgets(problem.constraints, owner, names, self.budgets)
        metadata = copy.deepcopy(problem.metadata)
        if split:
            metadata["split_constraints"] = {**reserved(metadata, "split_constraints"), **split}
        out = problem.replace(partitions=tuple(Partition(nm, b) for nm, b in zip(names, blocks)),
                              constraints=tuple(constraints), metadata=metadata)
        total, cut = abs_weight_split(problem, owner)
        sizes = [int(b.size) for b in blocks]
        return Transformed(out, bound=0.0, details={
            "blocks": len(blocks), "max_block": max(sizes, default=0), "min_block": min(sizes, default=0),
            "max_vars": self.limit,
            "cut_weight": cut, "total_weight": total, "cut_fraction": cut / total if total > 0 else 0.0,
            "feasible_set": "restricted" if split else "unchanged",
            "split_constraints": {k: v["parts"] for k, v in split.items()}, "kept_constraints": kept})

    def _split(self, problem: Problem, comps: list[np.ndarray], method: str,
               rng: np.random.Generator) -> list[np.ndarray]:
        groups = []
        for comp in comps:
            if comp.size <= self.limit:
                groups.append(comp)
                continue
            W = weight_matrix(problem, comp)
            groups += [comp[p] for p in graph_split.split(W, self.limit, method, rng)]
        return graph_split.pack(groups, self.limit)

    def _by_layer(self, problem: Problem, comps: list[np.ndarray],
                  rng: np.random.Generator) -> tuple[list[np.ndarray], list[str]]:
        v = problem.variables
        blocks, names = [], []
        codes = np.unique(v.layer)
        for code in [*codes[codes >= 0], *codes[codes < 0]]:  # named layers first, then "nolayer"
            name = v.layer_names[code] if code >= 0 else "nolayer"
            member = v.layer == code
            sub = [c[member[c]] for c in comps]
            parts = self._split(problem, [c for c in sub if c.size], "spectral", rng)
            blocks += parts
            names += [name] if len(parts) == 1 else [f"{name}.{k}" for k in range(len(parts))]
        return blocks, names


@contextlib.contextmanager
def _single_threaded_blas():
    """The eigensolver's matrix-vector products are memory-bound; threaded BLAS gains nothing on them
    and, on a busy 2-core machine, its thread hand-offs made the 4,096-unit bench 2.7x slower
    (3.1 s -> 1.15 s for the pass with one thread). threadpoolctl ships with scikit-learn."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _budgets(constraints, owner: np.ndarray, names: list[str], mode: str):
    """Per-block budgets for cardinality constraints spanning blocks (see the module docstring)."""
    out, split, kept = [], {}, []
    used = {c.label for c in constraints}
    for c in constraints:
        idx, inverse = np.unique(c.indices, return_inverse=True)
        coeffs = np.bincount(inverse, weights=c.coeffs, minlength=idx.size) if idx.size else np.zeros(0)
        nz = coeffs != 0
        idx, coeffs = idx[nz], coeffs[nz]
        blocks = np.unique(owner[idx])
        if blocks.size <= 1:
            out.append(c)
            continue
        T, K = idx.size, c.rhs
        cardinality = bool(np.all(coeffs == 1.0)) and float(K).is_integer() and 0 <= K <= T
        if mode == "keep" or not cardinality:
            out.append(c)
            kept.append(c.label)
            continue
        K = int(K)
        sizes = np.array([np.count_nonzero(owner[idx] == b) for b in blocks])
        quota = K * sizes / T
        budget = np.floor(quota).astype(np.int64)
        extra = K - int(budget.sum())
        budget[np.argsort(-(quota - budget), kind="stable")[:extra]] += 1
        parts = {}
        for b, k in zip(blocks.tolist(), budget.tolist()):
            label = f"{c.label}@{names[b]}" if b >= 0 else f"{c.label}@unpartitioned"
            while label in used:
                label += "'"
            used.add(label)
            out.append(Constraint.cardinality(label, idx[owner[idx] == b], c.sense, k))
            parts[label] = k
        split[c.label] = {"sense": c.sense.value, "rhs": float(c.rhs), "parts": parts}
    return out, split, kept


PASSES = (PartitionPass,)
