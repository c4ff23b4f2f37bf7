"""partition: block sizes, cut quality on planted structure, cut accounting, layers, per-block budgets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qsel import ir
from qsel.passes import build
from strategies import assignments, pass_problems, run_pipeline as run, scale_of


def planted(groups: int, size: int, seed: int = 0, noise: float = 0.01) -> tuple[ir.Problem, np.ndarray]:
    """Dense problem whose strong couplings form ``groups`` hidden clusters (variables shuffled)."""
    rng = np.random.default_rng(seed)
    n = groups * size
    label = rng.permutation(np.repeat(np.arange(groups), size))
    J = rng.normal(size=(n, n)) * noise
    same = label[:, None] == label[None, :]
    J[same] = rng.normal(size=int(same.sum()))
    p = ir.Problem(ir.Variables.from_labels([f"x{i}" for i in range(n)]), rng.normal(size=n), 0.0,
                   (ir.DenseBlock(np.arange(n), np.triu(J, 1)),))
    return p, label


def brute_cut(problem: ir.Problem) -> tuple[float, float]:
    U = np.abs(problem.to_dense_upper())
    owner = np.full(problem.num_vars, -1)
    for k, q in enumerate(problem.partitions):
        owner[q.indices] = k
    return float(U.sum()), float(U[owner[:, None] != owner[None, :]].sum())


def check_partition(out: ir.Problem, n: int, max_vars: int) -> None:
    covered = np.sort(np.concatenate([q.indices for q in out.partitions]))
    np.testing.assert_array_equal(covered, np.arange(n))
    assert all(1 <= q.size <= max_vars for q in out.partitions)


@pytest.mark.parametrize("method", ["spectral", "kl", "community"])
def test_dense_problem_gets_the_minimum_number_of_blocks(method):
    rng = np.random.default_rng(3)
    n = 700
    p = ir.Problem.from_qubo_matrix(np.triu(rng.normal(size=(n, n)), 1))
    out = run(p, f"partition{{max-vars=177,method={method}}}")
    check_partition(out, n, 177)
    if method != "community":
        assert len(out.partitions) == math.ceil(n / 177)
    total, cut = brute_cut(out)
    h = out.history[-1]
    assert h["cut_weight"] == pytest.approx(cut) and h["total_weight"] == pytest.approx(total)
    assert h["cut_fraction"] == pytest.approx(cut / total) and h["bound"] == 0.0


def test_spectral_recovers_two_planted_clusters():
    p, label = planted(2, 80)
    out = run(p, "partition{max-vars=80,method=spectral}")
    assert sorted(np.unique(label[q.indices]).size for q in out.partitions) == [1, 1]


@pytest.mark.parametrize("method", ["kl", "community"])
def test_kl_and_community_recover_eight_planted_clusters(method):
    p, label = planted(8, 40)
    out = run(p, f"partition{{max-vars=80,method={method}}}")
    assert all(np.unique(label[q.indices]).size <= 2 for q in out.partitions)
    _, cut = brute_cut(out)
    U = np.abs(p.to_dense_upper())
    optimal = U[label[:, None] != label[None, :]].sum()  # pairs of clusters may share a block: cut <= this
    assert cut <= optimal + 1e-9


def test_kl_never_worse_than_spectral_on_planted_clusters():
    p, _ = planted(8, 40, seed=4)
    spectral = run(p, "partition{max-vars=60,method=spectral}").history[-1]["cut_weight"]
    kl = run(p, "partition{max-vars=60,method=kl}").history[-1]["cut_weight"]
    assert kl <= spectral + 1e-9


def test_components_are_never_cut_and_small_ones_are_packed():
    blocks = [np.triu(np.random.default_rng(k).normal(size=(s, s)), 1) for k, s in enumerate([50, 30, 30, 20])]
    parts = [ir.Problem.from_qubo_matrix(b, [f"l{k}.{i}" for i in range(b.shape[0])]) for k, b in enumerate(blocks)]
    p = ir.Problem.concat(parts)
    out = run(p, "partition{max-vars=60}")
    check_partition(out, 130, 60)
    assert out.history[-1]["cut_weight"] == 0.0
    assert sorted(q.size for q in out.partitions) == [20, 50, 60]  # first-fit decreasing: [50], [30 + 30], [20]


def test_layer_method_follows_provenance_and_splits_big_layers():
    rng = np.random.default_rng(5)
    layers = []
    for name, n in (("fc1", 30), ("fc2", 100)):
        v = ir.Variables.build([f"{name}.n{i}" for i in range(n)], layer=name, unit=np.arange(n), granularity="neuron")
        block = ir.DenseBlock(np.arange(n), np.triu(rng.normal(size=(n, n)), 1))
        layers.append(ir.Problem(v, rng.normal(size=n), 0.0, (block,)))
    p = ir.Problem.concat(layers)
    extra = ir.Variables.build(["bias"])
    p = p.replace(variables=ir.Variables.concat([p.variables, extra]), linear=np.append(p.linear, 1.0),
                  sparse=ir.Couplings.from_arrays([0], [130], [5.0]))
    out = run(p, "partition{max-vars=40,method=layer}")
    names = {q.name: q for q in out.partitions}
    assert set(names) == {"fc1", "fc2.0", "fc2.1", "fc2.2", "nolayer"}
    assert all(out.variables.layer_of(i) == "fc1" for i in names["fc1"].indices)
    assert names["nolayer"].indices.tolist() == [130]
    assert out.history[-1]["cut_weight"] >= 5.0  # the bias coupling crosses layers


def test_cardinality_split_into_proportional_budgets():
    p, _ = planted(3, 50)
    p = p.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(150), "==", 37),
                               ir.Constraint("weighted", np.arange(150), np.full(150, 2.0), ir.Sense.LE, 80.0)))
    out = run(p, "partition{max-vars=60}")
    check_partition(out, 150, 60)
    parts = [c for c in out.constraints if c.label.startswith("keep@")]
    assert len(parts) == len(out.partitions) == 3
    assert sum(c.rhs for c in parts) == 37
    for c in parts:  # proportional to the block size, rounded by largest remainder
        assert abs(c.rhs - 37 * c.indices.size / 150) < 1
        assert c.sense is ir.Sense.EQ and c.is_cardinality
    assert [c.label for c in out.constraints if not c.label.startswith("keep@")] == ["weighted"]
    h = out.history[-1]
    assert h["feasible_set"] == "restricted" and h["kept_constraints"] == ["weighted"]
    assert out.metadata["split_constraints"]["keep"]["rhs"] == 37
    # Feasible for the budgets implies feasible for the original: the feasible set only shrinks.
    X = assignments(p, 2000)
    X[:, :] = 0
    rng = np.random.default_rng(0)
    for row in X:
        for c in parts:
            row[rng.choice(c.indices, int(c.rhs), replace=False)] = 1
    assert out.feasible(X).all() and p.feasible(X).all()


def test_budgets_keep_leaves_the_global_constraint():
    p, _ = planted(2, 50)
    p = p.replace(constraints=(ir.Constraint.cardinality("keep", np.arange(100), "<=", 10),))
    out = run(p, "partition{max-vars=50,budgets=keep}")
    assert [c.label for c in out.constraints] == ["keep"] and out.history[-1]["feasible_set"] == "unchanged"


def test_existing_partitions_are_replaced():
    p, _ = planted(2, 20)
    p = p.replace(partitions=(ir.Partition("old", np.arange(40)),))
    out = run(p, "partition{max-vars=20}")
    assert [q.name for q in out.partitions] == ["b0", "b1"]


def test_option_errors():
    with pytest.raises(ir.QselError, match="max-vars must be at least 1"):
        build("partition{max-vars=-1}")
    with pytest.raises(ir.QselError, match="pass 'partition': unknown topology 'pegasos'"):
        build("partition{topology=pegasos}")
    with pytest.raises(ir.QselError, match="expects one of spectral, kl, community, layer"):
        build("partition{method=metis}")


def test_without_max_vars_blocks_fit_the_topologys_clique():
    from qsel.passes.topology import CLIQUE_MARGIN, Topology

    # the default is Pegasus P16; a topology option sizes blocks for another chip
    assert build("partition")[0].limit == Topology.parse("pegasus16").largest_clique() - CLIQUE_MARGIN
    small = Topology.parse("chimera:2")
    assert build("partition{topology=chimera:2}")[0].limit == small.largest_clique() - CLIQUE_MARGIN == 5
    rng = np.random.default_rng(3)
    p = ir.Problem.from_qubo_matrix(np.triu(rng.normal(size=(23, 23)), 1))
    out = run(p, "partition{topology=chimera:2}")
    assert max(q.indices.size for q in out.partitions) <= 5
    assert out.metadata["history"][-1]["max_vars"] == 5


@given(pass_problems(max_vars=10), st.integers(1, 6), st.sampled_from(["spectral", "kl", "community", "layer"]))
@pytest.mark.slow
def test_property_energies_unchanged_and_feasible_set_only_shrinks(problem, max_vars, method):
    X = assignments(problem)
    out = run(problem, f"partition{{max-vars={max_vars},method={method}}}")
    check_partition(out, problem.num_vars, max_vars)
    tol = 1e-9 * scale_of(problem) + 1e-12
    np.testing.assert_allclose(out.energies(X), problem.energies(X), rtol=0, atol=tol)
    assert np.all(~out.feasible(X) | problem.feasible(X))
