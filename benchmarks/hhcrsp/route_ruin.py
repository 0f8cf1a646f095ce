"""How often explore-then-refine annealing pairs reach an instance's good basin, by the
share of iterations that rebuild the latest route (`RuinParams.route_share`).

    .venv/bin/python benchmarks/hhcrsp/route_ruin.py [--family kummer]
        [--instance HHCRSP_50_10_32_1.2_R_C] [--shares 0 0.3] [--tries 20]
        [--below 135000] [--explore-only]

Each try is one pair of searches as `solve` makes them on a small problem, outside
`solve` so that the count depends on the seeds alone, not on the machine: from the
greedy roster of the capped problem (`adapter.to_problem`), a first run at
`EXPLORE_START_TEMPERATURE` times the usual start, then a second from its best at the
usual start, each of `RUIN_ITERATIONS_PER_VISIT / RUIN_RUNS` iterations per visit;
seeds 0 to tries-1, two tries at a time (one per core). Prints, per share, how many
ended below `--below` (engine units: HHCRSP_50_10_32_1.2_R_C's good basin is 129,400,
the bad one 139,100-139,700) and the mean. docs/hhcrsp.md, "Rebuilding the latest
route", has the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import statistics
from dataclasses import replace
from functools import partial
from pathlib import Path

from matcher.construct import construct
from matcher.hhcrsp.adapter import to_problem
from matcher.hhcrsp.format import load_instance
from matcher.instance import Instance, build_instance
from matcher.solver.ruin import RuinParams, _Search
from matcher.solver.solve import EXPLORE_START_TEMPERATURE, RUIN_ITERATIONS_PER_VISIT, RUIN_RUNS

DATA = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "hhcrsp"


def pair(inst: Instance, share: float, explore_only: bool, seed: int) -> int:
    """The objective after one explore-then-refine pair from the greedy roster."""
    _, start = construct(inst)
    iterations = RUIN_ITERATIONS_PER_VISIT // RUIN_RUNS * len(inst.visits)
    params = RuinParams(route_share=share)
    hot = replace(params, start_temperature=EXPLORE_START_TEMPERATURE * params.start_temperature)
    explored = _Search(inst, start, random.Random(seed), hot).run(None, iterations)
    refine = replace(params, route_share=0.0) if explore_only else params
    search = _Search(inst, explored.placements, random.Random(seed + 1_000_000), refine)
    outcome = search.run(None, iterations)
    assert outcome.objective is not None
    return outcome.objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", default="kummer", choices=["kummer", "mankowska"])
    parser.add_argument("--instance", default="HHCRSP_50_10_32_1.2_R_C")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.3])
    parser.add_argument("--tries", type=int, default=20)
    parser.add_argument("--below", type=int, default=135_000)
    parser.add_argument("--explore-only", action="store_true", help="refine with strings only")
    args = parser.parse_args()
    benchmark = load_instance(DATA / args.family / "instances" / f"{args.instance}.json")
    inst = build_instance(to_problem(benchmark, args.instance))
    with mp.get_context("fork").Pool(2) as pool:
        for share in args.shares:
            run = partial(pair, inst, share, args.explore_only)
            ends = pool.map(run, range(args.tries), chunksize=1)
            print(
                f"{args.instance} route share {share}: {sum(e < args.below for e in ends)} of "
                f"{len(ends)} below {args.below}, mean {statistics.mean(ends):.0f}: {ends}",
                flush=True,
            )


if __name__ == "__main__":
    main()
