"""``qsel eval``: accuracy and loss of a network, of its masked version, and the measured objective.

The objective is measured on the calibration batch the compiler used — the
one the result file's ``compile.calibration`` names (dataset, split, sample
limit) — and its fingerprint is checked, so the number is directly
comparable with the IR energy of the same masks. The result's model
fingerprint (:mod:`qsel.ir.fingerprints`) must be MODEL's, unless ``force``.
"""

from __future__ import annotations

from typing import Any, Callable

from qsel import ir

from .metrics import scores_metrics
from .network import Network


def evaluate(model: str, data: str, split: str, mask_path: str | None, *, load_result: Callable[[str], Any],
             trust_pickle: bool = False, force: bool = False,
             warn: Callable[[str], None] = lambda message: None) -> dict:
    """The report of ``qsel eval``; ``load_result`` reads the ``--mask`` result file (the command passes
    :meth:`qsel.result.Result.load`: the result record belongs to the driver, which this layer does not import).
    The model and data are read first, then the result, so the first bad input is the one reported."""
    from qsel.ir.fingerprints import check_model

    from .data import check_compatible, load_dataset
    from .models import load_model
    from .objective import measure

    network = load_model(model, trust_pickle=trust_pickle)
    dataset = check_compatible(network, load_dataset(data, split))
    report: dict = {"model": model, "data": data, "split": split, "samples": int(dataset.X.shape[0]),
                    "dense": scores_metrics(network, dataset)}
    if mask_path is None:
        return report
    result = load_result(mask_path)
    sel = result.selection
    sel.check_against(network, mask_path)
    check_model(result.fingerprints.get("model"), network, result=mask_path, model=model, force=force, warn=warn)
    from .discrete import is_discrete

    if is_discrete(result.compile):  # discrete weights: the network with them, and their measured objective
        from .discrete_apply import evaluate as evaluate_discrete

        report.update(evaluate_discrete(network, dataset, _calibration(network, result, mask_path), result,
                                        mask_path))
        return report
    masks = {"unit_masks": sel.unit_masks(), "weight_masks": sel.weight_masks()}
    report["masked"] = scores_metrics(network, dataset, **masks)
    report["masked"]["kept"] = {k: f"{m.kept}/{m.mask.size}" for k, m in sel.masks.items()}
    batch = _calibration(network, result, mask_path)
    per_layer = measure(network, batch.X, batch.y, sel, result.compile)
    report["objective_per_layer"] = per_layer
    report["objective"] = float(sum(per_layer.values()))
    report["ir_energy"] = result.energy
    if isinstance(result.extra.get("energy_per_layer"), dict):  # written by select and baseline
        report["ir_energy_per_layer"] = result.extra["energy_per_layer"]
    return report


def _calibration(network: Network, result, mask_path: str):
    """The calibration batch the result's problem was compiled on, checked against its fingerprint."""
    from .data import check_compatible, load_dataset

    cal = result.compile.get("calibration")
    if not cal:
        raise ir.QselError(f"{mask_path}: no 'compile.calibration' section; cannot rebuild the calibration batch")
    limit = cal.get("limit") if isinstance(cal, dict) else None
    if not (isinstance(cal, dict) and isinstance(cal.get("dataset"), str) and cal.get("split") in ("train", "test")
            and (limit is None or isinstance(limit, int) and not isinstance(limit, bool) and limit > 0)):
        raise ir.QselError(f"{mask_path}: 'compile.calibration' needs 'dataset' (a string), 'split' (train or "
                           f"test) and 'limit' (a positive integer or null)")
    batch = check_compatible(network, load_dataset(cal["dataset"], cal["split"], limit=cal.get("limit")))
    if batch.fingerprint != cal.get("fingerprint"):
        raise ir.QselError(f"{mask_path}: the calibration data {cal['dataset']!r} ({cal['split']}) no longer matches "
                           f"the fingerprint the problem was compiled with ({cal.get('fingerprint')})")
    return batch
