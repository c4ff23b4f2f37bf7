"""Pipeline strings, typed options, the registry and the PassManager."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qsel import ir
from qsel.passes import (AnalysisPass, PassManager, TransformationPass, Transformed, build, parse, registry,
                         render)
from qsel.passes.base import PropertySet
from strategies import assignments, problems, scale_of


@dataclass(frozen=True)
class Scale(TransformationPass):
    """Test pass: multiply every coefficient (lossy unless factor is 1)."""

    name = "test-scale"
    exact = False
    factor: float = 1.0
    mode: Literal["all", "linear"] = "all"
    window: tuple[float, float] = (-4.0, 4.0)
    flag: bool = False
    count: int | None = None

    def __post_init__(self) -> None:
        if self.factor <= 0:
            raise ValueError(f"factor must be > 0, got {self.factor}")

    def run(self, problem, props):
        out = problem.replace(linear=problem.linear * self.factor)
        return Transformed(out, bound=float(np.abs(problem.linear).sum() * abs(self.factor - 1)))


@dataclass(frozen=True)
class Count(AnalysisPass):
    name = "test-count"

    def analyze(self, problem, props):
        props["runs"] = (props["runs"] or 0) + 1


@pytest.fixture(autouse=True)
def _test_passes():
    registry.register("test-scale", f"{__name__}:Scale")
    registry.register("test-count", f"{__name__}:Count")
    yield
    registry.unregister("test-scale")
    registry.unregister("test-count")


def test_pipeline_syntax_and_typed_options():
    items = parse(" canonicalize , test-scale{factor=2.5,mode=linear,window=-1:3,flag=true,count=4} ")
    assert [i.name for i in items] == ["canonicalize", "test-scale"]
    p = build("test-scale{factor=2.5,mode=linear,window=-1:3,flag=true,count=4}")[0]
    assert (p.factor, p.mode, p.window, p.flag, p.count) == (2.5, "linear", (-1.0, 3.0), True, 4)
    assert p.spec() == "test-scale{factor=2.5,mode=linear,window=-1.0:3.0,flag=true,count=4}"
    assert build(render(build("test-scale{factor=3}")))[0] == Scale(factor=3.0)
    assert parse("") == []


@pytest.mark.parametrize("pipeline,fragment", [
    ("canonicalise", "unknown pass 'canonicalise'; did you mean 'canonicalize'?"),
    ("test-scale{factr=2}", "pass 'test-scale' has no option 'factr'; did you mean 'factor'?"),
    ("test-scale{factor=abc}", "option 'factor' expects a number, got 'abc'"),
    ("test-scale{factor=inf}", "expects a finite number"),
    ("test-scale{mode=some}", "option 'mode' expects one of all, linear, got 'some'"),
    ("test-scale{window=1}", "option 'window' expects float:float"),
    ("test-scale{flag=maybe}", "expects true or false"),
    ("test-scale{count=1.5}", "option 'count' expects an integer"),
    ("test-scale{factor=-1}", "pass 'test-scale': factor must be > 0"),
    ("canonicalize{eps=1}", "pass 'canonicalize' has no option 'eps'"),
])
def test_option_errors_name_pass_option_and_value(pipeline, fragment):
    with pytest.raises(ir.QselError) as info:
        build(pipeline)
    assert fragment in str(info.value)


@pytest.mark.parametrize("pipeline,column,fragment", [
    ("canonicalize,,stats", 14, "expected a pass name"),
    ("test-scale{factor}", 18, "expected '=' after option 'factor'"),
    ("test-scale{factor=1", 20, "expected ',' or '}'"),
    ("test-scale{factor=}", 19, "option 'factor' has no value"),
    ("stats verify", 7, "expected ',' between passes"),
    ("test-scale{factor=1,factor=2}", 21, "option 'factor' given twice"),
])
def test_pipeline_syntax_errors_point_at_the_column(pipeline, column, fragment):
    with pytest.raises(ir.QselError) as info:
        parse(pipeline)
    msg = str(info.value)
    assert msg.startswith(f"pipeline:{column}: ") and fragment in msg, msg
    assert msg.splitlines()[2] == "    " + " " * (column - 1) + "^"


def test_manager_records_history_bounds_and_analyses():
    p = ir.Problem.from_qubo_matrix(np.diag([1.0, -2.0]))
    pm = PassManager(build("test-count,test-scale{factor=2},canonicalize,test-count"))
    out = pm.run(p)
    assert pm.properties["runs"] == 2
    assert [h["pass"] for h in out.history] == ["test-scale{factor=2.0}", "canonicalize"]
    assert out.history[0] == {"pass": "test-scale{factor=2.0}", "exact": False, "bound": 3.0}
    assert pm.properties["energy_error_bound"] == 3.0
    assert [t.name for t in pm.timings] == ["test-count", "test-scale{factor=2.0}", "canonicalize", "test-count"]
    assert PropertySet()["missing"] is None


def test_verify_each_stops_at_the_pass_that_broke_the_ir():
    @dataclass(frozen=True)
    class Break(TransformationPass):
        name = "break"

        def run(self, problem, props):
            return problem.replace(linear=problem.linear * np.nan)

    p = ir.Problem.from_qubo_matrix(np.eye(2))
    with pytest.raises(ir.VerificationError, match="after pass 'break'"):
        PassManager([Break()], verify_each=True).run(p)
    PassManager([Break()]).run(p)  # without --verify-each nothing checks


def test_lossy_bound_holds_for_the_test_pass():
    p = ir.Problem.from_qubo_matrix(np.diag([1.0, -2.0, 0.5]))
    out = PassManager(build("test-scale{factor=1.5}")).run(p)
    X = assignments(p, 8)
    assert np.all(np.abs(out.energies(X) - p.energies(X)) <= out.history[-1]["bound"] + 1e-12)


EXACT_OR_ANALYSIS = sorted(name for name in registry.available()
                           if not name.startswith("test-") and registry.get(name).exact
                           and registry.get(name).correspondence == "identity")


@given(problems(), st.lists(st.sampled_from(EXACT_OR_ANALYSIS), min_size=1, max_size=5))
@pytest.mark.slow
def test_random_pipelines_of_exact_passes_keep_energies(problem, names):
    X = assignments(problem)
    out = PassManager(build(",".join(names)), verify_each=True).run(problem)
    tol = 1e-9 * scale_of(problem) + 1e-12
    np.testing.assert_allclose(out.energies(X), problem.energies(X), rtol=0, atol=tol)
    np.testing.assert_array_equal(out.feasible(X), problem.feasible(X))


def test_error_bound_is_accumulated_in_original_units_after_scale():
    # prune after scale: its bound is in scaled units; the running bound must be in original ones
    rng = np.random.default_rng(0)
    Q = rng.normal(size=(8, 8))
    p = ir.Problem.from_qubo_matrix(Q * 10)
    pm = PassManager(build("scale{h-range=-1:1,j-range=-1:1},prune{eps=0.2,mode=relative}"))
    out = pm.run(p)
    factor = out.metadata["scale"]["factor"]
    prune_bound = out.history[-1]["bound"]
    assert pm.properties["energy_error_bound"] == pytest.approx(prune_bound / factor)
    X = rng.integers(0, 2, size=(200, 8))
    worst = np.max(np.abs(out.energies(X) / factor - p.energies(X)))
    assert worst <= pm.properties["energy_error_bound"] + 1e-9
