"""What the lasso and obs baselines need beyond the IR: diag Q, and a chooser that follows the schedule.

The IR keeps h_i = Q_ii - 2 r_i (+ the sparsity penalty) and J_ij = 2 Q_ij; Q_ii
cannot be told apart from r_i there (s_i^2 = s_i). The diagonal is the squared
size of each unit's contribution U_i on the calibration batch:

    neuron i:   Q_ii = mean_s a_si^2 * ||w_i||^2         (w_i: column i of the next weight)
    channel c:  Q_ii = 1/m sum_s ||U_c(s)||^2             (U_c: channel c through the next layer)
    edge (k,i): Q^(k)_ii = mean_s x_si^2 * W[k, i]^2

computed from the activations the problem was compiled on: the dense ones, or
for the sequential schedule those of the network masked by the selections
already made for earlier layers (the chooser remembers them).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from qsel import ir
from .masks import Selection

from . import lowering
from .network import Network, Trace


def gram_diagonal(network: Network, X: np.ndarray, problem: ir.Problem,
                  unit_masks: dict[str, np.ndarray] | None = None,
                  weight_masks: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """diag Q for every variable of ``problem`` (module docstring), activations under the given masks."""
    trace = Trace()
    network.forward(X, unit_masks=unit_masks, weight_masks=weight_masks, trace=trace)
    v = problem.variables
    out = np.zeros(problem.num_vars)
    m = X.shape[0]
    for code, name in enumerate(v.layer_names):
        sel = np.flatnonzero(v.layer == code)
        if not sel.size:
            continue
        gran = ir.Granularity.codes()[int(v.granularity[sel[0]])]
        units = v.unit[sel]
        if gran is ir.Granularity.EDGE:
            layer = network.layer(name)
            x = trace.inputs[name].reshape(m, -1)
            ms = np.mean(x * x, axis=0)
            out[sel] = ms[units] * layer.weight[v.output[sel], units] ** 2
            continue
        a = trace.post[name]
        nxt = network.next_layer(name)
        if nxt is None:
            raise ir.QselError(f"layer {name!r} is the output layer; its units cannot be selected")
        if a.ndim == 4:
            contributions = lowering.conv_channel_contributions(a, nxt)
            diag = np.zeros(a.shape[1])
            step = max(1, int(2**24 // max(1, a.shape[1] * nxt.units * 64)))
            for start in range(0, m, step):
                U = contributions(start, min(m, start + step))
                diag += np.einsum("csk,csk->c", U, U)
            out[sel] = (diag / m)[units]
        else:
            out[sel] = (np.mean(a * a, axis=0) * np.sum(nxt.weight * nxt.weight, axis=0))[units]
    return out


def chooser(method: str, network: Network, X: np.ndarray, *, seed: int = 0,
            sparsity_penalty: float = 0.0) -> Callable[[ir.Problem], np.ndarray]:
    """A baseline as a solver callback: ``qsel.baselines.solve`` with what the method needs from the network.

    Called once on a whole problem (independent schedule) or once per layer in network order (sequential):
    the masks chosen so far are applied before the next layer's activations are read."""
    from qsel import baselines

    from .scores import magnitude_scores

    unit_masks: dict[str, np.ndarray] = {}
    weight_masks: dict[str, np.ndarray] = {}

    def choose(p: ir.Problem) -> np.ndarray:
        scores = diag = None
        if method == "magnitude":
            scores = magnitude_scores(network, X, p)
        if method in baselines.NEEDS_GRAM_DIAG:
            diag = gram_diagonal(network, X, p, unit_masks, weight_masks)
        x = baselines.solve(p, method, seed=seed, magnitude_scores=scores, gram_diag=diag,
                            sparsity_penalty=sparsity_penalty)
        sel = Selection.from_assignment(p, x)
        unit_masks.update(sel.unit_masks())
        weight_masks.update(sel.weight_masks())
        return x

    return choose
