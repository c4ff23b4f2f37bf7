"""The ``qiskit-qaoa`` target: per block a QuadraticProgram, SparsePauliOp, the QAOA circuit, a transpile report.

Files per block: ``NAME.qasm`` (OpenQASM 3, parameters gamma_l, beta_l as ``input float``), ``NAME.qpy``
(the same circuit, QPY), ``NAME.pauli.json`` (SparsePauliOp as [label, coeff] pairs + offset),
``NAME.qp.lp`` (the block as an LP file, constraints kept, variables x0..x{n-1} = qubits: what
``QuadraticProgram.read_from_lp_file`` or ``dimod.lp.load`` reads; written by :mod:`..lp_format`), and a transpile report (depth, two-qubit gates) for a fake IBM heavy-hex backend
(FakeSherbrooke by default).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from qsel import ir

from ..base import Block, Target
from ..manifest import BlockEntry, Manifest
from .circuits import QUBIT_ORDER, plan, qaoa_circuit
from ..lp_format import lp_names, lp_text
from .hamiltonian import pauli_json
from .transpile import cached_backend, transpile_report


@dataclass(frozen=True)
class QiskitQAOATarget(Target):
    """Per block: QuadraticProgram, SparsePauliOp, the depth-p QAOA circuit (OpenQASM 3 + QPY), transpile report."""

    name: ClassVar[str] = "qiskit-qaoa"
    description: ClassVar[str] = ("gate-model QAOA (qiskit): QuadraticProgram, Ising SparsePauliOp, depth-p circuit "
                                  "(X mixer, or Hamming-weight-preserving XY mixer from a Dicke state for one "
                                  "cardinality ==K) as OpenQASM 3 and QPY, transpile report for a fake IBM backend")
    # constraints stay (partition splits cardinality budgets per block): a block whose only constraint is one
    # cardinality ==K over all its variables gets the XY mixer; other constraints are lowered per block
    default_pipeline: ClassVar[str] = "canonicalize,partition{max-vars=20}"
    block_constraints: ClassVar[str] = "inside"

    p: int = 1
    mixer: str = "auto"  # auto | x | xy
    connectivity: str = "ring"  # XY mixer pairs: ring | complete
    backend: str = "fake_sherbrooke"  # fake IBM backend for the transpile report; "none" skips it
    optimization_level: int = 1
    seed: int = 0
    max_qubits: int = 32

    def emit(self, problem: ir.Problem, outdir: Path) -> Manifest:
        if self.p < 1:
            raise ir.QselError(f"target 'qiskit-qaoa': p must be >= 1, got {self.p}")
        if self.backend.lower() not in ("", "none"):
            cached_backend(self.backend)  # a bad backend name fails before any file is written
        return super().emit(problem, outdir)

    def emit_block(self, block: Block, sub: ir.Problem, outdir: Path, stem: str) -> BlockEntry:
        from qiskit import qasm3, qpy

        from qsel.ir.jsonfile import write_json

        outdir = Path(outdir)
        pl = plan(sub, self.mixer, max_qubits=self.max_qubits)
        if pl.cost.num_vars != sub.num_vars:
            raise ir.QselError(f"block {block.name!r}: lowering its constraints here would add "
                               f"{pl.cost.num_vars - sub.num_vars} slack qubits that the IR does not know; put "
                               f"'lower-constraints{{penalty=auto}}' in the pipeline instead")
        circuit, _, _ = qaoa_circuit(pl, self.p, connectivity=self.connectivity)
        files = {"qasm3": f"{stem}.qasm", "qpy": f"{stem}.qpy", "pauli": f"{stem}.pauli.json",
                 "quadratic_program": f"{stem}.qp.lp"}
        with ir.atomic_write(outdir / files["qasm3"], "w") as fh:
            fh.write(qasm3.dumps(circuit))
        buf = io.BytesIO()
        qpy.dump(circuit, buf)
        with ir.atomic_write(outdir / files["qpy"], "wb") as fh:
            fh.write(buf.getvalue())
        write_json(outdir / files["pauli"], pauli_json(pl.cost))
        with ir.atomic_write(outdir / files["quadratic_program"], "w") as fh:
            fh.write(lp_text(sub, stem, [f"x{i}" for i in range(sub.num_vars)],  # the lp target's writer
                             lp_names([c.label for c in sub.constraints], "c")))
        report = None
        if self.backend.lower() not in ("", "none"):
            report = transpile_report(circuit, cached_backend(self.backend), seed=self.seed,
                                      optimization_level=self.optimization_level)
        return BlockEntry(
            name=block.name, file=files["qasm3"], format="qasm3", labels=sub.labels, offset=0.0, scale=1.0,
            run=("bind gamma_l, beta_l (qsel solve --solver qaoa optimises them), sample, and read bitstrings "
                 "little-endian: x_i = int(key[n-1-i]) for qubit i = labels[i]"),
            extra={"files": files, "p": self.p, "mixer": pl.mixer, "hamming_weight": pl.k,
                   "xy_connectivity": self.connectivity if pl.mixer == "xy" else None,
                   "initial_state": "dicke" if pl.mixer == "xy" else "plus",
                   "qubits": pl.num_qubits, "cost_scale": pl.cost_scale, "ising_offset": pl.const,
                   "qubit_order": QUBIT_ORDER,
                   "constraints_lowered": [c.label for c in sub.constraints] if pl.mixer == "x" else [],
                   "penalties": pl.cost.metadata.get("penalties", {}) if pl.mixer == "x" else {},
                   "quadratic_program_variables": "x{i} = qubit i = labels[i]; constraints kept",
                   "transpile": report})


TARGETS = (QiskitQAOATarget,)
