"""Re-plan an absence vs re-solve the week: disruption and time (issue 13, section 2).

For each sample (data/samples/urban.json, rural.json) the committed roster is the one
in this folder (`<sample>_roster.json`, made once by `solve` with seed 0 in
deterministic mode, 20 s; `--make-rosters` makes it again). Seeded random one-day
absences of a carer who works that day are then handled two ways:

- **re-plan**: `matcher.living.replan` (defaults: a 1.5 s budget, every core);
- **re-solve**: `matcher.solver.solve` of the week with the absence cut out, from
  scratch (seed 0, deterministic, `--resolve-limit` s).

Disruption is counted against the committed roster: visits moved (the absent carer's
displaced visits aside: any other visit whose start or carers changed), clients not
involved whose carers changed (clients with no displaced visit who see a carer they
did not see before, or lose one), displaced visits left uncovered. Every roster is
checked against the input.

    .venv/bin/python benchmarks/replan/run.py --absences 20 --out benchmarks/replan/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from matcher.checker import check
from matcher.living import Absence, replan
from matcher.schema import Problem, Roster
from matcher.solver import SolveParams, solve

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SAMPLES = ("urban", "rural")


@dataclass
class Row:
    sample: str
    absence: str
    displaced: int
    replan_s: float
    replan_moved: int
    replan_clients: int
    replan_uncovered: int
    resolve_s: float
    resolve_moved: int
    resolve_clients: int
    resolve_uncovered: int
    stage: str
    replan_unassigned: int = 0  # every visit unassigned in the roster, displaced or not
    resolve_unassigned: int = 0


def committed(name: str, *, make: bool) -> tuple[Problem, Roster]:
    problem = Problem.model_validate_json((ROOT / "data" / "samples" / f"{name}.json").read_text())
    path = HERE / f"{name}_roster.json"
    if make or not path.exists():
        roster = solve(problem, params=SolveParams(time_limit_s=20, seed=0, deterministic=True))
        path.write_text(roster.model_dump_json(indent=1) + "\n")
    roster = Roster.model_validate_json(path.read_text())
    assert check(problem, roster) == [], f"{path} breaks the rules"
    return problem, roster


def disruption(before: Roster, after: Roster, displaced: set[str]) -> tuple[int, int, int]:
    """(visits moved, clients not involved whose carers changed, displaced uncovered)."""
    was = {a.visit_id: (a.start, frozenset(a.workers)) for a in before.assignments}
    now = {a.visit_id: (a.start, frozenset(a.workers)) for a in after.assignments}
    moved = sum(1 for v, slot in was.items() if v not in displaced and now.get(v) != slot)
    involved = {a.client_id for a in before.assignments if a.visit_id in displaced}
    carers_before: dict[str, set[str]] = {}
    carers_after: dict[str, set[str]] = {}
    for roster, carers in ((before, carers_before), (after, carers_after)):
        for a in roster.assignments:
            carers.setdefault(a.client_id, set()).update(a.workers)
    clients = sum(
        1
        for c in carers_before.keys() | carers_after.keys()
        if c not in involved and carers_before.get(c) != carers_after.get(c)
    )
    uncovered = sum(1 for v in displaced if v not in now)
    return moved, clients, uncovered


def absences(roster: Roster, count: int, seed: int) -> list[Absence]:
    """`count` distinct one-day absences of a carer on a day they work (seeded)."""
    working = sorted({(w, a.weekday) for a in roster.assignments for w in a.workers})
    rng = random.Random(seed)
    return [Absence(w, day) for w, day in rng.sample(working, min(count, len(working)))]


def run(name: str, count: int, seed: int, resolve_limit: float, make: bool) -> list[Row]:
    problem, roster = committed(name, make=make)
    rows = []
    for absence in absences(roster, count, seed):
        began = time.perf_counter()
        result = replan(problem, roster, [absence])
        replan_s = time.perf_counter() - began
        assert check(problem, result.roster) == []
        displaced = set(result.displaced)
        began = time.perf_counter()
        resolved = solve(
            result.problem,
            params=SolveParams(time_limit_s=resolve_limit, seed=0, deterministic=True),
        )
        resolve_s = time.perf_counter() - began
        assert check(result.problem, resolved) == []
        mine = disruption(roster, result.roster, displaced)
        theirs = disruption(roster, resolved, displaced)
        stage = (
            "greedy"
            if result.status.startswith("greedy")
            else ("ruin and recreate, CP-SAT" if "ruin" in result.status else "CP-SAT")
        )
        rows.append(
            Row(
                name,
                str(absence),
                len(displaced),
                replan_s,
                *mine,
                resolve_s,
                *theirs,
                stage,
                len(result.roster.unassigned),
                len(resolved.unassigned),
            )
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def markdown(rows: list[Row], args: argparse.Namespace, wall_s: float) -> str:
    commit = args.commit
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "# Re-plan an absence vs re-solve the week",
        "",
        f"Command: `{shlex.join(['.venv/bin/python', 'benchmarks/replan/run.py', *sys.argv[1:]])}`",
        f"at commit {commit}, {time.strftime('%Y-%m-%d')}, on {platform.machine()} with "
        f"{os.cpu_count()} cores, load average before the run {args.load_before}, after "
        f"{load}; Python {platform.python_version()}; {wall_s:.0f} s in all.",
        "",
        f"{args.absences} seeded one-day absences per sample (seed {args.seed}) of a carer "
        "who works that day; re-plan with its defaults (greedy insertion; ruin and "
        "recreate around any visit still uncovered; CP-SAT; a 1.5 s budget in all, every "
        "core); re-solve = `solve` of the week with the absence cut out, "
        f"from scratch, {args.resolve_limit:g} s, seed 0, deterministic. Disruption "
        "against the committed roster (sums over the absences); every roster checked. "
        "*Unassigned in all*: every visit of the week left without carers, displaced or "
        "not (a re-solve may leave another client's visit out to cover a displaced one; "
        "the re-plan never does).",
        "",
        "| sample | absences | displaced | method | visits moved | clients not involved "
        "whose carers changed | displaced uncovered | unassigned in all | time p50 s | "
        "time p95 s | time max s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in SAMPLES:
        mine = [r for r in rows if r.sample == name]
        if not mine:
            continue
        displaced = sum(r.displaced for r in mine)
        for method, moved, clients, uncovered, unassigned, times in (
            (
                "re-plan",
                sum(r.replan_moved for r in mine),
                sum(r.replan_clients for r in mine),
                sum(r.replan_uncovered for r in mine),
                sum(r.replan_unassigned for r in mine),
                [r.replan_s for r in mine],
            ),
            (
                "re-solve",
                sum(r.resolve_moved for r in mine),
                sum(r.resolve_clients for r in mine),
                sum(r.resolve_uncovered for r in mine),
                sum(r.resolve_unassigned for r in mine),
                [r.resolve_s for r in mine],
            ),
        ):
            lines.append(
                f"| {name} | {len(mine)} | {displaced} | {method} | {moved} | {clients} | "
                f"{uncovered} | {unassigned} | {statistics.median(times):.2f} | "
                f"{percentile(times, 0.95):.2f} | {max(times):.2f} |"
            )
    lines += [
        "",
        "Per absence (re-plan / re-solve):",
        "",
        "| sample | absence | displaced | moved | clients | uncovered | unassigned in all "
        "| time s | re-plan kept |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.sample} | {r.absence} | {r.displaced} | {r.replan_moved} / {r.resolve_moved} "
            f"| {r.replan_clients} / {r.resolve_clients} | {r.replan_uncovered} / "
            f"{r.resolve_uncovered} | {r.replan_unassigned} / {r.resolve_unassigned} | "
            f"{r.replan_s:.2f} / {r.resolve_s:.1f} | {r.stage} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--absences", type=int, default=20)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--resolve-limit", type=float, default=5.0)
    parser.add_argument("--make-rosters", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    args.commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    began = time.perf_counter()
    rows = [
        row
        for name in SAMPLES
        for row in run(name, args.absences, args.seed, args.resolve_limit, args.make_rosters)
    ]
    text = markdown(rows, args, time.perf_counter() - began)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
