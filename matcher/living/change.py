"""ISF changes within the budget, answered at once (issue 13, section 3).

Under an individual service fund the person and the agency may change the
arrangements without going back to the council, as long as the package stays within
its budget. `propose_change` takes such a change (lengthen, shorten, move, add or drop
a visit, from a date on) and the committed roster, and answers:

- whether the new pattern is within the budget, by the engine's one budget rule
  (`matcher.timeline.within_budget`, the rule the checker enforces), and if not by
  exactly how much a week and a year, with what would make it fit: another visit
  shortened by the minutes over, the change made smaller, or banked minutes used
  (each suggestion tried against the same rule before it is offered);
- whether it fits the roster: the changed visits keep their carers and start when
  they still can, else go where a greedy insertion puts them with everyone else
  where they are (a change the person agrees should not reshuffle other clients'
  carers); the roster is then proved by `matcher.checker.check`. A visit that fits
  nowhere gets the reasons (`matcher.reasons`) and the nearest starts that would fit
  (the insertion options of `matcher.insertion`, as for agency slots).

No approval is needed exactly when both answers are yes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt

from matcher.checker import check
from matcher.construct import place, placements_of_state
from matcher.instance import Instance, VisitInfo, build_instance
from matcher.living.money import pence_json, pence_text
from matcher.reasons import unassigned_reasons
from matcher.schema import (
    Assignment,
    CarePackage,
    Problem,
    Roster,
    Strict,
    TimeRange,
    VisitPattern,
    WeekdayField,
    expand_visits,
)
from matcher.solver.placements import RosterMismatch, placements_of
from matcher.solver.solve import finish, roster_state
from matcher.timeline import within_budget
from matcher.timeutil import (
    MINUTES_PER_DAY,
    WEEKS_PER_YEAR,
    Weekday,
    cost_pence,
    format_hhmm,
    parse_hhmm,
)

__all__ = [
    "MIN_VISIT_MIN",
    "ChangeError",
    "ChangeRequest",
    "ChangeVerdict",
    "apply_change",
    "budget_figures",
    "propose_change",
]

# No suggestion shortens a visit below this: a quarter of an hour is the shortest
# visit an agency books (and a medication prompt needs it).
MIN_VISIT_MIN = 15
# Minutes between the candidate starts the nearest-time search looks at.
NEAREST_STEP_MIN = 5
# How many suggestions of each kind a verdict offers at most.
MAX_SUGGESTIONS = 5


class ChangeError(ValueError):
    """The change does not make sense for this input (unknown visit, nothing left)."""


# --------------------------------------------------------------------------- input


class _OneVisit(Strict):
    visit_id: str = Field(
        min_length=1, description='The visit as the roster names it: "mary-sunday-Sun".'
    )


class LengthenVisit(_OneVisit):
    action: Literal["lengthen"]
    minutes: PositiveInt


class ShortenVisit(_OneVisit):
    action: Literal["shorten"]
    minutes: PositiveInt


class MoveVisit(_OneVisit):
    action: Literal["move"]
    window: TimeRange = Field(description="The new preferred start window.")
    hard_window: TimeRange | None = None


class DropVisit(_OneVisit):
    action: Literal["drop"]


class AddVisit(Strict):
    action: Literal["add"]
    id: str = Field(min_length=1, description="The new line's id; its visit is <id>-<Day>.")
    weekday: WeekdayField
    window: TimeRange
    hard_window: TimeRange | None = None
    duration_min: PositiveInt
    carers: Literal[1, 2] = 1
    skills: list[str] = Field(default_factory=list)
    tasks: list[str] = Field(default_factory=list)


ChangeItem = Annotated[
    LengthenVisit | ShortenVisit | MoveVisit | DropVisit | AddVisit, Field(discriminator="action")
]


class ChangeRequest(Strict):
    """CHANGE.json: what the person and the agency want to change in one package."""

    package_id: str = Field(min_length=1)
    from_date: date | None = Field(
        default=None, alias="from", description="The change holds from this date on."
    )
    changes: list[ChangeItem] = Field(min_length=1)
    bank_minutes: NonNegativeInt | None = Field(
        default=None,
        description="Carer minutes banked (`carematch budget`), to offer using them.",
    )


# --------------------------------------------------------------------------- output


@dataclass(frozen=True)
class BudgetFigures:
    """A package's week against its cap, in carer minutes and exact pence."""

    cap_pence: int | None
    period: str | None
    weekly_minutes: int
    weekly_pence: Fraction
    annual_pence: Fraction
    within: bool
    cap_weekly_pence: Fraction | None

    @property
    def over_per_week(self) -> Fraction:
        if self.cap_weekly_pence is None:
            return Fraction(0)
        return max(Fraction(0), self.weekly_pence - self.cap_weekly_pence)

    @property
    def left_per_week(self) -> Fraction:
        if self.cap_weekly_pence is None:
            return Fraction(0)
        return max(Fraction(0), self.cap_weekly_pence - self.weekly_pence)

    def to_json(self) -> dict[str, Any]:
        return {
            "weekly_minutes": self.weekly_minutes,
            "weekly_cost_pence": pence_json(self.weekly_pence),
            "annual_cost_pence": pence_json(self.annual_pence),
            "within_budget": self.within,
        }


