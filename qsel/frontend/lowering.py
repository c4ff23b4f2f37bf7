"""The neuron-interaction objective: dense linear algebra from activations and weights to QUBO terms.

Keep-mask s in {0,1}^n over n units. With per-unit contributions U_i (what unit
i adds to the next layer's pre-activation, one (m x k) array per unit) and a
reference T (m x k, bias already removed),

    E(s) = 1/m || sum_i s_i U_i - T ||^2 = s^T Q s - 2 r.s + ||T||^2/m
    Q_ij = <U_i, U_j>/m,   r_i = <U_i, T>/m

For a dense next layer U_i = a_i w_i^T (column a_i of A, column w_i of W), so

    Q = (A^T A / m) o (W^T W),   r_i = 1/m sum_s a_si (w_i . t_s)        (neuron)

(for reconstruct against the same activations, T = A W^T and r = Q 1),

two GEMMs and a Hadamard product; m x n x n is never formed. For a
convolutional unit (a channel) U_c is the channel's convolution with its slice
of the next layer's kernel, accumulated over sample chunks (channel). For edge
granularity each output unit k of a dense layer with input A is its own problem
over its incoming edges:  Q^(k) = (A^T A / m) o (w_k w_k^T),  r^(k) = w_k o (A^T t_k)/m.

Binary s gives s_i^2 = s_i, so the IR's linear bias is h_i = Q_ii - 2 r_i and
its coupling J_ij = 2 Q_ij (i < j); the offset is ||T||^2/m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK_BYTES = 256 * 2**20  # bound on the contribution tensor built per sample chunk (channel)


@dataclass(frozen=True)
class Terms:
    """E(s) = s^T Q s - 2 r.s + const for one selection problem (Q symmetric, n x n)."""

    Q: np.ndarray
    r: np.ndarray
    const: float

    def ir_arrays(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(h, U, offset) with U strictly upper triangular: h = diag Q - 2r, U = 2 triu(Q, 1).

        Works in place on Q (the Terms object must not be used afterwards) to avoid
        extra n x n copies of a 4,096-unit layer."""
        Q = self.Q
        h = np.diag(Q).copy() - 2.0 * self.r
        for i in range(Q.shape[0]):  # O(n) row slices, not O(n^2) Python work
            Q[i, : i + 1] = 0.0
        Q *= 2.0
        return h, Q, float(self.const)

    def energy(self, s: np.ndarray) -> np.ndarray:
        """Reference evaluation for rows of s (tests)."""
        s = np.atleast_2d(np.asarray(s, dtype=np.float64))
        return np.einsum("si,ij,sj->s", s, self.Q, s) - 2.0 * s @ self.r + self.const


GRAM_TILE = 4096


def gram(A: np.ndarray, tile: int = GRAM_TILE) -> np.ndarray:
    """A^T A (n x n) in column tiles: A_I^T A_I (syrk) on the diagonal, A_I^T A_J (gemm) above it, mirrored.

    One syrk over the whole of A is the same arithmetic, but the OpenBLAS that numpy wheels bundle
    (0.3.31) crashes with a segmentation fault on it at n = 16,384 (m = 2,048); tiles of 4,096 columns stay
    clear of that and cost the same flops (only the upper tiles are computed)."""
    n = A.shape[1]
    if n <= tile:
        return A.T @ A
    G = np.empty((n, n), dtype=np.result_type(A.dtype, np.float64))
    for a in range(0, n, tile):
        ia = slice(a, min(a + tile, n))
        Aa = A[:, ia]
        G[ia, ia] = Aa.T @ Aa
        for b in range(a + tile, n, tile):
            ib = slice(b, min(b + tile, n))
            G[ia, ib] = Aa.T @ A[:, ib]
            G[ib, ia] = G[ia, ib].T
    return G


def _tiles(n: int, tile: int) -> list[slice]:
    return [slice(a, min(a + tile, n)) for a in range(0, n, tile)]


def gram_add(G: np.ndarray, A: np.ndarray, tile: int = GRAM_TILE) -> None:
    """G += A^T A on the upper tiles only (diagonal tiles whole), in place: the temporary is one tile, not
    n x n, so accumulating over sample chunks costs G plus a chunk (:func:`mirror_upper` completes G)."""
    tiles = _tiles(A.shape[1], tile)
    for i, ia in enumerate(tiles):
        Aa = A[:, ia]
        for ib in tiles[i:]:
            G[ia, ib] += Aa.T @ A[:, ib]


def mirror_upper(G: np.ndarray, tile: int = GRAM_TILE) -> None:
    """Copy the upper off-diagonal tiles of G onto the lower ones (after :func:`gram_add`)."""
    tiles = _tiles(G.shape[0], tile)
    for i, ia in enumerate(tiles):
        for ib in tiles[i + 1:]:
            G[ib, ia] = G[ia, ib].T


def hadamard_gram(Q: np.ndarray, W: np.ndarray, tile: int = GRAM_TILE) -> None:
    """Q *= W^T W in place, tile by tile (no n x n temporary for W^T W)."""
    for ia in _tiles(Q.shape[0], tile):
        Wa = W[:, ia]
        for ib in _tiles(Q.shape[0], tile):
            Q[ia, ib] *= Wa.T @ W[:, ib]


