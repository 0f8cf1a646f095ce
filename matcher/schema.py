"""The JSON boundary of the engine: pydantic models for what comes in and goes out.

Everything here is validated where it is created, so the rest of the engine can trust
it: ids are unique, time ranges run forwards, skills are known, references resolve.
Inside the engine these models are flattened into plain integer arrays
(`matcher.instance`) because the solver and the checker need speed, not validation.

Conventions (see docs/model.md for the full story):
- times are weekday + "HH:MM"; a visit's `window` is the *preferred* start window
  (soft); its hard start window is the preferred one widened by
  `Weights.max_shift_min` unless the visit gives `hard_window` itself;
- money is integer pence; budgets are per year (52 weeks) or per week;
- a worker's availability ranges are shifts: travel from home to the first visit and
  back home after the last one happen inside the range.

Strict, because what passes goes to the solver (docs/limits.md): unknown keys are
refused at every level, numbers are never read from strings (nor booleans), every
number has bounds (OR-Tools answers a coefficient near 2^63 with a traceback, and a
speed of 0 or NaN divides by zero), floats are finite, ids, names and lists have
maximum lengths, and a problem's or a package's visits a week are counted against
`matcher.limits`, so a package of 10,000 visits is refused at once instead of building
a model for ten minutes in gigabytes of memory.
"""

from __future__ import annotations

import weakref
from datetime import date
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from matcher import limits
from matcher.limits import MINUTES_PER_DAY, MINUTES_PER_WEEK
from matcher.timeutil import Weekday, format_hhmm, parse_hhmm, shorten

# Skills a home-care agency records for its workers. An input may declare more in
# `Problem.skills`; anything else is a typo and is refused.
DEFAULT_SKILLS: tuple[str, ...] = (
    "personal_care",
    "medication",
    "dementia",
    "hoist",
    "catheter",
    "stoma",
    "peg_feeding",
    "diabetes",
    "end_of_life",
    "meal_preparation",
    "domestic",
    "companionship",
)


