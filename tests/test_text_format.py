"""The .qir text format: byte-identical round trips, exact energies, located parse errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from qsel import ir
from strategies import assignments, problems

EXAMPLE = """\
qsel-ir 1.0
# a hand-written example: comments and blank lines are ignored

meta source {"model": "tiny"}
offset 1.5
var fc1.n0 -0.5 layer=fc1 unit=0 granularity=neuron
var fc1.n1 0.25 layer=fc1 unit=1 granularity=neuron group=g0
var "odd label" 0.0
dense 2 : fc1.n0 fc1.n1
  0.75
coupling fc1.n1 "odd label" -2.0
constraint keep == 1 : fc1.n0 fc1.n1
constraint budget <= 2.5 : 2.0*fc1.n0 "odd label"
partition p0 : fc1.n0 fc1.n1
partition p1 : "odd label"
"""


def test_example_parses_with_the_documented_meaning():
    p = ir.loads(EXAMPLE)
    assert p.labels == ["fc1.n0", "fc1.n1", "odd label"]
    assert p.variables.layer_of(1) == "fc1" and p.variables.group_of(1) == "g0"
    assert p.variables.granularity_of(0) is ir.Granularity.NEURON
    assert p.energy([1, 1, 1]) == pytest.approx(1.5 - 0.5 + 0.25 + 0.75 - 2.0)
    assert [c.label for c in p.constraints] == ["keep", "budget"]
    np.testing.assert_array_equal(p.constraints[1].coeffs, [2.0, 1.0])
    assert p.metadata == {"source": {"model": "tiny"}}
    assert [q.size for q in p.partitions] == [2, 1]


@given(problems())
@pytest.mark.slow
def test_print_parse_print_is_byte_identical_and_energies_exact(problem):
    text = ir.dumps(problem)
    back = ir.loads(text)
    assert ir.dumps(back) == text
    X = assignments(problem)
    np.testing.assert_array_equal(back.energies(X), problem.energies(X))
    np.testing.assert_array_equal(back.linear, problem.linear)
    assert back.metadata == problem.metadata


def test_floats_round_trip_bit_for_bit():
    values = np.array([0.1, -0.0, 5e-324, 1 / 3, 2.0**-1074 * 3, 1.7976931348623157e308, -123456.789e-200])
    v = ir.Variables.from_labels([f"x{i}" for i in range(len(values))])
    p = ir.Problem(v, values, offset=0.30000000000000004)
    back = ir.loads(ir.dumps(p))
    assert back.linear.tobytes() == values.tobytes()
    assert back.offset == 0.30000000000000004


def test_header_reports_counts_and_ranges():
    text = ir.dumps(ir.loads(EXAMPLE))
    assert "# variables 3 · couplings 2 (dense 1 block, sparse 1) · constraints 2 · partitions 2" in text


ERRORS = [
    # (text, line, column, message fragment)
    ("", 1, 1, "empty file"),
    ("qsel-ir 2.0\n", 1, 9, "version 2.0 is not supported"),
    ("qubo 1.0\n", 1, 1, "not a qsel IR text file"),
    ("qsel-ir 1.0\nvar a 1.0\nvar a 2.0\n", 3, 5, "declared twice"),
    ("qsel-ir 1.0\nvar a abc\n", 2, 7, "expected the linear bias"),
    ("qsel-ir 1.0\nvar a 1e999\n", 2, 7, "overflows a double"),
    ("qsel-ir 1.0\nvar a 1.0 colour=red\n", 2, 11, "unknown variable attribute 'colour'"),
    ("qsel-ir 1.0\nvar a 1.0 granularity=atom\n", 2, 23, "unknown granularity 'atom'"),
    ("qsel-ir 1.0\nvar a 1.0 unit=x\n", 2, 16, "expected unit index (an integer)"),
    ("qsel-ir 1.0\nvar a 1.0\ncoupling a b 1.0\n", 3, 12, "unknown variable 'b'"),
    ("qsel-ir 1.0\nvar a 1.0\ncoupling a a 1.0\n", 3, 12, "coupled with itself"),
    ("qsel-ir 1.0\nvar a 1.0\nvar b 1.0\ncoupling a b\n", 4, 13, "expected the coupling value"),
    ("qsel-ir 1.0\nvar a 1.0\nvar b 1.0\ncoupling a b 1.0 7\n", 4, 18, "unexpected '7'"),
    ("qsel-ir 1.0\nvar a 1.0\nvar b 1.0\ndense 2 : a b\n  1.0 2.0\n", 5, 7, "has 2 values, expected 1"),
    ("qsel-ir 1.0\nvar a 1.0\nvar b 1.0\ndense 2 : a b\n", 4, 1, "dense block ends early"),
    ("qsel-ir 1.0\nvar a 1.0\nvar b 1.0\ndense 2 : a b\n  nan\n", 5, 3, "expected coupling value"),
    ("qsel-ir 1.0\nvar a 1.0\nvar b 1.0\ndense 2 : a b\n1.0\n", 5, 1, "an indented line of 1 numbers"),
    ("qsel-ir 1.0\nvar a 1.0\nconstraint c = 1 : a\n", 3, 14, "expected a sense"),
    ("qsel-ir 1.0\nvar a 1.0\nconstraint c == 1 a\n", 3, 19, "expected ':'"),
    ("qsel-ir 1.0\nmeta k {\"a\": }\n", 2, 14, "invalid JSON"),
    ("qsel-ir 1.0\nfrobnicate 1\n", 2, 1, "unknown statement 'frobnicate'"),
    ("qsel-ir 1.0\nvar a 1.0 $\n", 2, 11, "unexpected character '$'"),
    ("qsel-ir 1.0\noffset 1\noffset 2\n", 3, 1, "offset given twice"),
]


@pytest.mark.parametrize("text,line,column,fragment", ERRORS)
def test_parse_errors_name_line_column_and_what_was_expected(text, line, column, fragment):
    with pytest.raises(ir.ParseError) as info:
        ir.loads(text, source="bad.qir")
    err = info.value
    assert fragment in err.message
    assert (err.line, err.column) == (line, column), str(err)
    assert str(err).startswith(f"bad.qir:{line}:{column}: ")


def test_error_message_shows_the_line_and_a_caret():
    with pytest.raises(ir.ParseError) as info:
        ir.loads("qsel-ir 1.0\nvar a oops\n", source="f.qir")
    assert str(info.value).splitlines()[1:] == ["    var a oops", "          ^"]


def test_loader_verifies_semantics_the_grammar_cannot(tmp_path):
    path = tmp_path / "overlap.qir"
    path.write_text("qsel-ir 1.0\nvar a 1.0\nvar b 0.0\npartition p : a b\npartition q : b\n")
    with pytest.raises(ir.VerificationError, match="partitions 'p' and 'q' overlap"):
        ir.load(path)
