"""D-Wave side: embeddings onto Pegasus/Zephyr/Chimera, the dwave target's files, the local Pegasus solver."""

from __future__ import annotations

import json
from itertools import product

import numpy as np
import pytest

from qsel import ir
from qsel.targets.dwave import DWaveTarget, LocalPegasusSolver
from qsel.targets.embedding import EmbeddingError, Topology, embed, find_embedding, largest_clique
from qsel.targets.manifest import Manifest


def random_block(n: int, seed: int, labels=None) -> ir.Problem:
    rng = np.random.default_rng(seed)
    labels = labels or [f"fc1.n{i}" for i in range(n)]
    return ir.Problem.from_qubo_matrix(rng.normal(size=(n, n)), labels, offset=float(rng.normal()))


def brute_force(problem: ir.Problem) -> tuple[float, np.ndarray]:
    X = np.array(list(product([0, 1], repeat=problem.num_vars)), dtype=np.float64)
    e = problem.energies(X)
    return float(e.min()), X[np.flatnonzero(np.isclose(e, e.min(), rtol=0, atol=1e-9))]


def chains_valid(chains: dict, edges, graph) -> None:
    from dwave.embedding import verify_embedding

    assert verify_embedding(chains, edges, graph)
    used = [q for c in chains.values() for q in c]
    assert len(used) == len(set(used)), "chains overlap"


# ------------------------------------------------------------------ topologies and embeddings
def test_topology_names_and_sizes():
    assert Topology.parse("pegasus") == Topology("pegasus", (16,))
    assert Topology.parse("advantage2") == Topology("zephyr", (12, 4))
    assert Topology.parse("chimera:4") == Topology("chimera", (4, 4, 4))
    assert Topology.parse("zephyr:6") == Topology("zephyr", (6, 4))
    assert Topology.parse("pegasus").graph().number_of_nodes() == 5640
    assert Topology.parse("zephyr").graph().number_of_nodes() == 4800
    assert Topology.parse("chimera").graph().number_of_nodes() == 2048
    assert (largest_clique("pegasus"), largest_clique("zephyr"), largest_clique("chimera")) == (180, 184, 64)
    with pytest.raises(ir.QselError, match="unknown topology 'pegasos'"):
        Topology.parse("pegasos")


def test_clique_embedding_of_177_variables_on_pegasus_is_valid():
    # its speed is measured by bench/embedding.py
    p = random_block(177, 0)
    emb = embed(p, "pegasus")
    assert emb.method == "clique" and len(emb.chains) == 177
    lengths = emb.chain_lengths
    assert lengths.max() <= 17 and emb.qubits == lengths.sum()
    g = Topology.parse("pegasus").graph()
    edges = [(a, b) for i, a in enumerate(p.labels) for b in p.labels[i + 1:]]
    chains_valid(emb.chains, edges, g)


def test_find_embedding_takes_edge_lists_and_keeps_isolated_variables():
    edges = [(f"v{i}", f"v{i + 1}") for i in range(30)]
    chains = find_embedding(edges, "zephyr:4", nodes=["lonely"], seed=1)
    assert set(chains) == {f"v{i}" for i in range(31)} | {"lonely"}
    chains_valid(chains, edges, Topology.parse("zephyr:4").graph())
    # a sparse chain needs no long chains: minorminer first for sparse sources
    assert max(len(c) for c in chains.values()) <= 2


def test_block_too_big_gives_a_clear_error_suggesting_partition():
    p = ir.Problem.from_qubo_matrix(np.ones((70, 70)))
    with pytest.raises(EmbeddingError, match=r"does not fit on chimera:16.*partition\{max-vars=64\}"):
        embed(p, "chimera", name="b0")
    with pytest.raises(EmbeddingError, match="block 'p3'"):
        embed(ir.Problem.from_qubo_matrix(np.ones((181, 181))), "pegasus", name="p3")


@pytest.mark.slow
def test_embedding_avoids_missing_qubits():
    g = Topology.parse("pegasus").graph(missing_qubits=40, seed=3)
    assert g.number_of_nodes() == 5600
    p = random_block(30, 1)
    chains = find_embedding(p, graph=g)
    assert all(q in g for c in chains.values() for q in c)


