"""``qsel eval``: accuracy and loss of a network, of its masked version, and the measured objective.

The objective is measured on the calibration batch the compiler used — the
one the result file's ``compile.calibration`` names (dataset, split, sample
limit) — and its fingerprint is checked, so the number is directly
comparable with the IR energy of the same masks.
"""

from __future__ import annotations

import numpy as np

from qsel import ir

from .network import Network


def scores_metrics(network: Network, X: np.ndarray, y: np.ndarray | None, **masks) -> dict:
    """accuracy (classification) and loss: softmax cross-entropy or mean squared error."""
    Z = network.logits(X, **masks)
    if y is None:
        return {"accuracy": None, "loss": None}
    if network.task == "classification":
        yi = np.asarray(y).astype(np.int64)
        z = Z - Z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return {"accuracy": float(np.mean(Z.argmax(1) == yi)), "loss": float(-logp[np.arange(len(yi)), yi].mean())}
    diff = Z - np.asarray(y, dtype=np.float64).reshape(Z.shape)
    return {"accuracy": None, "loss": float(np.mean(np.sum(diff * diff, axis=1)))}


def evaluate(model: str, data: str, split: str, mask_path: str | None, *, trust_pickle: bool = False) -> dict:
    from qsel.result import Result

    from .data import check_compatible, load_dataset
    from .models import load_model
    from .objective import measure

    network = load_model(model, trust_pickle=trust_pickle)
    dataset = load_dataset(data, split)
    check_compatible(network, dataset)
    report: dict = {"model": model, "data": data, "split": split, "samples": int(dataset.X.shape[0]),
                    "dense": scores_metrics(network, dataset.X, dataset.y)}
    if mask_path is None:
        return report
    result = Result.load(mask_path)
    sel = result.selection
    sel.check_against(network, mask_path)
    masks = {"unit_masks": sel.unit_masks(), "weight_masks": sel.weight_masks()}
    report["masked"] = scores_metrics(network, dataset.X, dataset.y, **masks)
    report["masked"]["kept"] = {k: f"{m.kept}/{m.mask.size}" for k, m in sel.masks.items()}
    cal = result.compile.get("calibration")
    if not cal:
        raise ir.QselError(f"{mask_path}: no 'compile.calibration' section; cannot rebuild the calibration batch")
    batch = load_dataset(cal["dataset"], cal["split"], limit=cal.get("limit"))
    if batch.fingerprint != cal.get("fingerprint"):
        raise ir.QselError(f"{mask_path}: the calibration data {cal['dataset']!r} ({cal['split']}) no longer matches "
                           f"the fingerprint the problem was compiled with ({cal.get('fingerprint')})")
    per_layer = measure(network, batch.X, batch.y, sel, result.compile)
    report["objective_per_layer"] = per_layer
    report["objective"] = float(sum(per_layer.values()))
    report["ir_energy"] = result.energy
    return report
