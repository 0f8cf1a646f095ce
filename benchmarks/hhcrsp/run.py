"""All 70 Mankowska instances at the issue's time limits, into RESULTS.md and a plot.

    .venv/bin/python benchmarks/hhcrsp/run.py [--out benchmarks/hhcrsp/RESULTS.md]
        [--solutions DIR]

`--solutions` writes each solution in the benchmark's format, for the public validator
(docs/hhcrsp.md).

10 and 25 patients get 10 s each, 50 and 75 get 30 s, 100 to 300 get 60 s: the same as
`carematch bench hhcrsp DIR --time-limit T` per group (the CLI takes one limit).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from pathlib import Path

from matcher.hhcrsp.bench import instance_files, results_markdown, run_all
from matcher.hhcrsp.format import load_best_known
from matcher.hhcrsp.plot import plot_gaps

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "benchmarks" / "hhcrsp" / "mankowska"
LIMITS = {10: 10.0, 25: 10.0, 50: 30.0, 75: 30.0, 100: 60.0, 200: 60.0, 300: 60.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "hhcrsp" / "RESULTS.md")
    parser.add_argument("--solutions", type=Path, help="write sol-<instance>.json files here")
    args = parser.parse_args()
    best = load_best_known(DATA / "best_known.md")
    results = []
    for path in instance_files([DATA / "instances"]):
        size = int(path.stem.split("_")[-2])
        results += run_all(
            [path], time_limit_s=LIMITS[size], best_known=best, solutions_dir=args.solutions
        )
        r = results[-1]
        print(f"{r.instance} {r.cost:.3f} {r.gap_pct} {r.feasible} {r.time_s}", file=sys.stderr)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}"
    )
    command = (
        ".venv/bin/python benchmarks/hhcrsp/run.py (limits per size: "
        + ", ".join(f"{k}: {v:g} s" for k, v in LIMITS.items())
        + ")"
    )
    args.out.write_text(
        results_markdown(
            results, command=command, machine=machine, date=dt.date.today().isoformat()
        )
    )
    plot_gaps(results, args.out.with_name("gap_vs_size.png"))


if __name__ == "__main__":
    main()