# ------------------------------------------------------------------ the dwave target
def test_dwave_target_files_preserve_energies(tmp_path):
    rng = np.random.default_rng(5)
    a = random_block(9, 2, [f"a{i}" for i in range(9)])
    b = random_block(7, 3, ["odd label", *[f"b{i}" for i in range(6)]])
    p = ir.Problem.concat([a, b]).replace(partitions=(
        ir.Partition("left", np.arange(9)), ir.Partition("right", np.arange(9, 16))))
    # one coupling across the blocks: counted, not emitted
    p = p.replace(sparse=ir.Couplings.from_arrays([0], [12], [0.5]))
    manifest = DWaveTarget(topology="pegasus").emit(p, tmp_path)
    manifest.save(tmp_path / "manifest.json")
    back = Manifest.load(tmp_path / "manifest.json")
    assert [blk.name for blk in back.blocks] == ["left", "right"] and back.cross_terms == 1
    assert back.extra["topology"] == "pegasus:16" and back.extra["qubits"] > 16

    X = rng.integers(0, 2, size=(64, p.num_vars)).astype(np.float64)
    total = np.zeros(64)
    for blk in back.blocks:
        d = json.loads((tmp_path / blk.file).read_text())
        assert d["format"] == "qsel-dwave-embedded" and d["labels"] == blk.labels
        assert d["chain_strength_policy"].startswith("uniform_torque_compensation")
        cols = [p.index(lab) for lab in blk.labels]
        s = 2 * X[:, cols] - 1  # dimod: spin +1 = binary 1
        log = d["logical"]
        e = log["offset"] + s @ np.array(log["linear"])
        for i, j, v in log["quadratic"]:
            e += v * s[:, i] * s[:, j]
        total += blk.scale * e + blk.offset
        # the physical problem with every qubit of a chain at its variable's spin; chain couplers are -cs
        phys = {int(q): k for k, lab in enumerate(blk.labels) for q in d["embedding"][lab]}
        chain_edges = 0
        ep = np.full(64, d["embedded"]["offset"])
        for q, h in d["embedded"]["linear"]:
            ep += h * s[:, phys[q]]
        for q1, q2, v in d["embedded"]["quadratic"]:
            if phys[q1] == phys[q2]:
                chain_edges += 1
                assert v == pytest.approx(-d["chain_strength"])
            ep += v * s[:, phys[q1]] * s[:, phys[q2]]
        assert chain_edges >= sum(len(c) - 1 for c in d["embedding"].values())
        # embed_bqm adds +cs per chain coupler to the offset: unbroken chains keep the logical energy
        np.testing.assert_allclose(ep, e, rtol=1e-9, atol=1e-9)
        assert blk.extra["max_chain_length"] == max(len(c) for c in d["embedding"].values())
    # blocks add up to the IR energy minus the one cross term
    np.testing.assert_allclose(total + 0.5 * X[:, 0] * X[:, 12], p.energies(X), rtol=1e-9, atol=1e-9)


def test_dwave_target_refuses_constraints_and_names_the_pass(tmp_path):
    p = random_block(4, 0).replace(constraints=(ir.Constraint.cardinality("keep", [0, 1, 2, 3], "==", 2),))
    with pytest.raises(ir.QselError, match="lower-constraints"):
        DWaveTarget().emit(p, tmp_path)
    assert not list(tmp_path.iterdir())


def test_dwave_target_default_pipeline_names_real_passes():
    from qsel.passes import build

    passes = build(DWaveTarget.default_pipeline)
    assert [q.name for q in passes] == ["canonicalize", "partition", "lower-constraints", "scale"]


# ------------------------------------------------------------------ the local Pegasus solver
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.slow
def test_local_pegasus_finds_the_optimum_and_reports_chains(seed):
    p = random_block(12, 10 + seed)
    best, _ = brute_force(p)
    s = LocalPegasusSolver().sample(p, num_reads=40, seed=seed)
    assert s.X.shape[1] == 12 and s.num_occurrences.sum() == 40
    np.testing.assert_allclose(s.energies, p.energies(s.X))
    assert s.energies.min() == pytest.approx(best, abs=1e-9)
    info = s.info
    assert info["topology"] == "pegasus:16" and info["method"] == "clique"
    assert info["max_chain_length"] >= 2 and info["qubits"] >= 24  # K12 on Pegasus needs chains
    assert 0.0 <= info["chain_break_fraction"] <= 1.0
    assert info["energy_check_max_abs_diff"] < 1e-9  # the unembedded Ising energies agree with the IR
    # the sampler's physical energies equal the IR's on the reads whose chains are all intact (there are some)
    assert info["samples_with_broken_chains"] < 40 and info["intact_energy_check_max_abs_diff"] < 1e-9
    assert "MockDWaveSampler" in info["sampler"]


