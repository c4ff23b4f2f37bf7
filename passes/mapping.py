"""Map assignments and energies of a compiled problem back to an earlier one.

Passes with ``correspondence = "mapped"`` are exact through what they record:

* fix-variables removes variables and records ``metadata["fixed"]`` (label -> 0/1);
* lower-constraints adds slack variables that the earlier problem does not have;
* scale multiplies every energy by a factor and records the cumulative
  ``metadata["scale"]["factor"]`` so that E_original = E_scaled / factor.

``restore`` rebuilds assignments of ``before`` from assignments of ``after`` by
label (fixed values filled in, slack bits dropped) and ``energy_factor`` says
by how much energies were multiplied in between, so that for a chain of exact
passes ``before.energies(restore(before, after, X)) == after.energies(X) / energy_factor(before, after)``
(lower-constraints: on assignments whose slack bits are optimal and that satisfy
the lowered constraints; elsewhere the penalty is added).
"""

from __future__ import annotations

import json

import numpy as np

from qsel.ir import Problem, QselError


def reserved(metadata: dict, key: str, kind: type = dict):
    """metadata[key] when present (a fresh ``kind()`` when absent); a clear error if it has another type.

    Keys written by passes (scale, penalties, lowered_constraints, split_constraints) have a fixed shape;
    a file that reuses one of them for something else cannot be compiled further."""
    value = metadata.get(key, None)
    if value is None and key not in metadata:
        return kind()
    if not isinstance(value, kind):
        raise QselError(f"metadata {key!r} must be a JSON {'object' if kind is dict else 'array'} "
                        f"(qsel passes write it), found {json.dumps(value)[:60]}")
    return value


def scale_factor(problem: Problem) -> float:
    """Cumulative factor by which scale passes multiplied this problem's energies (1 if none)."""
    factor = reserved(problem.metadata, "scale").get("factor", 1.0)
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
        raise QselError(f"metadata 'scale' has factor {factor!r}; it must be a number > 0")
    return float(factor)


def energy_factor(before: Problem, after: Problem) -> float:
    """E_after = energy_factor * E_before on corresponding assignments."""
    return scale_factor(after) / scale_factor(before)


def restore(before: Problem, after: Problem, X_after: np.ndarray) -> np.ndarray:
    """Assignments of ``before``'s variables from assignments of ``after``'s (samples x n_after)."""
    X_after = np.atleast_2d(np.asarray(X_after, dtype=np.float64))
    if X_after.shape[1] != after.num_vars:
        raise ValueError(f"assignments must have {after.num_vars} columns, got {X_after.shape[1]}")
    out = np.zeros((X_after.shape[0], before.num_vars))
    known = np.zeros(before.num_vars, dtype=bool)
    pos_after = after.variables.index
    cols_before, cols_after = [], []
    for i, label in enumerate(before.labels):
        j = pos_after.get(label)
        if j is not None:
            cols_before.append(i)
            cols_after.append(j)
    out[:, cols_before] = X_after[:, cols_after]
    known[cols_before] = True
    newly_fixed = {k: v for k, v in after.fixed.items() if k not in before.fixed}
    pos_before = before.variables.index
    for label, value in newly_fixed.items():
        i = pos_before.get(label)
        if i is not None:
            out[:, i] = value
            known[i] = True
    if not known.all():
        missing = before.labels[int(np.argmin(known))]
        raise QselError(f"variable {missing!r} is neither in the compiled problem nor recorded as fixed")
    return out