def budget_figures(package: CarePackage, hourly_rate_pence: int) -> BudgetFigures:
    """The package's weekly carer minutes priced and judged by the engine's budget rule
    (`within_budget`, what the checker enforces); a year is 52 weeks as there."""
    minutes = sum(v.duration_min * v.carers for v in expand_visits(package))
    weekly = cost_pence(minutes, hourly_rate_pence)
    budget = package.budget
    if budget is None:
        return BudgetFigures(None, None, minutes, weekly, weekly * WEEKS_PER_YEAR, True, None)
    per_week = (
        Fraction(budget.amount_pence, WEEKS_PER_YEAR)
        if budget.period == "year"
        else Fraction(budget.amount_pence)
    )
    return BudgetFigures(
        budget.amount_pence,
        budget.period,
        minutes,
        weekly,
        weekly * WEEKS_PER_YEAR,
        within_budget(minutes, hourly_rate_pence, budget),
        per_week,
    )


@dataclass(frozen=True)
class VisitSlot:
    workers: tuple[str, ...]
    start: str | None

    def to_json(self) -> dict[str, Any]:
        return {"workers": list(self.workers), "start": self.start}


@dataclass(frozen=True)
class RosterChange:
    """One visit of the package before and after (a dropped visit has no after)."""

    visit_id: str
    weekday: Weekday
    before: VisitSlot
    after: VisitSlot
    duration_before: int | None
    duration_after: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "visit_id": self.visit_id,
            "weekday": self.weekday.value,
            "before": {**self.before.to_json(), "duration_min": self.duration_before},
            "after": {**self.after.to_json(), "duration_min": self.duration_after},
        }


@dataclass(frozen=True)
class Nearest:
    """A start at which a visit that fits nowhere as asked would fit, and by whom."""

    start: str
    workers: tuple[str, ...]
    minutes_from_window: int

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "workers": list(self.workers),
            "minutes_from_window": self.minutes_from_window,
        }


