"""The independent checker: does a roster keep every hard rule of docs/model.md?

It recomputes each rule from the input and the roster alone, with no solver code and no
ortools, so a bug in the model cannot hide behind the same bug in its own validation.
Each rule family is one function yielding `Violation`s under the rule id of the table
in docs/model.md; `check` runs them all. A malformed roster (bad "HH:MM", unknown ids)
is itself a finding, never an exception.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise

from matcher.schema import (
    Assignment,
    Client,
    DayItem,
    GenderPreference,
    Problem,
    Roster,
    Visit,
    Worker,
    WorkerDay,
)
from matcher.timeline import (
    Placement,
    Run,
    carer_minutes_by_package,
    leg_minutes,
    placements,
    runs_by_worker_day,
    visits_by_id,
    within_budget,
)
from matcher.timeutil import (
    WEEKS_PER_YEAR,
    Weekday,
    cost_pence,
    format_hhmm,
    format_pounds,
    parse_hhmm,
)
from matcher.travel import TravelModel, travel_model_for

__all__ = ["HARD_RULES", "Violation", "check"]


@dataclass(frozen=True)
class Violation:
    """One breach of one hard rule, with the visit and worker it concerns when known.

    A plain dataclass (the checker shares nothing with the solver, and needs no
    validation of what it made itself); `to_json` is its form for the service, and
    pydantic serialises it as the same object wherever a model holds one.
    """

    rule: str
    message: str
    visit_id: str | None = None
    worker_id: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """`{"rule", "message", "visit_id", "worker_id"}`; an id the violation does not
        name is null, so every violation has the same keys."""
        return {
            "rule": self.rule,
            "message": self.message,
            "visit_id": self.visit_id,
            "worker_id": self.worker_id,
        }

    def __str__(self) -> str:
        subject = ", ".join(
            part
            for part in (
                f"worker {self.worker_id}" if self.worker_id else "",
                f"visit {self.visit_id}" if self.visit_id else "",
            )
            if part
        )
        if not subject:
            return f"[{self.rule}] {self.message}"
        return f"[{self.rule}] {subject}: {self.message}"


@dataclass(frozen=True)
class _Context:
    """Everything the rules look up, computed once per `check` call."""

    problem: Problem
    roster: Roster
    travel: TravelModel
    visits: dict[str, Visit]
    workers: dict[str, Worker]
    clients: dict[str, Client]
    placed: dict[str, Placement]
    first_assignments: dict[str, Assignment]
    runs: dict[tuple[str, Weekday], list[Run]]

    def known_workers(self, placement: Placement) -> list[Worker]:
        """The placement's workers that exist, each once (the rest is `coverage`'s job)."""
        return [self.workers[w] for w in dict.fromkeys(placement.workers) if w in self.workers]


def check(
    problem: Problem, roster: Roster, *, travel: TravelModel | None = None
) -> list[Violation]:
    """Every hard-rule violation of `roster` for `problem`; an empty list means feasible.

    Violations come grouped by rule in the order of the table in docs/model.md.
    `travel`: the problem's travel model, when the caller has it (it is used only if
    it `fits` the problem: the same places, locations and settings; otherwise it is
    computed here from the input, as without it).
    """
    if travel is None or not travel.fits(problem):
        travel = travel_model_for(problem)
    placed = placements(problem, roster)
    context = _Context(
        problem=problem,
        roster=roster,
        travel=travel,
        visits=visits_by_id(problem),
        workers={worker.id: worker for worker in problem.workers},
        clients={package.client.id: package.client for package in problem.packages},
        placed=placed,
        first_assignments={a.visit_id: a for a in reversed(roster.assignments)},
        runs=runs_by_worker_day(problem, placed.values(), travel),
    )
    return [violation for rule in HARD_RULES.values() for violation in rule(context)]


def _parse(text: str) -> int | None:
    try:
        return parse_hhmm(text)
    except ValueError:
        return None


def _shifts_text(worker: Worker, day: Weekday) -> str:
    shifts = sorted(worker.availability.get(day, []), key=lambda s: s.start_min)
    return ", ".join(str(s) for s in shifts) if shifts else "none"


# --------------------------------------------------------------------------- rules


def _coverage(ctx: _Context) -> Iterator[Violation]:
    """Hard: each visit assigned once to exactly `carers` distinct known workers, or
    listed unassigned with a reason; no unknown or repeated visit ids."""
    counts: Counter[str] = Counter()
    for assignment in ctx.roster.assignments:
        counts[assignment.visit_id] += 1
        visit = ctx.visits.get(assignment.visit_id)
        if visit is None:
            yield Violation("coverage", "assigned but no such visit", assignment.visit_id)
            continue
        listed = assignment.workers
        if len(listed) != visit.carers or len(set(listed)) != len(listed):
            yield Violation(
                "coverage",
                f"needs {visit.carers} distinct worker(s), has {', '.join(listed) or 'none'}",
                visit.id,
            )
        for worker_id in dict.fromkeys(listed):
            if worker_id not in ctx.workers:
                yield Violation("coverage", "unknown worker", visit.id, worker_id)
    for unassigned in ctx.roster.unassigned:
        counts[unassigned.visit_id] += 1
        if unassigned.visit_id not in ctx.visits:
            yield Violation("coverage", "listed unassigned but no such visit", unassigned.visit_id)
        elif not [reason for reason in unassigned.reasons if reason.strip()]:
            yield Violation("coverage", "unassigned without a reason", unassigned.visit_id)
    for visit_id, count in counts.items():
        if count > 1:
            yield Violation(
                "coverage", f"appears {count} times in assignments and unassigned", visit_id
            )
    for visit_id in ctx.visits:
        if visit_id not in counts:
            yield Violation("coverage", "neither assigned nor listed unassigned", visit_id)


def _skills(ctx: _Context) -> Iterator[Violation]:
    """Hard: every worker on a visit has all of the visit's skills."""
    for placement in ctx.placed.values():
        for worker in ctx.known_workers(placement):
            missing = [skill for skill in placement.visit.skills if skill not in worker.skills]
            if missing:
                yield Violation(
                    "skills", f"lacks {', '.join(missing)}", placement.visit.id, worker.id
                )


