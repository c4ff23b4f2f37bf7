"""A built-in neuron-selection problem, so ``make demo`` needs no model file or download.

A random one-hidden-layer ReLU network reads scikit-learn's bundled digits.
Keeping hidden unit i or not (s_i) changes the output layer's input to
(A * s) W^T; fitting it to scaled one-hot labels T gives (ARCHITECTURE.md)

    E(s) = 1/m ||(A * s) W^T - T||^2 = s^T Q s - 2 r . s + ||T||^2 / m
    Q = (A^T A / m) o (W^T W),   r_i = 1/m sum_s a_si (w_i . t_s)

two GEMMs and a Hadamard product, plus the cardinality constraint sum s = K.
"""

from __future__ import annotations

import hashlib

import numpy as np

from qsel import ir


def random_layer_problem(units: int = 32, keep: float = 0.25, seed: int = 0, samples: int = 512) -> ir.Problem:
    if units < 1:
        raise ir.QselError(f"--units must be at least 1, got {units}")
    if not 0 < keep <= 1:
        raise ir.QselError(f"--keep must be in (0, 1], got {keep}")
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:samples] / 16.0
    y = y[:samples]
    rng = np.random.default_rng(seed)
    bound1 = np.sqrt(6.0 / X.shape[1])
    W1 = rng.uniform(-bound1, bound1, size=(units, X.shape[1]))
    A = np.maximum(X @ W1.T, 0.0)  # m x n hidden activations
    W = rng.uniform(-np.sqrt(6.0 / units), np.sqrt(6.0 / units), size=(10, units))  # k x n
    onehot = np.eye(10)[y]
    Z = A @ W.T
    scale = float(np.sum(Z * onehot) / max(np.sum(onehot * onehot), 1e-300))  # least-squares target scale
    T = scale * onehot
    m = A.shape[0]
    Q = (A.T @ A / m) * (W.T @ W)
    r = np.einsum("si,si->i", A, T @ W) / m
    labels = [f"fc1.n{i}" for i in range(units)]
    variables = ir.Variables.build(labels, layer="fc1", unit=np.arange(units), granularity="neuron")
    problem = ir.Problem.from_qubo_matrix(Q, variables=variables, offset=float(np.sum(T * T) / m))
    k = max(1, int(round(keep * units)))
    fingerprint = hashlib.sha256(np.ascontiguousarray(X).tobytes()).hexdigest()[:16]
    return problem.replace(
        linear=problem.linear - 2.0 * r,
        constraints=(ir.Constraint.cardinality("keep.fc1", np.arange(units), "==", k),),
        metadata={
            "source": {"model": "built-in random relu MLP 64-%d-10" % units, "seed": seed,
                       "init": "kaiming-uniform"},
            "calibration": {"dataset": "digits", "samples": m, "fingerprint": f"sha256:{fingerprint}",
                            "standardisation": "x / 16"},
            "objective": {"kind": "fit", "target_scale": scale},
        },
    )
