"""Exact nearest fits: where a visit an agency could not place would fit at that agency.

A broker told "Thursday's 18:00 double-up does not fit" wants the next sentence: "it
fits at 17:20 or from 19:05 at Northgate Care". The answer comes from the agency's
roster as it stands (its committed visits and the package's visits it did place), with
the insertion machinery's exact gaps (`RosterState.options`, the same question agency
slots ask): for each worker shift that day, the range of starts at which the visit fits
between two stops without moving anyone, keeping every leg of travel, the shift's ends,
the worker's daily and weekly maximum minutes, the client's exclusions, gender
preference and the skills. A two-carer visit needs two different workers whose ranges
share the start. Only the time (and, on another day, the day) changes, so these are
exact: every fit, accepted, passes the checker, and no start that would fit is missed
(tests/test_nearest.py checks both ways against brute force).

For each visit: on its own day, the latest start before its preferred window and the
earliest after it (and one inside it, when the visit was left out for another reason,
such as the budget); on the day before and the day after (the week repeats, so Monday's
neighbours are Sunday and Tuesday), the start nearest the preferred time, unless the
visit's pattern already has a visit that day. Linked visits (a pair with a gap between
them) are not given: moving one would move the other.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import BaseModel, Field

from matcher.brokerage import OUTPUT_CONFIG
from matcher.insertion import InsertionOption, RosterState
from matcher.instance import Instance, VisitInfo
from matcher.reasons import join
from matcher.schema import CarePackage, TimeRange, expand_visits
from matcher.timeutil import MINUTES_PER_DAY, WEEKDAYS, Weekday, format_hhmm, parse_hhmm

__all__ = [
    "Fit",
    "NearestFits",
    "describe",
    "nearest_fits",
    "visit_fits",
    "visit_name",
    "visit_with_fit",
]


class Fit(BaseModel):
    """One start at which the visit would fit at this agency, and who would do it."""

    model_config = OUTPUT_CONFIG

    weekday: Weekday = Field(description="The day it would fit (its own or a neighbour).")
    start: str = Field(description='The start nearest its preferred window on that side, "HH:MM".')
    starts_from: str = Field(
        description="With some workers, every start from this one to `starts_to` fits too."
    )
    starts_to: str
    workers: list[str] = Field(description="Who would do it at `start` (least added travel).")
    minutes_off: int = Field(description="Minutes from the preferred window at `start`.")
    side: Literal["earlier", "later", "in window"] = Field(
        description="Where `start` lies against the preferred window."
    )
    day_offset: Literal[-1, 0, 1] = Field(
        description="0 on its own day, -1 the day before, 1 the day after."
    )


class NearestFits(BaseModel):
    """The nearest fits of one visit the agency could not place."""

    model_config = OUTPUT_CONFIG

    visit_id: str
    weekday: Weekday
    window: str = Field(description='Its preferred window, "HH:MM-HH:MM".')
    carers: int
    fits: list[Fit] = Field(description="Own day first (earlier, in, later), then neighbours.")
    summary: str = Field(
        description="In a broker's words: \"Thursday's 18:00 double-up fits at 17:20 or "
        'from 19:05".'
    )


def nearest_fits(state: RosterState, visit: VisitInfo, pattern_days: frozenset[int]) -> NearestFits:
    """The nearest fits of `visit` in the roster `state` (see the module doc).

    `pattern_days`: the weekdays (indices) its pattern line already has a visit on, which
    a neighbouring-day fit may not take."""
    fits: list[Fit] = []
    for offset in (0, -1, 1):
        day = (visit.day + offset) % 7
        if offset and day in pattern_days:
            continue
        probe = _on_day(visit, day)
        spans = _spans(state, probe)
        if offset == 0:
            ranges = [
                (probe.earliest, probe.preferred_start - 1),
                (probe.preferred_start, probe.preferred_end),
                (probe.preferred_end + 1, probe.latest),
            ]
        else:
            ranges = [(probe.earliest, probe.latest)]
        for low, high in ranges:
            found = _nearest(spans, probe, low, high)
            if found is not None:
                fits.append(_fit(state, probe, found, offset))
    result = NearestFits(
        visit_id=visit.visit.id,
        weekday=visit.visit.weekday,
        window=str(visit.visit.window),
        carers=visit.carers,
        fits=fits,
        summary="",
    )
    return result.model_copy(update={"summary": describe(result)})


def _on_day(visit: VisitInfo, day: int) -> VisitInfo:
    """The visit on `day`, free to start at any time of it (preferred window kept)."""
    shift = (day - visit.day) * MINUTES_PER_DAY
    return replace(
        visit,
        day=day,
        earliest=day * MINUTES_PER_DAY,
        latest=(day + 1) * MINUTES_PER_DAY - visit.duration,
        preferred_start=visit.preferred_start + shift,
        preferred_end=visit.preferred_end + shift,
    )


def _options(state: RosterState, visit: VisitInfo) -> list[InsertionOption]:
    return [o for s in state.candidate_shifts(visit) for o in state.options(visit, s)]


def _spans(state: RosterState, visit: VisitInfo) -> list[tuple[int, int]]:
    """Every range of starts [low, high] at which enough different workers are free:
    one worker's gap, or for a two-carer visit the overlap of two workers' gaps."""
    options = _options(state, visit)
    if visit.carers == 1:
        return [(o.earliest, o.latest) for o in options]
    return [
        (max(a.earliest, b.earliest), min(a.latest, b.latest))
        for i, a in enumerate(options)
        for b in options[i + 1 :]
        if a.worker != b.worker and max(a.earliest, b.earliest) <= min(a.latest, b.latest)
    ]


def _nearest(
    spans: list[tuple[int, int]], visit: VisitInfo, low: int, high: int
) -> tuple[int, int, int] | None:
    """Of the starts in [low, high] that fit, the one nearest the preferred window (then
    nearest its start, then earliest), with the run of fitting starts around it within
    [low, high]: (start, run low, run high); None if none fits there."""
    best: tuple[int, int] | None = None
    for span_low, span_high in spans:
        lo, hi = max(span_low, low), min(span_high, high)
        if lo > hi:
            continue
        start = min(max(visit.preferred_start, lo), hi)
        key = (visit.minutes_outside(start), abs(start - visit.preferred_start))
        if best is None or key < best:
            best, chosen = key, start
    if best is None:
        return None
    # The run: every start joined to the chosen one by overlapping spans.
    run_low = run_high = chosen
    grown = True
    while grown:
        grown = False
        for span_low, span_high in spans:
            lo, hi = max(span_low, low), min(span_high, high)
            if lo <= run_high + 1 and hi >= run_low - 1 and (lo < run_low or hi > run_high):
                run_low, run_high = min(run_low, lo), max(run_high, hi)
                grown = True
    return chosen, run_low, run_high


def _fit(state: RosterState, visit: VisitInfo, found: tuple[int, int, int], offset: int) -> Fit:
    start, run_low, run_high = found
    inst = state.instance
    # Who: at this start, the workers adding the least travel (ties by id), as slots do.
    best: dict[int, tuple[int, str]] = {}
    for o in _options(state, visit):
        if o.earliest <= start <= o.latest:
            key = (o.added_travel, inst.workers[o.worker].id)
            if o.worker not in best or key < best[o.worker]:
                best[o.worker] = key
    chosen = sorted(best.values())[: visit.carers]
    if start < visit.preferred_start:
        side = "earlier"
    elif start > visit.preferred_end:
        side = "later"
    else:
        side = "in window"
    day = visit.day * MINUTES_PER_DAY
    return Fit(
        weekday=WEEKDAYS[visit.day],
        start=format_hhmm(start - day),
        starts_from=format_hhmm(run_low - day),
        starts_to=format_hhmm(run_high - day),
        workers=sorted(worker for _, worker in chosen),
        minutes_off=visit.minutes_outside(start),
        side=side,
        day_offset=offset,
    )


def describe(fits: NearestFits) -> str:
    """ "Thursday's 18:00 double-up fits at 17:20 or from 19:05, or on Friday at 18:00";
    "... fits nowhere that day or the days either side" when there is none."""
    name = visit_name(fits)
    parts = []
    for fit in fits.fits:
        if fit.day_offset:
            parts.append(f"on {fit.weekday.full_name} at {fit.start}")
        elif fit.side == "earlier":
            parts.append(f"at {fit.start}")
        elif fit.side == "later":
            parts.append(f"from {fit.start}" if fit.starts_to != fit.start else f"at {fit.start}")
        else:
            parts.append(f"at {fit.start}")
    if not parts:
        return f"{name} fits nowhere that day or the days either side"
    return f"{name} fits {join(parts, 'or')}"


def visit_name(fits: NearestFits) -> str:
    """The visit as a broker names it: "Thursday's 18:00 double-up"."""
    what = "double-up" if fits.carers == 2 else "visit"
    return f"{fits.weekday.full_name}'s {fits.window.split('-')[0]} {what}"


def visit_fits(
    inst: Instance, state: RosterState, package: CarePackage, visit_ids: list[str]
) -> list[NearestFits]:
    """The nearest fits of each of these visits of `package` in the roster `state` of
    `inst` (an instance holding the package); linked visits and visits nobody at the
    agency may do are left out."""
    by_id = {v.visit.id: v for v in inst.visits}
    days = {
        f"{line.id}-{day.value}": frozenset(d.index for d in line.weekdays)
        for line in package.visits
        for day in line.weekdays
    }
    return [
        nearest_fits(state, by_id[visit_id], days[visit_id])
        for visit_id in visit_ids
        # Nobody at the agency may ever do it (skills, gender, exclusions): no time helps.
        if by_id[visit_id].index not in inst.partner and inst.eligibility[by_id[visit_id].index]
    ]


def visit_with_fit(
    package: CarePackage, visit_id: str, fit: Fit, max_shift_min: int
) -> CarePackage:
    """The package changed so that the visit may start at the fit: on another day its
    pattern line takes that day instead of the visit's own; the line's hard start range
    grows just enough to take the start (only ever wider, so the line's other visits
    keep fitting where they did)."""
    lines = []
    for line in package.visits:
        own = {f"{line.id}-{day.value}": day for day in line.weekdays}
        if visit_id not in own:
            lines.append(line)
            continue
        weekdays = [fit.weekday if day == own[visit_id] else day for day in line.weekdays]
        visit = next(v for v in expand_visits(package) if v.id == visit_id)
        earliest, latest = visit.hard_start_range(max_shift_min)
        start = parse_hhmm(fit.start)
        hard = line.hard_window
        if not earliest <= start <= latest:
            hard = TimeRange.of_minutes(min(earliest, start), max(latest, start))
        lines.append(line.model_copy(update={"weekdays": weekdays, "hard_window": hard}))
    return package.model_copy(update={"visits": lines})