def _gender(ctx: _Context) -> Iterator[Violation]:
    """Hard: a strict female/male preference of the client is met by every worker."""
    for placement in ctx.placed.values():
        client = ctx.clients[placement.visit.client_id]
        wanted = client.gender_preference
        if wanted is GenderPreference.NONE or not client.gender_preference_strict:
            continue
        for worker in ctx.known_workers(placement):
            if worker.gender.value != wanted.value:
                yield Violation(
                    "gender",
                    f"client {client.id} wants a {wanted.value} carer (strict), "
                    f"worker is {worker.gender.value}",
                    placement.visit.id,
                    worker.id,
                )


def _excluded(ctx: _Context) -> Iterator[Violation]:
    """Hard: no worker on a visit is in the client's `excluded_workers`."""
    for placement in ctx.placed.values():
        client = ctx.clients[placement.visit.client_id]
        for worker in ctx.known_workers(placement):
            if worker.id in client.excluded_workers:
                yield Violation(
                    "excluded",
                    f"client {client.id} excludes this worker",
                    placement.visit.id,
                    worker.id,
                )


def _hard_window(ctx: _Context) -> Iterator[Violation]:
    """Hard: on its weekday, starting inside the hard start range, ending at start + duration.

    Every assignment of a known visit is looked at, so an unparsable time is reported
    here rather than silently dropped.
    """
    max_shift = ctx.problem.weights.max_shift_min
    for assignment in ctx.roster.assignments:
        visit = ctx.visits.get(assignment.visit_id)
        if visit is None:
            continue
        if assignment.weekday != visit.weekday:
            yield Violation(
                "hard_window",
                f"is on {visit.weekday.value}, the roster puts it on {assignment.weekday.value}",
                visit.id,
            )
        start = _parse(assignment.start)
        if start is None:
            yield Violation("hard_window", f"start {assignment.start!r} is not HH:MM", visit.id)
            continue
        earliest, latest = visit.hard_start_range(max_shift)
        if not earliest <= start <= latest:
            yield Violation(
                "hard_window",
                f"starts {format_hhmm(start)}, outside its hard start range "
                f"{format_hhmm(earliest)}-{format_hhmm(latest)}",
                visit.id,
            )
        end = _parse(assignment.end)
        if end is None:
            yield Violation("hard_window", f"end {assignment.end!r} is not HH:MM", visit.id)
        elif end != start + visit.duration_min:
            yield Violation(
                "hard_window",
                f"ends {assignment.end}, but {format_hhmm(start)} + {visit.duration_min} min is "
                f"{format_hhmm(start + visit.duration_min)}",
                visit.id,
            )


