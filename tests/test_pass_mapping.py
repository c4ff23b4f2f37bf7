"""Random pipelines of exact passes, including the "mapped" ones, keep energies through qsel.passes.mapping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qsel import ir
from qsel.passes import PassManager, build, registry
from qsel.passes.mapping import energy_factor, restore
from strategies import pass_problems, scale_of

EXACT = sorted(name for name in registry.available()
               if not name.startswith("test-") and registry.get(name).exact and name != "lower-constraints")


def test_mapped_passes_declare_themselves():
    kinds = {name: registry.get(name).correspondence for name in registry.available()}
    assert kinds["fix-variables"] == kinds["scale"] == kinds["lower-constraints"] == "mapped"
    assert kinds["canonicalize"] == "identity" and not registry.get("partition").exact


@given(pass_problems(max_vars=8), st.lists(st.sampled_from(EXACT), min_size=1, max_size=4))
@pytest.mark.slow
def test_random_exact_pipelines_map_energies_back(problem, names):
    out = PassManager(build(",".join(names)), verify_each=True).run(problem)
    X = np.random.default_rng(1).integers(0, 2, size=(32, out.num_vars)).astype(np.float64)
    full = restore(problem, out, X)
    f = energy_factor(problem, out)
    tol = 1e-9 * scale_of(problem) + 1e-12
    np.testing.assert_allclose(out.energies(X) / f, problem.energies(full), rtol=0, atol=tol)
    np.testing.assert_array_equal(out.feasible(X), problem.feasible(full))


def test_restore_refuses_an_unrelated_problem():
    a = ir.Problem.from_qubo_matrix(np.eye(2), ["a", "b"])
    b = ir.Problem.from_qubo_matrix(np.eye(1), ["a"])
    with pytest.raises(ir.QselError, match="'b' is neither in the compiled problem nor recorded as fixed"):
        restore(a, b, np.zeros((1, 1)))


def test_a_reserved_metadata_key_with_the_wrong_shape_is_a_clear_error():
    p = ir.Problem.from_qubo_matrix(np.eye(2)).with_metadata(scale="big")
    with pytest.raises(ir.QselError, match="metadata 'scale' must be a JSON object"):
        PassManager(build("scale")).run(p)
    p = ir.Problem.from_qubo_matrix(np.eye(2)).with_metadata(scale={"factor": -1})
    with pytest.raises(ir.QselError, match="it must be a number > 0"):
        PassManager(build("scale")).run(p)
