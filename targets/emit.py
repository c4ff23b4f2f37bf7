"""The emit driver: run a target's pipeline, write its files and manifest.json, all or nothing.

``emit(problem, target, outdir)`` runs the target's ``default_pipeline`` (or
the one given) with :class:`qsel.passes.PassManager` and writes the target's
block files (and ``cross_terms.npz``, the couplings between blocks) plus
``manifest.json`` (last) into a staging folder beside ``outdir``, which then
replaces ``outdir`` as a whole (:func:`qsel.ir.outputs.replace_folder`: locked
against concurrent runs, swapped in atomically). On any error the staging
folder is removed: an earlier emit into the same folder stays intact, a new
folder is not created, and no file of an earlier emit survives a later one.
:func:`write_files` does the writing into a folder the caller owns (the CLI
holds the staging folder from before it loads the IR; ``qsel select`` writes
``target/`` inside its own staging folder).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from qsel import ir

from .base import Target
from .manifest import Manifest

MANIFEST = "manifest.json"


@dataclass
class Emitted:
    manifest: Manifest
    problem: ir.Problem  # the IR after the pipeline: what the files encode
    files: list[Path]
    timings: dict[str, float] = field(default_factory=dict)


def run_pipeline(problem: ir.Problem, pipeline: str, *, callbacks=()) -> tuple[ir.Problem, dict[str, float]]:
    """Run a pipeline string; returns the new problem and the seconds per pass."""
    from qsel.passes import PassManager, build

    passes = build(pipeline)
    manager = PassManager(passes, callbacks=list(callbacks))
    out = manager.run(problem)
    return out, {f"pass {t.name}": t.seconds for t in manager.timings}


def emit(problem: ir.Problem, target: Target, outdir: str | os.PathLike, *, pipeline: str | None = None,
         callbacks=()) -> Emitted:
    """Compile ``problem`` for ``target``; ``outdir`` becomes the block files plus manifest.json."""
    from qsel.ir.outputs import replace_folder

    with replace_folder(outdir, marker=MANIFEST, what="qsel emit") as staging:
        out = write_files(problem, target, staging, pipeline=pipeline, callbacks=callbacks)
    final = Path(outdir)
    return replace(out, files=[final / f.relative_to(staging) for f in out.files])


def write_files(problem: ir.Problem, target: Target, folder: Path, *, pipeline: str | None = None,
                callbacks=()) -> Emitted:
    """Run the pipeline and write the target's files and manifest.json (last) into the empty ``folder``."""
    pipe = target.default_pipeline if pipeline is None else pipeline
    timings: dict[str, float] = {}
    problem, pass_times = run_pipeline(problem, pipe, callbacks=callbacks)
    timings.update(pass_times)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    manifest = target.emit(problem, folder)
    timings["emit"] = time.perf_counter() - t0
    manifest.extra.setdefault("pipeline", pipe)
    manifest.extra.setdefault("target_spec", target.spec() if hasattr(target, "spec") else target.name)
    cross_file = manifest.energy.get("cross_file") if isinstance(manifest.energy, dict) else None
    missing = [f for f in [*(b.file for b in manifest.blocks), *([cross_file] if cross_file else [])]
               if not (folder / f).is_file()]
    if missing:
        raise ir.QselError(f"target '{target.name}' did not write {', '.join(missing)} (internal error)")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest.save(folder / MANIFEST)
    return Emitted(manifest, problem, files, timings)
