"""Groups of blocks that share no couplings and no constraints: the independent parts of an iterate solve.

Two blocks belong to one group when a coupling or a constraint joins a
variable of one to a variable of the other (a multi-layer IR: one group per
layer). Since E(x) = sum_g E_g(x_g) exactly when nothing joins the groups,
each group can be iterated on its own, on any worker, in any order, and the
composed energy is the sum: that is what lets ``solve --mode iterate`` run
the groups of one round concurrently (:mod:`qsel.targets.solve`).

Connectivity is scipy's ``connected_components`` on a graph with O(n + nnz)
edges (every dense block, block and constraint is chained, not expanded to
all pairs); the effective couplings come from
:func:`qsel.passes.quadratic.components`, so an all-zero dense block joins
nothing.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from qsel import ir


def block_groups(problem: ir.Problem, blocks: list[np.ndarray]) -> list[list[int]]:
    """Positions in ``blocks`` (IR index arrays) grouped so that no coupling or constraint joins two groups;
    groups ordered by their first block, blocks in each group in their given order."""
    from qsel.passes.quadratic import components

    n = problem.num_vars
    if len(blocks) <= 1 or n == 0:
        return [list(range(len(blocks)))]
    chains = [c for c in components(problem) if c.size > 1]
    chains += [np.asarray(b, dtype=np.int64) for b in blocks if len(b) > 1]
    chains += [np.unique(c.indices) for c in problem.constraints if c.indices.size > 1]
    rows = np.concatenate([c[:-1] for c in chains]) if chains else np.zeros(0, np.int64)
    cols = np.concatenate([c[1:] for c in chains]) if chains else np.zeros(0, np.int64)
    graph = sp.coo_array((np.ones(rows.shape[0]), (rows, cols)), shape=(n, n))
    _, label = csgraph.connected_components(graph, directed=False)
    first = [int(label[b[0]]) if len(b) else -1 - k for k, b in enumerate(blocks)]
    groups: dict[int, list[int]] = {}
    for k, lab in enumerate(first):
        groups.setdefault(lab, []).append(k)
    return list(groups.values())


def iterate(problem: ir.Problem, solver, blocks: list, x: np.ndarray, opts_for, seed: int | None,
            progress=None, workers: int = 1) -> tuple[np.ndarray, dict]:
    """The fixed-partition decomposition (:class:`qsel.targets.decompose.Search`) from ``x``, run per group.

    One group: one Search over every block, here. Several: group g's blocks become their own problem (the
    other groups clamped to 0 with the group's constant from :func:`qsel.targets.manifest.block_constants`,
    so sum_g E_g(x_g) = E(x)), each searched with seed ``seed + 104729 g`` as one executor task (a cluster's
    workers when one is current), and the reports are merged: sweep k's energy is the sum over groups of
    their energy after min(k, their last) sweeps. The schedule does not depend on where tasks ran.

    ``opts_for(nblocks)`` builds the DecomposeComposite options for a group of ``nblocks`` blocks."""
    from .base import Block, block_problem
    from .decompose import Search
    from .executor import executor_for
    from .manifest import block_constants

    groups = block_groups(problem, [b.indices for b in blocks])
    if len(groups) == 1:
        search = Search(problem, solver, max(b.size for b in blocks), opts_for(len(blocks)), seed,
                        partitions=[b.indices for b in blocks])
        return search.run(x.astype(np.float64), progress=progress)
    members = [np.sort(np.concatenate([blocks[k].indices for k in g])) for g in groups]
    consts = block_constants(problem, members).values
    tasks = []
    for gi, (g, idx) in enumerate(zip(groups, members)):
        inside = tuple(k for k, c in enumerate(problem.constraints) if np.isin(c.indices, idx).all())
        sub = block_problem(problem, Block(f"group{gi}", idx, inside), offset=float(consts[gi]))
        parts = [np.searchsorted(idx, blocks[k].indices) for k in g]
        tasks.append((sub, solver, max(blocks[k].size for k in g), opts_for(len(g)),
                      None if seed is None else int(seed) + 104_729 * gi, parts, x[idx].astype(np.float64)))
    names = {id(t): f"iterate over blocks {', '.join(blocks[k].name for k in g)}" for t, g in zip(tasks, groups)}
    with executor_for(workers, name=lambda t: names.get(id(t), "an iterate group")) as pool:
        answers = pool.map(_search_group, tasks)
    out = x.astype(np.float64).copy()
    per_block: list[dict] = [{"solves": 0, "accepted": 0, "seconds": 0.0} for _ in blocks]
    for g, idx, (xg, report) in zip(groups, members, answers):
        out[idx] = xg
        for k, stats in zip(g, report["partitions"]):
            per_block[k] = stats
        if progress:
            progress(int(report["subproblems"]))
    reports = [r for _, r in answers]
    sweeps = max(len(r["iterations"]) for r in reports)
    iterations = []
    for k in range(sweeps):
        at = [r["iterations"][min(k, len(r["iterations"]) - 1)] for r in reports]
        iterations.append({"iteration": k, "energy": float(sum(it["energy"] for it in at)), "violation": 0.0,
                           "accepted_blocks": int(sum(r["iterations"][k]["accepted_blocks"] for r in reports
                                                      if k < len(r["iterations"]))),
                           "seconds": float(sum(r["iterations"][k]["seconds"] for r in reports
                                                if k < len(r["iterations"])))})
    stops = {r["stop"] for r in reports}
    return out, {"iterations": iterations, "partitions": per_block, "groups": len(groups),
                 "stop": "max-subproblems" if "max-subproblems" in stops else sorted(stops)[0]}


def _search_group(task) -> tuple[np.ndarray, dict]:
    """Executor task: one group's Search from its start values."""
    from .decompose import Search

    sub, solver, size, opts, seed, parts, x0 = task
    return Search(sub, solver, size, opts, seed, partitions=parts).run(x0)


def block_diagonal(problem: ir.Problem, blocks: list | None = None) -> ir.Problem:
    """``problem`` without the couplings between its blocks (:func:`qsel.targets.base.blocks_of`): each dense
    block cut into one dense block per solve block (order kept, so each stays upper triangular), sparse
    couplings kept inside blocks; linear terms, constraints and metadata unchanged.

    A block solved on its own drops exactly these cross terms (every other block clamped to 0), so its
    problem is the same when cut from here; cutting it copies |b|^2 numbers instead of clamping the
    n - |b| other variables of a whole dense layer (on an 11,008-unit layer: 5 s instead of 236 s for 63
    blocks). With one block the problem is returned as it is."""
    from .base import blocks_of

    blocks = blocks_of(problem, constraints="ignore") if blocks is None else blocks
    if len(blocks) <= 1:
        return problem
    owner = np.full(problem.num_vars, -1, dtype=np.int64)
    for k, b in enumerate(blocks):
        owner[b.indices] = k
    dense = []
    for d in problem.dense:
        own = owner[d.index]
        for k in np.unique(own):
            pos = np.flatnonzero(own == k)
            if pos.size > 1:
                dense.append(ir.DenseBlock(d.index[pos], np.ascontiguousarray(d.matrix[np.ix_(pos, pos)])))
    sp = problem.sparse
    inside = owner[sp.rows] == owner[sp.cols]
    return problem.replace(dense=tuple(dense),
                           sparse=ir.Couplings(sp.rows[inside], sp.cols[inside], sp.vals[inside]))
