"""``qsel eval``: accuracy and loss of a network, of its masked version, and the measured objective.

The objective is measured on the calibration batch the compiler used — the
one the result file's ``compile.calibration`` names (dataset, split, sample
limit) — and its fingerprint is checked, so the number is directly
comparable with the IR energy of the same masks.
"""

from __future__ import annotations

from qsel import ir

from . import metrics
from .network import Network


def scores_metrics(network: Network, dataset, **masks) -> dict:
    """accuracy (classifiers) and loss (cross-entropy or squared error) of the network, optionally masked."""
    return {"accuracy": metrics.accuracy(network, dataset, **masks), "loss": metrics.loss(network, dataset, **masks)}


def evaluate(model: str, data: str, split: str, mask_path: str | None, *, trust_pickle: bool = False) -> dict:
    from qsel.result import Result

    from .data import check_compatible, load_dataset
    from .models import load_model
    from .objective import measure

    network = load_model(model, trust_pickle=trust_pickle)
    dataset = check_compatible(network, load_dataset(data, split))
    report: dict = {"model": model, "data": data, "split": split, "samples": int(dataset.X.shape[0]),
                    "dense": scores_metrics(network, dataset)}
    if mask_path is None:
        return report
    result = Result.load(mask_path)
    sel = result.selection
    sel.check_against(network, mask_path)
    masks = {"unit_masks": sel.unit_masks(), "weight_masks": sel.weight_masks()}
    report["masked"] = scores_metrics(network, dataset, **masks)
    report["masked"]["kept"] = {k: f"{m.kept}/{m.mask.size}" for k, m in sel.masks.items()}
    cal = result.compile.get("calibration")
    if not cal:
        raise ir.QselError(f"{mask_path}: no 'compile.calibration' section; cannot rebuild the calibration batch")
    batch = check_compatible(network, load_dataset(cal["dataset"], cal["split"], limit=cal.get("limit")))
    if batch.fingerprint != cal.get("fingerprint"):
        raise ir.QselError(f"{mask_path}: the calibration data {cal['dataset']!r} ({cal['split']}) no longer matches "
                           f"the fingerprint the problem was compiled with ({cal.get('fingerprint')})")
    per_layer = measure(network, batch.X, batch.y, sel, result.compile)
    report["objective_per_layer"] = per_layer
    report["objective"] = float(sum(per_layer.values()))
    report["ir_energy"] = result.energy
    return report
