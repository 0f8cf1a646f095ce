"""A picture of where the scheduler stands against the records: gap against size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol


class _Scored(Protocol):
    n_patients: int
    gap_pct: float | None


def plot_gaps(results: Sequence[_Scored], path: Path) -> Path:
    """Scatter of each instance's gap (%) by its number of patients, with size means."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(r.n_patients, r.gap_pct) for r in results if r.gap_pct is not None]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.scatter([x for x, _ in points], [y for _, y in points], s=18, alpha=0.7, label="instance")
    sizes = sorted({x for x, _ in points})
    means = [
        sum(y for x, y in points if x == s) / sum(1 for x, _ in points if x == s) for s in sizes
    ]
    ax.plot(sizes, means, marker="o", color="black", label="mean per size")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel("patients")
    ax.set_ylabel("gap to best known (%)")
    ax.set_title("carematch on the Mankowska HHCRSP instances")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
