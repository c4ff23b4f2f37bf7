"""The emit driver: run a target's pipeline, write its files and manifest.json, all or nothing.

``emit(problem, target, outdir)`` runs the target's ``default_pipeline`` (or
the one given) with :class:`qsel.passes.PassManager`, lets the target write
its block files (and ``cross_terms.npz``, the couplings between blocks) into a
staging folder inside ``outdir`` (created if missing), checks that every file
the manifest names exists, moves the files into place
and writes ``manifest.json`` last (atomically). On any error the staging
folder is removed: an earlier emit into the same folder stays intact and no
half-written file is left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
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
    """Compile ``problem`` for ``target`` and write the files plus manifest.json into ``outdir``."""
    pipe = target.default_pipeline if pipeline is None else pipeline
    timings: dict[str, float] = {}
    problem, pass_times = run_pipeline(problem, pipe, callbacks=callbacks)
    timings.update(pass_times)
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise ir.QselError(f"{out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ir.QselError(f"{out}: cannot create the output folder: {exc.strerror or exc}") from None
    staging = Path(tempfile.mkdtemp(prefix=".qsel-emit-", dir=out))
    try:
        t0 = time.perf_counter()
        manifest = target.emit(problem, staging)
        timings["emit"] = time.perf_counter() - t0
        manifest.extra.setdefault("pipeline", pipe)
        manifest.extra.setdefault("target_spec", target.spec() if hasattr(target, "spec") else target.name)
        cross_file = manifest.energy.get("cross_file") if isinstance(manifest.energy, dict) else None
        missing = [f for f in [*(b.file for b in manifest.blocks), *([cross_file] if cross_file else [])]
                   if not (staging / f).is_file()]
        if missing:
            raise ir.QselError(f"target '{target.name}' did not write {', '.join(missing)} (internal error)")
        staged = sorted(p for p in staging.rglob("*") if p.is_file() and p.name != MANIFEST)
        moved = []
        for p in staged:
            rel = p.relative_to(staging)
            dest = out / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, dest)
            moved.append(dest)
        manifest.save(out / MANIFEST)
        mode = ir.io.default_file_mode()
        for dest in [*moved, out / MANIFEST]:
            os.chmod(dest, mode)  # temporary files are created 0600; emitted files follow the umask
    except OSError as exc:
        raise ir.QselError(f"{out}: cannot write: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
    return Emitted(manifest, problem, moved, timings)

