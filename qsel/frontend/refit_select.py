"""qsel's selection for a refit network: majorize-minimize the error that remains after the refit.

With ``--refit`` the deployed network's next layer is re-solved on the kept units (:mod:`.refit`), so the
quantity that matters for a neuron selection S is the refit error

    F(S) = min_{W, b} 1/m ||A_S W^T + 1 b^T - T||^2,

not the error with the next layer's weights as they are. F is not quadratic in the mask, but for ANY
read-out (W', b') the QUBO of :func:`.lowering.neuron_terms`,

    E_{W'}(s) = 1/m ||(A o s) W'^T - (T - 1 b'^T)||^2,

is an upper bound of F (the refit is the best read-out), and it is tight at S when W'_S, b' are S's own
refit. So the loop (a majorize-minimize scheme, Hunter & Lange 2004)

    W'_S, b' <- refit on S;  W'_j (j not in S) <- the least-squares read-out of the residual R by unit j
    alone, R^T a_j / ||a_j||^2 (the column a swap would bring in);  S <- argmin E_{W'} by the solver

never raises F when the solver does not raise E_{W'} (F(S_new) <= E_{W'}(S_new) <= E_{W'}(S) = F(S)). Two
chains run: one from the solver's selection, one whose first read-out is the refit on all units (the
selection's starting point then owes nothing to the network's current read-out); each stops when S repeats
or after ``rounds`` solves, and the S of least refit error over both is kept. Each solve is an exact
QUBO of the same form as the compiled layer (same labels, the same cardinality), run by the same solver.
The bound is loose away from S, so the chains stop in points that one exchange can still improve; the kept
S is last polished by exact count-preserving swaps on F itself (:mod:`.refit_swaps`; kept when its refit
error is lower). On ``bench/quality.py``'s 36 settings qsel then has the lowest refit error of every method
in 34; the chains alone had it in 14.

Units are neurons or channels: unit j's share of the next layer's pre-activation is D_j V_j^T with D_j
its design (a column; its H*W columns for a dense layer after a flatten; its im2col patch columns for a
conv2d next layer), so "unit j's own least-squares weights" are V_j = R^T D_j (D_j^T D_j)^+ and the QUBO is
the compiled layer's (neuron or channel terms) with those weights. Edge selections keep the selection as
solved. Layers are taken in network order on the network masked and refit so far, as
:func:`.refit.refit` does, with ridge lambda as there (with lambda > 0 the bound holds for the ridge-
penalised error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from qsel import ir

from . import lowering
from .masks import LayerMask, Selection
from .network import Layer, Network, Trace, unfold
from .refit import _objective_target, _refit_units, _ridge
from .refit_swaps import MAX_COLUMNS, grams, swap_search


@dataclass(frozen=True)
class RefitRound:
    layer: str
    errors: tuple[float, ...]  # the refit error of each selection tried (both chains), the solver's own first


def _designs(layer: Layer, inputs: np.ndarray) -> tuple[np.ndarray, int]:
    """(D, d): D[j] is unit j's design (N x d), so that its share of ``layer``'s pre-activation is D[j] V_j^T
    with V_j its (outputs x d) weights: a column (dense), its H*W flattened columns (dense after a conv),
    its im2col patch columns (conv2d, N = samples * positions)."""
    m = inputs.shape[0]
    if layer.kind == "conv2d":
        O, C, kh, kw = layer.weight.shape
        cols, _ = unfold(inputs, kh, kw, layer.stride, layer.padding)
        return cols.reshape(-1, C, kh * kw).transpose(1, 0, 2), kh * kw
    if inputs.ndim == 4:  # dense reading a flattened conv output, channel-major
        C = inputs.shape[1]
        return inputs.reshape(m, C, -1).transpose(1, 0, 2), int(np.prod(inputs.shape[2:]))
    return inputs.T[:, :, None], 1


def _as_weight(layer: Layer, V: np.ndarray) -> np.ndarray:
    """Unit weights V (units, outputs, d) back into ``layer``'s weight shape."""
    if layer.kind == "conv2d":
        return V.transpose(1, 0, 2).reshape(layer.weight.shape)
    return V.transpose(1, 0, 2).reshape(V.shape[1], -1)