@dataclass
class ChangeVerdict:
    """The answer to a proposed change: budget, roster, and what would make it fit."""

    package_id: str
    from_date: date | None
    problem: Problem  # the input with the change made
    roster: Roster | None  # checked; None when a changed visit fits nowhere
    before: BudgetFigures
    after: BudgetFigures
    hourly_rate_pence: int
    roster_changes: list[RosterChange]
    reasons: dict[str, list[str]]
    nearest: dict[str, list[Nearest]]
    suggestions: list[str]
    over_minutes_per_week: int
    elapsed_s: float
    described: list[str] = field(default_factory=list)

    @property
    def fits_roster(self) -> bool:
        return self.roster is not None

    @property
    def within_budget(self) -> bool:
        return self.after.within

    @property
    def verdict(self) -> str:
        """ "fits" (no approval needed), "over_budget" or "does_not_fit" (the roster;
        over the budget as well when `within_budget` says so)."""
        if not self.fits_roster:
            return "does_not_fit"
        return "fits" if self.within_budget else "over_budget"

    @property
    def approval_needed(self) -> bool:
        return self.verdict != "fits"

    def to_json(self) -> dict[str, Any]:
        """What `carematch change --json` prints (money as exact pence strings)."""
        after = self.after
        budget: dict[str, Any] = {
            "cap_pence": None if after.cap_pence is None else pence_json(after.cap_pence),
            "period": after.period,
            "hourly_rate_pence": self.hourly_rate_pence,
            "before": self.before.to_json(),
            "after": after.to_json(),
            "within_budget": after.within,
            "over_per_week_pence": pence_json(after.over_per_week),
            "over_per_year_pence": pence_json(after.over_per_week * WEEKS_PER_YEAR),
            "over_minutes_per_week": self.over_minutes_per_week,
            "left_per_week_pence": pence_json(after.left_per_week),
            "left_per_year_pence": pence_json(after.left_per_week * WEEKS_PER_YEAR),
        }
        return {
            "package_id": self.package_id,
            "from": None if self.from_date is None else self.from_date.isoformat(),
            "verdict": self.verdict,
            "approval_needed": self.approval_needed,
            "fits_roster": self.fits_roster,
            "within_budget": self.within_budget,
            "changes": self.described,
            "budget": budget,
            "roster_changes": [c.to_json() for c in self.roster_changes],
            "visits": self._visits(),
            "reasons": self.reasons,
            "nearest": {k: [n.to_json() for n in v] for k, v in self.nearest.items()},
            "suggestions": self.suggestions,
            "elapsed_s": round(self.elapsed_s, 3),
        }

    def _visits(self) -> list[dict[str, Any]]:
        """The package's new week as the roster has it (empty when it does not fit)."""
        if self.roster is None:
            return []
        return [
            {
                "visit_id": a.visit_id,
                "weekday": a.weekday.value,
                "start": a.start,
                "end": a.end,
                "workers": a.workers,
            }
            for a in self.roster.assignments
            if a.package_id == self.package_id
        ]


# --------------------------------------------------------------------------- engine


def _day_name(day: Weekday) -> str:
    return day.full_name


def apply_change(problem: Problem, request: ChangeRequest) -> tuple[Problem, dict[str, str]]:
    """The input with the change made, and old visit id -> new visit id for every visit
    whose id changes (a change to one day of a line of several days makes that day a
    line of its own, `<line>-<day>`, whose visit is `<line>-<day>-<Day>`).

    Every line of the changed package is given its id explicitly, so no visit id
    shifts with the order of the lines. Raises `ChangeError` for an unknown package or
    visit, a visit shortened to nothing, or a one-day change to a linked line.
    """
    index = next((i for i, p in enumerate(problem.packages) if p.id == request.package_id), None)
    if index is None:
        raise ChangeError(f"package_id: no package {request.package_id!r} in the input")
    package = problem.packages[index]
    lines: list[dict[str, Any]] = []
    for n, line in enumerate(package.visits, start=1):
        data = line.model_dump()
        data["id"] = line.id or f"{package.id}-v{n}"
        lines.append(data)
    linked = {end for link in package.links for end in (link.first, link.second)}
    renamed: dict[str, str] = {}

    def locate(k: int, visit_id: str) -> dict[str, Any]:
        """The line holding only this visit's day (split off if need be)."""
        for data in lines:
            for day in data["weekdays"]:
                if f"{data['id']}-{Weekday(day).value}" == visit_id:
                    if len(data["weekdays"]) == 1:
                        return data
                    if data["id"] in linked:
                        raise ChangeError(
                            f"changes[{k}].visit_id: {visit_id} is on a linked line; "
                            "change one day of a linked pair is not supported"
                        )
                    data["weekdays"] = [d for d in data["weekdays"] if d != day]
                    single = {**data, "id": f"{data['id']}-{Weekday(day).value.lower()}"}
                    single["weekdays"] = [day]
                    lines.append(single)
                    renamed[visit_id] = f"{single['id']}-{Weekday(day).value}"
                    return single
        raise ChangeError(f"changes[{k}].visit_id: no visit {visit_id!r} in {package.id}")

    for k, item in enumerate(request.changes):
        if isinstance(item, AddVisit):
            lines.append(
                {
                    "id": item.id,
                    "weekdays": [item.weekday],
                    "window": item.window.model_dump(),
                    "hard_window": None
                    if item.hard_window is None
                    else item.hard_window.model_dump(),
                    "duration_min": item.duration_min,
                    "carers": item.carers,
                    "skills": item.skills,
                    "tasks": item.tasks,
                }
            )
            continue
        data = locate(k, item.visit_id)
        if isinstance(item, LengthenVisit):
            data["duration_min"] += item.minutes
        elif isinstance(item, ShortenVisit):
            if data["duration_min"] - item.minutes <= 0:
                raise ChangeError(
                    f"changes[{k}].minutes: {item.visit_id} lasts {data['duration_min']} "
                    f"minutes; shortening it by {item.minutes} leaves nothing (drop it instead)"
                )
            data["duration_min"] -= item.minutes
        elif isinstance(item, MoveVisit):
            data["window"] = item.window.model_dump()
            data["hard_window"] = (
                None if item.hard_window is None else item.hard_window.model_dump()
            )
        elif isinstance(item, DropVisit):
            if data["id"] in linked:
                raise ChangeError(f"changes[{k}].visit_id: {item.visit_id} is on a linked line")
            data["weekdays"] = []
    kept = [data for data in lines if data["weekdays"]]
    if not kept:
        raise ChangeError("changes: every visit of the package would be dropped")
    try:
        new_package = CarePackage.model_validate(
            {**package.model_dump(), "visits": [VisitPattern.model_validate(d) for d in kept]}
        )
        packages = list(problem.packages)
        packages[index] = new_package
        changed = problem.model_copy(update={"packages": packages})
        changed = Problem.model_validate(changed.model_dump())
    except ValueError as exc:
        raise ChangeError(f"changes: the changed package is not valid ({exc})") from None
    return changed, renamed


