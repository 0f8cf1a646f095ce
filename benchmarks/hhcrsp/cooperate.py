"""What the ruin-and-recreate searches gain from more cores: one plain `solve` per
instance, seed and worker count, printed as a Markdown table; or, with `--iterations`,
the ruin-and-recreate stage alone, by iterations, per number of epochs.

    .venv/bin/python benchmarks/hhcrsp/cooperate.py --only NAME ... [--time-limit 30]
        [--seeds 0 1] [--workers 1 2]
    .venv/bin/python benchmarks/hhcrsp/cooperate.py --only NAME ... --iterations 12000
        [--epochs 1 4 16] [--seeds 0 1] [--workers 2]

`run.py` does not show it: after its short first phase, `bench.solve_instance` runs the
capped and the uncapped problem side by side, half the cores each, so on two cores
each solve has one worker and one search. Here each (Mankowska-style, capped) problem
is solved once with `SolveParams(num_workers=N)` for the whole limit, so N searches
run side by side and cooperate (`matcher.solver.solve._cooperate`); the cost is the
independent evaluator's, the gap against the best-known. Run it with another
checkout's `matcher` on PYTHONPATH to compare with that code (docs/hhcrsp.md,
"Cooperating searches"). Instances are looked up in both families.

With `--iterations N` the ruin-and-recreate stage runs alone from the greedy start:
per seed, `--workers` searches (seeds seed, seed + 1, ...) of N iterations each, in
forked processes, in 1 epoch (independent searches, the best kept: what the code did
before they cooperated) or more (`--epochs`); the table gives the stage's objective
(engine units) and how far from the first `--epochs`' it is. Bounded by iterations, these
figures do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from matcher.checker import check
from matcher.construct import construct
from matcher.hhcrsp.adapter import to_problem, to_solution
from matcher.hhcrsp.evaluate import evaluate
from matcher.hhcrsp.format import load_best_known, load_instance
from matcher.instance import build_instance
from matcher.solver import SolveParams, solve

HHCRSP = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "hhcrsp"
FAMILIES = [HHCRSP / "mankowska", HHCRSP / "kummer"]


def instance_path(name: str) -> tuple[Path, Path]:
    """The instance file and its family's best-known file."""
    for family in FAMILIES:
        if (family / "instances" / f"{name}.json").exists():
            return family / "instances" / f"{name}.json", family / "best_known.md"
    sys.exit(f"no such instance: {name}")


def ruin_only(
    names: list[str], iterations: int, epoch_counts: list[int], seeds: list[int], workers: list[int]
) -> None:
    """The ruin-and-recreate stage alone, per instance, seed, workers and epochs."""
    # Imported here: the solve mode also runs on code from before the epochs.
    from matcher.solver.solve import RuinEpoch, _cooperate, can_fork

    head = f"vs {epoch_counts[0]} epochs %"
    print(f"| instance | workers | seed | epochs | objective | {head} | time s |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        path, _ = instance_path(name)
        inst = build_instance(to_problem(load_instance(path), name))
        _, start = construct(inst)
        for n in workers:
            for seed in seeds:
                first = None
                for count in epoch_counts:
                    epochs = [
                        RuinEpoch(
                            iterations=iterations // count + (k < iterations % count),
                            deadline=None,
                            progress=(k / count, (k + 1) / count),
                        )
                        for k in range(count)
                    ]
                    began = time.perf_counter()
                    seeds_of = [seed + k for k in range(n)]
                    outcome = _cooperate(inst, start, seeds_of, epochs, fork=can_fork())
                    value = outcome.objective or 0
                    first = first or value
                    print(
                        f"| {name} | {n} | {seed} | {count} | {value} | "
                        f"{100 * (value - first) / first:+.2f} | "
                        f"{time.perf_counter() - began:.1f} |",
                        flush=True,
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="+", metavar="NAME", required=True)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--iterations", type=int, help="the ruin stage alone, this long")
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    if args.iterations:
        ruin_only(args.only, args.iterations, args.epochs, args.seeds, args.workers)
        return
    print("| instance | workers | seed | cost | gap % | valid | iter/s | time s | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.only:
        path, best_known = instance_path(name)
        instance = load_instance(path)
        best = load_best_known(best_known).get(name)
        problem = to_problem(instance, name)
        for workers in args.workers:
            for seed in args.seeds:
                began = time.perf_counter()
                params = SolveParams(time_limit_s=args.time_limit, seed=seed, num_workers=workers)
                roster = solve(problem, params=params)
                elapsed = time.perf_counter() - began
                scored = evaluate(instance, to_solution(instance, roster))
                cost = scored.cost
                valid = scored.feasible and not check(problem, roster)
                gap = "" if best is None else f"{100 * (cost - best) / best:+.2f}"
                rate = roster.solver.search_iterations_per_s if roster.solver else None
                load = Path("/proc/loadavg").read_text().split()[0]
                print(
                    f"| {name} | {workers} | {seed} | {cost:.2f} | {gap} | {valid} | {rate} | "
                    f"{elapsed:.1f} | {load} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