def _synchronised(ctx: _Context) -> Iterator[Violation]:
    """Hard: both workers of a two-carer visit start it at the assignment's one start,
    and linked visits keep their gap.

    An assignment carries a single start, so only the worker days can disagree with it.
    A start that differs on a two-carer visit is reported here and not again by `roster`.
    """
    for day in ctx.roster.worker_days:
        for item in _visit_items(day):
            placement = ctx.placed.get(item.visit_id or "")
            if placement is None or placement.visit.carers < 2:
                continue
            if day.worker_id not in placement.workers:
                continue
            start = _parse(item.start)
            if start is not None and start != placement.start:
                yield Violation(
                    "synchronised",
                    f"worker day starts it at {format_hhmm(start)}, "
                    f"the assignment (both carers) at {format_hhmm(placement.start)}",
                    placement.visit.id,
                    day.worker_id,
                )
    yield from _linked_visits(ctx)


def _linked_visits(ctx: _Context) -> Iterator[Violation]:
    """Hard (synchronised): linked visits are placed together, within their gap."""
    for package in ctx.problem.packages:
        lines = {line.id: line for line in package.visits}
        for link in package.links:
            for day in lines[link.first].weekdays:
                first_id, second_id = f"{link.first}-{day.value}", f"{link.second}-{day.value}"
                first, second = ctx.placed.get(first_id), ctx.placed.get(second_id)
                if (first is None) != (second is None):
                    lone = first_id if first is not None else second_id
                    yield Violation(
                        "synchronised",
                        f"placed without its linked visit "
                        f"{second_id if first is not None else first_id}",
                        lone,
                    )
                elif first is not None and second is not None:
                    gap = second.start - first.start
                    if not link.min_gap_min <= gap <= link.max_gap_min:
                        yield Violation(
                            "synchronised",
                            f"starts {gap} min after {first_id}, outside "
                            f"[{link.min_gap_min}, {link.max_gap_min}]",
                            second_id,
                        )


def _availability(ctx: _Context) -> Iterator[Violation]:
    """Hard: each visit lies wholly inside one of the worker's shifts that day."""
    for (worker_id, day), runs in ctx.runs.items():
        worker = ctx.workers[worker_id]
        for run in runs:
            if run.shift is not None:
                continue
            for stop in run.stops:
                yield Violation(
                    "availability",
                    f"{day.value} {format_hhmm(stop.start)}-{format_hhmm(stop.end)} is inside "
                    f"none of the shifts ({day.value}: {_shifts_text(worker, day)})",
                    stop.visit.id,
                    worker_id,
                )


def _travel(ctx: _Context) -> Iterator[Violation]:
    """Hard: within a shift, leave home at or after its start, reach each visit in start
    order, be home by its end. Waiting is fine; overlaps are not."""
    for runs in ctx.runs.values():
        for run in runs:
            yield from _run_travel(run)
        yield from _cross_run_overlaps(runs)