def _describe(request: ChangeRequest) -> list[str]:
    """Each change in words ("lengthen mary-sunday-Sun by 30 minutes")."""
    said = []
    for item in request.changes:
        if isinstance(item, LengthenVisit):
            said.append(f"lengthen {item.visit_id} by {item.minutes} minutes")
        elif isinstance(item, ShortenVisit):
            said.append(f"shorten {item.visit_id} by {item.minutes} minutes")
        elif isinstance(item, MoveVisit):
            said.append(f"move {item.visit_id} to start {item.window}")
        elif isinstance(item, DropVisit):
            said.append(f"drop {item.visit_id}")
        else:
            said.append(
                f"add {item.id} on {item.weekday.full_name}, {item.duration_min} minutes "
                f"starting {item.window}"
            )
    return said


def propose_change(problem: Problem, roster: Roster, request: ChangeRequest) -> ChangeVerdict:
    """The verdict on `request` against the committed `roster` (see the module doc).

    Raises `ChangeError` for a change that does not apply to the input, or a committed
    roster that already breaks a rule (the question would have no honest answer).
    """
    began = time.perf_counter()
    violations = check(problem, roster)
    if violations:
        raise ChangeError(f"roster: breaks the rules before any change ({violations[0]})")
    changed, renamed = apply_change(problem, request)
    rate = problem.agency.hourly_rate_pence
    old_package = next(p for p in problem.packages if p.id == request.package_id)
    new_package = next(p for p in changed.packages if p.id == request.package_id)
    before = budget_figures(old_package, rate)
    after = budget_figures(new_package, rate)

    # The roster question is asked without the cap: the budget has its own answer, and
    # an over-budget change that fits the roster is what goes to the council.
    unbounded = _without_budget(changed, request.package_id)
    old_visits = {v.id: v for v in expand_visits(old_package)}
    new_visits = {v.id: v for v in expand_visits(new_package)}
    touched, moved = _touched(old_visits, new_visits, renamed)
    new_roster, unplaced, state = _fit(unbounded, roster, touched, moved, renamed, began)
    reasons: dict[str, list[str]] = {}
    nearest: dict[str, list[Nearest]] = {}
    final: Roster | None = None
    if unplaced:
        for info in unplaced:
            reasons[info.visit.id] = unassigned_reasons(state, info)
            linked = info.index in state.instance.partner
            nearest[info.visit.id] = (
                [] if linked else _nearest(unbounded, roster, info, touched, renamed)
            )
    else:
        final = new_roster
        if after.within:
            # The roster as committed to: the changed input with its cap, checked.
            faults = check(changed, final)
            if faults:  # never expected: the budget rule is the one `after` used
                raise ChangeError(f"internal: the changed roster breaks a rule: {faults[0]}")

    over_minutes = _minutes_over(after.weekly_minutes, rate, new_package)
    suggestions = _suggestions(
        new_package, rate, request, renamed, over_minutes, roster_fits=final is not None
    )
    suggestions += [f"start {v} at {n[0].start} instead" for v, n in nearest.items() if n]
    return ChangeVerdict(
        package_id=request.package_id,
        from_date=request.from_date,
        problem=changed,
        roster=final,
        before=before,
        after=after,
        hourly_rate_pence=rate,
        roster_changes=_roster_changes(roster, new_roster, old_visits, new_visits, renamed),
        reasons=reasons,
        nearest=nearest,
        suggestions=suggestions,
        over_minutes_per_week=over_minutes,
        elapsed_s=time.perf_counter() - began,
        described=_describe(request),
    )


