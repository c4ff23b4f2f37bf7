"""What the lasso and obs baselines need beyond the IR: diag Q (:func:`gram_diagonal`).

The IR keeps h_i = Q_ii - 2 r_i (+ the sparsity penalty) and J_ij = 2 Q_ij; Q_ii
cannot be told apart from r_i there (s_i^2 = s_i). The diagonal is the squared
size of each unit's contribution U_i on the calibration batch:

    neuron i:   Q_ii = mean_s a_si^2 * ||w_i||^2         (w_i: column i of the next weight)
    channel c:  Q_ii = 1/m sum_s ||U_c(s)||^2             (U_c: channel c through the next layer)
    edge (k,i): Q^(k)_ii = mean_s x_si^2 * W[k, i]^2

computed from the activations the problem was compiled on: the dense ones, or
for the sequential schedule those of the network masked by the selections
already made for earlier layers (:func:`qsel.baselines.chooser` remembers them).
"""

from __future__ import annotations

import numpy as np

from qsel import ir

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
