"""result.json: the selection a solver or baseline made, decodable without the IR.

    {"format": "qsel-result", "version": 1,
     "masks": {"fc1": {"granularity": "neuron", "units": 64, "keep": [0, 5, ...]}, ...},
     "assignment": {"fc1.n0": 1, ...},          # by IR label
     "energy": 0.123, "feasible": true, "broken_constraints": [],
     "solver": "greedy", "compile": {...the IR's metadata: source, calibration, objective, layers...},
     "fingerprints": {"model": "sha256:...", "ir": "sha256:..."},
     ...any further fields a solver adds (timings, energy distribution)}

``fingerprints`` (:mod:`qsel.ir.fingerprints`): ``model`` is the fingerprint of
the network's weights the IR was compiled from (None for an IR not compiled by
qsel, or compiled before fingerprints existed), ``ir`` that of the IR whose
assignment this is (None for a result composed without ``--ir``). ``apply``,
``eval`` and ``compose`` refuse a result or IR from another model unless
``--force``.

Feasibility covers the IR's own constraints *and* the original constraints a
penalty pass lowered (``metadata["lowered_constraints"]``), each reported by
label in ``constraints`` (lhs, sense, rhs, satisfied, lowered). When the IR was
scaled (``metadata["scale"]["factor"]``, E_scaled = factor * E_original),
``energy_original`` gives the energy in the original units. Solvers add
``timings``, ``iterations`` (energy per iteration) and ``distribution``
(:func:`qsel.targets.base.energy_summary` of the samples' energies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qsel import ir
from qsel.ir.jsonfile import read_document, write_json
from qsel.frontend.masks import Selection

FORMAT = "qsel-result"
VERSION = 1
COMPUTE: Any = object()  # from_assignment: compute the energy with the problem


@dataclass
class Result:
    selection: Selection
    assignment: dict[str, int]
    energy: float | None
    feasible: bool | None
    solver: str
    compile: dict
    broken_constraints: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    fingerprints: dict[str, str | None] = field(default_factory=dict)  # model, ir (see the module docstring)

    @classmethod
    def from_assignment(cls, problem: ir.Problem, x: np.ndarray, solver: str, *, energy: Any = COMPUTE,
                        **extra: Any) -> "Result":
        """Decode ``x`` (0/1 over ``problem``'s variables) into masks and check every constraint by label.

        ``energy`` overrides the IR energy (a float, or None for unknown: a term-free skeleton problem, whose
        metadata says ``skeleton``: then no IR fingerprint is recorded)."""
        from qsel.ir.fingerprints import result_fingerprints

        x = np.asarray(x, dtype=np.float64)
        meta = {k: problem.metadata[k] for k in ("source", "calibration", "objective", "layers")
                if k in problem.metadata}
        report = constraint_report(problem, x)
        broken = [c["label"] for c in report if not c["satisfied"]]
        e = problem.energy(x) if energy is COMPUTE else energy
        computed: dict[str, Any] = {}
        if report:
            computed["constraints"] = report
        factor = scale_factor(problem.metadata)
        if factor is not None and e is not None:
            computed["energy_original"] = float(e) / factor
        computed.update(extra)
        return cls(
            selection=Selection.from_assignment(problem, x),
            assignment=dict(zip(problem.labels, (int(v) for v in x.tolist()))),
            energy=None if e is None else float(e),
            feasible=not broken,
            solver=solver,
            compile=meta,
            broken_constraints=broken,
            extra=computed,
            fingerprints=result_fingerprints(problem, with_ir=not problem.metadata.get("skeleton")),
        )

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "masks": self.selection.to_json(),
                "assignment": self.assignment, "energy": self.energy, "feasible": self.feasible,
                "broken_constraints": self.broken_constraints, "solver": self.solver, "compile": self.compile,
                "fingerprints": self.fingerprints, **self.extra}

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "Result":
        where = str(path)
        d = read_document(path, FORMAT, VERSION, "qsel result file")
        if "masks" not in d:
            raise ir.QselError(f"{where}: missing 'masks'")
        known = {"format", "version", "masks", "assignment", "energy", "feasible", "broken_constraints", "solver",
                 "compile", "fingerprints"}
        fps = d.get("fingerprints", {})
        if not isinstance(fps, dict) or not all(isinstance(v, str) or v is None for v in fps.values()):
            raise ir.QselError(f"{where}: 'fingerprints' must map 'model' and 'ir' to strings or null")
        if not isinstance(d.get("compile", {}), dict):
            raise ir.QselError(f"{where}: 'compile' must be an object")
        _check_fields(d, where)
        return cls(
            selection=Selection.from_json(d["masks"], where),
            assignment=dict(d.get("assignment", {})),
            energy=d.get("energy"),
            feasible=d.get("feasible"),
            solver=str(d.get("solver", "")),
            compile=dict(d.get("compile", {})),
            broken_constraints=list(d.get("broken_constraints", [])),
            extra={k: v for k, v in d.items() if k not in known},
            fingerprints=dict(fps),
        )


def _check_fields(d: dict, where: str) -> None:
    """The optional fields of a result file have the types a result writes (found by the fuzz tests:
    ``"assignment": null`` used to end in a TypeError traceback)."""
    a = d.get("assignment", {})
    if not isinstance(a, dict) or not all(isinstance(v, int) and v in (0, 1) for v in a.values()):
        raise ir.QselError(f"{where}: 'assignment' must map labels to 0 or 1")
    broken = d.get("broken_constraints", [])
    if not isinstance(broken, list) or not all(isinstance(v, str) for v in broken):
        raise ir.QselError(f"{where}: 'broken_constraints' must be a list of constraint labels")
    e = d.get("energy")
    if e is not None and (isinstance(e, bool) or not isinstance(e, (int, float))):
        raise ir.QselError(f"{where}: 'energy' must be a number or null")
    if d.get("feasible") not in (None, True, False):
        raise ir.QselError(f"{where}: 'feasible' must be true, false or null")
    if not isinstance(d.get("solver", ""), str):
        raise ir.QselError(f"{where}: 'solver' must be a string")


# ------------------------------------------------------------------ constraints by label
def scale_factor(metadata: dict) -> float | None:
    """``metadata["scale"]["factor"]`` (E_scaled = factor * E_original) when a scaling pass recorded one."""
    sc = metadata.get("scale")
    f = sc.get("factor") if isinstance(sc, dict) else None
    if isinstance(f, (int, float)) and not isinstance(f, bool) and np.isfinite(f) and f != 0 and f != 1:
        return float(f)
    return None


def lowered_constraints(metadata: dict) -> list[dict]:
    """The original constraints a penalty pass replaced, normalised to {label, labels, coeffs, sense, rhs}.

    Accepts a list of records (or a dict label -> record) with the variable labels under ``labels`` /
    ``variables`` and the coefficients under ``coeffs`` / ``coefficients`` (default: all 1)."""
    raw = metadata.get("lowered_constraints", [])
    items = [{"label": k, **v} for k, v in raw.items()] if isinstance(raw, dict) else list(raw or [])
    out = []
    for k, c in enumerate(items):
        if not isinstance(c, dict):
            raise ir.QselError(f"metadata lowered_constraints[{k}] is not an object")
        labels = c.get("labels", c.get("variables"))
        coeffs = c.get("coeffs", c.get("coefficients"))
        if not isinstance(labels, list):
            raise ir.QselError(f"metadata lowered_constraints[{k}] has no variable labels")
        coeffs = [1.0] * len(labels) if coeffs is None else [float(w) for w in coeffs]
        sense = str(c.get("sense", "=="))
        if sense not in ("==", "<=", ">=") or len(coeffs) != len(labels) or "rhs" not in c:
            raise ir.QselError(f"metadata lowered_constraints[{k}] is malformed (sense, coeffs or rhs)")
        out.append({"label": str(c.get("label", f"lowered{k}")), "labels": [str(v) for v in labels],
                    "coeffs": coeffs, "sense": sense, "rhs": float(c["rhs"])})
    return out


def _holds(lhs: float, sense: str, rhs: float, tol: float) -> bool:
    lhs, rhs = float(lhs), float(rhs)
    return bool({"==": abs(lhs - rhs) <= tol, "<=": lhs <= rhs + tol, ">=": lhs >= rhs - tol}[sense])


def constraint_report(problem: ir.Problem, x: np.ndarray, tol: float = 1e-9) -> list[dict]:
    """Every constraint of ``problem`` and every lowered one, by label: lhs, sense, rhs, satisfied, lowered.

    A lowered constraint reads its variables from ``x`` by label, or from ``metadata["fixed"]``."""
    x = np.asarray(x, dtype=np.float64).ravel()
    out = []
    for c in problem.constraints:
        lhs = float(x[c.indices] @ c.coeffs)
        out.append({"label": c.label, "kind": c.kind, "sense": c.sense.value, "rhs": float(c.rhs), "lhs": float(lhs),
                    "satisfied": _holds(lhs, c.sense.value, float(c.rhs), tol), "lowered": False})
    lowered = lowered_constraints(problem.metadata)
    if lowered:
        pos = problem.variables.index
        fixed = problem.metadata.get("fixed", {})
        for c in lowered:
            lhs = 0.0
            for lab, w in zip(c["labels"], c["coeffs"]):
                if lab in pos:
                    lhs += w * x[pos[lab]]
                elif lab in fixed:
                    lhs += w * float(fixed[lab])
                else:
                    raise ir.QselError(f"lowered constraint {c['label']!r} names variable {lab!r}, which is "
                                       f"neither in the problem nor fixed")
            kind = "cardinality" if all(w == 1.0 for w in c["coeffs"]) and float(c["rhs"]).is_integer() else "linear"
            out.append({"label": c["label"], "kind": kind, "sense": c["sense"], "rhs": c["rhs"], "lhs": float(lhs),
                        "satisfied": _holds(lhs, c["sense"], c["rhs"], tol), "lowered": True})
    return out
