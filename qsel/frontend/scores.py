"""Magnitude scores for the magnitude baseline: outgoing-weight norm times activation scale.

neuron i of layer l:  ||W_{l+1}[:, i]|| * rms_s(a_si)
channel c:            ||W_{l+1}[:, c, ...]|| * rms over samples and positions of A[:, c]
edge (k, i) of L:     |W_L[k, i]| * rms_s(x_si), x = the input of L
Activations are the dense network's on the calibration batch.
"""

from __future__ import annotations

import numpy as np

from qsel import ir

from .network import Network, Trace


def magnitude_scores(network: Network, X: np.ndarray, problem: ir.Problem) -> np.ndarray:
    trace = Trace()
    network.forward(X, trace=trace)
    v = problem.variables
    scores = np.zeros(problem.num_vars)
    for code, name in enumerate(v.layer_names):
        sel = np.flatnonzero(v.layer == code)
        if not sel.size:
            continue
        units = v.unit[sel]
        gran = ir.Granularity.codes()[int(v.granularity[sel[0]])]
        if gran is ir.Granularity.EDGE:
            layer = network.layer(name)
            x = trace.inputs[name].reshape(X.shape[0], -1)
            rms = np.sqrt(np.mean(x * x, axis=0))
            scores[sel] = np.abs(layer.weight[v.output[sel], units]) * rms[units]
            continue
        a = trace.post[name]
        nxt = network.next_layer(name)
        assert nxt is not None
        if a.ndim == 4:
            rms = np.sqrt(np.mean(a * a, axis=(0, 2, 3)))
            w = nxt.weight.reshape(nxt.weight.shape[0], a.shape[1], -1) if nxt.kind == "dense" else nxt.weight
            norm = np.sqrt(np.sum(w * w, axis=tuple(i for i in range(w.ndim) if i != 1)))
        else:
            rms = np.sqrt(np.mean(a * a, axis=0))
            norm = np.linalg.norm(nxt.weight, axis=0)
        scores[sel] = (norm * rms)[units]
    return scores
