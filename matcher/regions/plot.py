"""Pictures of the comparison: the two methods side by side, per region."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

# (row key, panel title); higher is better for the first three, lower for the others.
PANELS: tuple[tuple[str, str], ...] = (
    ("in_window_pct", "visits in preferred window (%)"),
    ("packages_placed_pct", "packages placed (%)"),
    ("gender_honoured_pct", "gender preference honoured (%)"),
    ("distinct_carers_per_client", "distinct carers per client a week"),
    ("minutes_off_mean", "minutes off the window (mean)"),
    ("travel_share_pct", "travel share of paid time (%)"),
)
COLOURS = {"carematch": "#1f77b4", "email_round": "#bbbbbb"}


def plot_comparison(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Grouped bars: one panel per outcome, a group per region, a bar per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regions = list(dict.fromkeys(r["region"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    sizes = sorted({r["size"] for r in rows})
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    width = 0.8 / max(1, len(methods))
    for ax, (key, title) in zip(axes.flat, PANELS, strict=True):
        for m, method in enumerate(methods):
            values = [
                next((r[key] or 0 for r in rows if r["region"] == g and r["method"] == method), 0)
                for g in regions
            ]
            xs = [i + (m - (len(methods) - 1) / 2) * width for i in range(len(regions))]
            bars = ax.bar(xs, values, width, label=method, color=COLOURS.get(method))
            ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.set_xticks(range(len(regions)), regions)
        ax.set_title(title, fontsize=10)
        ax.margins(y=0.15)
    axes.flat[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"carematch against today's email round ({', '.join(regions + sizes)})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_scale(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Decision time per try and in-window share by region size, per region and method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = ["small", "medium", "large"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for region in dict.fromkeys(r["region"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows):
            mine = sorted(
                (r for r in rows if r["region"] == region and r["method"] == method),
                key=lambda r: order.index(r["size"]),
            )
            if not mine:
                continue
            clients = [r["clients"] for r in mine]
            style = "-" if method == "carematch" else "--"
            label = f"{region} {method}"
            per_try = [r["solve_s"] / max(1, r["tries"]) for r in mine]
            left.plot(clients, per_try, style, marker="o", label=label)
            right.plot(clients, [r["in_window_pct"] for r in mine], style, marker="o", label=label)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("clients in the region")
    left.set_ylabel("decision time per package try (s, mean)")
    right.set_xscale("log")
    right.set_xlabel("clients in the region")
    right.set_ylabel("arrived visits in preferred window (%)")
    left.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
