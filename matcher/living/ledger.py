"""The budget ledger of a package's year, with time banking (issue 13, section 4).

A package's budget year is 52 weeks (364 days) from `year_start`: the year of the
engine's budget rule (`matcher.timeline.within_budget`: a yearly cap pays 52 weeks of
the weekly cost), so a pattern within its cap is within it over the dated year too.
The ledger lays the weekly pattern on every date of that year
(`matcher.living.dated.lay_template`) and reads its entries:

- `client_away` (hospital, respite, from one date to another): those dates' visits are
  not delivered, and their minutes go to the bank;
- `cancelled` (one visit on one date): with notice it goes to the bank; without
  notice it is charged as if delivered (the agency kept the carer's time);
- `use_bank` (minutes of care on a date, an outing): paid from the bank.

What was delivered in a week gone by is read from that week's dated roster when the
ledger carries it (`rosters`: the rosters `carematch week` / `solve` / `replan` write,
each with its `week_start`): a planned visit the roster assigns on a date up to
`as_of` was delivered; one it does not assign (a carer away and nobody covered) was
not delivered by the agency, so it is banked, not charged, under its own reason
(`NOT_COVERED`). An entry still wins over a roster (the person's record of a
hospital stay or a cancellation says why a visit did not happen), and a week without a
roster keeps the plan less the entries.

Everything is counted in carer minutes (a visit's minutes times its carers), which
are whole numbers, and priced at the agency's hourly rate by the one cost function
(`matcher.timeutil.cost_pence`), so every figure is exact pence (a `Fraction`, never
a float). The package's rules (`BankRules`) hold: the bank never goes negative (a
use larger than the bank holds on its date is refused), it expires at the end of the
year, and a week may not cost more than the weekly average (the cap / 52) by more
than `max_week_over_average_pct` without approval. The budget rule then holds over
the year with the bank: spent + to come + banked = what the pattern plans, never
more than the cap.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from typing import Annotated, Any, Literal, Self

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from matcher.living.dated import DatedVisit, lay_template
from matcher.living.money import pence_json, pence_text
from matcher.schema import CarePackage, Problem, Roster, Strict, expand_visits
from matcher.timeutil import WEEKS_PER_YEAR, cost_pence

__all__ = [
    "NOT_COVERED",
    "BankRules",
    "Ledger",
    "LedgerError",
    "Review",
    "Statement",
    "statement",
]

YEAR_DAYS = 7 * WEEKS_PER_YEAR

NOT_COVERED = "not covered by the agency"
"""The reason a planned visit a dated roster leaves unassigned is not delivered: the
agency's failure, so the person is not charged for it and it goes to the bank."""

# A visit changed for one date (`matcher.living.dated`): "<line>@<date>-<Day>".
_CHANGED_ID = re.compile(r"^(?P<line>.+)@(?P<date>\d{4}-\d{2}-\d{2})-(?P<day>[A-Z][a-z]{2})$")


class LedgerError(ValueError):
    """A ledger that does not fit its input: a date outside the year, an unknown visit."""


class ClientAwayEntry(Strict):
    kind: Literal["client_away"]
    from_date: date = Field(alias="from")
    to_date: date = Field(alias="to")
    reason: str = Field(default="hospital", max_length=200)

    @model_validator(mode="after")
    def _forwards(self) -> Self:
        if self.to_date < self.from_date:
            raise ValueError("to is before from")
        return self


class CancelledEntry(Strict):
    kind: Literal["cancelled"]
    date: date
    visit_id: str = Field(min_length=1, description='The template visit: "mary-morning-Tue".')
    notice: bool = Field(default=True, description="Cancelled with notice: banked, not charged.")
    reason: str = Field(default="", max_length=200)


class UseBankEntry(Strict):
    kind: Literal["use_bank"]
    date: date
    minutes: PositiveInt = Field(description="Carer minutes of care paid from the bank.")
    note: str = Field(default="", max_length=200)
    approved: bool = Field(default=False, description="Approved over the weekly limit.")


