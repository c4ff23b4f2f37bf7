"""Scale-out: per-layer work as independent tasks, on one process or on a Dask cluster (``--cluster``).

* :mod:`.lower` — one layer's problem from a calibration batch streamed in
  chunks (forward pass up to the layer, A^T A and the target sums accumulated
  per chunk: peak memory set by the chunk, not the batch);
* :mod:`.compile` — the whole IR from those layer tasks (``qsel compile --chunk/--cluster``);
* :mod:`.layers` — lower, partition, solve and the baselines of each layer
  where it was lowered, so that dense couplings never leave the worker that
  made them and only masks and energies come back (models whose couplings
  outgrow one machine).

Every task goes through :func:`qsel.targets.executor.executor_for`, so the
same code runs serially here or on the workers of :func:`qsel.cluster.connect`,
with the same results for the same seed.
"""