@pytest.mark.slow
def test_local_pegasus_on_a_damaged_chip_and_a_sparse_block():
    rng = np.random.default_rng(4)
    n = 16
    rows = np.arange(n - 1)
    p = ir.Problem(ir.Variables.from_labels([f"x{i}" for i in range(n)]), rng.normal(size=n),
                   sparse=ir.Couplings.from_arrays(rows, rows + 1, rng.normal(size=n - 1)))
    best, _ = brute_force(p)
    s = LocalPegasusSolver(missing_qubits=60).sample(p, num_reads=30, seed=7)
    assert s.info["method"] == "minorminer"
    assert s.energies.min() == pytest.approx(best, abs=1e-9)


def test_local_pegasus_refuses_constraints():
    p = random_block(4, 0).replace(constraints=(ir.Constraint.cardinality("keep", [0, 1], "<=", 1),))
    with pytest.raises(ir.QselError, match="lower-constraints"):
        LocalPegasusSolver().sample(p, num_reads=5, seed=0)


def test_local_pegasus_steepest_postprocessing_never_makes_samples_worse():
    p = random_block(14, 21)
    s = LocalPegasusSolver(postprocess="steepest", num_sweeps=200).sample(p, num_reads=20, seed=2)
    assert s.info["postprocess"] == "steepest"
    assert s.energies.min() <= s.info["min_energy_before_postprocess"] + 1e-12
    np.testing.assert_allclose(s.energies, p.energies(s.X))
    with pytest.raises(ValueError, match="postprocess must be swap, steepest or none"):
        LocalPegasusSolver(postprocess="magic")


# ------------------------------------------------------------------ caches and the vectorised embedding
def test_clique_embedding_is_cached_by_size_and_relabelled(monkeypatch):
    from qsel.targets import embedding as E

    E.clear_embedding_cache()
    calls = []
    real = E._check
    monkeypatch.setattr(E, "_check", lambda *a: (calls.append(1), real(*a)))
    first = embed(random_block(25, 0), "pegasus", method="clique")
    other = random_block(25, 1, [f"fc2.n{i}" for i in range(25)])
    second = embed(other, "pegasus", method="clique")
    assert (first.cached, second.cached) == (False, True) and len(calls) == 1
    assert list(second.chains) == other.labels
    assert list(second.chains.values()) == list(first.chains.values())
    assert second.summary()["embedding_cached"] is True
    third = embed(random_block(26, 0), "pegasus", method="clique")  # another size: embedded afresh
    assert not third.cached and len(calls) == 2