def _run_travel(run: Run) -> Iterator[Violation]:
    worker_id = run.worker.id
    first, last = run.stops[0], run.stops[-1]
    if run.shift is not None:
        out = run.legs[0].minutes
        if first.start < run.shift.start_min + out:
            yield Violation(
                "travel",
                f"starts {format_hhmm(first.start)} but cannot arrive before "
                f"{format_hhmm(run.shift.start_min + out)} (leaves home at shift start "
                f"{run.shift.start}, {out} min travel)",
                first.visit.id,
                worker_id,
            )
    for (prev, nxt), leg in zip(pairwise(run.stops), run.legs[1:-1], strict=True):
        if nxt.start < prev.end + leg.minutes:
            yield Violation(
                "travel",
                f"starts {format_hhmm(nxt.start)} but cannot arrive before "
                f"{format_hhmm(prev.end + leg.minutes)} (leaves {prev.visit.client_id} at "
                f"{format_hhmm(prev.end)}, {leg.minutes} min travel)",
                nxt.visit.id,
                worker_id,
            )
    if run.shift is not None:
        back = run.legs[-1].minutes
        if last.end + back > run.shift.end_min:
            yield Violation(
                "travel",
                f"ends {format_hhmm(last.end)} and is home at {format_hhmm(last.end + back)}, "
                f"after shift end {run.shift.end} ({back} min travel)",
                last.visit.id,
                worker_id,
            )


def _cross_run_overlaps(runs: list[Run]) -> Iterator[Violation]:
    """Overlaps between different runs of a day (possible only around an off-shift visit);
    overlaps inside a run are already caught by the leg checks."""
    tagged = sorted(
        ((stop, index) for index, run in enumerate(runs) for stop in run.stops),
        key=lambda pair: pair[0].start,
    )
    latest: tuple[Placement, int] | None = None
    for stop, index in tagged:
        if latest is not None and latest[1] != index and stop.start < latest[0].end:
            yield Violation(
                "travel",
                f"starts {format_hhmm(stop.start)}, before visit {latest[0].visit.id} ends "
                f"at {format_hhmm(latest[0].end)}",
                stop.visit.id,
                runs[index].worker.id,
            )
        if latest is None or stop.end > latest[0].end:
            latest = (stop, index)


def _max_day(ctx: _Context) -> Iterator[Violation]:
    """Hard: visit plus travel minutes (home legs included) within the daily maximum."""
    for (worker_id, day), runs in ctx.runs.items():
        worker = ctx.workers[worker_id]
        visits = sum(run.visit_minutes for run in runs)
        travel = sum(run.travel_minutes for run in runs)
        if visits + travel > worker.max_minutes_per_day:
            yield Violation(
                "max_day",
                f"{day.value}: {visits + travel} min (visits {visits}, travel {travel}) > "
                f"max {worker.max_minutes_per_day} a day",
                worker_id=worker_id,
            )


def _max_week(ctx: _Context) -> Iterator[Violation]:
    """Hard: the same minutes summed over the week within the weekly maximum."""
    totals: Counter[str] = Counter()
    for (worker_id, _day), runs in ctx.runs.items():
        totals[worker_id] += sum(run.visit_minutes + run.travel_minutes for run in runs)
    for worker_id, total in totals.items():
        worker = ctx.workers[worker_id]
        if total > worker.max_minutes_per_week:
            yield Violation(
                "max_week",
                f"{total} min in the week > max {worker.max_minutes_per_week}",
                worker_id=worker_id,
            )


def _budget(ctx: _Context) -> Iterator[Violation]:
    """Hard: each package's cost within its cap, compared in exact integers."""
    rate = ctx.problem.agency.hourly_rate_pence
    by_package = carer_minutes_by_package(ctx.placed)
    for package in ctx.problem.packages:
        if package.budget is None:
            continue
        minutes = by_package.get(package.id, 0)
        if not within_budget(minutes, rate, package.budget):
            cap = package.budget.amount_pence
            weeks = WEEKS_PER_YEAR if package.budget.period == "year" else 1
            yield Violation(
                "budget",
                f"package {package.id}: {format_pounds(cost_pence(minutes, rate) * weeks)} "
                f"a {package.budget.period} > cap {format_pounds(cap)} "
                f"({minutes} carer min a week at {format_pounds(rate)}/h)",
            )


