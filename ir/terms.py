"""Quadratic terms: dense upper-triangular blocks and sparse COO couplings.

The quadratic part of the energy is

    x^T U x = sum_blocks sum_{a<b} M[a, b] x[idx[a]] x[idx[b]]  +  sum_k v_k x[r_k] x[c_k]

Dense blocks hold a whole layer's interactions (a 4,096-unit layer is one
4,096 x 4,096 block evaluated with one GEMM); COO holds everything sparse.
Only the strict upper triangle of a block's matrix carries meaning; the
verifier insists that the diagonal and the lower triangle are zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np


@dataclass(frozen=True, eq=False)
class DenseBlock:
    """Couplings among the variables ``index`` (length b) as a b x b strictly upper-triangular matrix."""

    index: np.ndarray  # int64 (b,)
    matrix: np.ndarray  # float64 (b, b)

    @classmethod
    def from_matrix(cls, index: np.ndarray | range, matrix: np.ndarray) -> "DenseBlock":
        """Build from any square matrix: Q is read as x^T Q x, so the block keeps
        triu(Q + Q^T, 1); the diagonal must be folded into linear terms by the caller
        (see :func:`split_diagonal`)."""
        q = np.asarray(matrix, dtype=np.float64)
        upper = np.triu(q, 1) + np.triu(q.T, 1)
        return cls(np.asarray(index, dtype=np.int64), upper)

    @property
    def size(self) -> int:
        return int(self.index.shape[0])

    def contiguous_slice(self) -> slice | None:
        """``slice(a, a+b)`` when the block covers consecutive variables (no gather needed)."""
        b = self.size
        if b == 0:
            return slice(0, 0)
        start = int(self.index[0])
        if int(self.index[-1]) - start == b - 1 and np.all(np.diff(self.index) == 1):
            return slice(start, start + b)
        return None

    def columns(self, X: np.ndarray) -> np.ndarray:
        sl = self.contiguous_slice()
        return X[:, sl] if sl is not None else X[:, self.index]

    def energies(self, X: np.ndarray) -> np.ndarray:
        """sum_{a<b} M[a,b] x_a x_b for each row of X: one GEMM, ((X_B M) * X_B).sum(1)."""
        xb = self.columns(X)
        return np.einsum("sb,sb->s", xb @ self.matrix, xb)


TILE_ENTRIES = 1 << 22  # entries of one row tile (32 MB of float64)


def row_tiles(matrix: np.ndarray, entries: int = TILE_ENTRIES) -> Iterator[tuple[int, np.ndarray]]:
    """(r0, matrix[r0:r0 + t]) for consecutive tiles of rows, t * columns <= ``entries``: a large layer's
    matrix is scanned without n x n temporaries (masks, index arrays, copies)."""
    tile = max(1, entries // max(matrix.shape[1] if matrix.ndim > 1 else 1, 1))
    for r0 in range(0, matrix.shape[0], tile):
        yield r0, matrix[r0:r0 + tile]


def split_diagonal(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (diag, triu(Q + Q^T, 1)): for binary x, x^T Q x = diag . x + x^T U x."""
    q = np.asarray(matrix, dtype=np.float64)
    return np.diag(q).copy(), np.triu(q, 1) + np.triu(q.T, 1)


@dataclass(frozen=True, eq=False)
class Couplings:
    """Sparse couplings in COO form: energy term ``vals[k] * x[rows[k]] * x[cols[k]]``."""

    rows: np.ndarray  # int64 (nnz,)
    cols: np.ndarray  # int64 (nnz,)
    vals: np.ndarray  # float64 (nnz,)

    @classmethod
    def empty(cls) -> "Couplings":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))

    @classmethod
    def from_arrays(cls, rows, cols, vals) -> "Couplings":
        return cls(np.asarray(rows, dtype=np.int64).ravel(), np.asarray(cols, dtype=np.int64).ravel(),
                   np.asarray(vals, dtype=np.float64).ravel())

    def __len__(self) -> int:
        return int(self.vals.shape[0])

    def energies(self, X: np.ndarray, n: int) -> np.ndarray:
        """x^T U x with U the n x n sparse matrix of these entries: cost samples x nnz."""
        if len(self) == 0:
            return np.zeros(X.shape[0])
        from scipy import sparse

        u = sparse.csr_matrix((self.vals, (self.rows, self.cols)), shape=(n, n))
        # (X U) has shape samples x n; X U x^T row-wise.
        xu = np.asarray((u.T @ X.T).T)
        return np.einsum("sn,sn->s", xu, X)

    def concat(self, other: "Couplings") -> "Couplings":
        return Couplings(np.concatenate([self.rows, other.rows]), np.concatenate([self.cols, other.cols]),
                         np.concatenate([self.vals, other.vals]))
