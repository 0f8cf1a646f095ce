"""A validated `Problem` flattened into integer arrays for the solver and heuristics.

Pydantic is for the boundary; inside, the scheduler, the construction heuristic, the
reason finder (and later slots and matching) need fast integer look-ups: week-minute
time ranges, travel matrices per travel mode, and which worker may do which visit at
all. Everything here is derived, deterministic and cheap to rebuild, so an `Instance`
is built once per solve and never mutated.

The checker does not use this module: it re-derives what it needs from the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

from matcher.schema import (
    CarePackage,
    Gender,
    GenderPreference,
    Problem,
    TravelMode,
    Visit,
    Worker,
    expand_visits,
)
from matcher.timeutil import MINUTES_PER_DAY, WEEKS_PER_YEAR, Weekday
from matcher.travel import TravelModel, travel_model_for


@dataclass(frozen=True)
class Shift:
    """One availability range of one worker: a route from home and back inside it."""

    index: int
    worker: int
    day: int
    start: int  # week minute
    end: int  # week minute


@dataclass(frozen=True)
class VisitInfo:
    """A visit in week minutes, with indices into the instance's other arrays."""

    index: int
    visit: Visit
    package: int
    client: int
    place: int
    day: int
    duration: int
    carers: int
    earliest: int  # hard range of the start, week minutes
    latest: int
    preferred_start: int  # preferred window, week minutes
    preferred_end: int

    def minutes_outside(self, start: int) -> int:
        return max(0, self.preferred_start - start, start - self.preferred_end)


