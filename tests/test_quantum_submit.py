"""qsel submit = qsel solve with a remote device as block solver: the --local stand-ins give what `qsel solve` gives
with the same spec and seed; the real paths up to the credential check, on dwave-system's MockDWaveSampler in place
of DWaveSampler, and on a local CQM sampler in place of LeapHybridCQMSampler (no network touched)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import dimod
import pytest
from click.testing import CliRunner

from qsel import ir
from qsel.cli import main
from qsel.targets import remote
from qsel.targets.postprocess import MoveSet, QuadraticForm, greedy_start
from strategies import feasible_minimum


@pytest.fixture(scope="module")
def layer(tmp_path_factory) -> Path:
    """The built-in example: 8 units, keep 2 (a cardinality == 2 constraint)."""
    path = tmp_path_factory.mktemp("submit") / "layer.qir"
    result = CliRunner().invoke(main, ["example", "--units", "8", "--keep", "0.25", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


def greedy_energy(problem: ir.Problem) -> float:
    x = greedy_start(QuadraticForm.from_problem(problem), MoveSet.of(problem))
    return float(problem.energy(x))


def submit(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qsel.cli", "submit", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def invoke(*args: str) -> dict:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output + repr(r.exception)
    out = args[args.index("-o") + 1]
    return json.loads(Path(out).read_text())


def clean_env(home: Path) -> dict:
    """No D-Wave or IBM configuration anywhere: a fresh HOME and none of their environment variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DWAVE_", "QISKIT_", "XDG_CONFIG", "XDG_DATA"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"))
    return env


def child_info(d: dict) -> dict:
    """The device's report of the (last) subproblem decompose sent it."""
    return d["blocks"][0]["info"]["decompose"]["child_info"]


# ------------------------------------------------------------------ --local == solve with the stand-in
STAND_INS = [
    ("dwave", "decompose{block=177,reads=30}(local-pegasus)"),
    ("dwave-hybrid", "polish(local-hybrid)"),
    ("ibm", "decompose{block=8,reads=200}(ibm-runtime{backend=fake_sherbrooke})"),
]


@pytest.mark.parametrize("to, spec", STAND_INS)
@pytest.mark.slow
def test_local_submit_is_solve_with_the_stand_in_through_the_same_composites(layer, tmp_path, to, spec):
    reads = "200" if to == "ibm" else "30"
    sub = invoke("submit", str(layer), "--to", to, "--local", "--seed", "3", "--num-reads", reads,
                 "-o", str(tmp_path / "submit.json"))
    sol = invoke("solve", str(layer), "-s", spec, "--seed", "3", "--num-reads", reads,
                 "-o", str(tmp_path / "solve.json"))
    assert sub["solver"] == sol["solver"] == spec
    assert sub["submission"] == {"to": to, "local": True, "spec": spec, "device": spec.split("(")[-1].rstrip(")"),
                                 "stand_in_for": {"dwave": "dwave-qpu", "dwave-hybrid": "leap-hybrid",
                                                  "ibm": "ibm-runtime"}[to]}
    problem = ir.load(layer)
    assert sub["energy"] == pytest.approx(sol["energy"], abs=1e-12)
    assert sub["feasible"] is True and len(sub["masks"]["fc1"]["keep"]) == 2
    assert sub["energy"] <= greedy_energy(problem) + 1e-12
    assert sub["energy"] == pytest.approx(feasible_minimum(problem), abs=1e-9)
    if to == "dwave":  # the subproblem went through the embedded Pegasus path
        info = child_info(sub)
        assert info["topology"] == "pegasus:16" and info["max_chain_length"] >= 2 and info["qubits"] >= 8
        assert "chain_break_fraction" in info and "MockDWaveSampler" in info["sampler"]
    if to == "ibm":  # QAOA on the fake heavy-hex device: the noise breaks the Hamming weight of some shots
        info = child_info(sub)
        assert info["backend"] == "fake_sherbrooke" and info["local_testing_mode"] is True
        assert info["mixer"] == "xy" and info["isa_two_qubit_gates"] > 0 and info["shots"] == 200
        assert 0 < info["feasible_shots"] < 200


