"""BOUNDS.md: the assignment bound (`matcher.hhcrsp.bound`) of every instance of both
HHCRSP families, against the best-known and against our cost.

    .venv/bin/python benchmarks/hhcrsp/bounds.py

The bound depends on the instance alone, so it is computed here for all 228 instances
(a few seconds) rather than taken from the solver runs: our cost for each instance
is read from the family's results file (MANKOWSKA.md, KUMMER.md; the mean over seeds
where there are several rows), so "gap to bound" is how far from optimal our roster
can be at most. Then RESULTS.md is written again (`results.py`), which includes this
file.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import runpy
import statistics
import time
from collections import defaultdict
from pathlib import Path

from matcher.hhcrsp.bound import assignment_bound
from matcher.hhcrsp.format import load_best_known, load_instance

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HHCRSP = ROOT.parent / "shared" / "benchmarks" / "hhcrsp"
FAMILIES = (
    ("Mankowska et al. 2014", "mankowska", "MANKOWSKA.md"),
    ("Kummer", "kummer", "KUMMER.md"),
)


def our_costs(results_file: Path) -> dict[str, float]:
    """Instance -> cost in a `run.py` results file (mean over its rows)."""
    if not results_file.exists():
        return {}
    lines = results_file.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| instance |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    costs: dict[str, list[float]] = defaultdict(list)
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        costs[cells["instance"]].append(float(cells["cost"]))
    return {name: statistics.fmean(values) for name, values in costs.items()}


def _size(name: str, family: str) -> int:
    return int(name.split("_")[-2] if family == "mankowska" else name.split("_")[1])


def _pct(part: float, whole: float) -> float:
    return 100 * part / whole


def family_section(title: str, family: str, results_name: str) -> tuple[list[str], float]:
    """The family's per-size summary and per-instance table; the seconds it took."""
    best = load_best_known(HHCRSP / family / "best_known.md")
    ours = our_costs(HERE / results_name)
    rows = []
    began = time.perf_counter()
    for path in sorted((HHCRSP / family / "instances").glob("*.json")):
        bound = assignment_bound(load_instance(path))
        rows.append(
            (path.stem, _size(path.stem, family), bound, best.get(path.stem), ours.get(path.stem))
        )
    seconds = time.perf_counter() - began
    rows.sort(key=lambda r: (r[1], [int(t) if t.isdigit() else t for t in r[0].split("_")]))
    lines = [
        f"### {title} ([`{results_name}`]({results_name}) for our costs)",
        "",
        "| size | instances | bound | bound % of best-known, mean | min | max "
        "| our cost above the bound %, mean | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_size: dict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        by_size[row[1]].append(row)
    for size, group in sorted(by_size.items()):
        shares = [_pct(b, k) for _, _, b, k, _ in group if b is not None and k]
        gaps = [_pct(c - b, b) for _, _, b, _, c in group if b and c is not None]
        bounded = sum(b is not None for _, _, b, _, _ in group)
        lines.append(
            f"| {size} | {len(group)} | {bounded} | "
            + (
                f"{statistics.fmean(shares):.1f} | {min(shares):.1f} | {max(shares):.1f}"
                if shares
                else " | | "
            )
            + " | "
            + (f"{statistics.fmean(gaps):.1f} | {max(gaps):.1f}" if gaps else " | ")
            + " |"
        )
    lines += [
        "",
        "| instance | patients | bound | best known | bound % of best-known | our cost "
        "| our cost above the bound % |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, size, bound, known, cost in rows:
        above = None if not bound or cost is None else _pct(cost - bound, bound)
        lines.append(
            f"| {name} | {size} | {_cell(bound)} | {_cell(known)} | "
            f"{_cell(None if bound is None or not known else _pct(bound, known), 1)} | "
            f"{_cell(cost)} | {_cell(above, 1)} |"
        )
    return lines, seconds


def _cell(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def bounds_markdown() -> str:
    sections, seconds = [], 0.0
    for title, family, results_name in FAMILIES:
        lines, took = family_section(title, family, results_name)
        sections += ["", *lines]
        seconds += took
    head = [
        "# HHCRSP lower bounds: the assignment relaxation on every instance",
        "",
        "Command: `.venv/bin/python benchmarks/hhcrsp/bounds.py`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; all instances bounded in {seconds:.1f} s  ",
        f"Date: {dt.date.today().isoformat()}  ",
        "Bound: `matcher.hhcrsp.bound.assignment_bound`, a lower bound on the cost of every "
        "solution (distance and the lateness the windows force, by a linear sum "
        "assignment of predecessors to successors; docs/hhcrsp.md, 'Bounds on every "
        "instance'). 'bound % of best-known' says how much of the published figure it "
        "proves; 'our cost above the bound %' how far from optimal our roster can be at "
        "most. The engine's own bound (CP-SAT's, where the full model ran on "
        "whole-number data) is in the family files where it is higher.",
    ]
    return "\n".join(head + sections) + "\n"


def main() -> None:
    (HERE / "BOUNDS.md").write_text(bounds_markdown())
    runpy.run_path(str(HERE / "results.py"), run_name="__main__")


if __name__ == "__main__":
    main()