Entry = Annotated[ClientAwayEntry | CancelledEntry | UseBankEntry, Field(discriminator="kind")]


class BankRules(Strict):
    """What the package allows with unspent budget."""

    banking: bool = Field(default=True, description="Unspent minutes are banked at all.")
    expires_at_year_end: bool = True
    max_week_over_average_pct: NonNegativeInt | None = Field(
        default=25,
        description="A week may cost this much over the weekly average without approval "
        "(null: no limit).",
    )


class Review(Strict):
    """Reviews: the first some weeks after care starts, then every so many weeks."""

    first_after_weeks: PositiveInt = 6
    every_weeks: PositiveInt = 52


class Ledger(Strict):
    """LEDGER.json: one package's budget year and what happened in it."""

    package_id: str = Field(min_length=1)
    year_start: date
    as_of: date = Field(description="The statement's date: what is done is up to it.")
    care_start: date | None = Field(default=None, description="Default: year_start.")
    review: Review = Field(default_factory=Review)
    rules: BankRules = Field(default_factory=BankRules)
    entries: list[Entry] = Field(default_factory=list)
    rosters: list[Roster] = Field(
        default_factory=list,
        description="The dated rosters of weeks gone by (each with its week_start), "
        "inline: what was delivered in those weeks is read from them.",
    )

    @property
    def year_end(self) -> date:
        return self.year_start + timedelta(days=YEAR_DAYS - 1)


# --------------------------------------------------------------------------- output


@dataclass(frozen=True)
class Tally:
    """Visits and carer minutes, priced at the rate when shown."""

    visits: int = 0
    minutes: int = 0

    def plus(self, minutes: int, visits: int = 1) -> Tally:
        return Tally(self.visits + visits, self.minutes + minutes)

    def to_json(self, rate: int) -> dict[str, Any]:
        return {
            "visits": self.visits,
            "minutes": self.minutes,
            "pence": pence_json(cost_pence(self.minutes, rate)),
        }