def _targets_2d(layer: Layer, T: np.ndarray) -> np.ndarray:
    """T as (N, outputs): conv targets (m, O, oh, ow) become one row per sample and position."""
    if T.ndim == 4:
        return T.transpose(0, 2, 3, 1).reshape(-1, T.shape[1])
    return T


def _layer_qubo(name: str, granularity: str, A: np.ndarray, layer: Layer, T: np.ndarray,
                count: int) -> ir.Problem:
    """The compiled layer's QUBO (same labels, cardinality) with ``layer`` as the next layer and target T
    (bias removed): neuron terms for a dense next layer, channel contributions otherwise."""
    n = A.shape[1]
    m = A.shape[0]
    if A.ndim == 2:
        terms = lowering.neuron_terms(A, layer.weight, T)
        gran, tag = ir.Granularity.NEURON, "n"
    else:
        terms = lowering.channel_terms(lowering.conv_channel_contributions(A, layer), T.reshape(m, -1))
        gran, tag = ir.Granularity.CHANNEL, "c"
    h, upper, offset = terms.ir_arrays()
    variables = ir.Variables.build([f"{name}.{tag}{i}" for i in range(n)], layer=name, unit=np.arange(n),
                                   granularity=gran)
    return ir.Problem(variables, h, offset, (ir.DenseBlock(np.arange(n, dtype=np.int64), upper),),
                      constraints=(ir.Constraint.cardinality(f"keep.{name}", np.arange(n), "==", count),))


def refit_aware(network: Network, X: np.ndarray, y: np.ndarray | None, selection: Selection, compile_meta: dict,
                solve: Callable[[ir.Problem], np.ndarray], *, ridge: float, rounds: int = 4
                ) -> tuple[Selection, list[RefitRound]]:
    """The selection after the majorize-minimize loop (module docstring), and each layer's refit errors."""
    layers_info: dict = compile_meta["layers"]
    m = X.shape[0]
    dense = Trace()
    network.forward(X, trace=dense)
    current = Network([Layer(**vars(layer)) for layer in network.layers], network.input_shape, network.task,
                      dict(network.metadata))
    masks = dict(selection.masks)
    report: list[RefitRound] = []
    for name in sorted(layers_info, key=network.index):
        info = layers_info[name]
        mask = masks[name]
        nxt = current.layer(info["next"])
        unit = {k: v.mask for k, v in masks.items() if v.granularity != "edge"}
        weight = {k: v.mask for k, v in masks.items() if v.granularity == "edge"}
        seen = Trace()
        current.forward(X, unit_masks={k: v for k, v in unit.items() if k != name}, weight_masks=weight, trace=seen)
        T = _objective_target(network, name, info, dense, y, m)
        if mask.granularity != "edge":
            A = seen.post[name]
            D, d = _designs(nxt, A)
            T2 = _targets_2d(nxt, T)
            x = (mask.mask != 0).astype(np.float64)
            count = int(x.sum())
            best_x, best_err, errors, tried = x, np.inf, [], set()
            every = np.arange(A.shape[1])
            for start in (x, None):  # two chains: from the solver's selection, and from the all-unit refit
                x, solves = start, 0
                while True:
                    S = every if x is None else np.flatnonzero(x)
                    if x is not None:
                        if tuple(S) in tried:
                            break
                        tried.add(tuple(S))
                    Wk, bk, R = _refit_on(D, S, T2, ridge)
                    if x is not None:
                        err = float(np.einsum("ij,ij->", R, R)) / m
                        errors.append(err)
                        if err < best_err:
                            best_x, best_err = x, err
                    if solves >= rounds:
                        break
                    # each unit's own least-squares weights for the residual (V_j = R^T D_j (D_j^T D_j)^+), then
                    # the kept units' refit weights in their place
                    G = np.einsum("jnd,jne->jde", D, D)
                    V = np.einsum("no,jnd->jod", R, D) @ np.linalg.pinv(G, hermitian=True)
                    V[S] = Wk.reshape(Wk.shape[0], S.size, d).transpose(1, 0, 2)
                    probe = Layer(nxt.name, nxt.kind, _as_weight(nxt, V), bk, nxt.activation, nxt.stride,
                                  nxt.padding, nxt.flatten_input)
                    Tb = T - (bk if T.ndim == 2 else bk[None, :, None, None])
                    x = np.asarray(solve(_layer_qubo(name, mask.granularity, A, probe, Tb, count)), dtype=np.float64)
                    solves += 1
            if D.shape[0] * D.shape[2] <= MAX_COLUMNS:  # then exact swaps on the refit objective itself
                best_x, best_err = _polish(D, T2, best_x, best_err, ridge, m, errors)
            masks[name] = LayerMask(name, mask.granularity, best_x.copy())
            report.append(RefitRound(name, tuple(errors)))
            keep = best_x != 0
            W, b, _ = _refit_units(nxt, seen.inputs[nxt.name] * _unit_scale(keep, seen.inputs[nxt.name]), T, keep,
                                   ridge)
            i = current.index(nxt.name)
            current.layers[i] = Layer(nxt.name, nxt.kind, W, b, nxt.activation, nxt.stride, nxt.padding,
                                      nxt.flatten_input)
    return Selection(masks), report


