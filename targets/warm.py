"""``warm(CHILD)``: the child's samples plus a tabu search started from the IR's recorded initial state.

A compiler that knows a good assignment (``qsel compile --warm-start gptq``:
GPTQ's rounding of discrete weights) records it in the IR as
``metadata["initial_state"] = {"method": NAME, "ones": [labels set to 1]}``
(labels not listed are 0). Because it is keyed by label, it survives passes
and block extraction. For every block the composite

1. asks the child for its samples, as usual;
2. runs ``reads`` tabu searches (dwave-samplers TabuSampler, ``timeout`` ms
   each) whose initial state is the recorded one, and adds those samples and
   the recorded state itself;

so the best sample is never worse than the recorded state. Blocks with
constraints, or an IR without a recorded state, get the child's samples (plus
the recorded state, scored, when there is one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from qsel import ir

from .base import Samples
from .composites import Composite, record_time


def initial_state(problem: ir.Problem) -> np.ndarray | None:
    """The recorded initial state in ``problem``'s variable order, or None when there is none."""
    rec = problem.metadata.get("initial_state")
    if not isinstance(rec, dict) or not isinstance(rec.get("ones"), list):
        return None
    ones = set(rec["ones"])
    return np.fromiter((lab in ones for lab in problem.labels), dtype=np.int8, count=problem.num_vars)


@dataclass(frozen=True)
class WarmComposite(Composite):
    """Child's samples + tabu search from the IR's recorded initial state (``metadata["initial_state"]``)."""

    name: ClassVar[str] = "warm"
    description: ClassVar[str] = ("the child's samples plus tabu search from the IR's recorded initial state "
                                  "(qsel compile --warm-start); composite: warm{...}(SOLVER)")

    reads: int = 4  # tabu searches from the recorded state
    timeout: int = 20  # milliseconds per search

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reads < 0:
            raise ValueError(f"reads must be >= 0, got {self.reads}")
        if self.timeout < 1:
            raise ValueError(f"timeout must be at least 1 ms, got {self.timeout}")

    def sample(self, problem: ir.Problem, *, num_reads: int = 100, seed: int | None = None) -> Samples:
        s = self.require_child().sample(problem, num_reads=num_reads, seed=seed)
        x0 = initial_state(problem)
        if x0 is None or problem.num_vars == 0:
            return s
        t0 = time.perf_counter()
        rows = [x0[None, :]]
        if self.reads and not problem.constraints:
            from dwave.samplers import TabuSampler

            from .convert import to_bqm

            bqm = to_bqm(problem, check=False)
            init = np.repeat(x0[None, :], self.reads, axis=0)
            ss = TabuSampler().sample(bqm, initial_states=(init, problem.labels), num_reads=self.reads,
                                      timeout=self.timeout, seed=None if seed is None else int(seed) % 2**31)
            pos = {v: i for i, v in enumerate(ss.variables)}
            cols = np.array([pos[lab] for lab in problem.labels], dtype=np.int64)
            rows.append(np.asarray(ss.record.sample, dtype=np.int8)[:, cols])
        extra = np.concatenate(rows)
        X = np.concatenate([np.asarray(s.X, dtype=np.int8), extra])
        energies = np.concatenate([s.energies, problem.energies(extra)])
        occ = np.concatenate([s.weights, np.ones(extra.shape[0], np.int64)])
        out = Samples(X, energies, occ, dict(s.info))
        start_e = float(out.energies[len(s.energies)])
        return record_time(out, self.name, time.perf_counter() - t0,
                           method=problem.metadata["initial_state"].get("method"), start_energy=start_e,
                           best_from_start=float(out.energies[len(s.energies):].min()),
                           best_of_child=float(s.energies.min()) if len(s.energies) else None)


SOLVERS = (WarmComposite,)