@dataclass
class Statement:
    """A package's budget year as of a date: what a person and their family read."""

    package_id: str
    client_name: str
    agency_name: str
    rate: int
    year_start: date
    year_end: date
    as_of: date
    cap_pence: int | None
    planned: Tally
    delivered: Tally
    charged: Tally
    not_delivered: dict[str, Tally]
    used: Tally
    earned: Tally
    to_come: Tally
    booked: Tally  # uses of the bank after as_of
    expected: Tally  # not delivered after as_of (a hospital stay already known)
    next_review: date | None
    approvals_needed: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    expires: date | None = None

    # ------------------------------------------------------------- figures

    def pence(self, minutes: int) -> Fraction:
        return cost_pence(minutes, self.rate)

    @property
    def spent_minutes(self) -> int:
        return self.delivered.minutes + self.charged.minutes + self.used.minutes

    @property
    def bank_minutes(self) -> int:
        """Banked as of the statement's date (never negative: uses beyond it refused)."""
        return self.earned.minutes - self.used.minutes

    @property
    def year_total_minutes(self) -> int:
        """Spent and still to come (planned visits and booked uses of the bank)."""
        return self.spent_minutes + self.to_come.minutes + self.booked.minutes

    @property
    def left_pence(self) -> Fraction | None:
        return None if self.cap_pence is None else self.cap_pence - self.pence(self.spent_minutes)

    @property
    def within_cap(self) -> bool:
        """The year within the cap even if every banked minute is used: spent, to
        come, banked and expected to bank, at most the cap (exact pence)."""
        if self.cap_pence is None:
            return True
        # What is left in the bank at the year's end, if then used: banked now, plus
        # what known absences will bank, less what is already booked from it.
        most = self.spent_minutes + self.to_come.minutes + self.bank_minutes + self.expected.minutes
        return self.pence(most) <= self.cap_pence

    def to_json(self) -> dict[str, Any]:
        """What `carematch budget --json` prints (money as exact pence strings)."""
        rate = self.rate
        not_delivered = Tally(
            sum(t.visits for t in self.not_delivered.values()),
            sum(t.minutes for t in self.not_delivered.values()),
        )
        return {
            "package_id": self.package_id,
            "client": self.client_name,
            "agency": self.agency_name,
            "hourly_rate_pence": rate,
            "year": {"start": self.year_start.isoformat(), "end": self.year_end.isoformat()},
            "as_of": self.as_of.isoformat(),
            "cap_pence": None if self.cap_pence is None else pence_json(self.cap_pence),
            "planned": self.planned.to_json(rate),
            "spent": {
                "minutes": self.spent_minutes,
                "pence": pence_json(self.pence(self.spent_minutes)),
                "delivered": self.delivered.to_json(rate),
                "charged_not_delivered": self.charged.to_json(rate),
                "from_bank": self.used.to_json(rate),
            },
            "not_delivered": {
                **not_delivered.to_json(rate),
                "by_reason": {k: v.to_json(rate) for k, v in sorted(self.not_delivered.items())},
            },
            "bank": {
                "minutes": self.bank_minutes,
                "pence": pence_json(self.pence(self.bank_minutes)),
                "earned_minutes": self.earned.minutes,
                "used_minutes": self.used.minutes,
                "booked_minutes": self.booked.minutes,
                "expected_minutes": self.expected.minutes,
                "expires": None if self.expires is None else self.expires.isoformat(),
            },
            "to_come": self.to_come.to_json(rate),
            "left_pence": None if self.left_pence is None else pence_json(self.left_pence),
            "year_total_pence": pence_json(self.pence(self.year_total_minutes)),
            "within_cap": self.within_cap,
            "next_review": None if self.next_review is None else self.next_review.isoformat(),
            "approvals_needed": self.approvals_needed,
            "refused": self.refused,
            "lines": self.lines(),
        }

    def lines(self) -> list[str]:
        """The statement in sentences."""
        said = [
            f"{self.client_name}'s care budget for {_day(self.year_start)} to "
            f"{_day(self.year_end)}, as of {_day(self.as_of)}, at {self.agency_name} "
            f"({pence_text(self.rate)} an hour)."
        ]
        if self.cap_pence is not None:
            said.append(f"Budget for the year: {pence_text(self.cap_pence)}.")
        said.append(
            f"Spent so far: {pence_text(self.pence(self.spent_minutes))} "
            f"({_visits(self.delivered.visits)} delivered, {_hours(self.delivered.minutes)}"
            + (
                f"; {self.charged.visits} cancelled at short notice and charged"
                if self.charged.visits
                else ""
            )
            + (f"; {_hours(self.used.minutes)} from the bank" if self.used.minutes else "")
            + ")."
        )
        if self.left_pence is not None:
            booked = (
                f" (of which {pence_text(self.pence(self.booked.minutes))} is booked)"
                if self.booked.minutes
                else ""
            )
            said.append(
                f"Left: {pence_text(self.left_pence)}: "
                f"{pence_text(self.pence(self.to_come.minutes))} of care planned for the rest "
                f"of the year and {pence_text(self.pence(self.bank_minutes))} banked{booked}."
            )
        for reason, tally in sorted(self.not_delivered.items()):
            fate = "banked" if self.earned.minutes else "not banked (the package does not bank)"
            said.append(
                f"Not delivered ({reason}): {_visits(tally.visits)}, {_hours(tally.minutes)}, "
                f"{pence_text(self.pence(tally.minutes))} {fate}."
            )
        said.append(
            f"Banked: {pence_text(self.pence(self.bank_minutes))} "
            f"({self.bank_minutes} minutes of care at {pence_text(self.rate)} an hour)"
            + (f", to use by {_day(self.expires)}." if self.expires else ".")
        )
        if self.next_review is not None:
            said.append(f"Next review: {_day(self.next_review)}.")
        for item in self.approvals_needed:
            said.append(f"Needs approval: {item['reason']}.")
        for item in self.refused:
            said.append(f"Refused: {item['reason']}.")
        return said


