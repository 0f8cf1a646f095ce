"""Dated weeks: the weekly pattern laid onto real dates (issue 13, section 1).

The weekly pattern of a package stays the template. A *dated week* is that template
laid onto one real week (an ISO week, "2026-W49", or the date of its Monday), with
the exceptions of those dates: a carer away (sickness, leave, training: a date and
a time range), a client away (hospital, respite: from one date to another), a
one-off extra visit, a visit changed for one date. Bank holidays are input data (a
list of dates), never a calendar baked into the code.

`dated_problem` turns a template `Problem` and a `DatedWeek` into the `Problem` of
that week (with `week_start` set, the exceptions made), which every command takes as
it is: `carematch solve`, `check`, and `replan`, whose `--absent` may then name an
ISO date inside the week. `lay_template` lays a package's pattern over any range of
dates: the budget ledger (`matcher.living.ledger`) plans a budget year with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Self

from pydantic import Field, PositiveInt, model_validator

from matcher.schema import (
    CarePackage,
    Problem,
    Strict,
    TimeRange,
    Visit,
    VisitPattern,
    Worker,
    expand_visits,
)
from matcher.timeline import within_budget
from matcher.timeutil import WEEKDAYS, WEEKS_PER_YEAR, Weekday

__all__ = [
    "CarerAway",
    "ChangedVisit",
    "ClientAway",
    "DatedError",
    "DatedVisit",
    "DatedWeek",
    "ExtraVisit",
    "date_of",
    "dated_problem",
    "days",
    "extra_minutes",
    "lay_template",
    "parse_week",
    "week_summary",
    "weekday_of",
]

_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class DatedError(ValueError):
    """A dated week that does not fit its input (a date outside it, an unknown id)."""


def parse_week(text: str) -> date:
    """The Monday of "2026-W49" (ISO week) or of a Monday given as "2026-11-30"."""
    text = text.strip()
    match = _ISO_WEEK.match(text)
    if match:
        try:
            return date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError as exc:
            raise ValueError(f"{text}: {exc}") from None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO week (2026-W49) nor a date") from None
    if day.weekday() != 0:
        raise ValueError(f"{text} is a {WEEKDAYS[day.weekday()].full_name}; a week starts Monday")
    return day


def weekday_of(day: date) -> Weekday:
    return WEEKDAYS[day.weekday()]


def days(first: date, last: date) -> Iterator[date]:
    """Every date from `first` to `last`, both included."""
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


@dataclass(frozen=True)
class DatedVisit:
    """One visit of the template on one real date."""

    day: date
    visit: Visit

    @property
    def carer_minutes(self) -> int:
        """What the package pays for: the visit's minutes times its carers (the same
        measure as the budget rule's, `matcher.timeline.package_carer_minutes`)."""
        return self.visit.duration_min * self.visit.carers


def lay_template(package: CarePackage, first: date, last: date) -> list[DatedVisit]:
    """The package's weekly visits on every date from `first` to `last` (included),
    in date order: a Tuesday visit of the pattern falls on every Tuesday."""
    by_day: dict[Weekday, list[Visit]] = {}
    for visit in expand_visits(package):
        by_day.setdefault(visit.weekday, []).append(visit)
    for visits in by_day.values():
        visits.sort(key=lambda v: (v.window.start_min, v.id))
    return [DatedVisit(d, v) for d in days(first, last) for v in by_day.get(weekday_of(d), [])]


# --------------------------------------------------------------------------- the week


class CarerAway(Strict):
    """A carer away on one date, for the whole day or a time range of it."""

    worker_id: str = Field(min_length=1)
    date: date
    start: str = "00:00"
    end: str = "24:00"
    reason: str = ""

    @model_validator(mode="after")
    def _forwards(self) -> Self:
        TimeRange(start=self.start, end=self.end)
        if self.start == self.end:
            raise ValueError("start and end are the same moment")
        return self


class ClientAway(Strict):
    """A client away (hospital, respite) from one date to another, both included: no
    visits on those dates."""

    package_id: str = Field(min_length=1)
    from_date: date = Field(alias="from")
    to_date: date = Field(alias="to")
    reason: str = "hospital"

    @model_validator(mode="after")
    def _forwards(self) -> Self:
        if self.to_date < self.from_date:
            raise ValueError("to is before from")
        return self