@dataclass
class ChunkSums:
    """Sums over sample chunks from which a dense next layer's neuron terms follow exactly (streamed
    calibration: peak memory is these sums plus one chunk, whatever the batch size).

    For activations A (m x n, rows arriving in chunks A_c) and labels Y (m x k, chunks Y_c):

        G = sum_c A_c^T A_c,   a = sum_c A_c^T 1,   AY = sum_c A_c^T Y_c,   yy = sum_c ||Y_c||^2,
        y1 = sum_c Y_c^T 1,    m = sum_c m_c.

    :meth:`terms` gives the reconstruct problem (T = A W^T: r = Q 1, no target sums needed);
    :meth:`fit_terms` the fit problem against T = c Y - b without a second pass over the data:
    A^T T = c AY - a b^T and ||T||^2 = c^2 yy - 2 c b.y1 + m ||b||^2."""

    G: np.ndarray
    colsum: np.ndarray
    m: int = 0
    AY: np.ndarray | None = None
    yy: float = 0.0
    ysum: np.ndarray | None = None

    @classmethod
    def zeros(cls, n: int, k: int | None = None) -> "ChunkSums":
        return cls(np.zeros((n, n)), np.zeros(n), 0, None if k is None else np.zeros((n, k)), 0.0,
                   None if k is None else np.zeros(k))

    def add(self, A: np.ndarray, Y: np.ndarray | None = None) -> None:
        """Fold in one chunk of activations (and of labels when the sums track them)."""
        A = np.asarray(A, dtype=np.float64)
        gram_add(self.G, A)
        self.colsum += A.sum(axis=0)
        self.m += A.shape[0]
        if self.AY is not None:
            assert Y is not None and self.ysum is not None
            Y = np.asarray(Y, dtype=np.float64)
            self.AY += A.T @ Y
            self.yy += float(np.vdot(Y, Y))
            self.ysum += Y.sum(axis=0)

    def _q(self, W: np.ndarray) -> np.ndarray:
        """Q = (G / m) o (W^T W), in place on G (the sums cannot be used for terms again)."""
        mirror_upper(self.G)
        Q = self.G
        Q *= 1.0 / self.m
        hadamard_gram(Q, W)
        return Q

    def terms(self, W: np.ndarray) -> Terms:
        """Reconstruct the dense next layer itself (as :func:`neuron_terms` with T=None)."""
        Q = self._q(W)
        r = Q.sum(axis=1)
        return Terms(Q, r, float(r.sum()))

    def fit_scale(self, W: np.ndarray, b: np.ndarray, keep_count: int, dense_sq: float) -> float:
        """:func:`fit_target_scale` from the sums: g_i = sum_k AY_ik W_ki, the top keep_count units by g,
        c = (sum_top g + b.y1) / yy; c <= 0: sqrt(||A W^T + b||^2 / yy) with ``dense_sq`` = ||A W^T||^2."""
        assert self.AY is not None and self.ysum is not None
        g = np.einsum("ik,ki->i", self.AY, W)
        top = np.argsort(-g, kind="stable")[:keep_count]
        c = float(g[top].sum() + b @ self.ysum) / self.yy if self.yy > 0 else 0.0
        if c <= 0:
            dense = dense_sq + 2.0 * float(b @ (W @ self.colsum)) + self.m * float(b @ b)
            c = float(np.sqrt(dense / max(self.yy, 1e-300)))
        return c

    def fit_terms(self, W: np.ndarray, b: np.ndarray, keep_count: int,
                  scale: float | None = None) -> tuple[Terms, float]:
        """The fit problem against T = c Y - b (as :func:`neuron_terms` with that T) and c: ``scale``, or
        :meth:`fit_scale`'s (||A W^T||^2 = m 1^T Q 1)."""
        assert self.AY is not None and self.ysum is not None
        Q = self._q(W)
        c = scale if scale is not None else self.fit_scale(W, b, keep_count, self.m * float(Q.sum()))
        AT = c * self.AY - np.outer(self.colsum, b)
        tt = c * c * self.yy - 2.0 * c * float(b @ self.ysum) + self.m * float(b @ b)
        r = np.einsum("ik,ki->i", AT, W) / self.m
        return Terms(Q, r, tt / self.m), c


def neuron_terms(A: np.ndarray, W: np.ndarray, T: np.ndarray | None = None) -> Terms:
    """Units = columns of A (m x n) feeding a dense layer with weight W (k x n); target T (m x k).

    ``T=None`` means reconstruct the dense layer itself, T = A W^T. Then
    r_i = sum_j (A^T A/m)_ij (W^T W)_ij = (Q 1)_i and ||T||^2/m = 1^T Q 1, so no
    O(m n k) product is needed at all: the two GEMMs are the whole cost."""
    m = A.shape[0]
    Q = gram(A)
    Q *= 1.0 / m
    hadamard_gram(Q, W)  # in tiles: no n x n temporary for W^T W beside Q (1 GB at 11,008 units)
    if T is None:
        r = Q.sum(axis=1)
        return Terms(Q, r, float(r.sum()))
    r = np.einsum("si,si->i", A, T @ W) / m
    return Terms(Q, r, float(np.vdot(T, T)) / m)


