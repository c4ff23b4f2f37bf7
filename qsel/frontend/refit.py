"""Refit after selecting: the layer each selection feeds is re-solved by ridge least squares.

Selection keeps the next layer's weights as they were; every serious pruning
method (ThiNet, Luo et al. 2017; He et al. 2017; CHITA, Benbaki et al. 2023)
then re-fits them on the calibration batch. For a selected layer l with kept
units S and next layer L (weight W, bias b), with the inputs X_S that L sees
in the network already masked (and refit) up to l, and the target T of the
objective l was compiled with (reconstruct: the dense network's
pre-activation of L; fit: c * onehot(y); scaled: c * the dense logits):

    (W_S, b) = argmin 1/N ||X_S W_S^T + 1 b^T - T||^2 + lam ||W_S||^2,
    lam = ridge * mean(diag(X_c^T X_c / N))          (relative, recorded)

solved as (X_c^T X_c / N + lam I) W_S^T = X_c^T T_c / N on centred columns
(lam = 0: the minimum-norm least-squares solution),
b = mean(T) - mean(X_S) W_S^T (the bias is not penalised). Dropped inputs keep
weight 0, so the refit network has the original shapes and the masks still
apply; :func:`qsel.frontend.prune.apply_selection` then shrinks it. A dense
L reads one column per unit (H*W per channel after a flatten); a conv2d L
reads the im2col patches, N = samples * output positions. Edge selections
refit each output row of L over its own kept inputs.

Layers are refit in network order, each on the network refit so far, so a
deep network's later refits see the earlier ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from qsel import ir
from .masks import Selection

from .network import Layer, Network, Trace, unfold

DEFAULT_RIDGE = 1e-3


@dataclass(frozen=True)
class LayerRefit:
    """What one refit did: the selected layer, the layer re-solved, the target, lambda, the error before/after."""

    selected: str
    layer: str
    objective: str
    ridge: float
    lam: float
    inputs_kept: int
    error_before: float
    error_after: float

    def as_dict(self) -> dict:
        return asdict(self)


def _objective_target(network: Network, name: str, info: dict, dense: Trace, y: np.ndarray | None,
                      m: int) -> np.ndarray:
    from .objective import targets

    at = info["next"]
    if info["objective"] == "fit":
        return info["target_scale"] * targets(y, network, m)
    if info["objective"] == "scaled":
        return info["target_scale"] * dense.pre[at]
    return dense.pre[at]


def _ridge(Xs: np.ndarray, T: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(W (outputs x inputs), b, lam) of the centred ridge problem in the module docstring."""
    N = Xs.shape[0]
    mu = Xs.mean(axis=0)
    tmu = T.mean(axis=0)
    Xc = Xs - mu
    G = Xc.T @ Xc / N
    scale = float(np.mean(np.diag(G))) if G.size else 0.0
    lam = ridge * (scale if scale > 0 else 1.0)
    if not G.size:
        return np.zeros((T.shape[1], 0)), tmu, lam
    if lam > 0:
        G[np.diag_indices_from(G)] += lam
        W = np.linalg.solve(G, Xc.T @ (T - tmu) / N).T
    else:  # plain least squares: the minimum-norm solution (a dead kept unit makes G singular)
        W = np.linalg.lstsq(Xc, T - tmu, rcond=None)[0].T
    return W, tmu - mu @ W.T, lam


def _error(Z: np.ndarray, T: np.ndarray, m: int) -> float:
    """1/m sum_s ||z_s - t_s||^2 over every output (and position)."""
    D = (Z - T).reshape(m, -1)
    return float(np.einsum("ij,ij->", D, D)) / m