class ExtraVisit(Strict):
    """A one-off visit on one date (an outing, a visit after a hospital discharge)."""

    package_id: str = Field(min_length=1)
    date: date
    id: str = Field(min_length=1, description="Its line id; the visit is <id>-<Day>.")
    window: TimeRange
    hard_window: TimeRange | None = None
    duration_min: PositiveInt
    carers: int = Field(default=1, ge=1, le=2)
    skills: list[str] = Field(default_factory=list)
    tasks: list[str] = Field(default_factory=list)


class ChangedVisit(Strict):
    """A template visit changed for one date only (another window or length)."""

    visit_id: str = Field(min_length=1, description='The template visit: "mary-sunday-Sun".')
    date: date
    window: TimeRange | None = None
    hard_window: TimeRange | None = None
    duration_min: PositiveInt | None = None


class DatedWeek(Strict):
    """WEEK.json: which real week, its bank holidays and its exceptions."""

    week: str = Field(description='An ISO week ("2026-W49") or the date of its Monday.')
    bank_holidays: list[date] = Field(default_factory=list)
    carers_away: list[CarerAway] = Field(default_factory=list)
    clients_away: list[ClientAway] = Field(default_factory=list)
    extra_visits: list[ExtraVisit] = Field(default_factory=list)
    changed_visits: list[ChangedVisit] = Field(default_factory=list)

    @model_validator(mode="after")
    def _week_parses(self) -> Self:
        parse_week(self.week)
        return self

    @property
    def monday(self) -> date:
        return parse_week(self.week)

    def holidays_in_week(self) -> list[date]:
        sunday = self.monday + timedelta(days=6)
        return sorted(d for d in set(self.bank_holidays) if self.monday <= d <= sunday)


def _inside(week: DatedWeek, day: date, where: str) -> Weekday:
    monday = week.monday
    if not monday <= day <= monday + timedelta(days=6):
        raise DatedError(
            f"{where}: {day.isoformat()} is not in the week {monday.isoformat()} to "
            f"{(monday + timedelta(days=6)).isoformat()}"
        )
    return weekday_of(day)


def dated_problem(problem: Problem, week: DatedWeek) -> Problem:
    """The input of one real week: the template with the week's exceptions made.

    - a carer away: the range is cut out of their shifts that day (a shift cut in the
      middle becomes two, each a round trip from home);
    - a client away: their visits on those dates are left out;
    - a changed visit: that date's visit becomes a line of its own, `<line>@<date>`
      (its visit id `<line>@<date>-<Day>`), with the new window or length;
    - an extra visit: a line of its own on that date's weekday.

    Raises `DatedError` for a date outside the week or an unknown id, naming the field.
    """
    monday = week.monday
    workers = {w.id: w for w in problem.workers}
    packages = {p.id: p for p in problem.packages}
    cuts: dict[str, dict[Weekday, list[tuple[int, int]]]] = {}
    for i, away in enumerate(week.carers_away):
        if away.worker_id not in workers:
            raise DatedError(f"carers_away[{i}].worker_id: unknown worker {away.worker_id!r}")
        day = _inside(week, away.date, f"carers_away[{i}].date")
        span = TimeRange(start=away.start, end=away.end)
        cuts.setdefault(away.worker_id, {}).setdefault(day, []).append(
            (span.start_min, span.end_min)
        )
    gone: dict[str, set[Weekday]] = {}
    for i, client in enumerate(week.clients_away):
        if client.package_id not in packages:
            raise DatedError(f"clients_away[{i}].package_id: unknown package {client.package_id!r}")
        for d in days(max(client.from_date, monday), min(client.to_date, monday + timedelta(6))):
            gone.setdefault(client.package_id, set()).add(weekday_of(d))
    template_ids = {v.id: p.id for p in problem.packages for v in expand_visits(p)}
    changed: dict[str, list[tuple[Weekday, ChangedVisit]]] = {}
    for i, item in enumerate(week.changed_visits):
        if item.visit_id not in template_ids:
            raise DatedError(f"changed_visits[{i}].visit_id: unknown visit {item.visit_id!r}")
        day = _inside(week, item.date, f"changed_visits[{i}].date")
        if not item.visit_id.endswith(f"-{day.value}"):
            raise DatedError(
                f"changed_visits[{i}].date: {item.date.isoformat()} is a {day.full_name}, "
                f"not the day of {item.visit_id}"
            )
        changed.setdefault(template_ids[item.visit_id], []).append((day, item))
    extras: dict[str, list[tuple[Weekday, ExtraVisit]]] = {}
    for i, extra in enumerate(week.extra_visits):
        if extra.package_id not in packages:
            raise DatedError(f"extra_visits[{i}].package_id: unknown package {extra.package_id!r}")
        day = _inside(week, extra.date, f"extra_visits[{i}].date")
        extras.setdefault(extra.package_id, []).append((day, extra))

    new_workers = [_cut_worker(w, cuts.get(w.id, {})) for w in problem.workers]
    new_packages = []
    for package in problem.packages:
        new = _dated_package(
            package,
            gone.get(package.id, set()),
            changed.get(package.id, []),
            extras.get(package.id, []),
            monday,
        )
        if new is not None:
            new_packages.append(_budget_for_week(package, new, problem.agency.hourly_rate_pence))
    data = problem.model_dump(exclude_defaults=True)
    data["workers"] = [w.model_dump(exclude_defaults=True) for w in new_workers]
    data["packages"] = [p.model_dump(exclude_defaults=True) for p in new_packages]
    data["week_start"] = monday
    try:
        return Problem.model_validate(data)
    except ValueError as exc:
        raise DatedError(f"the dated week is not a valid input ({exc})") from None


