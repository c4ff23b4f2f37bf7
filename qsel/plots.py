"""``qsel inspect --plot``: coupling-matrix heatmap and partition sizes as one PNG."""

from __future__ import annotations

import numpy as np

from qsel import ir
from qsel.ir.terms import row_tiles

_MAX_PIXELS = 1024


def coupling_image(problem: ir.Problem) -> np.ndarray:
    """|J| as a symmetric n x n image, max-pooled down to at most 1024 x 1024 pixels."""
    n = problem.num_vars
    step = max(1, -(-n // _MAX_PIXELS))
    size = -(-n // step)
    img = np.zeros((size, size))
    for block in problem.dense:
        for r0, part in row_tiles(block.matrix):  # no n^2 index arrays on a large layer
            rows, cols = np.nonzero(part)
            vals = np.abs(part[rows, cols])
            np.maximum.at(img, (block.index[rows + r0] // step, block.index[cols] // step), vals)
    sp = problem.sparse
    np.maximum.at(img, (sp.rows // step, sp.cols // step), np.abs(sp.vals))
    return np.maximum(img, img.T)


def plot(problem: ir.Problem, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.8), gridspec_kw={"width_ratios": [1.2, 1]})
    img = coupling_image(problem)
    shown = ax1.imshow(img, cmap="magma", interpolation="nearest")
    ax1.set_title(f"|J| coupling matrix ({problem.num_vars} variables)")
    ax1.set_xlabel("variable")
    ax1.set_ylabel("variable")
    fig.colorbar(shown, ax=ax1, fraction=0.046)
    sizes = [p.size for p in problem.partitions]
    if sizes:
        ax2.bar(range(len(sizes)), sizes, color="tab:blue")
        ax2.set_xlabel("partition")
        ax2.set_ylabel("variables")
        ax2.set_title(f"{len(sizes)} partitions")
    else:
        ax2.text(0.5, 0.5, "no partitions", ha="center", va="center", transform=ax2.transAxes)
        ax2.set_axis_off()
    fig.tight_layout()
    with ir.atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
