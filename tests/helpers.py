"""Small factories for hand-made problems and rosters, and the way to what tests read
from outside the package (the public HHCRSP data in `../shared`, benchmark scripts).

Every place sits at the same coordinates: travel comes from an explicit `travel_matrix`
so each leg's minutes are exact and known to the test that uses them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType

from matcher.schema import (
    Agency,
    Assignment,
    Budget,
    CarePackage,
    Client,
    DayItem,
    Location,
    Problem,
    Roster,
    TimeRange,
    TravelMatrix,
    Unassigned,
    Visit,
    VisitPattern,
    Weights,
    Worker,
    WorkerDay,
    expand_visits,
)
from matcher.timeutil import Weekday, format_hhmm, parse_hhmm

HERE = Location(lat=51.5, lon=-0.1)
Shifts = Mapping[str, Sequence[tuple[str, str]]]


# The public HHCRSP instances and best-knowns: `../shared` beside the repository, as in
# CI (without it the tests that read them fail rather than skip).
HHCRSP_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "hhcrsp"


def load_script(path: Path, name: str) -> ModuleType:
    """A script (benchmarks/hhcrsp/*.py: not in a package) loaded as module `name`, so
    a test can call its functions without running its `main`."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_worker(
    worker_id: str,
    *,
    gender: str = "female",
    skills: Iterable[str] = (),
    shifts: Shifts | None = None,
    travel_mode: str = "car",
    max_day: int = 480,
    max_week: int = 2400,
) -> Worker:
    """A worker; `shifts` maps weekday to ("HH:MM", "HH:MM") ranges (default Mon 07-12)."""
    shifts = shifts if shifts is not None else {"Mon": [("07:00", "12:00")]}
    return Worker(
        id=worker_id,
        name=worker_id,
        gender=gender,
        skills=list(skills),
        home=HERE,
        travel_mode=travel_mode,
        availability={
            day: [TimeRange(start=start, end=end) for start, end in ranges]
            for day, ranges in shifts.items()
        },
        max_minutes_per_day=max_day,
        max_minutes_per_week=max_week,
    )


def make_line(
    line_id: str,
    *,
    weekdays: Iterable[str] = ("Mon",),
    window: tuple[str, str] = ("08:00", "08:30"),
    duration: int = 30,
    carers: int = 1,
    skills: Iterable[str] = (),
    hard_window: tuple[str, str] | None = None,
) -> VisitPattern:
    """One pattern line; its visits are "<line_id>-<Weekday>"."""
    return VisitPattern(
        id=line_id,
        weekdays=list(weekdays),
        window=TimeRange(start=window[0], end=window[1]),
        hard_window=None
        if hard_window is None
        else TimeRange(start=hard_window[0], end=hard_window[1]),
        duration_min=duration,
        carers=carers,
        skills=list(skills),
    )


def make_package(
    package_id: str,
    client_id: str,
    lines: Sequence[VisitPattern],
    *,
    gender_preference: str = "none",
    strict: bool = True,
    excluded: Iterable[str] = (),
    budget: tuple[int, str] | None = None,
) -> CarePackage:
    """A package for a new client; `budget` is (amount in pence, "year" | "week")."""
    return CarePackage(
        id=package_id,
        client=Client(
            id=client_id,
            name=client_id,
            location=HERE,
            gender_preference=gender_preference,
            gender_preference_strict=strict,
            excluded_workers=list(excluded),
        ),
        visits=list(lines),
        budget=None if budget is None else Budget(amount_pence=budget[0], period=budget[1]),
    )


def make_problem(
    workers: Sequence[Worker],
    packages: Sequence[CarePackage],
    travel: Mapping[tuple[str, str], int],
    *,
    rate: int = 1250,
    max_shift_min: int = 120,
    problem_id: str = "test",
) -> Problem:
    """A problem whose travel matrix is `travel` made symmetric (unlisted pairs: 0)."""
    ids = [w.id for w in workers] + [p.client.id for p in packages]
    minutes = [[0] * len(ids) for _ in ids]
    position = {place: i for i, place in enumerate(ids)}
    for (a, b), value in travel.items():
        minutes[position[a]][position[b]] = value
        minutes[position[b]][position[a]] = value
    return Problem(
        id=problem_id,
        agency=Agency(id="agency", name="Agency", hourly_rate_pence=rate),
        workers=list(workers),
        packages=list(packages),
        weights=Weights(max_shift_min=max_shift_min),
        travel_matrix=TravelMatrix(ids=ids, minutes=minutes),
    )


def _visit(problem: Problem, visit_id: str) -> Visit:
    for package in problem.packages:
        for visit in expand_visits(package):
            if visit.id == visit_id:
                return visit
    raise KeyError(visit_id)


def assign(
    problem: Problem, visit_id: str, start: str, workers: Sequence[str], *, end: str | None = None
) -> Assignment:
    """An assignment with labels taken from the input; `end` defaults to start + duration."""
    visit = _visit(problem, visit_id)
    return Assignment(
        visit_id=visit_id,
        package_id=visit.package_id,
        client_id=visit.client_id,
        weekday=visit.weekday,
        start=start,
        end=end or format_hhmm(parse_hhmm(start) + visit.duration_min),
        workers=list(workers),
    )


def unassign(
    problem: Problem, visit_id: str, reasons: Sequence[str] = ("no worker",)
) -> Unassigned:
    """An unassigned entry with labels taken from the input."""
    return Unassigned.of(_visit(problem, visit_id), list(reasons))


def visit_item(visit_id: str, client_id: str, start: str, end: str) -> DayItem:
    return DayItem(
        kind="visit",
        start=start,
        end=end,
        minutes=parse_hhmm(end) - parse_hhmm(start),
        visit_id=visit_id,
        client_id=client_id,
    )


def travel_item(from_id: str, to_id: str, start: str, minutes: int) -> DayItem:
    return DayItem(
        kind="travel",
        start=start,
        end=format_hhmm(parse_hhmm(start) + minutes),
        minutes=minutes,
        from_id=from_id,
        to_id=to_id,
    )


def worker_day(worker_id: str, weekday: str, items: Sequence[DayItem]) -> WorkerDay:
    """A worker day whose totals are the sums of its items."""
    return WorkerDay(
        worker_id=worker_id,
        weekday=Weekday.parse(weekday),
        items=list(items),
        visit_minutes=sum(i.minutes for i in items if i.kind == "visit"),
        travel_minutes=sum(i.minutes for i in items if i.kind == "travel"),
    )


def make_roster(
    problem: Problem,
    assignments: Sequence[Assignment],
    unassigned: Sequence[Unassigned] = (),
    worker_days: Sequence[WorkerDay] = (),
) -> Roster:
    return Roster(
        problem_id=problem.id,
        assignments=list(assignments),
        unassigned=list(unassigned),
        worker_days=list(worker_days),
    )
