"""Ruin and recreate iterations per second, one Mankowska instance per size.

    .venv/bin/python benchmarks/hhcrsp/throughput.py [--sizes 10 25 50 100 200 300]
        [--iterations N] [--seed S] [--repeat R] [--jsonl FILE]

For each size the greedy start (`construct`) is built once, then the search runs a
fixed number of iterations (`max_iterations`, no deadline) from it, `--repeat` times:
the roster it ends with depends on the seed alone, so the fingerprint printed (a hash
of the best and the final placements, and the best objective) must not change when only speed does.
The loop is timed apart from the search's set-up (related visits, first costs), in wall
time and in this process's CPU time (less at the mercy of other processes on a shared
machine); the table gives the fastest and the median of the repeats. The machine may be shared:
compare two versions by alternating their runs in the same conditions
(benchmarks/hhcrsp/THROUGHPUT.md), not by one run each at different times.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from pathlib import Path

import matcher
from matcher.construct import Placement, construct
from matcher.hhcrsp.adapter import to_problem
from matcher.hhcrsp.format import load_instance
from matcher.instance import Instance, build_instance
from matcher.solver.lns import evaluate
from matcher.solver.ruin import RuinParams, _Search

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "benchmarks" / "hhcrsp" / "mankowska" / "instances"
INSTANCES = {
    10: "InstanzCPLEX_HCSRP_10_1",
    25: "InstanzCPLEX_HCSRP_25_1",
    50: "InstanzCPLEX_HCSRP_50_1",
    100: "InstanzVNS_HCSRP_100_2",
    200: "InstanzVNS_HCSRP_200_1",
    300: "InstanzVNS_HCSRP_300_1",
}
# About two to five seconds each at the speed of the code before issue 15.
ITERATIONS = {10: 4000, 25: 3000, 50: 2000, 100: 1500, 200: 1000, 300: 1000}


def fingerprint(inst: Instance, best: list[Placement], current: list[Placement]) -> str:
    """The best roster's objective and a short hash of every placement (visit, start,
    shifts) of the best roster and of the one the search ended on (as
    tests/test_ruin.py's `test_same_moves_as_before_the_speed_ups`)."""
    text = repr([(p.visit, p.start, p.shifts) for p in best])
    text += repr([(p.visit, p.start, p.shifts) for p in current])
    return f"{evaluate(inst, best)}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def _current(search: _Search) -> list[Placement]:
    """The roster the search ended on, in this code or in the pure Python before the
    compiled kernels (a `RosterState`, compared with by running this script there)."""
    if hasattr(search, "current"):
        return search.current()
    from matcher.construct import placements_of_state

    return placements_of_state(search.state)


def measure(inst: Instance, start: list[Placement], *, seed: int, iterations: int) -> dict:
    """One search: set-up and loop seconds, and the final roster's fingerprint."""
    began = time.perf_counter()
    search = _Search(inst, start, random.Random(seed), RuinParams())
    ready, cpu_ready = time.perf_counter(), time.process_time()
    outcome = search.run(None, iterations)
    result = getattr(outcome, "placements", outcome)  # a plain list before 8bef13f
    done, cpu_done = time.perf_counter(), time.process_time()
    return {
        "setup_s": ready - began,
        "loop_s": done - ready,
        "per_s": iterations / (done - ready),
        "per_cpu_s": iterations / (cpu_done - cpu_ready),
        "fingerprint": fingerprint(inst, result, _current(search)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=sorted(INSTANCES))
    parser.add_argument("--iterations", type=int, help="per size (default: ITERATIONS)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--label", default="", help="a name for this code, in --jsonl")
    parser.add_argument("--jsonl", type=Path, help="append one JSON record per run here")
    args = parser.parse_args()
    print(f"# matcher from {Path(matcher.__file__).parent}", file=sys.stderr)
    print(
        "| patients | instance | iterations | set-up s | iter/s best / median "
        "| iter/CPU-s best / median | fingerprint |"
    )
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        name = INSTANCES[size]
        inst = build_instance(to_problem(load_instance(DATA / f"{name}.json"), name))
        _, start = construct(inst)
        iterations = args.iterations or ITERATIONS[size]
        runs = []
        for _ in range(args.repeat):
            run = measure(inst, start, seed=args.seed, iterations=iterations)
            runs.append(run)
            if args.jsonl is not None:
                record = {"label": args.label, "size": size, "instance": name, **run}
                record |= {"iterations": iterations, "seed": args.seed}
                with args.jsonl.open("a") as out:
                    out.write(json.dumps(record) + "\n")
        prints = {r["fingerprint"] for r in runs}
        rates = [r["per_s"] for r in runs]
        cpu_rates = [r["per_cpu_s"] for r in runs]
        print(
            f"| {size} | {name} | {iterations} | {min(r['setup_s'] for r in runs):.2f} | "
            f"{max(rates):.0f} / {statistics.median(rates):.0f} | "
            f"{max(cpu_rates):.0f} / {statistics.median(cpu_rates):.0f} | "
            f"{' '.join(sorted(prints))} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
