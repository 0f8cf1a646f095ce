"""Split offers benchmark: how long the split search takes when no single agency can
take a package, and how often it finds a split; writes SPLITS.md next to this file.

    .venv/bin/python benchmarks/matching/splits.py [--packages 30] [--agencies 20 40]

Packages are the matching benchmark's (`run.packages`) with every line's hard window
narrowed to its preferred window, so that single agencies often cannot take them whole.
For each package with no feasible offer (a warm `Matcher`, as in `run.py`), the split
search (`matcher.brokerage.split.split_offers`) is timed on its own, from the offers to
the ranked splits, and every part of every split is run through the checker here again
(its agency's committed week plus its visits, the other part's visits unassigned).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from matcher.brokerage.offer import SplitOffer
from matcher.brokerage.split import (
    SPLIT_CANDIDATES,
    SPLIT_PAIRS,
    SPLIT_PROBES,
    split_offers,
)
from matcher.checker import check
from matcher.market import Market
from matcher.market_samples import urban_market
from matcher.matching import Matcher, MatchParams
from matcher.schema import CarePackage, Roster, Unassigned, expand_visits

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.matching.run import header, packages, pct  # noqa: E402  (the path above first)

HERE = Path(__file__).resolve().parent


def tight(package: CarePackage) -> CarePackage:
    """The package with no tolerance around its preferred windows."""
    lines = [line.model_copy(update={"hard_window": line.window}) for line in package.visits]
    return package.model_copy(update={"visits": lines})


def parts_pass(market: Market, package: CarePackage, split: SplitOffer) -> bool:
    """Every visit in exactly one part, and each part's roster passes the checker."""
    every = sorted(v.id for v in expand_visits(package))
    if sorted(v for part in split.parts for v in part.visit_ids) != every:
        return False
    uncapped = package.model_copy(update={"budget": None})
    for part in split.parts:
        problem = market.problem_of(part.agency_id, [uncapped])
        others = [
            Unassigned.of(v, ["other part"])
            for v in expand_visits(package)
            if v.id not in part.visit_ids
        ]
        assignments = [*market.agency(part.agency_id).roster, *part.offer.assignments]
        roster = Roster(problem_id=problem.id, assignments=assignments, unassigned=others)
        if check(problem, roster):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=int, default=30)
    parser.add_argument("--time-limit", type=float, default=0.3)
    parser.add_argument("--agencies", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--out", type=Path, default=HERE / "SPLITS.md")
    args = parser.parse_args()
    params = MatchParams(time_limit_s=args.time_limit)
    load_before = os.getloadavg()[0]
    rows = []
    for n in args.agencies:
        market = urban_market(n)
        drawn = [tight(p) for p in packages(market, args.packages + 1)]
        times: list[float] = []
        with_split = offered = checked = 0
        with Matcher(market) as matcher:
            matcher.offers(drawn[0], params)  # warm-up, untimed
            for package in drawn[1:]:
                offers = matcher.offers(package, params)
                if any(o.feasible for o in offers):
                    continue
                began = time.perf_counter()
                splits = split_offers(matcher, package, params, offers)
                times.append(time.perf_counter() - began)
                with_split += bool(splits)
                offered += len(splits)
                checked += sum(parts_pass(market, package, s) for s in splits)
        row = (n, len(times), with_split, offered, checked, times)
        rows.append(row)
        print(f"{n} agencies: {len(times)} without an offer, {with_split} split", flush=True)
    write(args, rows, (load_before, os.getloadavg()[0]))


def write(args: argparse.Namespace, rows: list[tuple], load: tuple[float, float]) -> None:
    lines = [
        *header("Split offers benchmark", "benchmarks/matching/splits.py", load),
        f"The matching benchmark's packages with hard windows narrowed to the preferred "
        f"ones, {args.packages} per market, per-agency time limit {args.time_limit} s, warm "
        "`Matcher` (2 worker processes). For the packages no single agency can take, the "
        "split search alone, from the offers to the ranked splits (bounds: "
        f"{SPLIT_PROBES} probes, {SPLIT_CANDIDATES} candidates, {SPLIT_PAIRS} splits). "
        "The last column counts the splits whose two parts both passed the checker "
        "again here, every visit in exactly one part.",
        "",
        "| agencies | no single offer | split search p50 s | p95 s | max s | with a split "
        "| splits offered | splits checked |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, count, with_split, offered, checked, times in rows:
        if times:
            figures = f"{statistics.median(times):.2f} | {pct(times, 0.95):.2f} | {max(times):.2f}"
        else:
            figures = "- | - | -"
        lines.append(f"| {n} | {count} | {figures} | {with_split} | {offered} | {checked} |")
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
