"""The outcomes that matter, measured on the final rosters of a simulated period.

Every agency's final roster is first run through the independent checker
(`matcher.checker.check`); a violation is an error (`RosterBroken`), never a figure.
The figures then come from `matcher.kpis.compute_kpis` and `matcher.timeline`, which
share no code with either method.

What is measured, and over what
    The packages that *arrived* during the period are what the two methods placed
    differently; the existing caseloads start the same and stay where they are (both
    methods pin existing visits). So the client figures are over the arrived packages:

    - ``packages_placed_pct``: arrived packages placed by the end of the period;
    - ``in_window_pct``: their visits starting inside the preferred window;
    - ``minutes_off_mean`` / ``minutes_off_p95``: minutes outside the preferred window
      per visit (0 inside), mean and 95th percentile (nearest rank);
    - ``distinct_carers_per_client``: different carers a client sees in the week, mean
      over placed clients (a two-carer client needs at least 2);
    - ``gender_honoured_pct``: placed clients with a gender preference (strict or not)
      whose carers are all of that gender;
    - ``double_ups_placed_pct`` and ``double_up_wait_days_mean``: packages with a
      two-carer visit, placed, and the days from arrival to placement;
    - ``wait_days_mean`` / ``wait_days_p95`` over placed packages, and
      ``still_waiting`` at the end;
    - ``cost_per_visit_hour_pence``: what the council pays per carer-hour of the placed
      packages (their weekly cost at their agencies' rates over their carer hours):
      lower means cheaper agencies were chosen.

    Roster-wide, over every agency's whole final week (existing clients included, since
    a new client's visits change the runs everyone is on):

    - ``travel_share_pct``: travel minutes over paid minutes (visits plus travel; care
      workers are paid for travel between visits);
    - ``utilisation_pct``: worked minutes over minutes on shift.

    ``solve_s``: wall time spent deciding packages over the whole period (every try,
    retries included); ``decision_p95_s`` per try.
"""

from __future__ import annotations

import math
from typing import Any

from matcher.checker import check
from matcher.kpis import Kpis, compute_kpis, minutes_outside_window
from matcher.regions.generate import Region
from matcher.regions.simulate import SimulationResult
from matcher.schema import Problem, Roster
from matcher.timeline import placements
from matcher.timeutil import cost_pence


class RosterBroken(AssertionError):
    """A roster a method produced breaks a hard rule (a bug, never a result)."""


def checked_kpis(market_problem: Problem, assignments: list) -> Kpis:
    """KPIs of one agency's roster, after the independent checker has passed it."""
    roster = Roster(problem_id=market_problem.id, assignments=assignments)
    violations = check(market_problem, roster)
    if violations:
        raise RosterBroken(
            f"{market_problem.id}: {len(violations)} violation(s), first: {violations[0]}"
        )
    return compute_kpis(market_problem, roster)


def outcomes(region: Region, result: SimulationResult) -> dict[str, Any]:
    """The outcome row of one method on one region (module doc); checks every roster."""
    arrived = {a.package.id for a in region.arrivals}
    records = {r.package_id: r for r in result.records}
    off: list[int] = []
    carers: list[int] = []
    preferences: list[bool] = []
    cost = 0.0
    carer_minutes = 0
    travel = visit = worked = available = 0
    for entry in result.market.agencies:
        problem = entry.problem(skills=result.market.skills)
        kpis = checked_kpis(problem, entry.roster)
        travel += kpis.overall.travel_minutes
        visit += kpis.overall.visit_minutes
        worked += sum(w.worked_minutes for w in kpis.workers.values())
        available += sum(w.available_minutes for w in kpis.workers.values())
        placed = placements(problem, Roster(problem_id=problem.id, assignments=entry.roster))
        for package in entry.packages:
            if package.id not in arrived:
                continue
            client = kpis.clients[package.client.id]
            carers.append(client.distinct_workers)
            if client.gender_honoured is not None:
                preferences.append(client.gender_honoured)
            minutes = client.visit_minutes
            carer_minutes += minutes
            cost += float(cost_pence(minutes, entry.agency.hourly_rate_pence))
            off += [
                minutes_outside_window(p)
                for p in placed.values()
                if p.visit.package_id == package.id
            ]
    done = [r for r in records.values() if r.placed_day is not None]
    doubles = [r for r in records.values() if r.double_up]
    doubles_done = [r for r in doubles if r.placed_day is not None]
    waits = [r.waited_days or 0 for r in done]
    return {
        "region": result.region,
        "size": result.size,
        "method": result.method,
        "seed": result.seed,
        "in_window_pct": _pct(sum(1 for m in off if m == 0), len(off)),
        "minutes_off_mean": _mean(off),
        "minutes_off_p95": _quantile(off, 0.95),
        "distinct_carers_per_client": _mean(carers, 2),
        "gender_honoured_pct": _pct(sum(preferences), len(preferences)),
        "double_ups_placed_pct": _pct(len(doubles_done), len(doubles)),
        "packages_placed_pct": _pct(len(done), len(records)),
        "travel_share_pct": _pct(travel, travel + visit),
        "solve_s": round(result.solve_s, 2),
        "arrivals": len(records),
        "packages_placed": len(done),
        "still_waiting": len(records) - len(done),
        "visits_placed": len(off),
        "gender_preferences": len(preferences),
        "double_ups": len(doubles),
        "double_ups_placed": len(doubles_done),
        "double_up_wait_days_mean": _mean([r.waited_days or 0 for r in doubles_done]),
        "wait_days_mean": _mean(waits),
        "wait_days_p95": _quantile(waits, 0.95),
        "cost_per_visit_hour_pence": round(cost * 60 / carer_minutes) if carer_minutes else None,
        "utilisation_pct": _pct(worked, available),
        "tries": len(result.decision_s),
        "decision_p95_s": _quantile([round(s, 3) for s in result.decision_s], 0.95),
        "departures": result.departures_done,
        "existing_visits_moved": sum(r.moved for r in records.values()),
        "rosters_checked": len(result.market.agencies),
    }


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _mean(values: list[int] | list[float], digits: int = 1) -> float | None:
    return round(sum(values) / len(values), digits) if values else None


def _quantile(values: list[int] | list[float], q: float) -> float | None:
    """Nearest-rank quantile (the smallest value with at least q of them at or below)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]
