"""The streamed dimod BQM writer produces dimod's own bytes and loads back with dimod."""

from __future__ import annotations

import dimod
import numpy as np
import pytest

from qsel import ir
from qsel.targets.bqm_file import write_bqm_file
from qsel.targets.convert import to_bqm


def _problem(seed: int) -> ir.Problem:
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(25, 25))
    Q[np.abs(Q) < 0.6] = 0.0
    p = ir.Problem.from_qubo_matrix(Q, offset=float(rng.normal()))
    # a sparse coupling on top of a dense one, and one outside it
    return p.replace(sparse=ir.Couplings.from_arrays(np.array([0, 3]), np.array([5, 24]), np.array([0.7, -0.2])))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("slab", [1, 7, None])
def test_streamed_file_equals_dimods_to_file(tmp_path, seed, slab, monkeypatch):
    import qsel.targets.bqm_file as bf

    p = _problem(seed)
    if slab is not None:
        monkeypatch.setattr(bf, "_SLAB_ENTRIES", slab * p.num_vars)
    path = tmp_path / "a.bqm"
    interactions = write_bqm_file(p, path)
    ref = to_bqm(p, check=False)
    with ref.to_file() as fh:
        assert path.read_bytes() == fh.read()
    assert interactions == ref.num_interactions
    loaded = dimod.BinaryQuadraticModel.from_file(path.open("rb"))
    X = np.random.default_rng(seed).integers(0, 2, size=(8, p.num_vars))
    np.testing.assert_allclose(loaded.energies((X, p.labels)), p.energies(X), rtol=0, atol=1e-12)
