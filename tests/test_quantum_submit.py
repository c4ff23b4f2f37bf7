"""qsel submit: the --local stand-ins end to end, and the missing-credentials errors (no network touched)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import product
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main


@pytest.fixture(scope="module")
def layer(tmp_path_factory) -> Path:
    """The built-in example: 8 units, keep 2 (a cardinality == 2 constraint)."""
    path = tmp_path_factory.mktemp("submit") / "layer.qir"
    result = CliRunner().invoke(main, ["example", "--units", "8", "--keep", "0.25", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


def optimum(problem: ir.Problem) -> float:
    X = np.array(list(product([0, 1], repeat=problem.num_vars)), dtype=np.float64)
    return float(problem.energies(X[problem.feasible(X)]).min())


def submit(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qsel.cli", "submit", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def clean_env(home: Path) -> dict:
    """No D-Wave or IBM configuration anywhere: a fresh HOME and none of their environment variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DWAVE_", "QISKIT_", "XDG_CONFIG", "XDG_DATA"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"))
    return env


@pytest.mark.parametrize("to", ["dwave", "dwave-hybrid"])
def test_local_dwave_stand_ins_find_the_feasible_optimum(layer, tmp_path, to):
    out = tmp_path / "result.json"
    env = {**os.environ, "DWAVE_API_TOKEN": "sekrit-token-123"}  # never used with --local, never written
    r = submit(str(layer), "--to", to, "--local", "-o", str(out), "--seed", "3", "--num-reads", "50", env=env)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "sekrit" not in text and "sekrit" not in r.stderr
    d = json.loads(text)
    problem = ir.load(layer)
    assert d["feasible"] is True and d["energy"] == pytest.approx(optimum(problem), abs=1e-9)
    assert len(d["masks"]["fc1"]["keep"]) == 2
    sub = d["submission"]
    assert sub["to"] == to and sub["local"] is True
    if to == "dwave":
        (blk,) = sub["blocks"]
        assert blk["topology"] == "pegasus:16" and blk["max_chain_length"] >= 2 and blk["qubits"] >= 8
        assert "chain_break_fraction" in blk and "MockDWaveSampler" in sub["sampler"]


def test_local_ibm_runs_qaoa_on_a_fake_heavy_hex_backend(layer, tmp_path):
    out = tmp_path / "result.json"
    r = submit(str(layer), "--to", "ibm", "--local", "--backend", "fake_sherbrooke", "-o", str(out),
               "--seed", "1", "--num-reads", "1000", "--p", "2")
    assert r.returncode == 0, r.stderr
    d = json.loads(out.read_text())
    (blk,) = d["submission"]["blocks"]
    assert d["submission"]["backend"] == "fake_sherbrooke" and d["submission"]["local_testing_mode"] is True
    assert blk["mixer"] == "xy" and blk["isa_two_qubit_gates"] > 0 and blk["shots"] == 1000
    # the noisy device breaks the Hamming weight of some shots; the best feasible shot is the optimum
    assert 0 < blk["feasible_shots"] < 1000
    assert d["feasible"] is True and d["energy"] == pytest.approx(optimum(ir.load(layer)), abs=1e-9)


@pytest.mark.parametrize("to, message", [
    ("dwave", "no D-Wave API token configured"),
    ("dwave-hybrid", "no D-Wave API token configured"),
    ("ibm", "no IBM Quantum account configured"),
])
def test_missing_credentials_give_a_clear_error_without_network(layer, tmp_path, to, message):
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "result.json"
    r = submit(str(layer), "--to", to, "-o", str(out), env=clean_env(home))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "--local" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


def test_bad_arguments(layer, tmp_path):
    r = CliRunner().invoke(main, ["submit", str(layer), "--to", "ibm", "--local", "--backend", "fake_nowhere",
                                  "-o", str(tmp_path / "r.json")])
    assert r.exit_code == 2 and "unknown fake IBM backend" in r.output
    r = CliRunner().invoke(main, ["submit", str(layer), "--to", "dwave", "--local", "--topology", "pegasos",
                                  "-o", str(tmp_path / "r.json")])
    assert r.exit_code == 2 and "unknown topology" in r.output
    r = CliRunner().invoke(main, ["submit", str(layer), "--to", "nowhere", "-o", str(tmp_path / "r.json")])
    assert r.exit_code == 2
