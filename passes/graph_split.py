"""Graph partitioning on the coupling-strength matrix W (W_ij = |J_ij|), used by ``partition``.

All methods split a connected set of s > N variables into pieces of at most N
and try to keep heavy couplings inside pieces (minimise the *cut*, the sum of
W_ij over pairs in different pieces):

* spectral: recursive bisection. A set needing k = ceil(s/N) blocks is split
  into sides that need k1 = floor(k/2) and k - k1 blocks. The order comes from
  the Fiedler vector of the normalised graph (second eigenvector of
  D^-1/2 W D^-1/2, found by ``scipy.sparse.linalg.eigsh`` with the known top
  eigenvector sqrt(d) deflated, y = D^-1/2 v), and the split point is the prefix
  of that order with the smallest cut among those leaving both sides feasible
  (a sweep cut: one matrix-vector product plus a cumulative sum).
  Every set ends in exactly ceil(s/N) pieces.
* kl: the same bisections, each refined by Kernighan-Lin passes (swap the
  pair with the best gain D_a + D_b - 2 W_ab, lock it, keep the best prefix of
  swaps). Candidates are the 8 unlocked vertices of highest gain per side, so a
  pass costs O(s) per swap instead of O(s^2). Started from the spectral split,
  not from a random one as networkx does, which needs many more passes on
  dense graphs.
* community: Louvain communities (networkx, weighted modularity) on the
  graph, sparsified to each vertex's 16 strongest couplings above 300
  vertices; communities larger than N are split again the same way (spectral
  bisection when Louvain returns a single community).

Pieces of one set are then merged greedily while two pieces with a positive
coupling between them fit together (merging never increases the cut).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

DENSE_EIGH_MAX = 200  # below this many vertices a dense eigensolver is cheaper than ARPACK
KL_CANDIDATES = 8
KL_MAX_PASSES = 4
KL_PATIENCE = 50  # stop a KL pass after this many swaps without a new best
COMMUNITY_FULL_GRAPH_MAX = 300
COMMUNITY_NEIGHBOURS = 16


def split(W: np.ndarray, max_vars: int, method: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Pieces (local index arrays) of at most ``max_vars`` covering range(len(W))."""
    s = W.shape[0]
    if s <= max_vars:
        return [np.arange(s)]
    top = float(W.max(initial=0.0))
    if top > 0 and top != 1.0:
        W = W / top  # the partition does not depend on the scale; this keeps sums and squares representable
    if method == "community":
        pieces = _community(W, max_vars, rng)
    else:
        pieces = _bisect(W, max_vars, method == "kl", rng)
    return agglomerate(pieces, W, max_vars)


# ------------------------------------------------------------------ spectral / KL
def _bisect(W: np.ndarray, N: int, refine: bool, rng: np.random.Generator) -> list[np.ndarray]:
    s = W.shape[0]
    if s <= N:
        return [np.arange(s)]
    k = math.ceil(s / N)
    k1 = k // 2
    lo, hi = max(1, s - (k - k1) * N), min(s - 1, k1 * N)
    order = fiedler_order(W, rng)
    t = best_prefix(W, order, lo, hi)
    side = np.zeros(s, dtype=bool)
    side[order[:t]] = True
    if refine:
        side = kl_refine(W, side)
    out = []
    for part in (np.flatnonzero(side), np.flatnonzero(~side)):
        out += [part[p] for p in _bisect(W[np.ix_(part, part)], N, refine, rng)]
    return out