def extra_minutes(template: CarePackage, dated: CarePackage) -> int:
    """Carer minutes the dated week's one-offs add to the template's week (0 if none):
    what the budget ledger pays from the bank (a `use_bank` entry)."""
    minutes = [sum(v.duration_min * v.carers for v in expand_visits(p)) for p in (template, dated)]
    return max(0, minutes[1] - minutes[0])


def _budget_for_week(template: CarePackage, dated: CarePackage, rate: int) -> CarePackage:
    """The dated package, its cap lifted by exactly what the week's one-offs add.

    A one-off (an extra visit, a longer visit on one date) is paid from the bank over
    the year (`matcher.living.ledger`), not from the week's share of the cap; so the
    week's cap becomes the dated week's own cost (to the penny above, by the budget
    rule's arithmetic), which lets exactly these visits through and not a minute more.
    """
    budget = dated.budget
    extra = extra_minutes(template, dated)
    if budget is None or extra == 0:
        return dated
    minutes = sum(v.duration_min * v.carers for v in expand_visits(dated))
    weeks = WEEKS_PER_YEAR if budget.period == "year" else 1
    needed = -(-(minutes * rate * weeks) // 60)  # whole pence, rounded up
    if needed <= budget.amount_pence:
        return dated
    lifted = budget.model_copy(update={"amount_pence": needed})
    assert within_budget(minutes, rate, lifted)
    return dated.model_copy(update={"budget": lifted})


def _cut_worker(worker: Worker, cuts: dict[Weekday, list[tuple[int, int]]]) -> Worker:
    """The worker with each range (minutes of the day) cut out of that day's shifts.

    A shift cut in the middle becomes two shifts, each a round trip from home: the
    engine's rule for a shift, so the carer goes home for the time away (unlike a
    re-plan, which must keep the committed round trips of the week as planned)."""
    if not cuts:
        return worker
    availability = {}
    for day, shifts in worker.availability.items():
        pieces = [(s.start_min, s.end_min) for s in shifts]
        for start, end in cuts.get(day, []):
            pieces = [
                piece
                for a, b in pieces
                for piece in ((a, min(b, start)), (max(a, end), b))
                if piece[0] < piece[1]
            ]
        if pieces:
            availability[day] = [TimeRange.of_minutes(a, b) for a, b in sorted(pieces)]
    return worker.model_copy(update={"availability": availability})


def _dated_package(
    package: CarePackage,
    gone: set[Weekday],
    changed: list[tuple[Weekday, ChangedVisit]],
    extras: list[tuple[Weekday, ExtraVisit]],
    monday: date,
) -> CarePackage | None:
    """The package's lines for the week, or None when the client is away all week."""
    if not (gone or changed or extras):
        return package
    linked = {end for link in package.links for end in (link.first, link.second)}
    change_of = {item.visit_id: (day, item) for day, item in changed}
    lines: list[VisitPattern] = []
    for n, line in enumerate(package.visits, start=1):
        base = line.id or f"{package.id}-v{n}"
        keep = []
        for day in line.weekdays:
            if day in gone:
                continue  # linked lines share their weekdays, so both lose the day
            visit_id = f"{base}-{day.value}"
            if visit_id in change_of:
                _, item = change_of[visit_id]
                if base in linked:
                    raise DatedError(
                        f"changed_visits: {visit_id} is on a linked line; change the pair "
                        "in the template instead"
                    )
                update: dict[str, Any] = {
                    "id": f"{base}@{item.date.isoformat()}",
                    "weekdays": [day],
                }
                if item.window is not None:
                    update["window"] = item.window
                    update["hard_window"] = item.hard_window
                if item.duration_min is not None:
                    update["duration_min"] = item.duration_min
                lines.append(VisitPattern.model_validate({**line.model_dump(), **update}))
                continue
            keep.append(day)
        if keep:
            lines.append(line.model_copy(update={"id": base, "weekdays": keep}))
    for day, extra in extras:
        if day in gone:
            continue
        lines.append(
            VisitPattern(
                id=extra.id,
                weekdays=[day],
                window=extra.window,
                hard_window=extra.hard_window,
                duration_min=extra.duration_min,
                carers=1 if extra.carers == 1 else 2,
                skills=extra.skills,
                tasks=extra.tasks,
            )
        )
    if not lines:
        return None
    kept_ids = {line.id for line in lines}
    links = [link for link in package.links if {link.first, link.second} <= kept_ids]
    return package.model_copy(update={"visits": lines, "links": links})


def date_of(monday: date, day: Weekday) -> date:
    """The date of a weekday in the week starting `monday`."""
    return monday + timedelta(days=day.index)


def week_summary(template: Problem, week: DatedWeek, dated: Problem) -> dict[str, Any]:
    """The dated week day by day (what `carematch week --json` prints): each date with
    its weekday, whether it is a bank holiday, its visits and the carers away, and the
    template visits left out (a client away) with the reason."""
    monday = week.monday
    holidays = set(week.holidays_in_week())
    planned = {v.id: v for p in dated.packages for v in expand_visits(p)}
    left_out = []
    for away in week.clients_away:
        for package in template.packages:
            if package.id != away.package_id:
                continue
            for visit in expand_visits(package):
                when = date_of(monday, visit.weekday)
                if away.from_date <= when <= away.to_date:
                    left_out.append(
                        {"visit_id": visit.id, "date": when.isoformat(), "reason": away.reason}
                    )
    out_days = []
    for offset in range(7):
        when = monday + timedelta(days=offset)
        day = weekday_of(when)
        visits = sorted(
            (v for v in planned.values() if v.weekday == day),
            key=lambda v: (v.window.start_min, v.id),
        )
        out_days.append(
            {
                "date": when.isoformat(),
                "weekday": day.value,
                "bank_holiday": when in holidays,
                "visits": [
                    {
                        "visit_id": v.id,
                        "package_id": v.package_id,
                        "window": str(v.window),
                        "duration_min": v.duration_min,
                        "carers": v.carers,
                    }
                    for v in visits
                ],
                "carers_away": [
                    {"worker_id": a.worker_id, "from": a.start, "to": a.end, "reason": a.reason}
                    for a in week.carers_away
                    if a.date == when
                ],
            }
        )
    templates = {p.id: p for p in template.packages}
    from_bank = {
        p.id: extra
        for p in dated.packages
        if p.id in templates and (extra := extra_minutes(templates[p.id], p))
    }
    return {
        "week_start": monday.isoformat(),
        "week_end": (monday + timedelta(days=6)).isoformat(),
        "from_bank_minutes": from_bank,
        "bank_holidays": [d.isoformat() for d in sorted(holidays)],
        "days": out_days,
        "left_out": sorted(left_out, key=lambda x: (x["date"], x["visit_id"])),
    }