def dense_fit_terms(A: np.ndarray, W: np.ndarray, b: np.ndarray, Y: np.ndarray, keep_count: int,
                    scale: float | None = None) -> tuple[Terms, float]:
    """The fit problem of a dense read-out (weight W, bias b) against T = c Y - b from the whole batch in
    memory, and c (``scale``, or :func:`fit_target_scale`'s). The one arithmetic for it: the in-memory
    compile and a one-chunk lowering task both call this, so their IRs agree bit for bit (chunk sums,
    :meth:`ChunkSums.fit_terms`, agree to rounding)."""
    c = scale if scale else fit_target_scale(A, W, b, Y, keep_count)
    return neuron_terms(A, W, c * Y - b), c


def edge_terms(A: np.ndarray, W: np.ndarray, T: np.ndarray) -> list[Terms]:
    """One problem per output unit k of a dense layer (input A: m x n, weight W: k x n, target T: m x k)."""
    m = A.shape[0]
    G = gram(A) / m
    AT = A.T @ T / m  # n x k
    out = []
    for k in range(W.shape[0]):
        w = W[k]
        out.append(Terms(G * np.outer(w, w), w * AT[:, k], float(T[:, k] @ T[:, k]) / m))
    return out


def channel_terms(contributions, T: np.ndarray) -> Terms:
    """Generic form from per-unit contributions, accumulated over sample chunks.

    ``contributions(start, stop)`` returns U for samples [start, stop) as an array
    (n, stop - start, d) where d flattens the next layer's outputs; T is (m, d)."""
    m = T.shape[0]
    T2 = T.reshape(m, -1)
    Q = None
    r = None
    start = 0
    step = None
    while start < m:
        if step is None:
            probe = contributions(start, min(start + 1, m))
            per_sample = probe.shape[0] * probe.shape[2] * 8
            step = max(1, _CHUNK_BYTES // max(per_sample, 1))
        stop = min(start + step, m)
        U = contributions(start, stop)
        n = U.shape[0]
        flat = U.reshape(n, -1)
        Q = flat @ flat.T if Q is None else Q + flat @ flat.T
        part = flat @ T2[start:stop].reshape(-1)
        r = part if r is None else r + part
        start = stop
    assert Q is not None and r is not None
    return Terms(Q / m, r / m, float(np.vdot(T2, T2)) / m)


def conv_channel_contributions(A: np.ndarray, layer) -> callable:
    """Contributions of each input channel of ``layer`` (conv2d, or dense with flatten_input).

    A: (m, C, H, W) activations of the selected conv layer. Returns a function of a
    sample range giving U (C, samples, d) with d = the next layer's flattened output."""
    from .network import unfold

    C = A.shape[1]
    if layer.kind == "dense":
        hw = int(np.prod(A.shape[2:]))
        Wc = layer.weight.reshape(layer.weight.shape[0], C, hw)  # (K, C, HW): channel-major flatten

        def dense_contrib(start: int, stop: int) -> np.ndarray:
            a = A[start:stop].reshape(stop - start, C, hw)
            return np.einsum("scp,kcp->csk", a, Wc, optimize=True)

        return dense_contrib

    O, _, kh, kw = layer.weight.shape
    Wk = layer.weight.reshape(O, C, kh * kw)

    def conv_contrib(start: int, stop: int) -> np.ndarray:
        cols, _ = unfold(A[start:stop], kh, kw, layer.stride, layer.padding)  # (s, P, C*kh*kw)
        cols = cols.reshape(cols.shape[0], cols.shape[1], C, kh * kw)
        U = np.einsum("spck,ock->csop", cols, Wk, optimize=True)
        return U.reshape(C, stop - start, -1)

    return conv_contrib


def fit_target_scale(A: np.ndarray, W: np.ndarray, b: np.ndarray, Y: np.ndarray, keep_count: int) -> float:
    """Least-squares scale c of the target T = c Y for the fit objective.

    A subnetwork's output cannot be rescaled afterwards, so the target must have
    the magnitude a K-unit selection can reach. Take the K units whose
    contributions align best with the labels, g_i = sum_s a_si (w_i . y_s), and
    fit c to their output: c = <Z_K + b, Y> / <Y, Y> with Z_K = (A o 1_K) W^T.
    If even those units do not align (c <= 0), the target is scaled to the RMS of
    the dense output instead, so that c stays positive (argmax-consistent)."""
    g = np.einsum("si,si->i", A, Y @ W)
    top = np.argsort(-g, kind="stable")[:keep_count]
    Z = A[:, top] @ W[:, top].T + b
    yy = float(np.vdot(Y, Y))
    c = float(np.vdot(Z, Y)) / yy if yy > 0 else 0.0
    if c <= 0:
        dense = A @ W.T + b
        c = float(np.sqrt(np.vdot(dense, dense) / max(yy, 1e-300)))
    return c
