"""Gate-model side: QAOA circuits (X and XY mixers), files of the qiskit-qaoa target, the qaoa solver."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest

from qsel import ir
from qsel.targets import qaoa as Q
from qsel.targets.manifest import Manifest
from strategies import feasible_minimum, scale_of
from qsel.targets import lp_format


def random_block(n: int, seed: int) -> ir.Problem:
    rng = np.random.default_rng(seed)
    return ir.Problem.from_qubo_matrix(rng.normal(size=(n, n)), [f"fc1.n{i}" for i in range(n)],
                                       offset=float(rng.normal()))


def with_cardinality(p: ir.Problem, k: int, sense: str = "==") -> ir.Problem:
    return p.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(p.num_vars), sense, k),))


def statevector(circuit, values: dict) -> np.ndarray:
    from qiskit.quantum_info import Statevector

    bound = circuit.assign_parameters({q: values[q.name] for q in circuit.parameters})
    return Statevector(bound.remove_final_measurements(inplace=False)).data


# ------------------------------------------------------------------ circuits
@pytest.mark.parametrize("n", [1, 2, 4, 6])
def test_dicke_state_is_the_uniform_superposition_of_weight_k(n):
    from qiskit.quantum_info import Statevector

    for k in range(n + 1):
        sv = Statevector(Q.dicke_state(n, k)).data
        want = np.zeros(1 << n)
        want[[sum(1 << i for i in c) for c in combinations(range(n), k)]] = 1.0
        want /= np.linalg.norm(want)
        np.testing.assert_allclose(sv, want, atol=1e-9)


def test_x_mixer_circuit_matches_qiskits_qaoa_ansatz():
    from qiskit.circuit.library import qaoa_ansatz

    p = random_block(5, 1)
    pl = Q.plan(p, "x")
    op, _ = Q.pauli_op(p)
    ours, _, _ = Q.qaoa_circuit(pl, 2)
    ref = qaoa_ansatz(op / pl.cost_scale, reps=2)
    vals = {"gamma_0": 0.3, "gamma_1": 0.8, "beta_0": -0.4, "beta_1": 0.25}
    ref_vals = {"γ[0]": 0.3, "γ[1]": 0.8, "β[0]": -0.4, "β[1]": 0.25}
    assert abs(np.vdot(statevector(ref, ref_vals), statevector(ours, vals))) == pytest.approx(1.0, abs=1e-9)


def test_xy_mixer_never_leaves_the_feasible_subspace():
    p = with_cardinality(random_block(6, 2), 2)
    pl = Q.plan(p)
    assert pl.mixer == "xy" and pl.k == 2 and pl.cost.num_vars == 6
    circuit, _, _ = Q.qaoa_circuit(pl, 3)
    rng = np.random.default_rng(0)
    weight = np.array([bin(k).count("1") for k in range(1 << 6)])
    for _ in range(3):
        sv = statevector(circuit, {q.name: float(v) for q, v in zip(circuit.parameters,
                                                                     rng.uniform(-3, 3, size=6))})
        assert np.sum(np.abs(sv[weight != 2]) ** 2) < 1e-20


def test_mixer_choice_and_errors():
    p = random_block(4, 0)
    assert Q.plan(p).mixer == "x"
    assert Q.plan(with_cardinality(p, 2, "<=")).mixer == "x"  # only == K over all variables keeps XY
    sub = p.replace(constraints=(ir.Constraint.cardinality("keep", [0, 1, 2], "==", 1),))
    assert Q.plan(sub).mixer == "x"
    with pytest.raises(ir.QselError, match="mixer=xy needs"):
        Q.plan(sub, "xy")
    with pytest.raises(ir.QselError, match="unknown QAOA mixer"):
        Q.plan(p, "z")
    with pytest.raises(ir.QselError, match=r"partition\{max-vars=20\}"):
        Q.QAOASolver().sample(random_block(21, 0), num_reads=1)


@pytest.mark.slow
def test_transpile_report_for_a_fake_heavy_hex_backend():
    pl = Q.plan(with_cardinality(random_block(5, 3), 2))
    circuit, _, _ = Q.qaoa_circuit(pl, 1)
    report = Q.transpile_report(circuit, Q.fake_backend("fake_sherbrooke"), seed=1)
    assert report["backend"] == "fake_sherbrooke" and report["backend_qubits"] == 127
    assert report["two_qubit_gates"] == report["ops"].get("ecr", 0) > 0
    assert report["depth"] >= report["two_qubit_depth"] > 0 and report["physical_qubits"] >= 5
    with pytest.raises(ir.QselError, match="unknown fake IBM backend"):
        Q.fake_backend("fake_nowhere")


# ------------------------------------------------------------------ the target
@pytest.mark.slow
def test_qiskit_qaoa_target_writes_readable_circuits(tmp_path):
    from qiskit import qasm3, qpy

    from qsel.targets.qaoa import QiskitQAOATarget

    a = with_cardinality(random_block(5, 4), 2)
    b = random_block(4, 5)
    b = ir.Problem(ir.Variables.from_labels([f"fc2.n{i}" for i in range(4)]), b.linear, b.offset, b.dense)
    p = ir.Problem.concat([a, b]).replace(partitions=(ir.Partition("p0", np.arange(5)),
                                                      ir.Partition("p1", np.arange(5, 9))))
    manifest = QiskitQAOATarget(p=2).emit(p, tmp_path)
    manifest.save(tmp_path / "manifest.json")
    m = Manifest.load(tmp_path / "manifest.json")
    (e0, e1) = m.blocks
    assert (e0.extra["mixer"], e0.extra["hamming_weight"], e1.extra["mixer"]) == ("xy", 2, "x")
    assert e0.labels == [f"fc1.n{i}" for i in range(5)] and e0.extra["transpile"]["two_qubit_gates"] > 0
    for entry, block in ((e0, a), (e1, b)):
        files = entry.extra["files"]
        qasm_text = (tmp_path / files["qasm3"]).read_text()
        assert qasm_text.startswith("OPENQASM 3.0;") and "input float[64] gamma_1;" in qasm_text
        loaded = qasm3.loads(qasm_text)
        with open(tmp_path / files["qpy"], "rb") as fh:
            from_qpy = qpy.load(fh)[0]
        original, _, _ = Q.qaoa_circuit(Q.plan(block), 2)
        vals = {"gamma_0": 0.4, "gamma_1": 0.9, "beta_0": -0.3, "beta_1": 0.6}
        want = statevector(original, vals)
        for circ in (loaded, from_qpy):
            assert abs(np.vdot(statevector(circ, vals), want)) == pytest.approx(1.0, abs=1e-8)
        pauli = json.loads((tmp_path / files["pauli"]).read_text())
        assert pauli["num_qubits"] == block.num_vars
        lp = tmp_path / files["quadratic_program"]
        cqm = lp_format.load_cqm(lp, lp.read_bytes())  # the lp target's reader: same energies as the block
        assert sorted(cqm.variables, key=lambda v: int(v[1:])) == [f"x{i}" for i in range(block.num_vars)]
        X = np.random.default_rng(0).integers(0, 2, size=(8, block.num_vars))
        got = [cqm.objective.energy({f"x{i}": int(v) for i, v in enumerate(row)}) for row in X]
        diff = np.asarray(got) - block.energies(X.astype(float))  # equal up to the block's share of the offset
        np.testing.assert_allclose(diff, diff[0], rtol=0, atol=1e-9 * scale_of(block))
    assert "keep" in (tmp_path / e0.extra["files"]["quadratic_program"]).read_text()


# ------------------------------------------------------------------ the solver
def test_qaoa_solver_with_xy_mixer_only_returns_feasible_samples_and_finds_the_optimum():
    p = with_cardinality(random_block(6, 7), 2)
    best = feasible_minimum(p)
    s = Q.QAOASolver(p=2).sample(p, num_reads=400, seed=3)
    assert s.info["mixer"] == "xy"
    assert p.feasible(s.X).all() and s.num_occurrences.sum() == 400
    np.testing.assert_allclose(s.energies, p.energies(s.X))
    assert s.energies.min() == pytest.approx(best, abs=1e-9)
    # noticeably above the uniform superposition over the 15 feasible states
    assert s.info["optimum_probability"] > 2.0 / 15, s.info["optimum_probability"]
    assert s.info["feasible_probability"] == pytest.approx(1.0, abs=1e-9)


def test_qaoa_solver_x_mixer_unconstrained():
    p = random_block(7, 8)
    best = feasible_minimum(p)
    s = Q.QAOASolver(p=2).sample(p, num_reads=300, seed=1)
    assert s.info["mixer"] == "x" and s.info["qubits"] == 7
    assert s.energies.min() == pytest.approx(best, abs=1e-9)
    assert s.info["optimum_probability"] > 8.0 / 128, s.info["optimum_probability"]
    # the shots follow the state: the optimum's share of the shots is close to its probability
    share = s.num_occurrences[np.isclose(s.energies, best)].sum() / 300
    assert abs(share - s.info["optimum_probability"]) < 0.12


def test_qaoa_solver_lowers_an_inequality_with_slack_qubits_and_maps_back():
    p = with_cardinality(random_block(5, 9), 2, "<=")
    best = feasible_minimum(p)
    s = Q.QAOASolver(p=2, starts=1, simulator="statevector").sample(p, num_reads=300, seed=2)
    assert s.info["mixer"] == "x" and s.info["qubits"] > 5  # slack bits
    assert s.X.shape[1] == 5
    x = s.best(p)
    assert p.feasible(x[None, :])[0] and p.energy(x) == pytest.approx(best, abs=1e-9)


# ------------------------------------------------------------------ simulation, CVaR, defaults
def neuron_block(n: int, k: int, seed: int) -> ir.Problem:
    """E(s) = 1/m ||(A o s) W^T - T||^2 with sum s == k: Q = (A^T A/m) o (W^T W), h_i = Q_ii - 2 r_i."""
    rng = np.random.default_rng(seed)
    m = 48
    A = np.maximum(rng.normal(size=(m, n)), 0.0)
    W = rng.normal(size=(6, n))
    T = rng.normal(size=(m, 6))
    Q = (A.T @ A / m) * (W.T @ W)
    M = Q.copy()
    np.fill_diagonal(M, np.diag(Q) - 2.0 * np.einsum("si,ki,sk->i", A, W, T) / m)
    return with_cardinality(ir.Problem.from_qubo_matrix(M, offset=float(np.sum(T * T) / m)), k)


@pytest.mark.parametrize("mixer,connectivity", [("xy", "ring"), ("xy", "complete"), ("x", "ring")])
def test_numpy_simulator_gives_the_circuits_state(mixer, connectivity):
    p = with_cardinality(random_block(5, 11), 2)
    pl = Q.plan(p, mixer)
    circuit, _, _ = Q.qaoa_circuit(pl, 2, connectivity=connectivity)
    values = np.array([0.7, -0.4, 0.3, 1.1])  # gamma_0, gamma_1, beta_0, beta_1
    want = statevector(circuit, {"gamma_0": 0.7, "gamma_1": -0.4, "beta_0": 0.3, "beta_1": 1.1})
    got = Q.NumpySimulator(pl, connectivity).state(values)
    assert abs(np.vdot(want, got)) == pytest.approx(1.0, abs=1e-9)  # equal up to a global phase


def test_cvar_is_the_mean_of_the_lowest_alpha_mass():
    rng = np.random.default_rng(0)
    e = rng.normal(size=50)
    probs = rng.random(50)
    probs /= probs.sum()
    assert Q.cvar_value(probs, e, 1.0) == pytest.approx(probs @ e)
    # brute force: spread the mass over 10^5 equal quanta and average the lowest alpha share
    quanta = np.repeat(np.sort(e), np.round(probs[np.argsort(e)] * 1e5).astype(int))
    for alpha in (0.05, 0.3, 0.77):
        want = quanta[:int(alpha * len(quanta))].mean()
        assert Q.cvar_value(probs, e, alpha) == pytest.approx(want, abs=1e-3)
    assert Q.cvar_value(probs, e, 1e-9) == pytest.approx(e.min())


@pytest.mark.parametrize("spec,fragment", [("qaoa{cvar=0}", "cvar must be in (0, 1]"),
                                           ("qaoa{cvar=1.5}", "cvar must be in (0, 1]"),
                                           ("qaoa{optimizer=adam}", "optimizer must be one of"),
                                           ("qaoa{simulator=gpu}", "simulator must be one of"),
                                           ("qaoa{starts=0}", "starts must be at least 1")])
def test_bad_qaoa_options_are_refused(spec, fragment):
    from qsel.targets.base import from_spec
    from qsel.targets.registry import get_solver

    with pytest.raises(ir.QselError) as info:
        from_spec(spec, "solver", get_solver)
    assert fragment in str(info.value)


def test_cvar_objective_is_used_and_reported():
    p = with_cardinality(random_block(6, 12), 3)
    s = Q.QAOASolver(cvar=0.2).sample(p, num_reads=200, seed=0)
    assert s.info["objective"] == "cvar" and s.info["cvar"] == 0.2
    # CVaR_0.2 of a state is at most its expectation, and not below the optimum
    assert feasible_minimum(p) - 1e-9 <= s.info["objective_value"] <= s.info["expected_energy"] + 1e-12
    assert s.info["optimum_sampled"] and s.energies[0] == pytest.approx(feasible_minimum(p), abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_default_qaoa_finds_the_exact_optimum_of_small_cardinality_blocks(seed):
    from qsel.targets.classical import ExactSolver

    rng = np.random.default_rng(100 + seed)
    n, k = 8, int(rng.integers(2, 5))
    p = neuron_block(n, k, seed) if seed % 2 else with_cardinality(random_block(n, 100 + seed), k)
    ref = ExactSolver().sample(p, num_reads=1).energies[0]
    s = Q.QAOASolver().sample(p, num_reads=100, seed=seed)
    assert p.feasible(s.X).all()  # XY mixer from the Dicke state
    assert s.energies[0] == pytest.approx(ref, rel=1e-9, abs=1e-12)
    assert s.info["optimum_energy"] == pytest.approx(ref, rel=1e-9, abs=1e-12)
    # a real improvement over sampling the Dicke state uniformly (1 / C(8, k) per state)
    assert s.info["optimum_probability"] > 1.5 * len(list(combinations(range(n), k))) ** -1.0


def test_samples_come_best_first_with_a_best_of_samples_report():
    p = with_cardinality(random_block(6, 13), 2)
    s = Q.QAOASolver(p=1).sample(p, num_reads=300, seed=5)
    assert np.all(np.diff(s.energies) >= 0)  # all feasible (XY), so sorted by energy
    assert s.info["best_energy"] == s.energies[0] and s.info["best_feasible"]
    assert s.info["shots"] == 300 == s.num_occurrences.sum() == s.info["feasible_shots"]
    hit = np.isclose(s.energies, s.info["optimum_energy"], rtol=0, atol=1e-9)
    assert s.info["optimum_shots"] == s.num_occurrences[hit].sum()
    assert s.info["optimum_sampled"] == bool(hit[0])
    # an infeasible sample never comes before a feasible one (X mixer, penalty lowered inside)
    s = Q.QAOASolver(p=1, mixer="x").sample(p, num_reads=300, seed=5)
    feasible = p.feasible(s.X)
    assert not feasible.all() and np.all(np.diff(feasible.astype(int)) <= 0)
    assert np.all(np.diff(s.energies[feasible]) >= 0)
