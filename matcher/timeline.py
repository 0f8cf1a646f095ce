"""A worker's week as the rules see it: assigned visits grouped into shifts, with legs.

The checker (`matcher.checker`) and the KPIs (`matcher.kpis`) both need the same
picture of who is where when: which visits a worker does in which shift, in what order,
and which travel legs that implies (home to the first visit, visit to visit, last visit
home, once per shift; see docs/model.md). It lives here, built only from the input and
`Roster.assignments`, so the two can never disagree about a leg and neither depends on
the solver or on the roster's own `worker_days` figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

from matcher.schema import (
    Budget,
    Problem,
    Roster,
    TimeRange,
    TravelMode,
    Visit,
    Worker,
    expand_visits,
)
from matcher.timeutil import WEEKS_PER_YEAR, Weekday, parse_hhmm
from matcher.travel import TravelModel


@dataclass(frozen=True)
class Placement:
    """One assigned visit at the start the roster gives it (minutes of the visit's day).

    The end is always start + the input's duration: a roster that claims another end
    is wrong about it (the checker says so), but the worker is still busy that long.
    """

    visit: Visit
    start: int
    workers: tuple[str, ...]

    @property
    def end(self) -> int:
        return self.start + self.visit.duration_min

    @property
    def carer_minutes(self) -> int:
        """Minutes charged to the package: the visit's length times its carers."""
        return self.visit.duration_min * self.visit.carers


@dataclass(frozen=True)
class Leg:
    """One journey between two places (worker or client ids)."""

    from_id: str
    to_id: str
    minutes: int


@dataclass(frozen=True)
class Run:
    """A worker's visits in one shift of one day, in start order, with its travel legs.

    `shift` is None for the visits that lie inside none of the worker's shifts that day
    (an `availability` breach); they are kept together as one run so that minutes and
    legs can still be counted for them.
    `legs` has one more entry than `stops`: home -> first, between stops, last -> home.
    """

    worker: Worker
    weekday: Weekday
    shift: TimeRange | None
    stops: tuple[Placement, ...]
    legs: tuple[Leg, ...]

    @property
    def visit_minutes(self) -> int:
        return sum(stop.visit.duration_min for stop in self.stops)

    @property
    def travel_minutes(self) -> int:
        return sum(leg.minutes for leg in self.legs)


def leg_minutes(travel: TravelModel, mode: TravelMode, origin: str, destination: str) -> int:
    """Travel minutes of a leg; 0 between two visits at the same place, whatever the data."""
    if origin == destination:
        return 0
    return travel.minutes(mode, origin, destination)


def visits_by_id(problem: Problem) -> dict[str, Visit]:
    """Every concrete visit of the week, keyed by its id."""
    return {visit.id: visit for package in problem.packages for visit in expand_visits(package)}


def placements(problem: Problem, roster: Roster) -> dict[str, Placement]:
    """The roster's assignments that can be placed in time, keyed by visit id.

    Only the first assignment of a visit counts, and only when its visit id is known
    and its start parses: anything else is a `coverage` or `hard_window` breach that the
    checker reports, and there is no honest time to put such a visit at.
    """
    visits = visits_by_id(problem)
    placed: dict[str, Placement] = {}
    seen: set[str] = set()
    for assignment in roster.assignments:
        if assignment.visit_id in seen:
            continue
        seen.add(assignment.visit_id)
        visit = visits.get(assignment.visit_id)
        if visit is None:
            continue
        try:
            start = parse_hhmm(assignment.start)
        except ValueError:
            continue
        placed[visit.id] = Placement(visit=visit, start=start, workers=tuple(assignment.workers))
    return placed


def package_carer_minutes(placed: dict[str, Placement], package_id: str) -> int:
    """A package's carer minutes in the week: visit minutes times carers, over its placed
    visits. This is what its cost and its budget are computed from."""
    return sum(p.carer_minutes for p in placed.values() if p.visit.package_id == package_id)


def carer_minutes_by_package(placed: dict[str, Placement]) -> dict[str, int]:
    """`package_carer_minutes` of every package with a placed visit, in one pass (a
    package without one has 0): for rules that ask it of every package."""
    minutes: dict[str, int] = defaultdict(int)
    for p in placed.values():
        minutes[p.visit.package_id] += p.carer_minutes
    return dict(minutes)


def within_budget(carer_minutes: int, hourly_rate_pence: int, budget: Budget) -> bool:
    """The docs/model.md budget test, in exact integers: a yearly cap is compared with
    52 weeks of the weekly cost, a weekly cap with one week; cost and cap in pence."""
    weeks = WEEKS_PER_YEAR if budget.period == "year" else 1
    return carer_minutes * hourly_rate_pence * weeks <= budget.amount_pence * 60


def runs_by_worker_day(
    problem: Problem, placed: Iterable[Placement], travel: TravelModel
) -> dict[tuple[str, Weekday], list[Run]]:
    """Each known worker's days split into runs, one per shift that has visits.

    A visit belongs to the shift that contains it wholly (start >= shift start and end
    <= shift end); shifts never overlap, so there is at most one. Unknown worker ids and
    a worker listed twice on one visit are left to the checker's `coverage` rule.
    """
    workers = {worker.id: worker for worker in problem.workers}
    stops: dict[tuple[str, Weekday], list[Placement]] = defaultdict(list)
    for placement in placed:
        for worker_id in dict.fromkeys(placement.workers):
            if worker_id in workers:
                stops[(worker_id, placement.visit.weekday)].append(placement)
    return {
        (worker_id, day): _day_runs(workers[worker_id], day, day_stops, travel)
        for (worker_id, day), day_stops in stops.items()
    }


def _day_runs(
    worker: Worker, day: Weekday, stops: list[Placement], travel: TravelModel
) -> list[Run]:
    shifts = sorted(worker.availability.get(day, []), key=lambda s: s.start_min)
    grouped: dict[int | None, list[Placement]] = defaultdict(list)
    for stop in stops:
        grouped[_shift_index(shifts, stop)].append(stop)
    runs = [
        _run(worker, day, None if index is None else shifts[index], group, travel)
        for index, group in grouped.items()
    ]
    return sorted(runs, key=lambda run: run.stops[0].start)


def _shift_index(shifts: list[TimeRange], stop: Placement) -> int | None:
    for index, shift in enumerate(shifts):
        if shift.start_min <= stop.start and stop.end <= shift.end_min:
            return index
    return None


def _run(
    worker: Worker,
    day: Weekday,
    shift: TimeRange | None,
    stops: list[Placement],
    travel: TravelModel,
) -> Run:
    ordered = sorted(stops, key=lambda stop: (stop.start, stop.end, stop.visit.id))
    places = [worker.id, *(stop.visit.client_id for stop in ordered), worker.id]
    # `leg_minutes` with the worker's matrix looked up once (a check makes thousands).
    matrix, index = travel.matrix(worker.travel_mode), travel.index
    legs = tuple(
        Leg(
            origin,
            destination,
            0 if origin == destination else matrix[index[origin]][index[destination]],
        )
        for origin, destination in pairwise(places)
    )
    return Run(worker=worker, weekday=day, shift=shift, stops=tuple(ordered), legs=legs)