def test_minorminer_embedding_is_cached_by_edge_set(monkeypatch):
    import minorminer

    from qsel.targets import embedding as E

    E.clear_embedding_cache()
    calls = []
    real = minorminer.find_embedding
    monkeypatch.setattr(minorminer, "find_embedding", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    ring = [(f"a{i}", f"a{(i + 1) % 12}") for i in range(12)]
    first = embed(ring, "pegasus:4", method="minorminer")
    again = embed([(u.replace("a", "b"), v.replace("a", "b")) for u, v in ring], "pegasus:4", method="minorminer")
    assert len(calls) == 1 and again.cached and not first.cached
    assert list(again.chains.values()) == list(first.chains.values())
    embed(ring[:-1], "pegasus:4", method="minorminer")  # a different edge set is embedded anew
    assert len(calls) == 2


def test_local_pegasus_reuses_the_embedding_of_a_same_size_block():
    from qsel.targets import embedding as E

    E.clear_embedding_cache()
    solver = LocalPegasusSolver(num_sweeps=50)
    a = solver.sample(random_block(20, 3), num_reads=5, seed=0)
    b = solver.sample(random_block(20, 4), num_reads=5, seed=1)
    assert (a.info["embedding_cached"], b.info["embedding_cached"]) == (False, True)


def test_majority_vote_matches_dimods_unembed_sampleset():
    import dimod
    from dwave.embedding import majority_vote, unembed_sampleset

    from qsel.targets.embedding import ChainStructure

    # chains of lengths 2, 3, 1, 4 (even lengths produce ties) on a path of 10 qubits, given out of order
    chains = [(1, 0), (4, 2, 3), (9,), (5, 8, 6, 7)]
    path = np.stack([np.arange(9), np.arange(1, 10)], axis=1)
    st = ChainStructure.build(chains, path)
    assert st.qubits.tolist() == list(range(10)) and st.chain_edges.shape[0] == 1 + 2 + 0 + 3
    rng = np.random.default_rng(0)
    S = rng.choice([-1, 1], size=(300, 10)).astype(np.int8)
    S[:5] = 1  # intact rows
    spins, broken = st.majority_vote(S)
    labels = ["w", "x", "y", "z"]
    bqm = dimod.BQM({v: 0.0 for v in labels}, {}, 0.0, "SPIN")
    ref = unembed_sampleset(dimod.SampleSet.from_samples((S, list(range(10))), "SPIN", energy=np.zeros(300)),
                            dict(zip(labels, chains)), bqm, chain_break_method=majority_vote,
                            chain_break_fraction=True)
    col = [list(ref.variables).index(v) for v in labels]
    np.testing.assert_array_equal(spins, ref.record.sample[:, col])
    np.testing.assert_allclose(broken, ref.record.chain_break_fraction)
    assert np.any((S[:, [0, 1]].sum(axis=1) == 0)) and np.all(broken[:5] == 0)


def test_physical_problem_uses_real_couplers_and_matches_embed_bqm():
    from dwave.embedding import EmbeddedStructure

    from qsel.targets.dwave import prepare

    top = Topology.parse("pegasus")
    g = top.graph()
    rng = np.random.default_rng(2)
    n = 40
    Q = rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.5)
    p = ir.Problem.from_qubo_matrix(Q, [f"v{i}" for i in range(n)], offset=0.7)
    eb = prepare(p, g, top.name, method="clique")
    phys = eb.physical
    couplers = phys.couplers()
    assert all(g.has_edge(int(a), int(b)) for a, b in couplers)  # only real Pegasus couplers
    assert set(phys.qubits.tolist()) == {q for c in eb.embedding.chains.values() for q in c}
    # the same numbers as dwave-system's EmbeddedStructure.embed_bqm
    ref = EmbeddedStructure(g.edges, eb.embedding.chains).embed_bqm(eb.bqm, chain_strength=eb.chain_strength)
    ours = phys.to_bqm()
    assert ours.num_interactions == ref.num_interactions and ours.offset == pytest.approx(ref.offset)
    for q in ref.variables:
        assert ours.get_linear(q) == pytest.approx(ref.get_linear(q), abs=1e-12)
    for (a, b), v in ref.quadratic.items():
        assert ours.get_quadratic(a, b) == pytest.approx(v, abs=1e-12)
    # intact chains: the physical energy is the IR's
    X = rng.integers(0, 2, size=(50, n)).astype(np.float64)
    S = 2 * X[:, eb.structure.owner] - 1
    np.testing.assert_allclose(phys.energies(S), p.energies(X), rtol=1e-9, atol=1e-9)
    # one flipped qubit in a long chain costs chain strength: the energies differ
    k = int(np.argmax(eb.structure.lengths[eb.structure.owner]))
    S[:, k] *= -1
    assert np.all(np.abs(phys.energies(S) - p.energies(X)) > 1e-6)


def test_dimod_path_and_array_path_agree_on_the_optimum():
    p = random_block(10, 31)
    best, _ = brute_force(p)
    for via in ("arrays", "dimod"):
        s = LocalPegasusSolver(via=via, num_sweeps=200).sample(p, num_reads=30, seed=4)
        assert s.info["unembedding"] == via and s.num_occurrences.sum() == 30
        assert s.energies.min() == pytest.approx(best, abs=1e-9)
        assert s.info["energy_check_max_abs_diff"] < 1e-9
    with pytest.raises(ValueError, match="via must be arrays or dimod"):
        LocalPegasusSolver(via="loops")


def test_sa_beta_range_is_dwave_samplers_default():
    from dwave.samplers.sa.sampler import default_beta_range

    from qsel.targets.dwave import prepare, sa_beta_range

    top = Topology.parse("pegasus")
    for n, seed in ((30, 0), (60, 1)):
        rng = np.random.default_rng(seed)
        Q = np.round(rng.normal(size=(n, n)), 1) * (rng.random((n, n)) < 0.4)  # ties among the smallest biases
        eb = prepare(ir.Problem.from_qubo_matrix(Q), top.graph(), top.name)
        np.testing.assert_allclose(sa_beta_range(eb.physical), default_beta_range(eb.physical.to_bqm()),
                                   rtol=1e-12)


def test_a_coupling_between_chains_without_a_coupler_is_refused():
    from qsel.targets.dwave import embed_physical
    from qsel.targets.embedding import ChainStructure, EmbeddingError

    path = np.stack([np.arange(5), np.arange(1, 6)], axis=1)  # qubits 0-1-2-3-4-5 in a line
    st = ChainStructure.build([(0, 1), (2, 3), (4, 5)], path)
    h = np.zeros(3)
    ok = embed_physical(h, np.array([0, 1]), np.array([1, 2]), np.array([0.5, -0.25]), 0.0, st, 2.0)
    assert sorted(map(tuple, ok.couplers().tolist())) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    with pytest.raises(EmbeddingError, match="no coupler between their chains"):
        embed_physical(h, np.array([0]), np.array([2]), np.array([1.0]), 0.0, st, 2.0)
