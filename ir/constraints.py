"""Constraints kept as first-class objects, so that each target lowers them its own way.

A linear constraint reads ``sum_k coeffs[k] * x[indices[k]]  SENSE  rhs``. A
*cardinality* constraint is the special case with every coefficient 1 and an
integer right-hand side: "keep exactly / at most / at least K of these units".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from .errors import QselError


class Sense(str, Enum):
    EQ = "=="
    LE = "<="
    GE = ">="

    @classmethod
    def parse(cls, text: str) -> "Sense":
        try:
            return cls(text)
        except ValueError:
            raise QselError(f"unknown constraint sense {text!r} (expected ==, <= or >=)") from None


@dataclass(frozen=True, eq=False)
class Constraint:
    label: str
    indices: np.ndarray  # int64 (t,)
    coeffs: np.ndarray  # float64 (t,)
    sense: Sense
    rhs: float

    @classmethod
    def cardinality(cls, label: str, indices, sense: Sense | str, k: int) -> "Constraint":
        idx = np.asarray(indices, dtype=np.int64)
        return cls(label, idx, np.ones(idx.shape[0]), Sense(sense), float(k))

    @property
    def is_cardinality(self) -> bool:
        return bool(np.all(self.coeffs == 1.0)) and float(self.rhs).is_integer()

    @property
    def kind(self) -> str:
        return "cardinality" if self.is_cardinality else "linear"

    def lhs(self, X: np.ndarray) -> np.ndarray:
        """Left-hand side for every row of X (samples x n)."""
        return X[:, self.indices] @ self.coeffs

    def violation(self, X: np.ndarray) -> np.ndarray:
        """Amount by which each sample breaks the constraint (0 when satisfied)."""
        d = self.lhs(X) - self.rhs
        if self.sense is Sense.EQ:
            return np.abs(d)
        if self.sense is Sense.LE:
            return np.maximum(d, 0.0)
        return np.maximum(-d, 0.0)


@dataclass(frozen=True, eq=False)
class Partition:
    """A named block of variables: one local subproblem."""

    name: str
    indices: np.ndarray  # int64 (b,)

    @property
    def size(self) -> int:
        return int(self.indices.shape[0])
