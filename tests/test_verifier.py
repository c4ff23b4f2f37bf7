"""Each IR invariant is checked, and the message says which one and where."""

from __future__ import annotations

import numpy as np
import pytest

from qsel import ir


def base(**changes) -> ir.Problem:
    v = ir.Variables.from_labels(["a", "b", "c"])
    p = ir.Problem(v, np.array([1.0, 2.0, 3.0]))
    return p.replace(**changes)


def test_valid_problem_has_no_findings():
    assert ir.check(base()) == []


@pytest.mark.parametrize("changes,fragment", [
    ({"linear": np.array([1.0, np.nan, 0.0])}, "linear bias of 'b' is nan"),
    ({"offset": float("inf")}, "offset is not finite"),
    ({"variables": ir.Variables.from_labels(["a", "a", "c"])}, "label 'a' is used by variables 0 and 1"),
    ({"variables": ir.Variables.from_labels(["a", "", "c"])}, "variable 1 has an empty label"),
    ({"variables": ir.Variables.from_labels(["a", "b\nx", "c"])}, "non-printable"),
    ({"linear": np.zeros(2)}, "linear biases have shape (2,), expected (3,)"),
    ({"sparse": ir.Couplings.from_arrays([0], [5], [1.0])}, "variable index 5 out of range"),
    ({"sparse": ir.Couplings.from_arrays([1], [1], [1.0])}, "couples 'b' with itself"),
    ({"sparse": ir.Couplings.from_arrays([0], [1], [np.inf])}, "sparse couplings have NaN or Inf"),
    ({"dense": (ir.DenseBlock(np.array([0, 1]), np.array([[0, 1.0], [2.0, 0]])),)}, "strictly upper triangular"),
    ({"dense": (ir.DenseBlock(np.array([0, 0]), np.zeros((2, 2))),)}, "dense block 0: a variable appears twice"),
    ({"dense": (ir.DenseBlock(np.array([0, 1]), np.zeros((3, 3))),)}, "does not match its 2 variables"),
    ({"constraints": (ir.Constraint.cardinality("k", [0, 9], "==", 1),)}, "constraint 'k': variable index 9"),
    ({"constraints": (ir.Constraint.cardinality("k", [0], "==", 1),) * 2}, "constraint 'k' is defined twice"),
    ({"partitions": (ir.Partition("p", np.array([0, 1])), ir.Partition("q", np.array([1])))},
     "partitions 'p' and 'q' overlap (both hold 'b')"),
    ({"metadata": {"x": float("nan")}}, "metadata is not plain JSON"),
])
def test_each_invariant_is_reported(changes, fragment):
    findings = ir.check(base(**changes))
    assert any(fragment in f for f in findings), findings
    with pytest.raises(ir.VerificationError) as info:
        ir.verify(base(**changes), context="x.qir")
    assert str(info.value).startswith("x.qir: IR verification failed")