def _day(d: date) -> str:
    return f"{d.day} {d.strftime('%B %Y')}"


def _visits(count: int) -> str:
    return f"{count} visit{'s' * (count != 1)}"


def _hours(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} minutes"
    return f"{hours} h {rest:02d}" if rest else f"{hours} h"


# --------------------------------------------------------------------------- engine


def statement(problem: Problem, ledger: Ledger) -> Statement:
    """The package's year as of `ledger.as_of` (see the module doc).

    Raises `LedgerError` naming the field for a package not in the input, a date
    outside the budget year, a cancelled visit that is not on that date, or a roster
    that is not of a dated week gone by in the year (`_rostered`).
    """
    package = _package(problem, ledger)
    rate = problem.agency.hourly_rate_pence
    start, end = ledger.year_start, ledger.year_end
    _dates_inside(ledger)
    planned = lay_template(package, start, end)
    away: dict[date, str] = {}
    for entry in ledger.entries:
        if isinstance(entry, ClientAwayEntry):
            d = entry.from_date
            while d <= entry.to_date:
                away.setdefault(d, entry.reason or "client away")
                d += timedelta(days=1)
    visit_days = {v.id: v.weekday for v in expand_visits(package)}
    cancelled: dict[tuple[date, str], CancelledEntry] = {}
    for i, entry in enumerate(ledger.entries):
        if isinstance(entry, CancelledEntry):
            day = visit_days.get(entry.visit_id)
            if day is None:
                raise LedgerError(
                    f"entries[{i}].visit_id: no visit {entry.visit_id!r} in {package.id}"
                )
            if day.index != entry.date.weekday():
                raise LedgerError(
                    f"entries[{i}].date: {entry.date.isoformat()} is not a "
                    f"{day.full_name}, the day of {entry.visit_id}"
                )
            cancelled[(entry.date, entry.visit_id)] = entry
    rostered = _rostered(ledger, set(visit_days))

    planned_tally = Tally()
    delivered, charged, to_come, expected = Tally(), Tally(), Tally(), Tally()
    not_delivered: dict[str, Tally] = defaultdict(Tally)
    earned_on: dict[date, int] = defaultdict(int)  # banked minutes by the date they were
    week_minutes: dict[int, int] = defaultdict(int)  # what each budget week costs
    for dv in planned:
        minutes = dv.carer_minutes
        planned_tally = planned_tally.plus(minutes)
        banked_as = _banked_as(dv, away, cancelled, rostered)
        past = dv.day <= ledger.as_of
        if banked_as is None:
            charge = cancelled.get((dv.day, dv.visit.id))
            if past:
                if charge is not None:
                    charged = charged.plus(minutes)
                else:
                    delivered = delivered.plus(minutes)
            else:
                to_come = to_come.plus(minutes)
            week_minutes[_week(ledger, dv.day)] += minutes
            continue
        if ledger.rules.banking:
            earned_on[dv.day] += minutes
        if past:
            not_delivered[banked_as] = not_delivered[banked_as].plus(minutes)
        else:
            expected = expected.plus(minutes)

    used, booked = Tally(), Tally()
    earned = Tally()
    if ledger.rules.banking:
        earned = Tally(
            sum(t.visits for t in not_delivered.values()),
            sum(t.minutes for t in not_delivered.values()),
        )
    refused: list[dict[str, Any]] = []
    uses = sorted(
        (
            (entry.date, i, entry)
            for i, entry in enumerate(ledger.entries)
            if isinstance(entry, UseBankEntry)
        ),
        key=lambda t: (t[0], t[1]),
    )
    spent_from_bank = 0
    accepted: list[tuple[date, int, UseBankEntry]] = []
    for day, i, entry in uses:
        balance = sum(m for d, m in earned_on.items() if d <= day) - spent_from_bank
        if entry.minutes > balance:
            refused.append(
                {
                    "entry": i,
                    "date": day.isoformat(),
                    "reason": (
                        f"entries[{i}]: {entry.minutes} minutes from the bank on "
                        f"{day.isoformat()}, which then holds {max(balance, 0)} "
                        "(the bank never goes negative)"
                    ),
                }
            )
            continue
        spent_from_bank += entry.minutes
        accepted.append((day, i, entry))
        week_minutes[_week(ledger, day)] += entry.minutes
        if day <= ledger.as_of:
            used = used.plus(entry.minutes)
        else:
            booked = booked.plus(entry.minutes)
    approvals = _over_average(problem, package, ledger, week_minutes, accepted)

    return Statement(
        package_id=package.id,
        client_name=package.client.name,
        agency_name=problem.agency.name,
        rate=rate,
        year_start=start,
        year_end=end,
        as_of=ledger.as_of,
        cap_pence=_cap_year(package),
        planned=planned_tally,
        delivered=delivered,
        charged=charged,
        not_delivered=dict(not_delivered),
        used=used,
        earned=earned,
        to_come=to_come,
        booked=booked,
        expected=expected,
        next_review=_next_review(ledger),
        approvals_needed=approvals,
        refused=refused,
        expires=end if ledger.rules.expires_at_year_end else None,
    )


