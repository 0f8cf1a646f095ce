"""How the scheduler behaves on the urban and rural samples at several time limits.

Each (sample, limit) runs in a fresh process so its peak memory (max RSS) is its own.
Every roster is checked by the independent checker; a violation fails the run.

    .venv/bin/python benchmarks/engine/run.py [--limits 10 30 60] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ("urban", "rural")

CHILD = """
import json, resource, sys, time
from matcher.checker import check
from matcher.schema import Problem
from matcher.solver import SolveParams, solve
problem = Problem.model_validate_json(open(sys.argv[1]).read())
roster = solve(problem, params=SolveParams(time_limit_s=float(sys.argv[2])))
violations = check(problem, roster)
overall = roster.kpis.overall.model_dump(mode="json")
print(json.dumps({
    "status": roster.solver.status, "objective": roster.solver.objective,
    "bound": roster.solver.best_bound, "wall_s": roster.solver.wall_time_s,
    "breakdown": roster.solver.objective_breakdown, "violations": len(violations),
    "assigned": len(roster.assignments), "unassigned": len(roster.unassigned),
    "overall": overall,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def run_one(sample: str, limit: float) -> dict:
    path = ROOT / "data" / "samples" / f"{sample}.json"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(limit)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limits", type=float, nargs="+", default=[10, 30, 60])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "engine" / "RESULTS.md")
    args = parser.parse_args()

    rows = []
    for sample in SAMPLES:
        for limit in args.limits:
            result = run_one(sample, limit)
            print(sample, limit, result["objective"], result["bound"], file=sys.stderr)
            rows.append((sample, limit, result))
    failed = [r for r in rows if r[2]["violations"]]

    lines = [
        "# Scheduler on the urban and rural samples",
        "",
        f"Command: `.venv/bin/python benchmarks/engine/run.py --limits "
        f"{' '.join(f'{x:g}' for x in args.limits)}`  ",
        f"Date: {dt.date.today().isoformat()}  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}  ",
        "Each row is one solve in a fresh process on all cores; every roster passed the "
        "independent checker."
        if not failed
        else "SOME ROSTERS FAILED THE CHECKER.",
        "",
        "| sample | limit s | status | objective | bound | gap % | assigned | unassigned "
        "| in window % | mean min off | distinct carers/client | travel share % "
        "| wall s | peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sample, limit, r in rows:
        o = r["overall"]
        gap = (
            100 * (r["objective"] - r["bound"]) / r["objective"]
            if r["objective"] and r["bound"] is not None
            else None
        )
        lines.append(
            f"| {sample} | {limit:g} | {r['status']} | {r['objective']} | {r['bound']} | "
            f"{'-' if gap is None else f'{gap:.1f}'} | {r['assigned']} | {r['unassigned']} | "
            f"{o.get('in_window_pct')} | {o.get('mean_minutes_outside')} | "
            f"{o.get('mean_distinct_workers')} | {o.get('travel_share_pct')} | "
            f"{r['wall_s']:.1f} | {r['peak_mib']:.0f} |"
        )
    lines += ["", "Objective by rule (weighted):", ""]
    for sample, limit, r in rows:
        parts = ", ".join(f"{k} {v}" for k, v in r["breakdown"].items())
        lines.append(f"- {sample} at {limit:g} s: {parts}")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