def _refit_on(D: np.ndarray, S: np.ndarray, T2: np.ndarray, ridge: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W, b, residual) of the ridge refit (:func:`.refit._ridge`) on the designs of units S."""
    Xs = D[S].transpose(1, 0, 2).reshape(D.shape[1], -1)
    Wk, bk, _ = _ridge(Xs, T2, ridge)
    return Wk, bk, T2 - Xs @ Wk.T - bk


def _polish(D: np.ndarray, T2: np.ndarray, x: np.ndarray, err: float, ridge: float, m: int,
            errors: list[float]) -> tuple[np.ndarray, float]:
    """The swap-optimal selection for the ridge refit (:mod:`.refit_swaps`) from ``x``, kept when its refit
    error (lambda re-derived from its own columns, as the refit does) is below ``err``."""
    C, B, t = grams(D, T2)
    S = np.flatnonzero(x)
    diag = np.einsum("jdd->jd", C[S, S])
    scale = float(diag.mean()) if diag.size and diag.mean() > 0 else 1.0
    # the search needs (C_SS + lam I) invertible: with --ridge 0 (or dead units) it uses a 1e-10 relative
    # ridge; the refit error below is the exact one, so a polish that does not lower it is dropped
    lam = max(ridge, 1e-10) * scale
    found = swap_search(C, B, t, x, lam)
    if found.swaps == 0:
        return x, err
    _, _, R = _refit_on(D, np.flatnonzero(found.x), T2, ridge)
    new = float(np.einsum("ij,ij->", R, R)) / m
    errors.append(new)
    return (found.x, new) if new < err else (x, err)


def _unit_scale(keep: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """The layer's input masked by ``keep`` (broadcast over positions for conv inputs); the trace above was
    taken with this layer's own mask off."""
    if inputs.ndim == 4:
        return keep.astype(np.float64)[None, :, None, None]
    return keep.astype(np.float64)[None, :]


def assignment_of(problem: ir.Problem, selection: Selection) -> np.ndarray:
    """0/1 over ``problem``'s variables from a selection's masks (by each variable's layer, unit, output)."""
    v = problem.variables
    x = np.zeros(problem.num_vars)
    for code, name in enumerate(v.layer_names):
        idx = np.flatnonzero(v.layer == code)
        if not idx.size or name not in selection.masks:
            continue
        mask = selection.masks[name].mask
        x[idx] = mask[v.output[idx], v.unit[idx]] if mask.ndim == 2 else mask[v.unit[idx]]
    return x
