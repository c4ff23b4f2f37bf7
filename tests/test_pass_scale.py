"""scale (exact up to a recorded factor) and quantize (lossy, bounded)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qsel import ir
from qsel.passes import build
from qsel.passes.mapping import energy_factor
from qsel.passes.quadratic import coupling_range
from strategies import assignments, pass_problems, run_pipeline as run, scale_of


def example() -> ir.Problem:
    U = np.array([[0, 3.0, -0.5], [0, 0, 1.0], [0, 0, 0]])
    return ir.Problem.from_qubo_matrix(U + np.diag([2.0, -10.0, 1.0]), ["a", "b", "c"], offset=7.0)


def test_scale_uses_the_tightest_range_and_records_the_factor():
    out = run(example(), "scale{h-range=-4:4,j-range=-1:1}")
    # h: -10 -> needs f <= 0.4 ; J: 3 -> needs f <= 1/3  => f = 1/3
    f = out.metadata["scale"]["factor"]
    assert f == pytest.approx(1 / 3)
    assert out.linear.min() >= -4 and out.linear.max() <= 4 and coupling_range(out)[1] <= 1.0
    assert coupling_range(out)[1] == pytest.approx(1.0)  # the binding range is used in full
    assert out.offset == pytest.approx(7 / 3)
    X = assignments(out, 32)
    np.testing.assert_allclose(out.energies(X) / f, example().energies(X), rtol=1e-12)
    assert out.history[-1] == {"pass": "scale", "exact": True, "factor": f, "cumulative_factor": f}


def test_scale_factors_accumulate():
    out = run(example(), "scale{h-range=-4:4,j-range=-1:1},scale{h-range=-2:2,j-range=-2:2}")
    X = assignments(out, 16)
    np.testing.assert_allclose(out.energies(X), energy_factor(example(), out) * example().energies(X), rtol=1e-12)
    assert out.metadata["scale"]["h_range"] == [-2.0, 2.0]


def test_scale_checks_effective_couplings_when_storage_overlaps():
    p = ir.Problem.from_qubo_matrix(np.array([[0, 0.75], [0, 0]])).replace(
        sparse=ir.Couplings.from_arrays([0], [1], [0.75]))  # the pair is stored twice: J = 1.5
    out = run(p, "scale{j-range=-1:1}")
    assert out.metadata["scale"]["factor"] == pytest.approx(1 / 1.5)


def test_scale_refuses_a_range_without_the_needed_sign():
    with pytest.raises(ir.QselError, match="J has negative values"):
        run(example(), "scale{j-range=0:1}")
    with pytest.raises(ir.QselError, match="h-range must be LO:HI with LO <= 0 <= HI"):
        build("scale{h-range=1:4}")


def test_quantize_grid_levels_and_bound():
    rng = np.random.default_rng(0)
    p = ir.Problem.from_qubo_matrix(np.triu(rng.normal(size=(30, 30)), 1) + np.diag(rng.normal(size=30)))
    out = run(p, "quantize{bits=4}")
    h = out.history[-1]
    assert len(np.unique(out.linear)) <= 2 ** 4 - 1
    vals = out.dense[0].matrix[np.triu_indices(30, 1)]
    assert len(np.unique(vals)) <= 2 ** 4 - 1
    assert np.allclose(vals / h["j_step"], np.round(vals / h["j_step"]))
    X = ((np.arange(4096)[:, None] >> np.arange(12)) & 1).astype(float)
    X = np.hstack([X, np.zeros((4096, 18))])
    assert np.abs(out.energies(X) - p.energies(X)).max() <= h["bound"] + 1e-12
    assert h["bound"] <= h["abs_error_sum"]


def test_quantize_after_scale_reports_original_units_and_needs_scale_for_scale_grid():
    out = run(example(), "scale,quantize{bits=3,grid=scale}")
    h = out.history[-1]
    assert h["j_step"] == pytest.approx(1 / 3) and h["h_step"] == pytest.approx(4 / 3)
    assert h["bound_original_units"] == pytest.approx(h["bound"] / out.metadata["scale"]["factor"])
    with pytest.raises(ir.QselError, match="grid=scale needs a scale pass first"):
        run(example(), "quantize{grid=scale}")
    with pytest.raises(ir.QselError, match="bits must be between 2 and 52"):
        build("quantize{bits=1}")


@given(pass_problems(), st.sampled_from([(-4.0, 4.0, -1.0, 1.0), (-1.0, 2.0, -2.0, 0.5), (-8.0, 8.0, -1.0, 1.0)]))
@pytest.mark.slow
def test_property_scale_energies_map_back_exactly(problem, ranges):
    hl, hh, jl, jh = ranges
    try:
        out = run(problem, f"scale{{h-range={hl}:{hh},j-range={jl}:{jh}}}")
    except ir.QselError as exc:
        assert "too many orders of magnitude" in str(exc)
        return
    f = energy_factor(problem, out)
    X = assignments(problem)
    tol = 1e-9 * scale_of(problem) + 1e-12
    np.testing.assert_allclose(out.energies(X) / f, problem.energies(X), rtol=0, atol=tol)
    assert hl <= out.linear.min(initial=0) and out.linear.max(initial=0) <= hh
    lo, hi = coupling_range(out)
    assert jl <= lo and hi <= jh


@given(pass_problems(), st.integers(2, 12))
@pytest.mark.slow
def test_property_quantize_stays_inside_its_bound(problem, bits):
    X = assignments(problem)
    out = run(problem, f"quantize{{bits={bits}}}")
    tol = 1e-9 * scale_of(problem) + 1e-12
    assert np.all(np.abs(out.energies(X) - problem.energies(X)) <= out.history[-1]["bound"] + tol)