def _package(problem: Problem, ledger: Ledger) -> CarePackage:
    for package in problem.packages:
        if package.id == ledger.package_id:
            return package
    raise LedgerError(f"package_id: no package {ledger.package_id!r} in the input")


def _dates_inside(ledger: Ledger) -> None:
    start, end = ledger.year_start, ledger.year_end
    span = f"the budget year {start.isoformat()} to {end.isoformat()}"
    if not start <= ledger.as_of <= end:
        raise LedgerError(f"as_of: {ledger.as_of.isoformat()} is outside {span}")
    for i, entry in enumerate(ledger.entries):
        if isinstance(entry, ClientAwayEntry):
            pairs = [("from", entry.from_date), ("to", entry.to_date)]
        else:
            pairs = [("date", entry.date)]
        for name, value in pairs:
            if not start <= value <= end:
                raise LedgerError(
                    f"entries[{i}].{name}: {value.isoformat()} is outside {span}"
                    + (" (the bank expires at the year's end)" if entry.kind == "use_bank" else "")
                )


def _banked_as(
    dv: DatedVisit,
    away: dict[date, str],
    cancelled: dict[tuple[date, str], CancelledEntry],
    rostered: dict[date, set[str]],
) -> str | None:
    """Why a planned visit goes to the bank ("hospital", "cancelled with notice",
    `NOT_COVERED`), or None when it is delivered or charged.

    The ledger's entries come first: a client away or a cancellation is why a visit
    did not happen, whatever a roster planned before it was known (and a visit
    cancelled without notice is charged, covered or not). Only then does the dated
    roster of a day gone by say whether the agency delivered it."""
    if dv.day in away:
        return away[dv.day]
    entry = cancelled.get((dv.day, dv.visit.id))
    if entry is not None:
        return "cancelled with notice" if entry.notice else None
    covered = rostered.get(dv.day)
    if covered is not None and dv.visit.id not in covered:
        return NOT_COVERED
    return None


