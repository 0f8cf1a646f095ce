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
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    field_validator,
    model_validator,
)

from matcher.timeutil import Weekday, format_hhmm, parse_hhmm

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


WeekdayField = Annotated[Weekday, BeforeValidator(_weekday)]
Id = Annotated[str, Field(min_length=1, max_length=200)]


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
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class TimeRange(Strict):
    """A range within one day, "HH:MM" to "HH:MM" ("24:00" allowed).

    A start window may be a single moment (start == end); a shift may not (`Worker`).
    """

    start: str
    end: str

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
    radius_km: float = Field(gt=0)


class Agency(Strict):
    id: Id
    name: str
    hourly_rate_pence: PositiveInt
    service_area: ServiceArea | None = None


class Worker(Strict):
    id: Id
    name: str
    gender: Gender
    skills: list[str] = Field(default_factory=list)
    home: Location
    travel_mode: TravelMode = TravelMode.CAR
    availability: dict[WeekdayField, list[TimeRange]] = Field(
        description="Shifts per weekday; a day missing means not available that day."
    )
    max_minutes_per_day: PositiveInt = 8 * 60
    max_minutes_per_week: PositiveInt = 40 * 60

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


class Client(Strict):
    id: Id
    name: str
    location: Location
    gender_preference: GenderPreference = GenderPreference.NONE
    gender_preference_strict: bool = Field(
        default=True,
        description="Hard by default; false makes a mismatched carer a weighted penalty.",
    )
    preferred_workers: list[Id] = Field(default_factory=list)
    excluded_workers: list[Id] = Field(default_factory=list)


class VisitPattern(Strict):
    """One line of a weekly pattern, repeated on each of its weekdays."""

    id: Id | None = None
    weekdays: list[WeekdayField] = Field(min_length=1)
    window: TimeRange = Field(description="Preferred start window (soft).")
    hard_window: TimeRange | None = Field(
        default=None,
        description="Latest/earliest start allowed at all; default: window ± max_shift_min.",
    )
    duration_min: PositiveInt
    carers: Literal[1, 2] = 1
    skills: list[str] = Field(default_factory=list)
    tasks: list[str] = Field(default_factory=list)

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
    min_gap_min: int = 0
    max_gap_min: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_gap_min < self.min_gap_min:
            raise ValueError("max_gap_min is below min_gap_min")
        if self.first == self.second:
            raise ValueError("a line cannot be linked to itself")
        return self


class Budget(Strict):
    amount_pence: PositiveInt
    period: Literal["year", "week"] = "year"


class CarePackage(Strict):
    id: Id
    client: Client
    visits: list[VisitPattern] = Field(min_length=1)
    budget: Budget | None = None
    start_date: date | None = None
    links: list[VisitLink] = Field(default_factory=list)

    @model_validator(mode="after")
    def _links_resolve(self) -> Self:
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

    unassigned_visit: NonNegativeInt = 10_000
    minute_outside_window: NonNegativeInt = 3
    distinct_worker: NonNegativeInt = 60
    travel_minute: NonNegativeInt = 1
    gender_mismatch: NonNegativeInt = 500
    max_lateness: NonNegativeInt = Field(
        default=0, description="Per minute of the latest start past its preferred window."
    )
    max_shift_min: NonNegativeInt = Field(
        default=120, description="Default hard tolerance around a preferred window."
    )


class TravelSettings(Strict):
    """Overrides for the travel model; None keeps the documented default."""

    speed_kmh: dict[str, float] | None = Field(
        default=None, description='Keys "<mode>_<area>", e.g. "car_rural": 45.'
    )
    detour_factor: dict[str, float] | None = None
    fixed_min: dict[str, int] | None = None


class TravelMatrix(Strict):
    """Precomputed travel minutes between location ids (worker and client ids).

    Minutes may be fractional (a routing engine's seconds / 60): a leg then takes the
    next whole minute of anyone's day, while the travel term of the objective counts
    it to the hundredth, so routes are compared exactly.
    """

    ids: list[Id] = Field(min_length=1)
    minutes: list[list[NonNegativeFloat]]

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

    id: str = "problem"
    area_type: AreaType = AreaType.URBAN
    agency: Agency
    workers: list[Worker]
    packages: list[CarePackage]
    skills: list[str] = Field(default_factory=lambda: list(DEFAULT_SKILLS))
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
        _unique("workers", [w.id for w in self.workers])
        _unique("packages", [p.id for p in self.packages])
        _unique("clients", [p.client.id for p in self.packages])
        clash = {w.id for w in self.workers} & {p.client.id for p in self.packages}
        if clash:
            raise ValueError(f"ids used by both a worker and a client: {sorted(clash)}")
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
                f"{where}[{k}]: unknown skill {skill!r} (known: {', '.join(sorted(known))})"
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
    best_bound: float | None
    wall_time_s: float
    num_workers: int
    objective_breakdown: dict[str, float] = Field(default_factory=dict)


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
    assignments: list[Assignment]
    unassigned: list[Unassigned] = Field(default_factory=list)
    worker_days: list[WorkerDay] = Field(default_factory=list)
    package_reasons: dict[str, list[str]] = Field(
        default_factory=dict, description="Reasons that concern a whole package."
    )
    kpis: Kpis | None = None
    solver: SolverReport | None = None