def _without_budget(problem: Problem, package_id: str) -> Problem:
    packages = [
        p.model_copy(update={"budget": None}) if p.id == package_id else p for p in problem.packages
    ]
    return problem.model_copy(update={"packages": packages})


def _touched(
    old: dict[str, Any], new: dict[str, Any], renamed: dict[str, str]
) -> tuple[set[str], set[str]]:
    """New visit ids that are new or differ from the visit they were, and of those the
    ones new or given another window (moved: they do not keep their old start)."""
    back = {v: k for k, v in renamed.items()}
    touched: set[str] = set()
    moved: set[str] = set()
    for visit_id, visit in new.items():
        was = old.get(back.get(visit_id, visit_id))
        if was is None or (was.window, was.hard_window) != (visit.window, visit.hard_window):
            touched.add(visit_id)
            moved.add(visit_id)
        elif (was.duration_min, was.carers, was.skills) != (
            visit.duration_min,
            visit.carers,
            visit.skills,
        ):
            touched.add(visit_id)
    return touched, moved


def _fit(
    problem: Problem,
    roster: Roster,
    touched: set[str],
    moved: set[str],
    renamed: dict[str, str],
    began: float,
) -> tuple[Roster, list[VisitInfo], Any]:
    """The roster with the changed visits in, checked; the changed visits that fit
    nowhere; and the roster state their reasons are read from.

    Least change first: a visit only lengthened or shortened keeps its carers and its
    start if the roster still holds (checked); a moved or new visit, or one that no
    longer fits where it was, goes where a greedy insertion puts it with everyone else
    where they are."""
    inst = build_instance(problem)
    by_id = {v.visit.id: v for v in inst.visits}
    kept: list[Assignment] = []
    same_slot: list[Assignment] = []
    for a in roster.assignments:
        new_id = renamed.get(a.visit_id, a.visit_id)
        if new_id not in by_id:
            continue  # dropped
        if new_id in moved:
            continue
        if new_id in touched:
            end = parse_hhmm(a.start) + by_id[new_id].duration
            update = {"visit_id": new_id, "end": format_hhmm(min(end, MINUTES_PER_DAY))}
            same_slot.append(a.model_copy(update=update))
        else:
            kept.append(a.model_copy(update={"visit_id": new_id}))
    base = placements_of(inst, kept)
    start_from = base
    try:
        first = placements_of(inst, [*kept, *same_slot])
    except RosterMismatch:
        first = None
    if first is not None and not check(problem, _roster(inst, first, began)):
        start_from = first
    state = roster_state(inst, start_from)
    placed = {p.visit for p in start_from}
    for visit_id in sorted(touched, key=lambda t: (by_id[t].earliest, t)):
        place(state, by_id[visit_id], placed)
    placements = placements_of_state(state)
    candidate = _roster(inst, placements, began)
    faults = check(problem, candidate)
    if faults:  # never expected: greedy insertion keeps every rule
        raise ChangeError(f"internal: the changed roster breaks a rule: {faults[0]}")
    done = {p.visit for p in placements}
    unplaced = [by_id[t] for t in sorted(touched) if by_id[t].index not in done]
    return candidate, unplaced, state