class Strict(BaseModel):
    """Base for every input model: unknown keys are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _weekday(value: object) -> object:
    return Weekday.parse(value) if isinstance(value, str) else value


def _number(value: object) -> object:
    """Refuse a string or a boolean where a number belongs: pydantic's lax mode would
    read "30" as 30 and true as 1, and a typo would pass as a value."""
    if isinstance(value, bool):
        raise ValueError("should be a number, not a boolean")
    if isinstance(value, str | bytes | bytearray):
        raise ValueError(f"should be a number, not the string {shorten(str(value))!r}")
    return value


_NUMBER = BeforeValidator(_number)

WeekdayField = Annotated[Weekday, BeforeValidator(_weekday)]
Id = Annotated[str, Field(min_length=1, max_length=limits.MAX_ID_CHARS)]
Text = Annotated[str, Field(max_length=limits.MAX_TEXT_CHARS)]
SkillName = Annotated[str, Field(min_length=1, max_length=limits.MAX_TEXT_CHARS)]
Skills = Annotated[list[SkillName], Field(max_length=limits.MAX_SKILLS)]
# Bounded numbers: each at most what a real week can hold (docs/limits.md).
DayMinutes = Annotated[int, Field(gt=0, le=MINUTES_PER_DAY), _NUMBER]
WeekMinutes = Annotated[int, Field(gt=0, le=MINUTES_PER_WEEK), _NUMBER]
GapMinutes = Annotated[int, Field(ge=-limits.MAX_GAP_MIN, le=limits.MAX_GAP_MIN), _NUMBER]
Weight = Annotated[int, Field(ge=0, le=limits.MAX_WEIGHT), _NUMBER]
Pence = Annotated[int, Field(gt=0, le=limits.MAX_RATE_PENCE), _NUMBER]
BudgetPence = Annotated[int, Field(gt=0, le=limits.MAX_BUDGET_PENCE), _NUMBER]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False), _NUMBER]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False), _NUMBER]
Kilometres = Annotated[float, Field(gt=0, le=limits.MAX_RADIUS_KM, allow_inf_nan=False), _NUMBER]
TravelMinutes = Annotated[
    float, Field(ge=0, le=limits.MAX_TRAVEL_MINUTES, allow_inf_nan=False), _NUMBER
]
Speed = Annotated[
    float,
    Field(ge=limits.MIN_SPEED_KMH, le=limits.MAX_SPEED_KMH, allow_inf_nan=False),
    _NUMBER,
]
Detour = Annotated[float, Field(ge=1.0, le=limits.MAX_DETOUR, allow_inf_nan=False), _NUMBER]
FixedMinutes = Annotated[int, Field(ge=0, le=limits.MAX_FIXED_MIN), _NUMBER]
# The keys of `TravelSettings`: a typo ("carurban") used to be ignored silently.
ModeArea = Literal["car_urban", "car_rural", "foot_urban", "foot_rural"]
Mode = Literal["car", "foot"]


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"


class GenderPreference(StrEnum):
    FEMALE = "female"
    MALE = "male"
    NONE = "none"


class TravelMode(StrEnum):
    CAR = "car"
    FOOT = "foot"


class AreaType(StrEnum):
    URBAN = "urban"
    RURAL = "rural"


class Location(Strict):
    lat: Latitude
    lon: Longitude


class TimeRange(Strict):
    """A range within one day, "HH:MM" to "HH:MM" ("24:00" allowed).

    A start window may be a single moment (start == end); a shift may not (`Worker`).
    """

    start: str = Field(max_length=5, description='"HH:MM", ASCII digits; "24:00" ends a day.')
    end: str = Field(max_length=5, description='"HH:MM", ASCII digits; "24:00" ends a day.')

    @field_validator("start", "end")
    @classmethod
    def _is_time(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @model_validator(mode="after")
    def _forwards(self) -> Self:
        if self.end_min < self.start_min:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    @property
    def start_min(self) -> int:
        return parse_hhmm(self.start)

    @property
    def end_min(self) -> int:
        return parse_hhmm(self.end)

    @classmethod
    def of_minutes(cls, start: int, end: int) -> TimeRange:
        return cls(start=format_hhmm(start), end=format_hhmm(end))

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


class ServiceArea(Strict):
    centre: Location
    radius_km: Kilometres


class Agency(Strict):
    id: Id
    name: Text
    hourly_rate_pence: Pence = Field(description="At most 100,000 (£1,000 an hour).")
    service_area: ServiceArea | None = None


Shifts = Annotated[list[TimeRange], Field(max_length=limits.MAX_SHIFTS_PER_DAY)]


class Worker(Strict):
    id: Id
    name: Text
    gender: Gender
    skills: Skills = Field(default_factory=list)
    home: Location
    travel_mode: TravelMode = TravelMode.CAR
    availability: dict[WeekdayField, Shifts] = Field(
        max_length=7,
        description="Shifts per weekday; a day missing means not available that day. "
        'Days are "Mon" to "Sun" or "Monday" to "Sunday", in any case.',
    )
    max_minutes_per_day: DayMinutes = 8 * 60
    max_minutes_per_week: WeekMinutes = 40 * 60

    @field_validator("availability", mode="before")
    @classmethod
    def _days_once(cls, value: object) -> object:
        """ "Mon" and "monday" name one day: given both, one would silently win."""
        if isinstance(value, dict):
            seen: set[Weekday] = set()
            for key in value:
                try:
                    day = Weekday.parse(key) if isinstance(key, str) else key
                except ValueError:
                    continue  # refused by the key's own validation, which names it
                if day in seen:
                    raise ValueError(f"{day.value} is given twice")
                seen.add(day)
        return value

    @field_validator("availability")
    @classmethod
    def _no_overlapping_shifts(
        cls, value: dict[Weekday, list[TimeRange]]
    ) -> dict[Weekday, list[TimeRange]]:
        for day, ranges in value.items():
            for shift in ranges:
                if shift.end_min == shift.start_min:
                    raise ValueError(f"{day.value}: shift {shift} is empty")
            ordered = sorted(ranges, key=lambda r: r.start_min)
            for first, second in pairwise(ordered):
                if second.start_min < first.end_min:
                    raise ValueError(f"{day.value}: shifts {first} and {second} overlap")
        return value


WorkerIds = Annotated[list[Id], Field(max_length=limits.MAX_CLIENT_WORKER_LISTS)]


class Client(Strict):
    id: Id
    name: Text
    location: Location
    gender_preference: GenderPreference = GenderPreference.NONE
    gender_preference_strict: bool = Field(
        default=True,
        description="Hard by default; false makes a mismatched carer a weighted penalty.",
    )
    preferred_workers: WorkerIds = Field(default_factory=list)
    excluded_workers: WorkerIds = Field(default_factory=list)


class VisitPattern(Strict):
    """One line of a weekly pattern, repeated on each of its weekdays."""

    id: Id | None = None
    weekdays: list[WeekdayField] = Field(min_length=1, max_length=7)
    window: TimeRange = Field(description="Preferred start window (soft).")
    hard_window: TimeRange | None = Field(
        default=None,
        description="Latest/earliest start allowed at all; default: window ± max_shift_min.",
    )
    duration_min: DayMinutes
    carers: Literal[1, 2] = 1
    skills: Skills = Field(default_factory=list)
    tasks: list[Text] = Field(default_factory=list, max_length=limits.MAX_TASKS)

    @model_validator(mode="before")
    @classmethod
    def _single_weekday(cls, data: object) -> object:
        if isinstance(data, dict) and "weekday" in data and "weekdays" not in data:
            data = dict(data)
            data["weekdays"] = [data.pop("weekday")]
        return data

    @model_validator(mode="after")
    def _fits_in_a_day(self) -> Self:
        if len(set(self.weekdays)) != len(self.weekdays):
            raise ValueError("weekdays repeat")
        if self.window.start_min + self.duration_min > 24 * 60:
            raise ValueError("a visit starting in its window would run past midnight")
        if self.hard_window is not None and not (
            self.hard_window.start_min <= self.window.start_min
            and self.window.end_min <= self.hard_window.end_min
        ):
            raise ValueError("hard_window must contain window")
        return self


class VisitLink(Strict):
    """Two pattern lines whose visits are synchronised on each weekday they share.

    The second line's visit starts between `min_gap_min` and `max_gap_min` minutes
    after the first's (0 and 0: together, e.g. two carers with different tasks; 30 and
    45: a second service half an hour later). Linked visits are placed together or
    not at all.
    """

    first: Id
    second: Id
    min_gap_min: GapMinutes = 0
    max_gap_min: GapMinutes = 0

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_gap_min < self.min_gap_min:
            raise ValueError("max_gap_min is below min_gap_min")
        if self.first == self.second:
            raise ValueError("a line cannot be linked to itself")
        return self


class Budget(Strict):
    amount_pence: BudgetPence = Field(description="At most 10^9 (£10 million).")
    period: Literal["year", "week"] = "year"


class CarePackage(Strict):
    id: Id
    client: Client
    visits: list[VisitPattern] = Field(
        min_length=1,
        max_length=limits.MAX_PACKAGE_LINES,
        description=f"Pattern lines; at most {limits.MAX_PACKAGE_VISITS} visits a week in all.",
    )
    budget: Budget | None = None
    start_date: date | None = None
    links: list[VisitLink] = Field(default_factory=list, max_length=limits.MAX_LINKS)

    @model_validator(mode="after")
    def _links_resolve(self) -> Self:
        visits = sum(len(line.weekdays) for line in self.visits)
        if visits > limits.MAX_PACKAGE_VISITS:
            raise ValueError(
                f"{visits:,} visits a week is more than a package may have "
                f"({limits.MAX_PACKAGE_VISITS})"
            )
        lines = {line.id: line for line in self.visits if line.id is not None}
        linked: set[str] = set()
        for i, link in enumerate(self.links):
            for end in (link.first, link.second):
                if end not in lines:
                    raise ValueError(f"links[{i}]: no visit line with id {end!r}")
                if end in linked:
                    raise ValueError(f"links[{i}]: line {end!r} is already linked")
                linked.add(end)
            if set(lines[link.first].weekdays) != set(lines[link.second].weekdays):
                raise ValueError(f"links[{i}]: linked lines must share their weekdays")
        return self


class Weights(Strict):
    """Objective weights (per unit) and the hard start tolerance; see docs/model.md."""

    unassigned_visit: Weight = 10_000
    minute_outside_window: Weight = 3
    distinct_worker: Weight = 60
    travel_minute: Weight = 1
    gender_mismatch: Weight = 500
    max_lateness: Weight = Field(
        default=0, description="Per minute of the latest start past its preferred window."
    )
    max_shift_min: Annotated[int, Field(ge=0, le=MINUTES_PER_DAY), _NUMBER] = Field(
        default=120, description="Default hard tolerance around a preferred window."
    )


class TravelSettings(Strict):
    """Overrides for the travel model; None keeps the documented default.

    Only the known keys are taken: a key the travel model does not read (a typo) is an
    error, not a silent default."""

    speed_kmh: dict[ModeArea, Speed] | None = Field(
        default=None, description='Keys "<mode>_<area>", e.g. "car_rural": 45 (0.5 to 300).'
    )
    detour_factor: dict[ModeArea, Detour] | None = Field(
        default=None, description="Road over straight-line distance, 1 to 10."
    )
    fixed_min: dict[Mode, FixedMinutes] | None = Field(
        default=None, description='Minutes added to every leg, by mode ("car", "foot"), 0 to 240.'
    )


class TravelMatrix(Strict):
    """Precomputed travel minutes between location ids (worker and client ids).

    Minutes may be fractional (a routing engine's seconds / 60): a leg then takes the
    next whole minute of anyone's day, while the travel term of the objective counts
    it to the hundredth, so routes are compared exactly.
    """

    ids: list[Id] = Field(min_length=1, max_length=limits.MAX_MATRIX_PLACES)
    minutes: list[Annotated[list[TravelMinutes], Field(max_length=limits.MAX_MATRIX_PLACES)]] = (
        Field(max_length=limits.MAX_MATRIX_PLACES, description="Finite, 0 to 1,440 each.")
    )

    @model_validator(mode="after")
    def _square(self) -> Self:
        n = len(self.ids)
        if len(set(self.ids)) != n:
            raise ValueError("ids repeat")
        if len(self.minutes) != n or any(len(row) != n for row in self.minutes):
            raise ValueError(f"minutes must be a {n}x{n} matrix")
        return self


class Problem(Strict):
    """One agency's week: its workers and the care packages it must deliver."""

    id: Id = "problem"
    area_type: AreaType = AreaType.URBAN
    agency: Agency
    workers: list[Worker] = Field(max_length=limits.MAX_WORKERS)
    packages: list[CarePackage] = Field(
        max_length=limits.MAX_PACKAGES,
        description=f"At most {limits.MAX_PROBLEM_VISITS:,} visits a week in all.",
    )
    skills: Skills = Field(default_factory=lambda: list(DEFAULT_SKILLS))
    weights: Weights = Field(default_factory=Weights)
    travel: TravelSettings = Field(default_factory=TravelSettings)
    travel_matrix: TravelMatrix | None = None
    week_start: date | None = Field(
        default=None,
        description="The Monday of the real week this input plans (a dated week, "
        "`carematch week`); none for the weekly template.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_week_size(self.packages)
        _unique("workers", [w.id for w in self.workers])
        _unique("packages", [p.id for p in self.packages])
        _unique("clients", [p.client.id for p in self.packages])
        clash = {w.id for w in self.workers} & {p.client.id for p in self.packages}
        if clash:
            raise ValueError(f"ids used by both a worker and a client: {sorted(clash)[:5]}")
        known = set(self.skills)
        for i, worker in enumerate(self.workers):
            _known_skills(f"workers[{i}].skills", worker.skills, known)
        for i, package in enumerate(self.packages):
            for j, pattern in enumerate(package.visits):
                _known_skills(f"packages[{i}].visits[{j}].skills", pattern.skills, known)
        visit_ids = [v.id for p in self.packages for v in expand_visits(p)]
        _unique("visit ids", visit_ids)
        if self.travel_matrix is not None:
            missing = ({w.id for w in self.workers} | {p.client.id for p in self.packages}) - set(
                self.travel_matrix.ids
            )
            if missing:
                raise ValueError(f"travel_matrix.ids lacks {sorted(missing)[:5]}")
        return self


def check_week_size(packages: list[CarePackage], what: str = "a problem") -> None:
    """Refuse a week with more visits than the solver is given (`limits.MAX_PROBLEM_VISITS`)
    before anything is built from it: its time and memory grow with the visits."""
    visits = sum(len(line.weekdays) for p in packages for line in p.visits)
    if visits > limits.MAX_PROBLEM_VISITS:
        raise ValueError(
            f"{visits:,} visits a week is more than {what} may have ({limits.MAX_PROBLEM_VISITS:,})"
        )


def _unique(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what}: id {item!r} repeats")
        seen.add(item)


def _known_skills(where: str, skills: list[str], known: set[str]) -> None:
    for k, skill in enumerate(skills):
        if skill not in known:
            raise ValueError(
                f"{where}[{k}]: unknown skill {skill!r} "
                f"(known: {shorten(', '.join(sorted(known)), 300)})"
            )


class Visit(BaseModel):
    """One concrete visit of the week, expanded from a pattern line."""

    model_config = ConfigDict(frozen=True)

    id: str
    package_id: str
    client_id: str
    weekday: Weekday
    window: TimeRange
    hard_window: TimeRange | None
    duration_min: int
    carers: int
    skills: tuple[str, ...]
    tasks: tuple[str, ...]

    def hard_start_range(self, max_shift_min: int) -> tuple[int, int]:
        """Earliest and latest start (minutes of the day) the visit may have at all.

        The explicit `hard_window` if given, else the preferred window widened by
        `max_shift_min` on both sides; never so late that the visit runs past midnight.
        """
        if self.hard_window is not None:
            earliest, latest = self.hard_window.start_min, self.hard_window.end_min
        else:
            earliest = self.window.start_min - max_shift_min
            latest = self.window.end_min + max_shift_min
        return max(0, earliest), min(latest, 24 * 60 - self.duration_min)


# Expanded visits per live package, by identity (packages are frozen, so a package's
# visits never change; the entry leaves with the package).
_expanded: dict[int, tuple[weakref.ref[CarePackage], tuple[Visit, ...]]] = {}


def expand_visits(package: CarePackage) -> list[Visit]:
    """The package's concrete visits; ids are "<pattern id>-<Weekday>".

    Memoised per package object and built without re-validation (every field comes
    from the validated, frozen package): broker matching expands every package of every
    agency several times per request, and this was a tenth of its time.
    """
    key = id(package)
    hit = _expanded.get(key)
    if hit is not None and hit[0]() is package:
        return list(hit[1])
    visits = tuple(_expand(package))
    _expanded[key] = (weakref.ref(package, lambda _, key=key: _expanded.pop(key, None)), visits)
    return list(visits)


def _expand(package: CarePackage) -> list[Visit]:
    """The package's concrete visits; ids are "<pattern id>-<Weekday>".

    A pattern line without an id is named "<package id>-v<line number>", so the ids are
    stable as long as the pattern's lines keep their order.
    """
    visits = []
    for line, pattern in enumerate(package.visits, start=1):
        base = pattern.id or f"{package.id}-v{line}"
        for day in pattern.weekdays:
            visits.append(
                Visit.model_construct(
                    id=f"{base}-{day.value}",
                    package_id=package.id,
                    client_id=package.client.id,
                    weekday=day,
                    window=pattern.window,
                    hard_window=pattern.hard_window,
                    duration_min=pattern.duration_min,
                    carers=pattern.carers,
                    skills=tuple(pattern.skills),
                    tasks=tuple(pattern.tasks),
                )
            )
    return visits


# --------------------------------------------------------------------------- output


class Assignment(BaseModel):
    """Who does one visit, and when (both carers of a two-carer visit start together)."""

    visit_id: str
    package_id: str
    client_id: str
    weekday: Weekday
    start: str
    end: str
    workers: list[str]


class Unassigned(BaseModel):
    visit_id: str
    package_id: str
    client_id: str
    weekday: Weekday
    window: str
    reasons: list[str]

    @classmethod
    def of(cls, visit: Visit, reasons: list[str]) -> Unassigned:
        """The visit listed unassigned, labelled from the input, for these reasons."""
        return cls(
            visit_id=visit.id,
            package_id=visit.package_id,
            client_id=visit.client_id,
            weekday=visit.weekday,
            window=str(visit.window),
            reasons=reasons,
        )


class DayItem(BaseModel):
    """One step of a worker's day: a travel leg or a visit, in time order."""

    kind: Literal["travel", "visit"]
    start: str
    end: str
    minutes: int
    from_id: str | None = None
    to_id: str | None = None
    visit_id: str | None = None
    client_id: str | None = None


class WorkerDay(BaseModel):
    worker_id: str
    weekday: Weekday
    items: list[DayItem]
    visit_minutes: int
    travel_minutes: int


class SolverReport(BaseModel):
    status: str
    objective: float | None
    best_bound: float | None = Field(
        description=(
            "A proven lower bound on the objective of every roster of the problem: the "
            "larger of CP-SAT's (where the full model ran) and the assignment bound "
            "(matcher.solver.bound); null for a roster not made by `solve`."
        )
    )
    wall_time_s: float
    num_workers: int
    objective_breakdown: dict[str, float] = Field(default_factory=dict)
    search_iterations: int | None = Field(
        default=None,
        description=(
            "Ruin-and-recreate iterations (matcher.solver.ruin), summed over all the "
            "searches the solve ran (one per worker); null when that stage did not "
            "run (a problem under RUIN_MIN_VISITS visits, no time left, or a roster "
            "not made by `solve`)."
        ),
    )
    search_iterations_per_s: float | None = Field(
        default=None,
        description=(
            "Ruin-and-recreate iterations per second of one search process: "
            "search_iterations over the wall seconds of the searches' own loops, "
            "summed over the searches (each runs in a process of its own, or one "
            "after another). Comparable with the iter/s of "
            "benchmarks/hhcrsp/THROUGHPUT.md; the solve as a whole made about "
            "num_workers times as many per second when its searches ran side by "
            "side. Null when search_iterations is null."
        ),
    )


class ClientKpis(BaseModel):
    """One client's week (`matcher.kpis`): punctuality, continuity, gender, cost."""

    package_id: str
    visits: int
    assigned: int
    unassigned: int
    in_window_pct: float | None
    mean_minutes_outside: float | None
    max_minutes_outside: int | None
    distinct_workers: int
    gender_preference: str
    gender_honoured: bool | None
    visit_minutes: int = Field(description="Carer minutes: a two-carer visit counts twice.")
    weekly_cost_pence: int
    annual_cost_pence: int
    budget_cap_pence: int | None
    budget_period: Literal["year", "week"] | None
    within_budget: bool | None


class WorkerKpis(BaseModel):
    """One worker's week (`matcher.kpis`): visits, travel, utilisation."""

    visits: int
    visit_minutes: int
    travel_minutes: int
    worked_minutes: int = Field(description="Visit plus travel minutes, home legs included.")
    available_minutes: int
    travel_share_pct: float | None
    utilisation_pct: float | None


class OverallKpis(BaseModel):
    """The whole roster's figures (`matcher.kpis`)."""

    visits: int
    assigned: int
    unassigned: int
    in_window_pct: float | None
    mean_minutes_outside: float | None
    max_minutes_outside: int | None
    mean_distinct_workers: float | None
    gender_honoured_pct: float | None
    travel_minutes: int
    visit_minutes: int
    travel_share_pct: float | None
    utilisation_pct: float | None
    weekly_cost_pence: int
    annual_cost_pence: int
    clients_over_budget: list[str]


class Kpis(BaseModel):
    """A roster's KPIs as `matcher.kpis.compute_kpis` computes them (docs/model.md):
    typed, so the service can publish their schema; the JSON is the same as the plain
    dict it replaces, key for key and in the same order."""

    overall: OverallKpis
    clients: dict[str, ClientKpis]
    workers: dict[str, WorkerKpis]


class Roster(BaseModel):
    problem_id: str
    week_start: date | None = Field(
        default=None,
        description="The Monday of the real week when the input is a dated week: each "
        "assignment's date is that Monday plus its weekday.",
    )
    assignments: list[Assignment]
    unassigned: list[Unassigned] = Field(default_factory=list)
    worker_days: list[WorkerDay] = Field(default_factory=list)
    package_reasons: dict[str, list[str]] = Field(
        default_factory=dict, description="Reasons that concern a whole package."
    )
    kpis: Kpis | None = None
    solver: SolverReport | None = None