def test_a_user_spec_around_the_device_runs_on_its_stand_in_with_local(layer, tmp_path):
    d = invoke("submit", str(layer), "--to", "dwave", "--local", "--seed", "1", "--num-reads", "20",
               "-s", "decompose{block=4,reads=20}(dwave-qpu{chain-prefactor=2.0})", "-o", str(tmp_path / "r.json"))
    assert d["solver"] == "decompose{block=4,reads=20}(local-pegasus{chain-prefactor=2.0})"
    assert d["blocks"][0]["info"]["decompose"]["subproblems"] >= 2  # hardware-sized pieces of the 8 units
    assert d["feasible"] is True and d["energy"] <= greedy_energy(ir.load(layer)) + 1e-12


# ------------------------------------------------------------------ the real paths on library stand-ins
def mock_qpu(topology_type: str = "pegasus", shape: tuple = (16,), **config):
    """dwave-system's MockDWaveSampler on the real graph, built as DWaveSampler(**config) would be."""
    from dwave.system.testing import MockDWaveSampler

    return MockDWaveSampler(topology_type=topology_type, topology_shape=list(shape), parameter_warnings=False)


def test_dwave_qpu_path_runs_on_the_sampler_in_place_of_dwave_sampler(layer, tmp_path, monkeypatch):
    import dwave.system

    monkeypatch.setenv("DWAVE_API_TOKEN", "sekrit-token-123")
    monkeypatch.setattr(dwave.system, "DWaveSampler", mock_qpu)
    remote._dwave_sampler.cache_clear()
    try:
        d = invoke("submit", str(layer), "--to", "dwave", "--seed", "2", "--num-reads", "20",
                   "-o", str(tmp_path / "r.json"))
    finally:
        remote._dwave_sampler.cache_clear()
    assert d["solver"] == "decompose{block=177,reads=20}(dwave-qpu)"
    assert d["submission"]["local"] is False and d["submission"]["device"] == "dwave-qpu"
    info = child_info(d)
    assert info["sampler"].startswith("DWaveSampler(MockDWaveSampler") and info["topology"] == "pegasus:16"
    assert info["energy_check_max_abs_diff"] < 1e-9 and info["num_reads"] == 20
    assert d["feasible"] is True and d["energy"] == pytest.approx(feasible_minimum(ir.load(layer)), abs=1e-9)
    assert "sekrit" not in (tmp_path / "r.json").read_text()


def test_a_qpu_of_another_topology_than_blocks_were_sized_for_is_refused(layer, tmp_path, monkeypatch):
    import dwave.system

    monkeypatch.setenv("DWAVE_API_TOKEN", "sekrit-token-123")
    monkeypatch.setattr(dwave.system, "DWaveSampler", functools.partial(mock_qpu, "chimera", (4, 4, 4)))
    remote._dwave_sampler.cache_clear()
    try:
        r = CliRunner().invoke(main, ["submit", str(layer), "--to", "dwave", "-o", str(tmp_path / "r.json")])
    finally:
        remote._dwave_sampler.cache_clear()
    assert r.exit_code == 2 and "chimera:4,4,4" in r.output and "topology=chimera:4,4,4" in r.output
    assert not (tmp_path / "r.json").exists()


class LocalCQMSampler:
    """In place of LeapHybridCQMSampler: dimod's exact CQM solver behind the same calls (no network)."""

    calls: list = []

    def __init__(self, **config) -> None:
        self.solver = type("Solver", (), {"name": "exact-cqm"})()

    def sample_cqm(self, cqm: dimod.ConstrainedQuadraticModel, **params) -> dimod.SampleSet:
        LocalCQMSampler.calls.append((cqm, params))
        return dimod.ExactCQMSolver().sample_cqm(cqm)


def test_leap_hybrid_path_sends_the_constrained_problem_as_a_cqm(layer, tmp_path, monkeypatch):
    import dwave.system

    monkeypatch.setenv("DWAVE_API_TOKEN", "sekrit-token-123")
    monkeypatch.setattr(dwave.system, "LeapHybridCQMSampler", LocalCQMSampler)
    LocalCQMSampler.calls.clear()
    d = invoke("submit", str(layer), "--to", "dwave-hybrid", "-o", str(tmp_path / "r.json"), "--label", "run-7")
    (cqm, params), = LocalCQMSampler.calls
    problem = ir.load(layer)
    assert len(cqm.constraints) == len(problem.constraints) == 1 and set(cqm.variables) == set(problem.labels)
    assert params == {"label": "run-7"}
    assert d["solver"] == "polish(leap-hybrid{label=run-7})" and "exact-cqm" in d["blocks"][0]["info"]["sampler"]
    assert d["feasible"] is True and d["energy"] == pytest.approx(feasible_minimum(problem), abs=1e-9)


