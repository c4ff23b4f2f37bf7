"""Plots ``qsel select`` writes: accuracy against keep ratio, and the solver's energy histogram.

(The coupling heatmap is :func:`qsel.plots.plot`.)
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from qsel import ir


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    with ir.atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)


def accuracy_vs_keep(rows, dense_accuracy: float | None, path: Path, title: str) -> None:
    """One line per method over the keep ratios in ``rows`` (Row objects with .method, .keep, .accuracy)."""
    plt = _pyplot()
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        if r.keep is not None and r.accuracy is not None:
            series[r.method].append((r.keep, r.accuracy))
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for method, pts in series.items():
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", lw=2.2 if method.startswith("qsel") else 1.2,
                label=method)
    if dense_accuracy is not None:
        ax.axhline(dense_accuracy, color="black", ls="--", lw=1, label="dense network")
    ax.set_xlabel("fraction of units kept")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def energy_histogram(distribution: dict, path: Path, title: str) -> bool:
    """Histogram of the solver's sample energies (from result.json's ``distribution``); False if none."""
    hist = distribution.get("histogram") if distribution else None
    if not hist:
        return False
    plt = _pyplot()
    edges, counts = hist["edges"], hist["counts"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    ax.bar(edges[:-1], counts, width=widths, align="edge", color="tab:purple", edgecolor="white")
    ax.set_xlabel("energy (solved problem)")
    ax.set_ylabel("samples")
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return True