def fiedler_order(W: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vertices sorted by the relaxed normalised-cut indicator y = D^-1/2 v_2."""
    s = W.shape[0]
    d = W.sum(axis=1)
    inv = 1.0 / np.sqrt(np.where(d > 0, d, 1.0))
    if s <= DENSE_EIGH_MAX:
        A = inv[:, None] * W * inv[None, :]
        _, vecs = scipy.linalg.eigh(A, subset_by_index=[s - 2, s - 1])
        v = vecs[:, 0]
    else:
        u0 = np.sqrt(d)
        norm = np.linalg.norm(u0)
        u0 = u0 / norm if norm > 0 else u0

        def matvec(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x).ravel()
            return inv * (W @ (inv * x)) - u0 * (u0 @ x)

        op = LinearOperator((s, s), matvec=matvec, dtype=np.float64)
        try:
            _, vecs = eigsh(op, k=1, which="LA", tol=1e-3, v0=rng.standard_normal(s), maxiter=20 * s)
            v = vecs[:, 0]
        except ArpackNoConvergence as exc:  # pragma: no cover - ARPACK gave up; use what it has
            v = exc.eigenvectors[:, 0] if exc.eigenvectors.size else d
    return np.argsort(inv * v, kind="stable")


def best_prefix(W: np.ndarray, order: np.ndarray, lo: int, hi: int) -> int:
    """The t in [lo, hi] whose prefix order[:t] has the smallest cut (ties: the smallest t).

    cut(t+1) = cut(t) + deg(v) - 2 W(v, order[:t]) for v = order[t]."""
    s = W.shape[0]
    left = np.zeros(s)
    left[order[:lo]] = 1.0
    cut_lo = float(left @ (W @ (1.0 - left)))
    if hi == lo:
        return lo
    rows = W[order[lo:hi]][:, order]  # (hi - lo) x s
    cs = np.cumsum(rows, axis=1)
    j = np.arange(hi - lo)
    to_left = cs[j, lo + j - 1]
    deg = rows.sum(axis=1)
    cuts = cut_lo + np.concatenate([[0.0], np.cumsum(deg - 2.0 * to_left)])
    return lo + int(np.argmin(cuts))


def kl_refine(W: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Kernighan-Lin passes over the bisection ``side`` (True: left); side sizes stay fixed."""
    side = side.copy()
    deg = W.sum(axis=1)
    for _ in range(KL_MAX_PASSES):
        to_left = W @ side.astype(np.float64)
        D = np.where(side, deg - 2 * to_left, 2 * to_left - deg)  # external - internal
        cur = side.copy()
        free = np.ones(side.shape[0], dtype=bool)
        total, best_total, best_k, swaps = 0.0, 0.0, 0, []
        for step in range(min(int(side.sum()), int((~side).sum()))):
            ca = _top(np.where(cur & free, D, -np.inf))
            cb = _top(np.where(~cur & free, D, -np.inf))
            if ca.size == 0 or cb.size == 0:
                break
            gain = D[ca][:, None] + D[cb][None, :] - 2.0 * W[np.ix_(ca, cb)]
            i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
            a, b = int(ca[i]), int(cb[j])
            total += float(gain[i, j])
            swaps.append((a, b))
            D += np.where(cur, 2.0, -2.0) * (W[a] - W[b])
            free[a] = free[b] = False
            cur[a], cur[b] = False, True
            if total > best_total + 1e-12 * (abs(best_total) + 1.0):
                best_total, best_k = total, step + 1
            elif step + 1 - best_k >= KL_PATIENCE:
                break
        if best_k == 0:
            break
        for a, b in swaps[:best_k]:
            side[a], side[b] = False, True
    return side


def _top(values: np.ndarray) -> np.ndarray:
    ok = np.flatnonzero(values > -np.inf)
    if ok.size <= KL_CANDIDATES:
        return ok
    return ok[np.argpartition(-values[ok], KL_CANDIDATES - 1)[:KL_CANDIDATES]]


# ------------------------------------------------------------------ community
def _community(W: np.ndarray, N: int, rng: np.random.Generator) -> list[np.ndarray]:
    import networkx as nx

    s = W.shape[0]
    if s <= N:
        return [np.arange(s)]
    G = nx.Graph()
    G.add_nodes_from(range(s))
    r, c = _graph_edges(W)
    G.add_weighted_edges_from(zip(r.tolist(), c.tolist(), W[r, c].tolist()))
    found = nx.community.louvain_communities(G, weight="weight", seed=int(rng.integers(2**31)))
    if len(found) < 2:  # Louvain sees one community: bisect it spectrally, then look again
        order = fiedler_order(W, rng)
        found = [order[: s // 2], order[s // 2:]]
    out = []
    for com in found:
        com = np.sort(np.fromiter(com, dtype=np.int64))
        out += [com] if com.size <= N else [com[p] for p in _community(W[np.ix_(com, com)], N, rng)]
    return out


def _graph_edges(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = W.shape[0]
    if s <= COMMUNITY_FULL_GRAPH_MAX:
        r, c = np.nonzero(np.triu(W, 1))
        return r, c
    k = COMMUNITY_NEIGHBOURS
    nb = np.argpartition(-W, k - 1, axis=1)[:, :k]
    r = np.repeat(np.arange(s), k)
    c = nb.ravel()
    keep = W[r, c] > 0
    r, c = np.minimum(r[keep], c[keep]), np.maximum(r[keep], c[keep])
    keys = np.unique(r * s + c)
    return keys // s, keys % s


# ------------------------------------------------------------------ merging
def agglomerate(pieces: list[np.ndarray], W: np.ndarray, N: int) -> list[np.ndarray]:
    """Merge pieces joined by the heaviest coupling while the union fits in N (cut never grows)."""
    g = len(pieces)
    if g < 2:
        return pieces
    onehot = np.zeros((W.shape[0], g))
    for k, p in enumerate(pieces):
        onehot[p, k] = 1.0
    C = onehot.T @ (W @ onehot)
    np.fill_diagonal(C, 0.0)
    sizes = np.array([p.size for p in pieces])
    groups = [[k] for k in range(g)]
    alive = np.ones(g, dtype=bool)
    while True:
        fits = (sizes[:, None] + sizes[None, :] <= N) & alive[:, None] & alive[None, :]
        cand = np.where(fits & (C > 0), C, -1.0)
        a, b = np.unravel_index(int(np.argmax(cand)), cand.shape)
        if cand[a, b] <= 0:
            break
        groups[a] += groups[b]
        sizes[a] += sizes[b]
        C[a] += C[b]
        C[:, a] += C[:, b]
        C[a, a] = 0.0
        C[b] = 0.0
        C[:, b] = 0.0
        alive[b] = False
    return [np.sort(np.concatenate([pieces[k] for k in groups[a]])) for a in np.flatnonzero(alive)]


def pack(groups: list[np.ndarray], N: int) -> list[np.ndarray]:
    """First-fit decreasing: put uncoupled groups together into as few blocks of <= N as it finds."""
    order = sorted(range(len(groups)), key=lambda k: (-groups[k].size, int(groups[k][0]) if groups[k].size else 0))
    bins: list[list[np.ndarray]] = []
    room: list[int] = []
    for k in order:
        size = groups[k].size
        for b in range(len(bins)):
            if room[b] >= size:
                bins[b].append(groups[k])
                room[b] -= size
                break
        else:
            bins.append([groups[k]])
            room.append(N - size)
    blocks = [np.sort(np.concatenate(b)) for b in bins]
    return sorted(blocks, key=lambda b: int(b[0]))
