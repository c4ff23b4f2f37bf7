"""`qsel solve` with the quantum solvers: local-pegasus, qaoa and openqaoa through the registry and the driver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main
from strategies import feasible_minimum


@pytest.fixture(scope="module")
def layer(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("solve") / "layer.qir"
    result = CliRunner().invoke(main, ["example", "--units", "12", "--keep", "0.25", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.mark.parametrize("solver, pipeline", [
    ("local-pegasus", ""),
    ("qaoa{p=1}", "partition{max-vars=6}"),
    ("openqaoa{p=1}", "partition{max-vars=6}"),
])
@pytest.mark.slow
def test_qsel_solve_with_quantum_solvers(layer, tmp_path, solver, pipeline):
    out = tmp_path / "result.json"
    args = ["solve", str(layer), "-s", solver, "-o", str(out), "--seed", "2", "--num-reads", "200"]
    if pipeline:
        args += ["-p", pipeline]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert d["feasible"] is True and len(d["masks"]["fc1"]["keep"]) == 3
    # never better than the true optimum (a feasible assignment of the original IR)
    opt = feasible_minimum(ir.load(layer))
    assert d["energy"] >= opt - 1e-9
    info = d["blocks"][0]["info"]
    if solver == "local-pegasus":  # embedded annealing of a penalised block: chains reported, feasible answer
        assert info["max_chain_length"] >= 2 and info["qubits"] >= 24 and "chain_break_fraction" in info
    else:
        assert info["p"] == 1


def test_qsel_solve_refuses_a_block_too_big_for_qaoa(tmp_path):
    big = tmp_path / "big.qir"
    assert CliRunner().invoke(main, ["example", "--units", "24", "-o", str(big)]).exit_code == 0
    r = CliRunner().invoke(main, ["solve", str(big), "-s", "qaoa", "-o", str(tmp_path / "r.json")])
    assert r.exit_code == 2 and "partition{max-vars=20}" in r.output and not (tmp_path / "r.json").exists()