def refit(network: Network, X: np.ndarray, y: np.ndarray | None, selection: Selection, compile_meta: dict, *,
          ridge: float = DEFAULT_RIDGE) -> tuple[Network, list[LayerRefit]]:
    """A copy of ``network`` whose layers after each selected layer are re-solved (module docstring)."""
    if not (np.isfinite(ridge) and ridge >= 0):
        raise ir.QselError(f"--ridge must be a finite number >= 0, got {ridge}")
    try:
        layers_info: dict = compile_meta["layers"]
    except (KeyError, TypeError):
        raise ir.QselError("--refit: the result does not say how its problem was compiled "
                           "(missing 'compile.layers')") from None
    from .objective import dense_trace

    m = X.shape[0]
    dense = dense_trace(network, X)
    current = Network([Layer(**vars(layer)) for layer in network.layers], network.input_shape, network.task,
                      dict(network.metadata))
    unit, weight = selection.unit_masks(), selection.weight_masks()
    done: list[LayerRefit] = []
    for name in sorted(layers_info, key=network.index):
        info = layers_info[name]
        if name not in selection.masks:
            raise ir.QselError(f"--refit: the selection has no mask for layer {name!r}, which was compiled")
        seen = Trace()
        current.forward(X, unit_masks=unit, weight_masks=weight, trace=seen)
        at = info["next"]
        target_layer = current.layer(at)
        T = _objective_target(network, name, info, dense, y, m)
        mask = selection.masks[name]
        before = _error(seen.pre[at], T, m)
        if mask.granularity == "edge":
            new_w, new_b, lam = _refit_edges(seen.inputs[at].reshape(m, -1), T, mask.mask, ridge)
        else:
            new_w, new_b, lam = _refit_units(target_layer, seen.inputs[at], T, mask.mask != 0, ridge)
        kept = int(np.count_nonzero(mask.mask))
        i = current.index(at)
        current.layers[i] = Layer(target_layer.name, target_layer.kind, new_w, new_b, target_layer.activation,
                                  target_layer.stride, target_layer.padding, target_layer.flatten_input)
        after_trace = Trace()
        current.forward(X, unit_masks=unit, weight_masks=weight, trace=after_trace)
        after = _error(after_trace.pre[at], T, m)
        done.append(LayerRefit(name, at, info["objective"], ridge, lam, kept, before, after))
    meta = dict(current.metadata)
    meta["refit"] = [d.as_dict() for d in done]
    return Network(current.layers, current.input_shape, current.task, meta), done


def _refit_units(layer: Layer, inputs: np.ndarray, T: np.ndarray, keep: np.ndarray, ridge: float
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    """New (weight, bias) of ``layer`` reading only the kept units/channels of its input."""
    m = inputs.shape[0]
    kept = np.flatnonzero(keep)
    W = np.zeros_like(layer.weight)
    if layer.kind == "conv2d":
        O, C, kh, kw = layer.weight.shape
        cols, _ = unfold(inputs, kh, kw, layer.stride, layer.padding)  # (m, P, C*kh*kw)
        P = cols.shape[1]
        Xs = cols.reshape(m * P, C, kh * kw)[:, kept].reshape(m * P, -1)
        Tt = T.reshape(m, O, P).transpose(0, 2, 1).reshape(m * P, O)
        Wk, b, lam = _ridge(Xs, Tt, ridge)
        W[:, kept] = Wk.reshape(O, kept.size, kh, kw)
        return W, b, lam
    x = inputs.reshape(m, -1)
    if layer.flatten_input and inputs.ndim > 2:
        per = x.shape[1] // keep.shape[0]
        cols = (kept[:, None] * per + np.arange(per)[None, :]).ravel()
    else:
        cols = kept
    Wk, b, lam = _ridge(x[:, cols], T, ridge)
    W[:, cols] = Wk
    return W, b, lam


def _refit_edges(x: np.ndarray, T: np.ndarray, mask: np.ndarray, ridge: float
                 ) -> tuple[np.ndarray, np.ndarray, float]:
    """Edge selections: each output row k re-solved over its own kept inputs (one small ridge per row;
    the rows have different supports, so they do not share one factorisation)."""
    W = np.zeros(mask.shape)
    b = np.zeros(mask.shape[0])
    lams = []
    for k in range(mask.shape[0]):
        cols = np.flatnonzero(mask[k])
        w, bk, lam = _ridge(x[:, cols], T[:, k:k + 1], ridge)
        W[k, cols] = w[0]
        b[k] = bk[0]
        lams.append(lam)
    return W, b, float(np.mean(lams)) if lams else 0.0


def refit_from_result(network: Network, result, where: str, *, ridge: float = DEFAULT_RIDGE
                      ) -> tuple[Network, list[LayerRefit]]:
    """:func:`refit` on the calibration batch a result file names (``compile.calibration``: dataset, split,
    limit; its fingerprint is checked, so the refit sees exactly the batch the selection was made on)."""
    from .data import check_compatible, load_dataset

    cal = result.compile.get("calibration")
    if not cal:
        raise ir.QselError(f"{where}: no 'compile.calibration' section; --refit cannot rebuild the calibration batch")
    batch = check_compatible(network, load_dataset(cal["dataset"], cal["split"], limit=cal.get("limit")))
    if batch.fingerprint != cal.get("fingerprint"):
        raise ir.QselError(f"{where}: the calibration data {cal['dataset']!r} ({cal['split']}) no longer matches "
                           f"the fingerprint the problem was compiled with ({cal.get('fingerprint')})")
    return refit(network, batch.X, batch.y, result.selection, result.compile, ridge=ridge)
