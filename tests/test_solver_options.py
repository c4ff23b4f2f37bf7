"""Solver options are validated when the solver is named, with the solver and option in the message."""

from __future__ import annotations

import pytest

from qsel import ir
from qsel.targets.base import from_spec
from qsel.targets.registry import get_solver


@pytest.mark.parametrize("spec,fragment", [
    ("tabu{timeout=-1}", "solver 'tabu': timeout must be at least 1 ms"),  # -1 would run without end
    ("tabu{tenure=-2}", "tenure must be >= 0"),
    ("tabu{restarts=-1}", "restarts must be >= 0"),
    ("tabu{restarts=x}", "solver 'tabu': option 'restarts' expects an integer, got 'x'"),  # not "pass 'tabu'"
    ("sa{num-sweeps=0}", "solver 'sa': num-sweeps must be at least 1"),
    ("sa{beta-range=4:0.1}", "beta-range must be LOW:HIGH"),
    ("qaoa{p=0}", "solver 'qaoa': p must be at least 1"),
    ("local-pegasus{postprocess=magic}", "postprocess must be swap, steepest or none"),
    ("local-pegasus{chain-prefactor=0}", "chain-prefactor > 0"),
    ("openqaoa{maxiter=0}", "solver 'openqaoa': maxiter must be at least 1"),
])
def test_bad_solver_options_are_refused_up_front(spec, fragment):
    with pytest.raises(ir.QselError) as info:
        from_spec(spec, "solver", get_solver)
    assert fragment in str(info.value)


def test_tabu_with_restarts_repeats_exactly_for_a_seed():
    """With restarts bounding the work (and a timeout that does not bind), a seed gives the same samples
    whatever the machine's load: what a user reproducing a run relies on."""
    import numpy as np

    rng = np.random.default_rng(0)
    p = ir.Problem.from_qubo_matrix(rng.normal(size=(60, 60)))
    solver = from_spec("tabu{restarts=3,timeout=60000}", "solver", get_solver)
    a, b = (solver.sample(p, num_reads=4, seed=7) for _ in range(2))
    assert np.array_equal(a.X, b.X) and np.array_equal(a.energies, b.energies)
