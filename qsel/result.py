"""result.json: the selection a solver or baseline made, decodable without the IR.

    {"format": "qsel-result", "version": 1,
     "masks": {"fc1": {"granularity": "neuron", "units": 64, "keep": [0, 5, ...]}, ...},
     "assignment": {"fc1.n0": 1, ...},          # by IR label
     "energy": 0.123, "feasible": true, "broken_constraints": [],
     "solver": "greedy", "compile": {...the IR's metadata: source, calibration, objective, layers...},
     ...any further fields a solver adds (timings, energy distribution)}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qsel import ir
from qsel.masks import Selection

FORMAT = "qsel-result"
VERSION = 1


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

    @classmethod
    def from_assignment(cls, problem: ir.Problem, x: np.ndarray, solver: str, **extra: Any) -> "Result":
        x = np.asarray(x, dtype=np.float64)
        meta = {k: problem.metadata[k] for k in ("source", "calibration", "objective", "layers")
                if k in problem.metadata}
        return cls(
            selection=Selection.from_assignment(problem, x),
            assignment=dict(zip(problem.labels, (int(v) for v in x.tolist()))),
            energy=problem.energy(x),
            feasible=bool(problem.feasible(x[None, :])[0]),
            solver=solver,
            compile=meta,
            broken_constraints=problem.broken_constraints(x),
            extra=dict(extra),
        )

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "masks": self.selection.to_json(),
                "assignment": self.assignment, "energy": self.energy, "feasible": self.feasible,
                "broken_constraints": self.broken_constraints, "solver": self.solver, "compile": self.compile,
                **self.extra}

    def save(self, path: str | Path) -> None:
        text = json.dumps(self.to_json(), indent=1, allow_nan=False)
        with ir.atomic_write(path, "w") as fh:
            fh.write(text + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Result":
        where = str(path)
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ir.QselError(f"{where}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ir.QselError(f"{where}: cannot read: {exc}") from None
        except json.JSONDecodeError as exc:
            raise ir.QselError(f"{where}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ir.QselError(f"{where}: not a qsel result file (expected \"format\": \"{FORMAT}\")")
        if d.get("version") != VERSION:
            raise ir.QselError(f"{where}: result version {d.get('version')} is not supported (expected {VERSION})")
        if "masks" not in d:
            raise ir.QselError(f"{where}: missing 'masks'")
        known = {"format", "version", "masks", "assignment", "energy", "feasible", "broken_constraints", "solver",
                 "compile"}
        return cls(
            selection=Selection.from_json(d["masks"], where),
            assignment=dict(d.get("assignment", {})),
            energy=d.get("energy"),
            feasible=d.get("feasible"),
            solver=str(d.get("solver", "")),
            compile=dict(d.get("compile", {})),
            broken_constraints=list(d.get("broken_constraints", [])),
            extra={k: v for k, v in d.items() if k not in known},
        )