def _roster(inst: Instance, placements: list[Any], began: float) -> Roster:
    state = roster_state(inst, placements)
    return finish(inst, state, placements, status="change", bound=None, began=began, num_workers=1)


def _nearest(
    problem: Problem,
    roster: Roster,
    visit: VisitInfo,
    touched: set[str],
    renamed: dict[str, str],
) -> list[Nearest]:
    """The nearest starts before and after the visit's window at which it would fit
    with everyone else where they are: its line's hard window opened to the whole day,
    the insertion options of the roster as it stands (as agency slots do)."""
    wide = _whole_day(problem, visit)
    inst = build_instance(wide)
    by_id = {v.visit.id: v for v in inst.visits}
    kept = [
        a.model_copy(update={"visit_id": renamed.get(a.visit_id, a.visit_id)})
        for a in roster.assignments
        if renamed.get(a.visit_id, a.visit_id) in by_id
        and renamed.get(a.visit_id, a.visit_id) not in touched
    ]
    state = roster_state(inst, placements_of(inst, kept))
    info = by_id[visit.visit.id]
    options = [o for s in state.candidate_shifts(info) for o in state.options(info, s)]
    offset = info.day * MINUTES_PER_DAY
    found: dict[str, Nearest] = {}
    best_before: Nearest | None = None
    best_after: Nearest | None = None
    for minute in range(0, MINUTES_PER_DAY - info.duration + 1, NEAREST_STEP_MIN):
        start = offset + minute
        free = sorted({o.worker for o in options if o.earliest <= start <= o.latest})
        if len(free) < info.carers:
            continue
        away = visit.minutes_outside(start)
        if away == 0:
            continue  # inside the window it was refused for another reason
        names = tuple(inst.workers[w].id for w in free[: info.carers])
        near = Nearest(format_hhmm(minute), names, away)
        if start < visit.preferred_start:
            if best_before is None or away < best_before.minutes_from_window:
                best_before = near
        elif best_after is None or away < best_after.minutes_from_window:
            best_after = near
    for near in (best_before, best_after):
        if near is not None:
            found[near.start] = near
    return sorted(found.values(), key=lambda n: (n.minutes_from_window, n.start))


def _whole_day(problem: Problem, visit: VisitInfo) -> Problem:
    """The problem with the visit's line allowed to start at any time of the day."""
    packages = []
    for package in problem.packages:
        if package.id != visit.visit.package_id:
            packages.append(package)
            continue
        lines = []
        for n, line in enumerate(package.visits, start=1):
            base = line.id or f"{package.id}-v{n}"
            if f"{base}-{visit.visit.weekday.value}" == visit.visit.id:
                whole = TimeRange.of_minutes(0, MINUTES_PER_DAY - line.duration_min)
                line = line.model_copy(update={"hard_window": whole})
            lines.append(line)
        packages.append(package.model_copy(update={"visits": lines}))
    return problem.model_copy(update={"packages": packages})


def _minutes_over(minutes: int, rate: int, package: CarePackage) -> int:
    """The fewest carer minutes a week to take off for the package to be within its
    cap, by the budget rule itself (0 when it is within)."""
    budget = package.budget
    if budget is None:
        return 0
    over = 0
    while over < minutes and not within_budget(minutes - over, rate, budget):
        over += 1
    return over