@dataclass
class Instance:
    problem: Problem
    travel_model: TravelModel
    visits: list[VisitInfo]
    shifts: list[Shift]
    shifts_of_worker: list[list[int]]
    worker_place: list[int]
    worker_mode: list[TravelMode]
    client_ids: list[str]
    package_of_client: list[int]
    # eligibility[v] maps worker index -> True if a hard match, False if only a soft
    # gender mismatch; workers absent from the dict may never do the visit.
    eligibility: list[dict[int, bool]] = field(repr=False)
    # Synchronised pairs (first visit, second visit, min gap, max gap), by visit index.
    links: list[tuple[int, int, int, int]] = field(default_factory=list)
    # What the rest of the roster already uses when this instance is a neighbourhood
    # of a larger one (`matcher.solver.lns`); empty for a whole problem.
    week_minutes_used: dict[int, int] = field(default_factory=dict)
    day_minutes_used: dict[tuple[int, int], int] = field(default_factory=dict)
    package_minutes_used: dict[int, int] = field(default_factory=dict)
    already_seen: frozenset[tuple[int, int]] = frozenset()
    lateness_floor: int = 0  # the latest fixed visit's minutes past its window
    required: frozenset[int] = frozenset()  # visits that must stay placed

    @property
    def workers(self) -> list[Worker]:
        return self.problem.workers

    @property
    def packages(self) -> list[CarePackage]:
        return self.problem.packages

    def travel(self, worker: int) -> list[list[int]]:
        return self.travel_model.matrix(self.worker_mode[worker])

    def travel_cost(self, worker: int) -> list[list[int]]:
        return self.travel_model.cost_matrix(self.worker_mode[worker])

    @cached_property
    def partner(self) -> dict[int, int]:
        """The visit each linked visit is synchronised with (both directions)."""
        pairs = {a: b for a, b, _, _ in self.links}
        pairs.update({b: a for a, b, _, _ in self.links})
        return pairs

    @cached_property
    def link_gaps(self) -> dict[int, tuple[int, int]]:
        """The (min gap, max gap) of the link each first visit of a link opens (its
        first link, should it open several)."""
        gaps: dict[int, tuple[int, int]] = {}
        for first, _, low, high in self.links:
            gaps.setdefault(first, (low, high))
        return gaps

    @cached_property
    def visits_of_package(self) -> list[list[int]]:
        result: list[list[int]] = [[] for _ in self.packages]
        for info in self.visits:
            result[info.package].append(info.index)
        return result

    @cached_property
    def budget_carer_minutes(self) -> list[int | None]:
        """Most carer minutes a week each package's budget pays for (exact floor)."""
        rate = self.problem.agency.hourly_rate_pence
        limits: list[int | None] = []
        for package in self.packages:
            if package.budget is None:
                limits.append(None)
            elif package.budget.period == "year":
                limits.append(package.budget.amount_pence * 60 // (rate * WEEKS_PER_YEAR))
            else:
                limits.append(package.budget.amount_pence * 60 // rate)
        return limits

    def shift_can_host(self, shift: Shift, visit: VisitInfo) -> bool:
        """Whether the visit could be the only visit of the shift (travel included)."""
        if shift.day != visit.day:
            return False
        matrix = self.travel(shift.worker)
        home = self.worker_place[shift.worker]
        earliest = max(visit.earliest, shift.start + matrix[home][visit.place])
        latest = min(visit.latest, shift.end - visit.duration - matrix[visit.place][home])
        max_day = self.workers[shift.worker].max_minutes_per_day
        travel = matrix[home][visit.place] + matrix[visit.place][home]
        return earliest <= latest and visit.duration + travel <= max_day


def gender_match(worker: Worker, preference: GenderPreference) -> bool:
    return preference == GenderPreference.NONE or worker.gender == Gender(preference.value)


def build_instance(problem: Problem, travel_model: TravelModel | None = None) -> Instance:
    travel_model = travel_model or travel_model_for(problem)
    max_shift = problem.weights.max_shift_min

    shifts: list[Shift] = []
    shifts_of_worker: list[list[int]] = []
    for w, worker in enumerate(problem.workers):
        mine = []
        for day in Weekday:
            for r in sorted(worker.availability.get(day, []), key=lambda r: r.start_min):
                offset = day.index * MINUTES_PER_DAY
                shift = Shift(len(shifts), w, day.index, offset + r.start_min, offset + r.end_min)
                shifts.append(shift)
                mine.append(shift.index)
        shifts_of_worker.append(mine)

    worker_skills = [frozenset(w.skills) for w in problem.workers]
    visits: list[VisitInfo] = []
    eligibility: list[dict[int, bool]] = []
    links: list[tuple[int, int, int, int]] = []
    for p, package in enumerate(problem.packages):
        _add_package(
            problem, p, package, travel_model.index, max_shift, worker_skills,
            visits, eligibility, links,
        )  # fmt: skip

    return Instance(
        problem=problem,
        travel_model=travel_model,
        visits=visits,
        shifts=shifts,
        shifts_of_worker=shifts_of_worker,
        worker_place=[travel_model.index[w.id] for w in problem.workers],
        worker_mode=[w.travel_mode for w in problem.workers],
        client_ids=[p.client.id for p in problem.packages],
        package_of_client=list(range(len(problem.packages))),
        eligibility=eligibility,
        links=links,
    )


def extend_instance(base: Instance, problem: Problem, travel_model: TravelModel) -> Instance:
    """`build_instance(problem)` for a problem that is `base.problem` with packages
    added at the end (same workers, weights and travel settings), without redoing what
    `base` already holds: broker matching adds one package to each agency's week for
    every request, and the agency's own part does not change between requests.

    `travel_model` must be `base.travel_model` with the new clients' homes appended
    (`TravelModel.with_places`), so every index of `base` keeps its meaning. The result
    equals `build_instance(problem)` field by field (tests/test_warm.py); `base` is not
    modified (the lists are copied, the shifts and visits shared: both are frozen).
    """
    known = len(base.packages)
    same = (
        len(problem.packages) >= known
        and all(a is b for a, b in zip(problem.packages, base.packages, strict=False))
        and len(problem.workers) == len(base.workers)
        and all(a is b for a, b in zip(problem.workers, base.workers, strict=True))
        and problem.weights == base.problem.weights
    )
    if not same:  # the same objects, not equal copies: checked in microseconds
        raise ValueError("extend_instance: the problem must be the base's with packages added")
    worker_skills = [frozenset(w.skills) for w in problem.workers]
    visits = list(base.visits)
    eligibility = list(base.eligibility)
    links = list(base.links)
    max_shift = problem.weights.max_shift_min
    for p, package in enumerate(problem.packages[known:], known):
        _add_package(
            problem, p, package, travel_model.index, max_shift, worker_skills,
            visits, eligibility, links,
        )  # fmt: skip
    return replace(  # the workers' part (shifts, places, modes) is the base's own
        base,
        problem=problem,
        travel_model=travel_model,
        visits=visits,
        client_ids=[p.client.id for p in problem.packages],
        package_of_client=list(range(len(problem.packages))),
        eligibility=eligibility,
        links=links,
    )


def _add_package(
    problem: Problem,
    p: int,
    package: CarePackage,
    place: dict[str, int],
    max_shift: int,
    worker_skills: list[frozenset[str]],
    visits: list[VisitInfo],
    eligibility: list[dict[int, bool]],
    links: list[tuple[int, int, int, int]],
) -> None:
    """Append package `p`'s visits, who may do each and its synchronised pairs."""
    client = package.client
    excluded = set(client.excluded_workers)
    # Who may do a visit depends on its skills and the client alone: worked out once
    # per skill set of the package (this runs per agency per broker package).
    gender_ok = [gender_match(w, client.gender_preference) for w in problem.workers]
    allowed_by_skills: dict[tuple[str, ...], dict[int, bool]] = {}
    first = len(visits)
    for visit in expand_visits(package):
        offset = visit.weekday.index * MINUTES_PER_DAY
        earliest, latest = visit.hard_start_range(max_shift)
        visits.append(
            VisitInfo(
                index=len(visits),
                visit=visit,
                package=p,
                client=p,
                place=place[client.id],
                day=visit.weekday.index,
                duration=visit.duration_min,
                carers=visit.carers,
                earliest=offset + earliest,
                latest=offset + latest,
                preferred_start=offset + visit.window.start_min,
                preferred_end=offset + visit.window.end_min,
            )
        )
        if visit.skills not in allowed_by_skills:
            needed = frozenset(visit.skills)
            allowed_by_skills[visit.skills] = {
                w: matches
                for w, matches in enumerate(gender_ok)
                if problem.workers[w].id not in excluded
                and needed <= worker_skills[w]
                and (matches or not client.gender_preference_strict)
            }
        eligibility.append(dict(allowed_by_skills[visit.skills]))
    index_of = {v.visit.id: v.index for v in visits[first:]}
    for link in package.links:
        for day in next(line for line in package.visits if line.id == link.first).weekdays:
            links.append(
                (
                    index_of[f"{link.first}-{day.value}"],
                    index_of[f"{link.second}-{day.value}"],
                    link.min_gap_min,
                    link.max_gap_min,
                )
            )
