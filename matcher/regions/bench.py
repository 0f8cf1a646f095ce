"""`carematch bench regions`: both methods on both regions, one row per region and method.

For each region asked for: build the region (`generate.make_region`), simulate the
period once per method (`simulate.simulate`: the email round first, it is quick), and
measure the outcomes on the checked final rosters (`outcomes.outcomes`). A row also
carries the region's size figures, the time to build it, the run's wall time and the
peak memory so far (`peak_rss_mb`: this process's maximum resident set plus the largest
child's, from ``resource.getrusage``; an upper bound of what was resident at once).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

from matcher.regions.generate import RegionName, SizeName, make_region
from matcher.regions.outcomes import outcomes
from matcher.regions.simulate import METHODS, MethodName, SimulationParams, simulate

# The CLI's table: one line per outcome, one column per region and method (the JSON has
# every figure).
TABLE_ROWS: tuple[tuple[str, str], ...] = (
    ("packages_placed_pct", "packages placed %"),
    ("in_window_pct", "in preferred window %"),
    ("minutes_off_mean", "minutes off, mean"),
    ("minutes_off_p95", "minutes off, p95"),
    ("distinct_carers_per_client", "distinct carers/client"),
    ("gender_honoured_pct", "gender honoured %"),
    ("double_ups_placed_pct", "two-carer placed %"),
    ("double_up_wait_days_mean", "two-carer wait days"),
    ("wait_days_mean", "wait days (mean)"),
    ("still_waiting", "still waiting"),
    ("travel_share_pct", "travel % of paid time"),
    ("existing_visits_moved", "existing visits moved"),
    ("cost_per_visit_hour_pence", "pence per visit hour"),
    ("solve_s", "decision time (s)"),
)

Started = Callable[[str, MethodName, int], Callable[[int], None]]


def peak_rss_mb() -> float:
    """Peak resident memory of this process plus its largest child, in MB (Linux KB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + children) / 1024, 1)


def run_regions(
    regions: Sequence[RegionName],
    size: SizeName,
    *,
    seed: int,
    params: SimulationParams | None = None,
    methods: Sequence[MethodName] = METHODS,
    on_start: Started | None = None,
) -> list[dict[str, Any]]:
    """One outcome row per region and method (module doc)."""
    params = params or SimulationParams()
    rows = []
    for name in regions:
        began = time.perf_counter()
        region = make_region(name, size, seed)
        generate_s = round(time.perf_counter() - began, 2)
        facts = region.summary()
        for method in sorted(methods, key=lambda m: m != "email_round"):
            on_day = on_start(name, method, region.period_days) if on_start else None
            began = time.perf_counter()
            result = simulate(region, method, params=params, on_day=on_day)
            row = outcomes(region, result)
            row.update(
                agencies=facts["agencies"],
                workers=facts["workers"],
                clients=facts["clients"],
                visits_per_week=facts["visits_per_week"],
                generate_s=generate_s,
                elapsed_s=round(time.perf_counter() - began, 2),
                time_limit_s=params.time_limit_s if method == "carematch" else None,
                allow_moves_min=params.allow_moves_min if method == "carematch" else None,
                scan=params.scan if method == "email_round" else None,
                peak_rss_mb=peak_rss_mb(),
            )
            rows.append(row)
    return rows
