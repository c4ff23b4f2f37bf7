"""Baselines for discrete weights, on the same grid, scales and calibration batch as the compiled problem.

Each method returns level indices (k x n) into the layer's grid; the weights are
``LayerData.levels_of(idx)`` and their error is the IR energy of the encoded code.

* ``nearest``: round-to-nearest, q_oi = argmin_j |w_ref,oi - s_o q_j|.
* ``sign``: binary grids only, w = sign(w_ref) s (0 goes to +s) -- the
  binarisation of BinaryConnect / XNOR-Net; on the {-s, s} grid it coincides
  with round-to-nearest.
* ``gptq``: sequential rounding with error feedback on the Gram matrix
  H = A^T A (Frantar, Ashkboos, Hoefler, Alistarh 2022, "GPTQ: Accurate
  Post-Training Quantization for Generative Pre-trained Transformers",
  Algorithm 1, after OBQ, Frantar & Alistarh 2022). Since
  ||A w - t||^2 = ||A (w - w_ref)||^2 + const when w_ref minimises it, quantise
  weight i to the nearest level, then move the not yet quantised weights
  j > i by  -(w_i - q_i) [H^-1]_ij / [H^-1]_ii, which is the least-squares
  correction of the remaining weights for the fixed w_i. With the upper
  Cholesky factor U of H^-1 (H^-1 = U^T U) the updates of step i are row i of
  U over U_ii. H is dampened by 1 % of its mean diagonal, as GPTQ does (the
  calibration inputs of a first layer often have constant-zero columns).
  All output units share H, so the loop runs over the n inputs with every row
  updated at once.
* ``exact``: every level combination of one output unit, when the unit has
  at most ``EXACT_MAX_VARS`` (24) variables (L^n combinations, vectorised in chunks).

A conv layer's LayerData holds the im2col patches as A (m*P rows) and its
``m`` is the number of samples, so every method runs unchanged on the patches'
Gram matrix (GPTQ's H = patches^T patches / m, as for a conv layer in GPTQ).

hand-written: GPTQ's reference code is a PyTorch module tied to its model
loaders; the algorithm itself is the 15 lines below.
"""

from __future__ import annotations

import numpy as np

from qsel import ir
from qsel.targets.classical import EXACT_MAX_VARS

from . import discrete
from .discrete import LayerData

METHODS = ("nearest", "gptq", "sign", "exact")
DAMP = 0.01
_CHUNK = 1 << 16


def nearest(data: LayerData) -> np.ndarray:
    return data.grid.nearest(data.w_ref, data.scales)


def sign(data: LayerData) -> np.ndarray:
    if data.grid.levels.shape[0] != 2:
        raise ir.QselError(f"baseline 'sign' needs a two-level (binary) grid; layer {data.name!r} has "
                           f"{data.grid.levels.shape[0]} levels ({data.grid.spec})")
    return (data.w_ref >= 0).astype(np.int64)


def gptq(data: LayerData, damp: float = DAMP) -> np.ndarray:
    """GPTQ's column loop on H = A^T A / m (+ damp * mean diag), all output units at once."""
    A = data.A
    n = A.shape[1]
    H = A.T @ A / data.m
    H[np.diag_indices(n)] += damp * max(float(np.mean(np.diag(H))), 1e-12)
    U = np.linalg.cholesky(np.linalg.inv(H)).T  # upper: H^-1 = U^T U
    W = data.w_ref.copy()
    idx = np.empty(W.shape, dtype=np.int64)
    for i in range(n):
        col = data.grid.nearest(W[:, i:i + 1], data.scales)[:, 0]
        idx[:, i] = col
        err = (W[:, i] - data.grid.levels[col] * data.scales) / U[i, i]
        W[:, i + 1:] -= np.outer(err, U[i, i + 1:])
    return idx


def exact(data: LayerData) -> np.ndarray:
    """Enumerate every level combination of each output unit (at most ``EXACT_MAX_VARS`` variables each: the
    ``exact`` solver's limit, :data:`qsel.targets.classical.EXACT_MAX_VARS`)."""
    k, n = data.shape
    L = data.grid.levels.shape[0]
    if n * data.grid.bits > EXACT_MAX_VARS:
        raise ir.QselError(f"exact enumeration is limited to {EXACT_MAX_VARS} variables per output unit; layer "
                           f"{data.name!r} has {n} weights x {data.grid.bits} variables")
    m = data.m
    G = data.A.T @ data.A / m
    AT = data.A.T @ data.T / m
    total = L**n
    digits = L ** np.arange(n)
    best_e = np.full(k, np.inf)
    best = np.zeros((k, n), dtype=np.int64)
    for start in range(0, total, _CHUNK):
        codes = np.arange(start, min(start + _CHUNK, total))
        idx = (codes[:, None] // digits[None, :]) % L  # (c, n)
        for o in range(k):
            w = data.grid.levels[idx] * data.scales[o]
            e = np.einsum("ci,ij,cj->c", w, G, w) - 2.0 * w @ AT[:, o]
            j = int(np.argmin(e))
            if e[j] < best_e[o]:
                best_e[o], best[o] = e[j], idx[j]
    return best


def levels(data: LayerData, method: str) -> np.ndarray:
    """Level indices (k x n) that ``method`` picks for one layer."""
    if method not in METHODS:
        raise ir.QselError(f"unknown discrete baseline {method!r} (expected one of: {', '.join(METHODS)})")
    return {"nearest": nearest, "gptq": gptq, "sign": sign, "exact": exact}[method](data)


def initial_state(data: list[LayerData], method: str) -> dict:
    """``{"method", "ones"}``: the labels a baseline's code sets to 1 (the IR's recorded initial state)."""
    ones: list[str] = []
    for d in data:
        x = discrete.encode(d, levels(d, method))
        ones.extend(discrete.labels_of(d.name, *d.shape, d.grid)[x == 1].tolist())
    return {"method": method, "ones": ones}
