"""Agency slots: every start time where a new visit fits without moving anyone.

An agency asks "where could a 45-minute hoist visit with two carers still go on
Tuesdays and Thursdays?". The answer comes from its committed roster as it stands
(`matcher.insertion.RosterState`): for each worker shift that day, each gap between two
visits (or home) where the visit fits, with the range of starts that keeps every leg
of travel, the shift's ends and the worker's daily and weekly maximum minutes. A start
at the requested granularity inside such a range is a slot; a two-carer visit needs two
different workers with ranges containing the same start.

Exact by construction, and tested both ways against brute force: every slot returned,
inserted, passes the checker; every start the checker accepts for some worker (or pair)
is returned. The request is modelled as a probe package (a client at the requested
location, with its gender preference as a hard rule, one visit per weekday whose hard
window is the whole day), so eligibility, skills and travel are the engine's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from matcher.insertion import InsertionOption
from matcher.instance import build_instance
from matcher.market import MarketAgency
from matcher.schema import (
    DEFAULT_SKILLS,
    Assignment,
    CarePackage,
    Client,
    DayMinutes,
    GenderPreference,
    Location,
    Problem,
    Skills,
    Strict,
    TimeRange,
    VisitPattern,
    WeekdayField,
)
from matcher.solver.insert import placements_of
from matcher.solver.solve import roster_state
from matcher.timeutil import MINUTES_PER_DAY, Weekday, format_hhmm

PROBE_ID = "slot-request"


class SlotRequest(Strict):
    """A visit an agency would like to place: when (weekdays), how long, who may do it."""

    weekdays: list[WeekdayField] = Field(min_length=1, max_length=7)
    duration_min: DayMinutes
    carers: Literal[1, 2] = 1
    skills: Skills = Field(default_factory=list)
    gender_preference: GenderPreference = GenderPreference.NONE
    location: Location
    between: TimeRange | None = Field(
        default=None, description="Only starts in this range (default: any time of day)."
    )

    @model_validator(mode="after")
    def _distinct_days(self) -> Self:
        if len(set(self.weekdays)) != len(self.weekdays):
            raise ValueError("weekdays repeat")
        return self

    def start_range(self) -> tuple[int, int]:
        """Earliest and latest start (minutes of the day) the request allows."""
        low, high = 0, MINUTES_PER_DAY - self.duration_min
        if self.between is not None:
            low, high = max(low, self.between.start_min), min(high, self.between.end_min)
        return low, high


class Slot(BaseModel):
    weekday: Weekday
    start: str
    workers: list[str]
    added_travel_min: int


def probe_package(request: SlotRequest, weekdays: list[Weekday] | None = None) -> CarePackage:
    """The request as a package of its own (ids `slot-request…`), to insert and check."""
    low, high = request.start_range()
    window = TimeRange.of_minutes(low, max(low, high))
    return CarePackage(
        id=PROBE_ID,
        client=Client(
            id=f"{PROBE_ID}-client",
            name="slot request",
            location=request.location,
            gender_preference=request.gender_preference,
        ),
        visits=[
            VisitPattern(
                id=PROBE_ID,
                weekdays=weekdays or request.weekdays,
                window=window,
                hard_window=window,
                duration_min=request.duration_min,
                carers=request.carers,
                skills=request.skills,
            )
        ],
    )


def probe_problem(
    entry: MarketAgency,
    request: SlotRequest,
    weekdays: list[Weekday] | None = None,
    *,
    skills: list[str] | None = None,
) -> Problem:
    return entry.problem([probe_package(request, weekdays)], skills=skills or list(DEFAULT_SKILLS))


@dataclass(frozen=True)
class _Candidate:
    added: int
    worker_id: str


def find_slots(
    entry: MarketAgency,
    request: SlotRequest,
    *,
    granularity_min: int = 15,
    skills: list[str] | None = None,
) -> list[Slot]:
    """Every (weekday, start) at the granularity where the visit fits, best first.

    Best: least added travel, then earliest in the week. For each slot the worker (or
    two) adding the least travel is named, ties by worker id.
    """
    if granularity_min <= 0:
        raise ValueError("granularity_min must be positive")
    if request.start_range()[0] > request.start_range()[1]:
        return []
    problem = probe_problem(entry, request, skills=skills)
    inst = build_instance(problem)
    state = roster_state(inst, placements_of(inst, entry.roster))
    probe = len(problem.packages) - 1
    slots: list[Slot] = []
    for v in inst.visits_of_package[probe]:
        visit = inst.visits[v]
        offset = visit.day * MINUTES_PER_DAY
        options: list[InsertionOption] = [
            o for s in state.candidate_shifts(visit) for o in state.options(visit, s)
        ]
        first = -(-(visit.earliest - offset) // granularity_min) * granularity_min
        for minute in range(first, visit.latest - offset + 1, granularity_min):
            start = offset + minute
            best: dict[int, _Candidate] = {}
            for o in options:
                if o.earliest <= start <= o.latest:
                    worker_id = inst.workers[o.worker].id
                    cand = _Candidate(o.added_travel, worker_id)
                    if o.worker not in best or (cand.added, cand.worker_id) < (
                        best[o.worker].added,
                        best[o.worker].worker_id,
                    ):
                        best[o.worker] = cand
            chosen = sorted(best.values(), key=lambda c: (c.added, c.worker_id))[: visit.carers]
            if len(chosen) < visit.carers:
                continue
            slots.append(
                Slot(
                    weekday=visit.visit.weekday,
                    start=format_hhmm(minute),
                    workers=sorted(c.worker_id for c in chosen),
                    added_travel_min=sum(c.added for c in chosen),
                )
            )
    slots.sort(key=lambda s: (s.added_travel_min, s.weekday.index, s.start, s.workers))
    return slots


def slot_assignment(slot: Slot, request: SlotRequest) -> Assignment:
    """The slot as an assignment of the probe visit (to insert and check it)."""
    from matcher.timeutil import parse_hhmm

    start = parse_hhmm(slot.start)
    return Assignment(
        visit_id=f"{PROBE_ID}-{slot.weekday.value}",
        package_id=PROBE_ID,
        client_id=f"{PROBE_ID}-client",
        weekday=slot.weekday,
        start=slot.start,
        end=format_hhmm(start + request.duration_min),
        workers=slot.workers,
    )
