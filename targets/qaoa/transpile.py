"""The transpile report of a QAOA circuit for a fake IBM heavy-hex backend (qiskit-ibm-runtime)."""

from __future__ import annotations

import functools
import time
from typing import Any

from qsel import ir


def fake_backend(name: str):
    """A fake IBM backend from qiskit-ibm-runtime's fake provider: 'sherbrooke', 'fake_sherbrooke', 'FakeTorino'..."""
    from qiskit_ibm_runtime import fake_provider

    key = name.strip().lower().replace("fake_", "").replace("fake", "").replace("_", "")
    classes = {cls[4:].lower().removesuffix("v2"): cls for cls in dir(fake_provider)
               if cls.startswith("Fake") and cls not in ("FakeProviderForBackendV2", "FakeFractionalBackend")}
    if key not in classes:
        raise ir.QselError(f"unknown fake IBM backend {name!r} (e.g. fake_sherbrooke, fake_torino, fake_brisbane; "
                           f"available: {', '.join(sorted(classes))})")
    return getattr(fake_provider, classes[key])()


@functools.lru_cache(maxsize=4)
def cached_backend(name: str):
    return fake_backend(name)


def transpile_report(circuit, backend, *, seed: int = 0, optimization_level: int = 1) -> dict[str, Any]:
    """Depth and gate counts of ``circuit`` transpiled for ``backend`` (a BackendV2)."""
    from qiskit import transpile

    t0 = time.perf_counter()
    tq = transpile(circuit, backend=backend, optimization_level=optimization_level, seed_transpiler=seed)
    ops = {k: int(v) for k, v in tq.count_ops().items()}
    two = sum(1 for inst in tq.data if inst.operation.num_qubits == 2 and inst.operation.name != "barrier")
    used = sorted({tq.find_bit(q).index for inst in tq.data for q in inst.qubits
                   if inst.operation.name not in ("barrier",)})
    return {"backend": backend.name, "backend_qubits": int(backend.num_qubits), "optimization_level": optimization_level,
            "seed_transpiler": seed, "depth": int(tq.depth()), "two_qubit_gates": int(two),
            "two_qubit_depth": int(tq.depth(lambda inst: inst.operation.num_qubits == 2
                                            and inst.operation.name != "barrier")),
            "physical_qubits": len(used), "ops": ops, "seconds": round(time.perf_counter() - t0, 3)}
