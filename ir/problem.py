"""The qsel IR: a binary quadratic problem with provenance, constraints and partitions.

Energy of an assignment x in {0,1}^n:

    E(x) = offset + h . x + sum_blocks x_B^T M_B x_B + sum_k v_k x[r_k] x[c_k]

with each block matrix M_B strictly upper triangular. Constraints are kept
separately (a target lowers them); :meth:`Problem.violations` checks them.
A ``Problem`` is treated as an immutable value: passes build new ones with
:meth:`Problem.replace`.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from .constraints import Constraint, Partition
from .terms import Couplings, DenseBlock, split_diagonal
from .variables import Variables

FORMAT_VERSION = (1, 0)


@dataclass(frozen=True, eq=False)
class Problem:
    variables: Variables
    linear: np.ndarray  # float64 (n,)
    offset: float = 0.0
    dense: tuple[DenseBlock, ...] = ()
    sparse: Couplings = field(default_factory=Couplings.empty)
    constraints: tuple[Constraint, ...] = ()
    partitions: tuple[Partition, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    # ---------------------------------------------------------------- builders
    @classmethod
    def from_qubo_matrix(cls, Q: np.ndarray, labels: Sequence[str] | None = None, *, offset: float = 0.0,
                         variables: Variables | None = None, metadata: dict | None = None) -> "Problem":
        """E(x) = x^T Q x + offset for any square Q (diagonal -> linear terms), kept as one dense block."""
        Q = np.asarray(Q, dtype=np.float64)
        if Q.ndim != 2 or Q.shape[0] != Q.shape[1]:
            raise ValueError(f"QUBO matrix must be square, got shape {Q.shape}")
        n = Q.shape[0]
        if variables is None:
            variables = Variables.from_labels(labels if labels is not None else [f"x{i}" for i in range(n)])
        diag, upper = split_diagonal(Q)
        return cls(variables, diag, float(offset), (DenseBlock(np.arange(n, dtype=np.int64), upper),),
                   metadata=dict(metadata or {}))

    @classmethod
    def from_terms(cls, labels: Sequence[str], linear: dict[str, float] | None = None,
                   quadratic: dict[tuple[str, str], float] | None = None, offset: float = 0.0) -> "Problem":
        """Small problems from dictionaries (tests, imports): {label: h}, {(u, v): J}."""
        variables = Variables.from_labels(labels)
        h = np.zeros(len(variables))
        pos = variables.index
        for lab, val in (linear or {}).items():
            h[pos[lab]] += val
        pairs = list((quadratic or {}).items())
        rows = np.array([pos[u] for (u, _), _ in pairs], dtype=np.int64)
        cols = np.array([pos[v] for (_, v), _ in pairs], dtype=np.int64)
        vals = np.array([j for _, j in pairs], dtype=np.float64)
        return cls(variables, h, float(offset), sparse=Couplings.from_arrays(rows, cols, vals))

    @staticmethod
    def concat(parts: Sequence["Problem"], metadata: dict | None = None) -> "Problem":
        """Block-diagonal union: variables stacked, every index shifted, offsets added.

        E(x_1, ..., x_p) = sum_q E_q(x_q). Labels must stay unique (the verifier checks)."""
        shifts = np.cumsum([0] + [p.num_vars for p in parts])
        dense, rows, cols, vals, constraints, partitions = [], [], [], [], [], []
        for p, shift in zip(parts, shifts):
            dense += [DenseBlock(b.index + shift, b.matrix) for b in p.dense]
            rows.append(p.sparse.rows + shift)
            cols.append(p.sparse.cols + shift)
            vals.append(p.sparse.vals)
            constraints += [Constraint(c.label, c.indices + shift, c.coeffs, c.sense, c.rhs) for c in p.constraints]
            partitions += [Partition(q.name, q.indices + shift) for q in p.partitions]
        sparse = (Couplings(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)) if parts
                  else Couplings.empty())
        return Problem(
            variables=Variables.concat([p.variables for p in parts]),
            linear=np.concatenate([p.linear for p in parts]) if parts else np.zeros(0),
            offset=float(sum(p.offset for p in parts)),
            dense=tuple(dense), sparse=sparse, constraints=tuple(constraints), partitions=tuple(partitions),
            metadata=dict(metadata or {}),
        )

    def replace(self, **changes: Any) -> "Problem":
        return dataclasses.replace(self, **changes)

    def with_metadata(self, **entries: Any) -> "Problem":
        meta = copy.deepcopy(self.metadata)
        meta.update(entries)
        return self.replace(metadata=meta)

    # ---------------------------------------------------------------- queries
    @property
    def num_vars(self) -> int:
        return len(self.variables)

    @property
    def labels(self) -> list[str]:
        return [str(x) for x in self.variables.labels.tolist()]

    def index(self, label: str) -> int:
        return self.variables.positions([label])[0].item()

    @property
    def fixed(self) -> dict[str, int]:
        """Variables removed by a pass with their provable values (decoding restores them)."""
        return dict(self.metadata.get("fixed", {}))

    @property
    def history(self) -> list[dict]:
        return list(self.metadata.get("history", []))

    def num_couplings(self) -> int:
        """Stored non-zero quadratic terms (dense nonzeros + sparse entries)."""
        return int(sum(np.count_nonzero(b.matrix) for b in self.dense) + np.count_nonzero(self.sparse.vals))

    # ---------------------------------------------------------------- energies
    def energies(self, X: np.ndarray | Iterable) -> np.ndarray:
        """Energies of many assignments at once; X has shape (samples, n) with 0/1 entries."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.num_vars:
            raise ValueError(f"assignments must have shape (samples, {self.num_vars}), got {X.shape}")
        e = np.full(X.shape[0], float(self.offset))
        e += X @ self.linear
        for block in self.dense:
            e += block.energies(X)
        e += self.sparse.energies(X, self.num_vars)
        return e

    def energy(self, x: np.ndarray | Iterable) -> float:
        return float(self.energies(np.asarray(x, dtype=np.float64)[None, :])[0])

    def violations(self, X: np.ndarray) -> np.ndarray:
        """(samples, constraints) array: how much each sample breaks each constraint."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if not self.constraints:
            return np.zeros((X.shape[0], 0))
        return np.stack([c.violation(X) for c in self.constraints], axis=1)

    def feasible(self, X: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """True for samples that satisfy every constraint."""
        return np.all(self.violations(X) <= tol, axis=1)

    def broken_constraints(self, x: np.ndarray, tol: float = 1e-9) -> list[str]:
        """Labels of the constraints a single assignment breaks (pyqubo's decode_sample habit)."""
        v = self.violations(np.asarray(x, dtype=np.float64)[None, :])[0]
        return [c.label for c, amount in zip(self.constraints, v) if amount > tol]

    def to_dense_upper(self) -> np.ndarray:
        """The full n x n strictly upper-triangular coupling matrix (small problems, plots)."""
        n = self.num_vars
        U = np.zeros((n, n))
        for block in self.dense:
            U[np.ix_(block.index, block.index)] += block.matrix
        np.add.at(U, (self.sparse.rows, self.sparse.cols), self.sparse.vals)
        return np.triu(U, 1) + np.triu(U.T, 1)