def _roster(ctx: _Context) -> Iterator[Violation]:
    """Hard: the roster's own figures agree with the input and with its assignments."""
    if ctx.roster.problem_id != ctx.problem.id:
        yield Violation(
            "roster", f"is for problem {ctx.roster.problem_id!r}, not {ctx.problem.id!r}"
        )
    for assignment in ctx.roster.assignments:
        yield from _labels(ctx, assignment.visit_id, assignment.package_id, assignment.client_id)
    for unassigned in ctx.roster.unassigned:
        yield from _labels(ctx, unassigned.visit_id, unassigned.package_id, unassigned.client_id)
        visit = ctx.visits.get(unassigned.visit_id)
        if visit is not None and unassigned.weekday != visit.weekday:
            yield Violation(
                "roster",
                f"listed unassigned on {unassigned.weekday.value}, is on {visit.weekday.value}",
                visit.id,
            )
    if ctx.roster.worker_days:
        yield from _worker_days(ctx)


def _labels(ctx: _Context, visit_id: str, package_id: str, client_id: str) -> Iterator[Violation]:
    visit = ctx.visits.get(visit_id)
    if visit is None:
        return
    if package_id != visit.package_id:
        yield Violation("roster", f"package {package_id!r}, is {visit.package_id!r}", visit_id)
    if client_id != visit.client_id:
        yield Violation("roster", f"client {client_id!r}, is {visit.client_id!r}", visit_id)


def _visit_items(day: WorkerDay) -> list[DayItem]:
    return [item for item in day.items if item.kind == "visit"]


def _worker_days(ctx: _Context) -> Iterator[Violation]:
    """Each worker day lists exactly the worker's assignments at their times, in order,
    with travel legs of the model's minutes; and every busy worker day is listed."""
    listed: Counter[tuple[str, Weekday]] = Counter()
    for day in ctx.roster.worker_days:
        key = (day.worker_id, day.weekday)
        listed[key] += 1
        if listed[key] == 2:
            yield Violation(
                "roster", f"{day.weekday.value} listed more than once", worker_id=day.worker_id
            )
        worker = ctx.workers.get(day.worker_id)
        if worker is None:
            yield Violation("roster", "worker day of an unknown worker", worker_id=day.worker_id)
            continue
        yield from _day_items(ctx, worker, day)
    for worker_id, day in ctx.runs:
        if (worker_id, day) not in listed:
            yield Violation(
                "roster", f"has visits on {day.value} but no worker day", worker_id=worker_id
            )


def _day_items(ctx: _Context, worker: Worker, day: WorkerDay) -> Iterator[Violation]:
    runs = ctx.runs.get((worker.id, day.weekday), [])
    expected = {stop.visit.id: stop for run in runs for stop in run.stops}
    where = f"{day.weekday.value}:"
    previous_end: int | None = None
    sums = {"visit": 0, "travel": 0}
    seen: set[str] = set()
    for item in day.items:
        sums[item.kind] += item.minutes
        start, end = _parse(item.start), _parse(item.end)
        if start is None or end is None:
            yield Violation(
                "roster",
                f"{where} {item.kind} item {item.start}-{item.end} is not HH:MM-HH:MM",
                item.visit_id,
                worker.id,
            )
            continue
        if end < start or (previous_end is not None and start < previous_end):
            yield Violation(
                "roster",
                f"{where} {item.kind} item {item.start}-{item.end} is out of time order or "
                "overlaps the item before",
                item.visit_id,
                worker.id,
            )
        previous_end = end if previous_end is None else max(previous_end, end)
        if item.kind == "visit":
            yield from _visit_item(worker, where, item, start, end, expected, ctx.first_assignments)
            seen.add(item.visit_id or "")
        else:
            yield from _travel_item(ctx, worker, where, item, start, end)
    for visit_id in expected.keys() - seen:
        yield Violation("roster", f"{where} worker day misses the visit", visit_id, worker.id)
    yield from _day_totals(ctx, worker, day, runs, sums)


