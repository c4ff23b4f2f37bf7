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

never raises F when the solver does not raise E_{W'} (F(S_new) <= E_{W'}(S_new) <= E_{W'}(S) = F(S)); the
best S seen is kept, and the loop stops when S repeats or after ``rounds`` solves. Each solve is an exact
QUBO of the same form as the compiled layer (same labels, the same cardinality), run by the same solver.

It applies to neuron selections whose next layer is dense (not flattening a conv output); other layers keep
the selection as solved. Layers are taken in network order on the network masked and refit so far, as
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
from .network import Layer, Network, Trace
from .refit import _objective_target, _ridge


@dataclass(frozen=True)
class RefitRound:
    layer: str
    errors: tuple[float, ...]  # the refit error of each selection tried, the first being the solver's own


def _layer_qubo(name: str, A: np.ndarray, W: np.ndarray, T: np.ndarray, count: int) -> ir.Problem:
    n = A.shape[1]
    h, upper, offset = lowering.neuron_terms(A, W, T).ir_arrays()
    variables = ir.Variables.build([f"{name}.n{i}" for i in range(n)], layer=name, unit=np.arange(n),
                                   granularity=ir.Granularity.NEURON)
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
        eligible = mask.granularity == "neuron" and nxt.kind == "dense" and not nxt.flatten_input
        if eligible:
            A = seen.post[name]
            x = (mask.mask != 0).astype(np.float64)
            count = int(x.sum())
            norms = np.einsum("si,si->i", A, A)
            norms[norms == 0] = 1.0
            best_x, best_err, errors, tried = x, np.inf, [], set()
            for _ in range(rounds + 1):
                key = tuple(np.flatnonzero(x))
                if key in tried:
                    break
                tried.add(key)
                S = x != 0
                Wk, bk, _ = _ridge(A[:, S], T, ridge)
                R = T - A[:, S] @ Wk.T - bk
                err = float(np.einsum("ij,ij->", R, R)) / m
                errors.append(err)
                if err < best_err:
                    best_x, best_err = x, err
                if len(errors) > rounds:
                    break
                Wp = (R.T @ A) / norms  # a dropped unit's own least-squares read-out of the residual
                Wp[:, S] = Wk
                x = np.asarray(solve(_layer_qubo(name, A, Wp, T - bk, count)), dtype=np.float64)
            masks[name] = LayerMask(name, "neuron", best_x.copy())
            report.append(RefitRound(name, tuple(errors)))
        # the next layer refit on the (final) selection, so later layers see the network that will be deployed
        keep = masks[name].mask != 0
        if masks[name].granularity != "edge":
            from .refit import _refit_units

            W, b, _ = _refit_units(nxt, seen.inputs[nxt.name] * _unit_scale(keep, seen.inputs[nxt.name], nxt),
                                   T, keep, ridge)
            i = current.index(nxt.name)
            current.layers[i] = Layer(nxt.name, nxt.kind, W, b, nxt.activation, nxt.stride, nxt.padding,
                                      nxt.flatten_input)
    return Selection(masks), report


def _unit_scale(keep: np.ndarray, inputs: np.ndarray, layer: Layer) -> np.ndarray:
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
