"""manifest.json: what ``qsel emit`` wrote and how to compose results back into IR assignments.

One entry per subproblem file. ``labels[i]`` is the IR label of the file's
i-th variable (in the file's own variable order), so a sample produced
anywhere — a D-Wave SampleSet, qiskit counts, an OpenQAOA result — maps back
to IR variables. The energy of the block's variables in the IR is
``scale * E_file(x) + offset`` (plus cross terms to other blocks, listed as
``cross_terms`` when partitions were solved independently).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qsel import ir

FORMAT = "qsel-manifest"
VERSION = 1


@dataclass
class BlockEntry:
    name: str
    file: str  # path relative to the manifest's folder
    format: str  # e.g. "dimod-bqm", "coo", "qubo", "lp", "openqaoa-json", "qasm3", "qpy"
    labels: list[str]
    offset: float = 0.0
    scale: float = 1.0
    run: str = ""  # how the file is meant to be run
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Manifest:
    target: str
    options: dict[str, Any]
    num_vars: int
    blocks: list[BlockEntry]
    fixed: dict[str, int] = field(default_factory=dict)
    fixed_provenance: dict[str, dict] = field(default_factory=dict)
    penalties: dict[str, float] = field(default_factory=dict)
    scale: dict[str, Any] = field(default_factory=dict)
    cross_terms: int = 0  # couplings between blocks that no single file contains
    compile: dict[str, Any] = field(default_factory=dict)  # the IR's source/calibration/objective/layers
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        return {"format": FORMAT, "version": VERSION, **d}

    def save(self, path: str | Path) -> None:
        text = json.dumps(self.to_json(), indent=1, allow_nan=False)
        with ir.atomic_write(path, "w") as fh:
            fh.write(text + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Manifest":
        where = str(path)
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ir.QselError(f"{where}: no such file") from None
        except json.JSONDecodeError as exc:
            raise ir.QselError(f"{where}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ir.QselError(f"{where}: not a qsel manifest (expected \"format\": \"{FORMAT}\")")
        if d.get("version") != VERSION:
            raise ir.QselError(f"{where}: manifest version {d.get('version')} is not supported (expected {VERSION})")
        try:
            blocks = [BlockEntry(**b) for b in d["blocks"]]
            fields = {k: d[k] for k in ("target", "options", "num_vars")}
            rest = {k: d[k] for k in ("fixed", "fixed_provenance", "penalties", "scale", "cross_terms", "compile",
                                      "extra") if k in d}
        except (KeyError, TypeError) as exc:
            raise ir.QselError(f"{where}: malformed manifest ({exc})") from None
        return cls(blocks=blocks, **fields, **rest)