def _visit_item(
    worker: Worker,
    where: str,
    item: DayItem,
    start: int,
    end: int,
    expected: dict[str, Placement],
    assignments: dict[str, Assignment],
) -> Iterator[Violation]:
    visit_id = item.visit_id or ""
    placement = expected.get(visit_id)
    if placement is None:
        yield Violation(
            "roster", f"{where} lists a visit not assigned to the worker", item.visit_id, worker.id
        )
        return
    if item.client_id is not None and item.client_id != placement.visit.client_id:
        yield Violation(
            "roster",
            f"{where} visit item at client {item.client_id}, visit is at "
            f"{placement.visit.client_id}",
            visit_id,
            worker.id,
        )
    if placement.visit.carers > 1 and start != placement.start:
        return  # the `synchronised` rule reports it
    assignment = assignments[visit_id]
    if (start, end) != (_parse(assignment.start), _parse(assignment.end)):
        yield Violation(
            "roster",
            f"{where} visit item {item.start}-{item.end}, assignment says "
            f"{assignment.start}-{assignment.end}",
            visit_id,
            worker.id,
        )
    if item.minutes != end - start:
        yield Violation(
            "roster",
            f"{where} visit item says {item.minutes} min but runs {end - start}",
            visit_id,
            worker.id,
        )


def _travel_item(
    ctx: _Context, worker: Worker, where: str, item: DayItem, start: int, end: int
) -> Iterator[Violation]:
    origin, destination = item.from_id, item.to_id
    if (
        origin is None
        or destination is None
        or origin not in ctx.travel.index
        or destination not in ctx.travel.index
    ):
        yield Violation(
            "roster",
            f"{where} travel item between unknown places {origin!r} and {destination!r}",
            worker_id=worker.id,
        )
        return
    minutes = leg_minutes(ctx.travel, worker.travel_mode, origin, destination)
    if item.minutes != minutes:
        yield Violation(
            "roster",
            f"{where} travel {origin} -> {destination} says {item.minutes} min, the "
            f"{worker.travel_mode.value} model says {minutes}",
            worker_id=worker.id,
        )
    if item.minutes != end - start:
        yield Violation(
            "roster",
            f"{where} travel {origin} -> {destination} says {item.minutes} min but runs "
            f"{item.start}-{item.end}",
            worker_id=worker.id,
        )


def _day_totals(
    ctx: _Context, worker: Worker, day: WorkerDay, runs: list[Run], sums: dict[str, int]
) -> Iterator[Violation]:
    """The day's totals match its items and the legs its assignments imply."""
    where = f"{day.weekday.value}:"
    visits = sum(run.visit_minutes for run in runs)
    travel = sum(run.travel_minutes for run in runs)
    for what, total, items, needed in (
        ("visit", day.visit_minutes, sums["visit"], visits),
        ("travel", day.travel_minutes, sums["travel"], travel),
    ):
        if total != items:
            yield Violation(
                "roster",
                f"{where} {what}_minutes {total} but its {what} items sum to {items}",
                worker_id=worker.id,
            )
        if total != needed:
            yield Violation(
                "roster",
                f"{where} {what}_minutes {total} but the assignments need {needed} "
                "(home legs included, one round trip per shift)",
                worker_id=worker.id,
            )


HARD_RULES: dict[str, Callable[[_Context], Iterator[Violation]]] = {
    "coverage": _coverage,
    "skills": _skills,
    "gender": _gender,
    "excluded": _excluded,
    "hard_window": _hard_window,
    "synchronised": _synchronised,
    "availability": _availability,
    "travel": _travel,
    "max_day": _max_day,
    "max_week": _max_week,
    "budget": _budget,
    "roster": _roster,
}
"""The hard rules by id, in the order of the table in docs/model.md."""
