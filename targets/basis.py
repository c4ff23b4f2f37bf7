"""Basis states: the assignments of n binary variables in qsel's one bit order, and their energies.

State k (0 <= k < 2^n) is the assignment with x_i = (k >> i) & 1: bit i of k is variable i (and, in
the QAOA code, qubit i; qiskit's little-endian bitstrings print qubit 0 rightmost). The exact solver,
the exact baseline, the QAOA simulators and the OpenQAOA bridge all enumerate with these functions, so
a state index means the same assignment everywhere.

numpy has no routine that unpacks integers wider than 8 bits into bit columns (``np.unpackbits`` works
on uint8 and big-endian bit order), so the two lines of shifting below are written out.
"""

from __future__ import annotations

import numpy as np

from qsel import ir


def bits_of(states: np.ndarray, n: int, dtype=np.float64) -> np.ndarray:
    """Rows x with x_i = (k >> i) & 1 for each state index k of ``states``: shape (len(states), n)."""
    k = np.asarray(states, dtype=np.int64)
    return ((k[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(dtype)


def basis_bits(n: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """States k = start .. stop-1 (default: all 2^n) as rows of float 0/1, bit i in column i."""
    return bits_of(np.arange(start, (1 << n) if stop is None else stop, dtype=np.int64), n)


def basis_energies(problem: ir.Problem, chunk: int = 1 << 15) -> np.ndarray:
    """IR energy of every state k (index k, variable i = bit i), ``chunk`` states at a time."""
    n = problem.num_vars
    out = np.empty(1 << n)
    for start in range(0, 1 << n, chunk):
        stop = min(start + chunk, 1 << n)
        out[start:stop] = problem.energies(basis_bits(n, start, stop))
    return out