def _rostered(ledger: Ledger, template_ids: set[str]) -> dict[date, set[str]]:
    """The template visits of the package each dated roster assigns, by date, for the
    days of the rosters' weeks up to `as_of` (a later day of the current week is still
    to come: a re-plan may yet cover it).

    A visit changed for one date (`<line>@<date>-<Day>`) delivers the template visit
    of that date (its extra minutes, if any, are a `use_bank` entry, as `carematch
    week` says); an extra visit is not in the plan and says nothing here. Raises
    `LedgerError` naming the roster's field for a roster without a dated week, a week
    outside the budget year or not yet begun, or two rosters of one week.
    """
    start, end = ledger.year_start, ledger.year_end
    rostered: dict[date, set[str]] = {}
    weeks: dict[date, int] = {}
    for i, roster in enumerate(ledger.rosters):
        monday = roster.week_start
        where = f"rosters[{i}].week_start"
        if monday is None:
            raise LedgerError(
                f"{where}: missing; a roster of weeks gone by is a dated week's "
                "(`carematch week`, then solve or replan)"
            )
        if monday.weekday() != 0:
            raise LedgerError(f"{where}: {monday.isoformat()} is not a Monday")
        sunday = monday + timedelta(days=6)
        if sunday < start or monday > end:
            raise LedgerError(
                f"{where}: the week of {monday.isoformat()} is outside the budget year "
                f"{start.isoformat()} to {end.isoformat()}"
            )
        if monday > ledger.as_of:
            raise LedgerError(
                f"{where}: the week of {monday.isoformat()} begins after as_of "
                f"{ledger.as_of.isoformat()} (rosters tell what was delivered)"
            )
        if monday in weeks:
            raise LedgerError(
                f"{where}: a second roster of the week of {monday.isoformat()} "
                f"(rosters[{weeks[monday]}] is its roster)"
            )
        weeks[monday] = i
        last = min(sunday, ledger.as_of)
        for offset in range((last - monday).days + 1):
            rostered[monday + timedelta(days=offset)] = set()
        for assignment in roster.assignments:
            if assignment.package_id != ledger.package_id:
                continue
            day = monday + timedelta(days=assignment.weekday.index)
            if day > last:
                continue
            visit_id = assignment.visit_id
            changed = _CHANGED_ID.match(visit_id)
            if changed is not None and changed["date"] == day.isoformat():
                visit_id = f"{changed['line']}-{changed['day']}"
            if visit_id in template_ids:
                rostered[day].add(visit_id)
    return rostered


def _week(ledger: Ledger, day: date) -> int:
    """The budget week of a date: weeks run from the year's first day."""
    return (day - ledger.year_start).days // 7


def _cap_year(package: CarePackage) -> int | None:
    budget = package.budget
    if budget is None:
        return None
    return budget.amount_pence if budget.period == "year" else budget.amount_pence * WEEKS_PER_YEAR


def _over_average(
    problem: Problem,
    package: CarePackage,
    ledger: Ledger,
    week_minutes: dict[int, int],
    uses: list[tuple[date, int, UseBankEntry]],
) -> list[dict[str, Any]]:
    """Weeks a use of the bank takes more than the allowed share over the weekly
    average (the cap a week) without approval, compared in exact pence."""
    pct = ledger.rules.max_week_over_average_pct
    cap = _cap_year(package)
    if pct is None or cap is None:
        return []
    rate = problem.agency.hourly_rate_pence
    limit = Fraction(cap, WEEKS_PER_YEAR) * Fraction(100 + pct, 100)
    found = []
    flagged: set[int] = set()
    for day, i, entry in uses:
        week = _week(ledger, day)
        if entry.approved or week in flagged:
            continue
        cost = cost_pence(week_minutes[week], rate)
        if cost > limit:
            flagged.add(week)
            first = ledger.year_start + timedelta(days=7 * week)
            found.append(
                {
                    "entry": i,
                    "week_start": first.isoformat(),
                    "week_pence": pence_json(cost),
                    "limit_pence": pence_json(limit),
                    "reason": (
                        f"the week of {first.isoformat()} costs {pence_text(cost)} with "
                        f"entries[{i}], over the weekly average by more than {pct} % "
                        f"(at most {pence_text(limit)} without approval)"
                    ),
                }
            )
    return found


def _next_review(ledger: Ledger) -> date | None:
    """The first review date on or after the statement's date: `first_after_weeks`
    after care starts, then every `every_weeks`."""
    start = ledger.care_start or ledger.year_start
    review = start + timedelta(weeks=ledger.review.first_after_weeks)
    while review < ledger.as_of:
        review += timedelta(weeks=ledger.review.every_weeks)
    return review
