"""HHCRSP benchmark families at the issue's time limits, into a results file.

    .venv/bin/python benchmarks/hhcrsp/run.py [--out benchmarks/hhcrsp/MANKOWSKA.md]
        [--solutions DIR]
    .venv/bin/python benchmarks/hhcrsp/run.py --family kummer [--time-limit 30]
        [--only NAME ...] [--out benchmarks/hhcrsp/KUMMER.md]

Mankowska (the default, all 70 instances, and a plot): 10 to 75 patients get 30 s
each, 100 to 300 get 60 s, issue 15's limits: the same as `carematch bench hhcrsp DIR
--time-limit T` per group (the CLI takes one limit); `--time-limit` overrides them;
into MANKOWSKA.md. Kummer: every instance (or those `--only` names) at `--time-limit`
(30 s by default), into KUMMER.md. After a run into a family's own file, RESULTS.md
(both families against the targets) is written again from them (`results.py`).
`--only` takes instance names (file stems); the first figure of
/proc/loadavg is written into the file, as the machine is shared.

`--solutions` writes each solution in the benchmark's format, for the public validator
(docs/hhcrsp.md). `--seeds 0 1 2` solves each instance once per seed and reports the
spread (issue 15 asks for three seeds); `--workers N` solves with N workers (1 vs 2:
what a second core gives).

`--merge-into FILE...` puts a rerun of some instances back into the family files it
came from: each run replaces the row of the same instance and seed in the first FILE
that has one (seed 0 in MANKOWSKA.md, seeds 1 and 2 in MANKOWSKA_SEEDS_10_75.md, say),
and each file's header then names both runs, the rerun with its commit. A run that no
FILE holds stops the script before anything is written. `--out` is not needed with it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

from matcher.hhcrsp.bench import (
    BenchResult,
    header_of,
    instance_files,
    merge_runs,
    results_from_markdown,
    results_markdown,
    run_all,
)
from matcher.hhcrsp.format import load_best_known

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "benchmarks" / "hhcrsp"
HHCRSP = ROOT.parent / "shared" / "benchmarks" / "hhcrsp"
FAMILIES = {
    "mankowska": (HHCRSP / "mankowska", "MANKOWSKA.md"),
    "kummer": (HHCRSP / "kummer", "KUMMER.md"),
}
LIMITS = {10: 30.0, 25: 30.0, 50: 30.0, 75: 30.0, 100: 60.0, 200: 60.0, 300: 60.0}
KUMMER_LIMIT = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", choices=sorted(FAMILIES), default="mankowska")
    parser.add_argument("--time-limit", type=float, help="seconds per instance")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these instances only")
    parser.add_argument("--out", type=Path, help="results file (default: per family)")
    parser.add_argument("--solutions", type=Path, help="write sol-<instance>.json files here")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="solve each instance once per seed"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="SolveParams.num_workers (0: every core)"
    )
    parser.add_argument(
        "--merge-into",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="replace these results files' rows of the same instance and seed",
    )
    args = parser.parse_args()
    try:
        homes = [(path, path.read_text()) for path in args.merge_into or []]
    except OSError as error:
        parser.error(f"--merge-into: {error}")
    data, default_out = FAMILIES[args.family]
    out = args.out or HERE / default_out
    best = load_best_known(data / "best_known.md")
    files = instance_files([data / "instances"])
    if args.only:
        unknown = set(args.only) - {f.stem for f in files}
        if unknown:
            sys.exit(f"no such instance: {', '.join(sorted(unknown))}")
        files = [f for f in files if f.stem in args.only]
    held = set()
    for path, text in homes:
        try:
            held |= {(r.instance, r.seed) for r in results_from_markdown(text)}
        except ValueError as error:
            parser.error(f"--merge-into {path}: {error}")
    homeless = [
        f"{f.stem} seed {seed}" for f in files for seed in args.seeds if (f.stem, seed) not in held
    ]
    if homes and homeless:
        parser.error(f"--merge-into: no results file holds {', '.join(homeless)}")
    load = _load()
    began = dt.datetime.now(dt.UTC)
    results = []
    for path in files:
        size = int(path.stem.split("_")[-2]) if args.family == "mankowska" else 0
        limit = args.time_limit or LIMITS.get(size, KUMMER_LIMIT)
        results += run_all(
            [path],
            time_limit_s=limit,
            best_known=best,
            solutions_dir=args.solutions,
            on_done=_progress,
            seeds=args.seeds,
            workers=args.workers,
        )
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}; load average (1 min) {load} before, {_load()} after"
    )
    if args.family == "mankowska" and not args.time_limit:
        command = (
            ".venv/bin/python "
            + shlex.join(["benchmarks/hhcrsp/run.py", *sys.argv[1:]])
            + " (limits per size: "
            + ", ".join(f"{k}: {v:g} s" for k, v in LIMITS.items())
            + ")"
        )
    else:
        command = ".venv/bin/python " + shlex.join(["benchmarks/hhcrsp/run.py", *sys.argv[1:]])
    command = f"`{command}` at commit {_commit()}"
    ended = dt.datetime.now(dt.UTC)
    span = f"{dt.date.today().isoformat()}, {began:%H:%M}-{ended:%H:%M} UTC"
    if homes:
        _merge(homes, results, command=command, machine=machine, date=span)
        if any(path.resolve().parent == HERE for path, _ in homes):
            _consolidate()
        return
    title = "Kummer family, iolab-uniud/hhcrsp" if args.family == "kummer" else None
    out.write_text(
        results_markdown(
            results,
            command=command,
            machine=machine,
            date=span,
            **({"title": title} if title else {}),
        )
    )
    if args.family == "mankowska" and not args.only and args.seeds == [0]:
        from matcher.hhcrsp.plot import plot_gaps

        plot_gaps(results, out.with_name("gap_vs_size.png"))
    if out.resolve() == (HERE / default_out).resolve():
        _consolidate()


def _merge(
    homes: list[tuple[Path, str]],
    results: list[BenchResult],
    *,
    command: str,
    machine: str,
    date: str,
) -> None:
    """Each run into the file that holds its instance and seed (`merge_runs`); a file
    that got any names the rerun, its commit and machine, then what it said before."""
    merged = merge_runs([results_from_markdown(text) for _, text in homes], results)
    rerun = {id(r) for r in results}
    for (path, text), rows in zip(homes, merged, strict=True):
        count = sum(id(r) in rerun for r in rows)
        if not count:
            continue
        before = header_of(text)
        path.write_text(
            results_markdown(
                rows,
                command=(
                    f"{command}, its {count} runs here in place of "
                    f"those of the same instance and seed of the run before; that run: "
                    f"{before.command}"
                ),
                machine=f"{machine} (the rerun); {before.machine}",
                date=f"{date} (the rerun); {before.date}",
                title=before.title,
            )
        )
        print(f"{path}: {count} runs replaced", file=sys.stderr)


# What makes a result: a change here, uncommitted, marks the commit "-dirty". Results
# files and docs being edited while a run goes on do not (they did: docs/hhcrsp.md).
RESULT_MAKING_PATHS = ("matcher", "benchmarks/hhcrsp/*.py", "pyproject.toml")


def _commit() -> str:
    """The checkout's short commit, "-dirty" if the code that makes the results differs."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--", *RESULT_MAKING_PATHS) else "")


def _consolidate() -> None:
    """RESULTS.md again, from every family file (`results.py`)."""
    runpy.run_path(str(HERE / "results.py"), run_name="__main__")


def _progress(r: BenchResult) -> None:
    print(
        f"{r.instance} seed {r.seed} {r.cost:.3f} {r.gap_pct} bound {r.bound} {r.feasible} "
        f"{r.time_s} {r.solver_status} {r.iterations_per_s} iter/s",
        file=sys.stderr,
        flush=True,
    )


def _load() -> str:
    """The first figure of /proc/loadavg ("n/a" where there is none)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


if __name__ == "__main__":
    main()