def _suggestions(
    package: CarePackage,
    rate: int,
    request: ChangeRequest,
    renamed: dict[str, str],
    over: int,
    *,
    roster_fits: bool,
) -> list[str]:
    """What would bring an over-budget change within the cap, each checked against
    the budget rule: the change made smaller, another visit shortened, banked minutes
    used. Shortening a visit never breaks the roster (same start, same carers, done
    sooner), so these keep whatever roster fit the change had."""
    if over == 0 or package.budget is None:
        return []
    budget = package.budget
    visits = expand_visits(package)
    minutes = sum(v.duration_min * v.carers for v in visits)
    found: list[str] = []
    changed_ids: set[str] = set()
    for item in request.changes:
        if isinstance(item, LengthenVisit):
            new_id = renamed.get(item.visit_id, item.visit_id)
            changed_ids.add(new_id)
            visit = next(v for v in visits if v.id == new_id)
            smaller = item.minutes - -(-over // visit.carers)
            if smaller > 0 and within_budget(
                minutes - (item.minutes - smaller) * visit.carers, rate, budget
            ):
                found.append(
                    f"lengthen {_day_name(visit.weekday)}'s visit by {smaller} minutes "
                    f"instead of {item.minutes}"
                )
        elif isinstance(item, AddVisit | ShortenVisit | MoveVisit):
            ident = item.id if isinstance(item, AddVisit) else item.visit_id
            changed_ids.add(renamed.get(ident, ident))
            if isinstance(item, AddVisit):
                changed_ids.add(f"{item.id}-{item.weekday.value}")
    others = sorted(
        (v for v in visits if v.id not in changed_ids),
        key=lambda v: (-v.duration_min, v.weekday.index, v.window.start_min, v.id),
    )
    shortened = 0
    for visit in others:
        cut = -(-over // visit.carers)
        if visit.duration_min - cut < MIN_VISIT_MIN:
            continue
        if not within_budget(minutes - cut * visit.carers, rate, budget):
            continue
        found.append(
            f"shorten {_day_name(visit.weekday)}'s {visit.window.start} visit "
            f"({visit.id}) by {cut} minutes"
        )
        shortened += 1
        if shortened >= MAX_SUGGESTIONS:
            break
    weekly = cost_pence(over, rate)
    if request.bank_minutes is None:
        found.append(
            f"use {over} banked minutes a week ({pence_text(weekly)} a week at "
            f"{pence_text(rate)}/h), if the bank holds them"
        )
    elif request.bank_minutes >= over:
        weeks = request.bank_minutes // over
        found.append(
            f"use {over} banked minutes a week ({pence_text(weekly)}): the "
            f"{request.bank_minutes} banked minutes cover {weeks} week{'s' * (weeks != 1)}"
        )
    if not roster_fits:
        found.append("(the change must also fit the roster: see the reasons)")
    return found


def _roster_changes(
    committed: Roster,
    new: Roster | None,
    old_visits: dict[str, Any],
    new_visits: dict[str, Any],
    renamed: dict[str, str],
) -> list[RosterChange]:
    """The package's visits whose carers, start or length change."""
    was = {a.visit_id: a for a in committed.assignments if a.visit_id in old_visits}
    now = (
        {} if new is None else {a.visit_id: a for a in new.assignments if a.visit_id in new_visits}
    )
    back = {v: k for k, v in renamed.items()}
    out = []
    seen_old: set[str] = set()
    for new_id in sorted(new_visits, key=lambda v: (new_visits[v].weekday.index, v)):
        old_id = back.get(new_id, new_id)
        seen_old.add(old_id)
        a, b = was.get(old_id), now.get(new_id)
        before = VisitSlot(tuple(sorted(a.workers)), a.start) if a else VisitSlot((), None)
        after = VisitSlot(tuple(sorted(b.workers)), b.start) if b else VisitSlot((), None)
        old_len = old_visits[old_id].duration_min if old_id in old_visits else None
        new_len = new_visits[new_id].duration_min
        if before != after or old_len != new_len:
            out.append(
                RosterChange(new_id, new_visits[new_id].weekday, before, after, old_len, new_len)
            )
    for old_id in sorted(set(old_visits) - seen_old):
        a = was.get(old_id)
        out.append(
            RosterChange(
                old_id,
                old_visits[old_id].weekday,
                VisitSlot(tuple(sorted(a.workers)), a.start) if a else VisitSlot((), None),
                VisitSlot((), None),
                old_visits[old_id].duration_min,
                None,
            )
        )
    return out