# ------------------------------------------------------------------ credentials and errors
@pytest.mark.parametrize("to, message", [
    ("dwave", "no D-Wave API token configured"),
    ("dwave-hybrid", "no D-Wave API token configured"),
    ("ibm", "no IBM Quantum account configured"),
])
@pytest.mark.slow
def test_missing_credentials_give_a_clear_error_without_network(layer, tmp_path, to, message):
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "result.json"
    r = submit(str(layer), "--to", to, "-o", str(out), env=clean_env(home))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "--local" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr and not out.exists()
    assert not (home / ".qiskit").exists()  # nothing written where the IBM client keeps accounts


@pytest.mark.parametrize("to, env", [
    ("ibm", {"QISKIT_IBM_TOKEN": "sekrit-token-456", "QISKIT_IBM_URL": "http://127.0.0.1:9"}),
    pytest.param("dwave", {"DWAVE_API_TOKEN": "sekrit-token-789",
                           "DWAVE_API_ENDPOINT": "http://127.0.0.1:9/sapi/v2/"}, marks=pytest.mark.slow),
])
@pytest.mark.slow
def test_a_token_without_network_is_one_error_line(layer, tmp_path, to, env):
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "result.json"
    r = submit(str(layer), "--to", to, "-o", str(out), env={**clean_env(home), **env})
    assert r.returncode == 2, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("qsel: error:") and "could not be reached" in line and "sekrit" not in line
    assert not out.exists() and not (home / ".qiskit").exists()


def test_bad_arguments(layer, tmp_path):
    out = str(tmp_path / "r.json")
    r = CliRunner().invoke(main, ["submit", str(layer), "--to", "ibm", "--local", "--backend", "fake_nowhere", "-o", out])
    assert r.exit_code == 2 and "unknown fake IBM backend" in r.output
    r = CliRunner().invoke(main, ["submit", str(layer), "--to", "dwave", "--local", "--topology", "pegasos", "-o", out])
    assert r.exit_code == 2 and "unknown topology" in r.output
    r = CliRunner().invoke(main, ["submit", str(layer), "--to", "nowhere", "-o", out])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["submit", str(layer), "--to", "dwave", "--local", "-s", "decompose(tabu)", "-o", out])
    assert r.exit_code == 2 and "must be dwave-qpu" in r.output
    r = CliRunner().invoke(main, ["submit", str(layer), "--to", "ibm", "--local", "-s", "ibm-runtime",
                                  "--backend", "fake_torino", "-o", out])
    assert r.exit_code == 2 and "inside the spec" in r.output
    r = CliRunner().invoke(main, ["submit", str(layer), "--to", "dwave", "-s", "polish(local-pegasus)", "-o", out])
    assert r.exit_code == 2 and "add --local" in r.output
    r = CliRunner().invoke(main, ["submit", str(layer), "--to", "dwave", "--local", "-s", "polish(dwave-qpu)",
                                  "--topology", "zephyr", "-o", out])
    assert r.exit_code == 2 and "--topology cannot be combined with -s" in r.output
    r = CliRunner().invoke(main, ["submit", str(layer), "--to", "dwave-hybrid", "--local", "--block", "4", "-o", out])
    assert r.exit_code == 2 and "--block does not apply" in r.output
    assert not Path(out).exists()


def test_ibm_stand_in_is_the_fake_twin_of_the_named_device():
    assert remote.IBMRuntimeSolver(backend="ibm_torino").standin().spec() == "ibm-runtime{backend=fake_torino}"
    assert remote.IBMRuntimeSolver(local=True).standin().spec() == "ibm-runtime{backend=fake_sherbrooke}"
    assert remote.IBMRuntimeSolver(backend="fake_kyiv", p=1).standin().spec() == "ibm-runtime{backend=fake_kyiv,p=1}"
