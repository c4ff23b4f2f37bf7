"""Remote submission: the solver stack ``qsel submit --to dwave|dwave-hybrid|ibm`` runs, built from its options.

A destination names a device solver (:mod:`qsel.targets.remote`) and a local
stand-in for it (:data:`DEVICES`, :data:`STANDINS`). :func:`build_solver`
returns the solver to run and its innermost (device) solver: the user's spec,
or :func:`default_spec` around the device :func:`device_for` builds; the leaf
must be the destination's device or its stand-in, and ``local`` swaps a device
for its stand-in (:func:`with_leaf`). Default stacks:

* ``dwave``: ``decompose{block=B,reads=N}(dwave-qpu)``, B = the Pegasus block size
  (:func:`qsel.passes.topology.block_for`) or the largest clique of the chip's topology
  if smaller: hardware-sized subproblems with the rest clamped, each embedded onto the
  chip, unembedded and polished, from a greedy warm start. Local: the same around
  ``local-pegasus`` (MockDWaveSampler on the real Pegasus graph, simulated annealing).
* ``dwave-hybrid``: ``polish(leap-hybrid)``: the whole problem as a CQM to
  LeapHybridCQMSampler, its samples repaired and swap-polished (no block). Local:
  ``polish(local-hybrid)`` (``decompose{block=B}(tabu)`` on the constrained problem;
  a stand-in, not the hybrid solver).
* ``ibm``: ``decompose{block=B,reads=N}(ibm-runtime)``, B = ``block`` or
  :data:`IBM_BLOCK` qubits, at most what the backend takes (a block's angles are
  optimised on a local statevector and the bound, transpiled circuit is sampled on
  the backend with N shots). Local: ``ibm-runtime`` on a fake backend
  (``fake_sherbrooke`` unless named) in qiskit-ibm-runtime's local testing mode.

A ``spec`` replaces the default with any stack whose innermost solver is the
destination's device (``dwave-qpu``, ``leap-hybrid``, ``ibm-runtime``) or its
stand-in.

Nothing here touches the network or credentials; the CLI (``qsel/commands/submit.py``)
checks them through the leaf's ``check()`` before it runs anything. The solver
modules are imported inside the functions: the CLI reads the tables above when
it starts, and importing the device clients (about 1 s) would slow every ``qsel`` command.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from qsel import ir
from qsel.passes.topology import block_for

from .base import Solver, from_spec

DESTINATIONS = ("dwave", "dwave-hybrid", "ibm")
DEVICES = {"dwave": "dwave-qpu", "dwave-hybrid": "leap-hybrid", "ibm": "ibm-runtime"}
STANDINS = {"dwave": "local-pegasus", "dwave-hybrid": "local-hybrid", "ibm": "ibm-runtime"}
IBM_BLOCK = 8  # qubits per QAOA subproblem on an IBM backend (noisy circuits grow fast with the block)


def device_for(to: str, *, solver: str | None, backend: str | None, topology: str, depth: int,
               label: str) -> Solver:
    """The destination's device solver built from the convenience options."""
    from .remote import DWaveQPUSolver, IBMRuntimeSolver, LeapHybridSolver

    if to == "dwave":
        return DWaveQPUSolver(solver=solver or "", topology=topology, label=label)
    if to == "dwave-hybrid":
        return LeapHybridSolver(solver=solver or "", label=label)
    return IBMRuntimeSolver(backend=backend or "", p=depth)


def default_spec(to: str, device: Solver, *, num_reads: int, block: int | None) -> Solver:
    """The default composite stack around ``device`` (see the module docstring)."""
    from .composites import PolishComposite
    from .decompose import DecomposeComposite

    if to == "dwave-hybrid":
        if block is not None:
            raise ir.QselError("--block does not apply to --to dwave-hybrid (the hybrid solver takes the whole "
                               "problem); give -s 'decompose{block=...}(leap-hybrid)' to cut it anyway")
        return PolishComposite(child=device)
    limit = device.max_vars
    size = block or (block_for(limit) if to == "dwave" else min(IBM_BLOCK, limit))
    if limit is not None and size > limit:
        raise ir.QselError(f"--block {size} is more than {device.name} takes ({limit})")
    return DecomposeComposite(block=size, reads=num_reads, child=device)


def with_leaf(solver: Solver, leaf: Solver) -> Solver:
    """``solver`` with its innermost solver replaced by ``leaf``."""
    child = getattr(solver, "child", None)
    if child is None:
        return leaf
    return dataclasses.replace(solver, child=with_leaf(child, leaf))


def build_solver(to: str, local: bool, spec: str | None, device: Solver, *, num_reads: int,
                 block: int | None) -> tuple[Solver, Solver]:
    """(the solver to run, its device leaf): the user's spec or the default stack, the leaf checked to be the
    destination's device or stand-in and swapped for the stand-in with ``local``."""
    from .registry import get_solver
    from .remote import device_solver

    solver = from_spec(spec, "solver", get_solver) if spec else default_spec(to, device, num_reads=num_reads,
                                                                              block=block)
    leaf = device_solver(solver)
    if leaf.name not in (DEVICES[to], STANDINS[to]):
        raise ir.QselError(f"-s {spec!r}: the innermost solver must be {DEVICES[to]} (or its stand-in "
                           f"{STANDINS[to]}) for --to {to}, got {leaf.name}")
    if local and hasattr(leaf, "standin"):
        leaf = leaf.standin()
        solver = with_leaf(solver, leaf)
    elif not local and leaf.name != DEVICES[to]:
        raise ir.QselError(f"-s {spec!r} runs the local stand-in {leaf.name}: add --local, or write {DEVICES[to]}")
    return solver, leaf


def submission_record(to: str, local: bool, solver: Solver, leaf: Solver) -> dict[str, Any]:
    """What the result file says about the destination (``extra["submission"]``): where it ran, with which
    spec, and for a local run which device the stand-in replaced."""
    out: dict[str, Any] = {"to": to, "local": local, "spec": solver.spec(), "device": leaf.spec()}
    if local:
        out["stand_in_for"] = DEVICES[to]
    return out


__all__ = ["DESTINATIONS", "DEVICES", "IBM_BLOCK", "STANDINS", "build_solver", "default_spec", "device_for",
           "submission_record", "with_leaf"]
