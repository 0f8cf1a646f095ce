"""Re-plan a committed weekly roster around carer absences, with least disruption.

A carer rings in sick: their visits in the absence must go to someone else, and
everyone else's week should change as little as possible. `replan` works on the
roster as committed (the weekly rosters `carematch solve` writes):

1. The absence cuts the carer's availability (`_cut_problem`): a shift that meets the
   absence keeps the piece before it (or the piece after it when that holds more of
   their visits), so the roster stays one round trip per shift of the original input
   and `carematch check INPUT.json NEW.json` accepts it. Their visits outside the
   piece kept are *displaced*, with a linked partner visit.
2. Every visit that starts before `now` is frozen (kept exactly); nothing new starts
   before `now`.
3. A greedy insertion places the displaced visits with everyone else where they are
   (`matcher.construct.place`, nobody moves); then CP-SAT, on the affected days'
   shifts of every carer who could take a displaced visit, may move the other visits
   (same carers, up to `ReplanParams.move_min` minutes, within their preferred
   window: `matcher.solver.lns.restrict`'s pinned visits) under the re-plan's own
   objective (`ReplanWeights`). The cheaper of the two by that objective is kept.
4. The result is checked by `matcher.checker.check` against the input as given and
   as cut by the absence before it is returned (`ReplanError` otherwise, never an
   unchecked roster). Visits left uncovered carry the reasons in a coordinator's
   words (`matcher.reasons`) and the nearest options (overtime, a later start).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from ortools.sat.python import cp_model

from matcher.checker import check
from matcher.construct import Placement, hardest_first, place, placements_of_state
from matcher.control import NO_CONTROL, RunControl
from matcher.instance import Instance, VisitInfo, build_instance
from matcher.kpis import compute_kpis
from matcher.reasons import unassigned_reasons
from matcher.schema import Problem, Roster, TimeRange
from matcher.solver.constraints import OBJECTIVE_SCALE
from matcher.solver.lns import neighbourhood_hint, neighbourhood_placements, restrict
from matcher.solver.model import add_hint, build_model, make_solver, run_solver
from matcher.solver.placements import RosterMismatch, placements_of
from matcher.solver.solve import finish, roster_state
from matcher.timeutil import MINUTES_PER_DAY, Weekday, format_hhmm, parse_hhmm

log = logging.getLogger(__name__)


class ReplanError(ValueError):
    """The input cannot be re-planned (unknown worker, a roster that breaks rules)."""


@dataclass(frozen=True)
class Absence:
    """A worker away on one weekday from `start` to `end` (minutes of the day)."""

    worker_id: str
    day: Weekday
    start: int = 0
    end: int = MINUTES_PER_DAY

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError(
                f"absence {format_hhmm(self.start)}-{format_hhmm(self.end)} does not run forwards"
            )

    def __str__(self) -> str:
        return (
            f"{self.worker_id}:{self.day.value}:{format_hhmm(self.start)}-{format_hhmm(self.end)}"
        )


_ABSENCE = re.compile(
    r"^(?P<worker>.+?):(?P<day>[^:]+)(?::(?P<start>\d{1,2}:\d{2})(?:-(?P<end>\d{1,2}:\d{2}))?)?$"
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_day(text: str, week_start: date | None = None) -> Weekday:
    """A weekday ("Tue", "tuesday"), or an ISO date inside the planned week when the
    input is a dated week (`Problem.week_start`, `carematch week`)."""
    if _ISO_DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text} is not a date") from None
        if week_start is None:
            raise ValueError(
                f"{text}: the input is a weekly template, not a dated week; give the "
                "weekday (Mon..Sun), or plan a dated week with `carematch week`"
            )
        if not week_start <= day <= week_start + timedelta(days=6):
            raise ValueError(
                f"{text} is not in the planned week {week_start.isoformat()} to "
                f"{(week_start + timedelta(days=6)).isoformat()}"
            )
        return list(Weekday)[day.weekday()]
    return Weekday.parse(text)


def parse_absence(text: str, *, week_start: date | None = None) -> Absence:
    """`WORKER:DAY[:HH:MM-HH:MM]` (`w03:Tue`, `w03:Tue:06:30-24:00`; `w03:Tue:06:30`
    means from 06:30 to the end of the day). DAY is a weekday, or an ISO date inside
    the planned week of a dated input (`week_start`)."""
    match = _ABSENCE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not WORKER:DAY[:HH:MM-HH:MM]")
    day = _parse_day(match["day"], week_start)
    start = parse_hhmm(match["start"]) if match["start"] else 0
    end = parse_hhmm(match["end"]) if match["end"] else MINUTES_PER_DAY
    return Absence(match["worker"], day, start, end)


def parse_now(text: str, *, week_start: date | None = None) -> int:
    """`DAY:HH:MM` (`Tue:06:30`, or `2026-12-01:06:30` in a dated week) as a week minute."""
    day, sep, hhmm = text.strip().partition(":")
    if not sep:
        raise ValueError(f"{text!r} is not DAY:HH:MM")
    return _parse_day(day, week_start).index * MINUTES_PER_DAY + parse_hhmm(hhmm)


@dataclass(frozen=True)
class ReplanWeights:
    """What a re-plan minimises, per unit, heaviest first (docs/replan.md).

    Every term compares the new roster with the committed one: a visit left uncovered,
    a visit whose carers change, a carer new to the client this week, a minute a visit
    starts earlier or later, another carer's visit touched at all (moved or re-staffed,
    the displaced ones aside), a travel minute. The defaults make each term outweigh
    any likely amount of the next.
    """

    uncovered: int = 100_000
    carer_changed: int = 1_000
    new_carer: int = 300
    minute_moved: int = 10
    visit_touched: int = 50
    travel_minute: int = 1

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 0:
                raise ValueError(f"{name} must be >= 0")


@dataclass(frozen=True)
class ReplanParams:
    """How hard to search: how far other visits may move, and CP-SAT's time.

    `time_limit_s` is the whole re-plan's budget in wall time (each CP-SAT stage gets
    what is left of it, at least 0.1 s); with `deterministic`, CP-SAT's deterministic
    time per stage instead, so the answer does not depend on the machine.
    """

    time_limit_s: float = 1.5
    move_min: int = 60
    seed: int = 0
    num_workers: int = 0  # CP-SAT workers; 0: every core of the machine
    deterministic: bool = False
    search: bool = True

    def __post_init__(self) -> None:
        if not self.time_limit_s > 0:
            raise ValueError("time_limit_s must be > 0")
        if self.move_min < 0:
            raise ValueError("move_min must be >= 0")
        if self.num_workers < 0:
            raise ValueError("num_workers must be >= 0")

    @property
    def workers(self) -> int:
        return self.num_workers or os.cpu_count() or 1


@dataclass(frozen=True)
class Slot:
    """Who does a visit and when (`start` "HH:MM"; None when nobody does it)."""

    workers: tuple[str, ...]
    start: str | None

    def to_json(self) -> dict[str, Any]:
        return {"workers": list(self.workers), "start": self.start}


@dataclass(frozen=True)
class Change:
    visit_id: str
    client_id: str
    weekday: Weekday
    before: Slot
    after: Slot

    def to_json(self) -> dict[str, Any]:
        return {
            "visit_id": self.visit_id,
            "client_id": self.client_id,
            "weekday": self.weekday.value,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
        }


@dataclass(frozen=True)
class Uncovered:
    visit_id: str
    client_id: str
    reasons: tuple[str, ...]
    options: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "visit_id": self.visit_id,
            "client_id": self.client_id,
            "reasons": list(self.reasons),
            "options": list(self.options),
        }


@dataclass
class Replan:
    """The new roster (checked) and what changed against the committed one."""

    roster: Roster
    problem: Problem  # the input with the absences cut out of the carers' shifts
    changes: list[Change]
    uncovered: list[Uncovered]
    notify_clients: list[str]
    notify_workers: list[str]
    displaced: list[str]
    disruption: dict[str, int]
    status: str
    elapsed_s: float
    absences: list[Absence] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """What `carematch replan --json` prints."""
        changes = [c.to_json() for c in self.changes]
        week = self.problem.week_start
        if week is not None:  # a dated week: each change on its real date too
            for change, item in zip(self.changes, changes, strict=True):
                item["date"] = (week + timedelta(days=change.weekday.index)).isoformat()
        return {
            "absences": [str(a) for a in self.absences],
            "week_start": None if week is None else week.isoformat(),
            "changes": changes,
            "uncovered": [u.to_json() for u in self.uncovered],
            "notify": {"clients": self.notify_clients, "workers": self.notify_workers},
            "displaced": self.displaced,
            "disruption": self.disruption,
            "status": self.status,
            "elapsed_s": round(self.elapsed_s, 3),
        }


# --------------------------------------------------------------------------- engine


def replan(
    problem: Problem,
    roster: Roster,
    absences: list[Absence],
    *,
    now: int | None = None,
    weights: ReplanWeights | None = None,
    params: ReplanParams | None = None,
    control: RunControl = NO_CONTROL,
) -> Replan:
    """The committed `roster` re-planned around `absences`, least disruption first.

    `now` (a week minute): visits starting before it are frozen and nothing moves to
    before it; None means the start of the week. Raises `ReplanError` for an unknown
    worker, a roster that does not fit the problem, or (never expected) a result the
    checker refuses.
    """
    weights = weights or ReplanWeights()
    params = params or ReplanParams()
    control.raise_if_cancelled()
    began = time.perf_counter()
    now = 0 if now is None else now
    known = {w.id for w in problem.workers}
    for absence in absences:
        if absence.worker_id not in known:
            raise ReplanError(f"--absent: unknown worker {absence.worker_id!r}")
    violations = check(problem, roster)
    if violations:
        raise ReplanError(f"roster: breaks the rules before any change ({violations[0]})")

    original = build_instance(problem)
    try:
        before = placements_of(original, roster.assignments)
    except RosterMismatch as exc:
        raise ReplanError(str(exc)) from None
    frozen = {p.visit for p in before if p.start < now}
    # A linked pair is under way once its first visit is: both stay (placed together or
    # not at all, and the first cannot be undone).
    frozen |= {original.partner[v] for v in frozen if v in original.partner}
    cut, displaced = _cut_problem(original, before, absences, frozen, now)
    inst = _not_before(build_instance(cut, original.travel_model), now, frozen)
    index_of = {v.visit.id: v.index for v in original.visits}
    try:
        kept = placements_of(
            inst, [a for a in roster.assignments if index_of[a.visit_id] not in displaced]
        )
    except RosterMismatch as exc:  # never expected: `_cut_problem` displaced what moves
        raise ReplanError(f"internal: {exc}") from None
    was = {
        p.visit: (p.start, frozenset(original.shifts[s].worker for s in p.shifts)) for p in before
    }
    baseline = _Baseline(inst, was, displaced)

    state = roster_state(inst, kept)
    placed = {p.visit for p in kept}
    order = [v for v in hardest_first(inst, random.Random(0)) if v.index in displaced]
    for visit in order:
        partner = inst.partner.get(visit.index)
        if partner is not None and partner not in displaced:
            continue  # its partner stays: only CP-SAT moves it within the link's gap
        place(state, visit, placed)
    best = greedy = placements_of_state(state)
    best_cost = baseline.cost(best, weights)
    status = "greedy insertion (nobody else moved)"
    stages = (
        (False, "CP-SAT on the affected shifts (other visits may move)"),
        (True, "CP-SAT on the affected shifts (other visits may move or change carers)"),
    )
    for loose, name in stages:
        if not params.search or not displaced or control.expired():
            break
        if loose and not best_cost["uncovered"]:
            break  # carers of other visits change only to cover what is still uncovered
        limit = params.time_limit_s
        if not params.deterministic:
            limit = max(0.1, limit - (time.perf_counter() - began))
        searched = _search(
            inst, best, baseline, weights, params, frozen, control, limit=limit, loose=loose
        )
        if searched is not None:
            cost = baseline.cost(searched, weights)
            if _total(cost) < _total(best_cost):
                best, best_cost, status = searched, cost, name

    # Never an unchecked roster: should the search's break a rule (never seen), the
    # greedy one stands, and failing that the committed one without the displaced.
    fallbacks = [(best, status), (greedy, "greedy insertion (nobody else moved)")]
    fallbacks.append((kept, "nothing covered (every other roster broke a rule)"))
    for candidate, name in fallbacks:
        new_roster = _roster(inst, candidate, roster, name, began)
        violations = [v for against in (problem, cut) for v in check(against, new_roster)]
        if not violations:
            break
        log.error("replan: %s broke a rule: %s", name, violations[0])
    else:
        raise ReplanError(f"internal: the re-planned roster breaks a rule: {violations[0]}")
    if candidate is not best:
        best, best_cost, status = candidate, baseline.cost(candidate, weights), name
    new_roster.kpis = compute_kpis(problem, new_roster)
    changes = _changes(original, before, best, inst)
    absent = {(a.worker_id, a.day) for a in absences}
    uncovered = _uncovered(inst, roster_state(inst, best), best, displaced)
    clients = sorted({c.client_id for c in changes})
    workers = sorted(
        {
            w
            for c in changes
            for w in (*c.before.workers, *c.after.workers)
            if (w, c.weekday) not in absent
        }
    )
    return Replan(
        roster=new_roster,
        problem=cut,
        changes=changes,
        uncovered=uncovered,
        notify_clients=clients,
        notify_workers=workers,
        displaced=sorted(original.visits[v].visit.id for v in displaced),
        disruption=best_cost,
        status=status,
        elapsed_s=time.perf_counter() - began,
        absences=list(absences),
    )


def _total(cost: dict[str, int]) -> int:
    return cost["objective"]


def _cut_problem(
    inst: Instance,
    before: list[Placement],
    absences: list[Absence],
    frozen: set[int],
    now: int,
) -> tuple[Problem, set[int]]:
    """The problem with each absence cut out of the worker's shifts, and the visits
    (indices) that no longer fit: displaced, with any linked partner not frozen."""
    problem = inst.problem
    worker_index = {w.id: i for i, w in enumerate(problem.workers)}
    by_worker_day: dict[tuple[int, int], list[Placement]] = defaultdict(list)
    for p in before:
        for s in p.shifts:
            shift = inst.shifts[s]
            by_worker_day[shift.worker, shift.day].append(p)
    cuts: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for a in absences:
        offset = a.day.index * MINUTES_PER_DAY
        start, end = max(offset + a.start, now), offset + a.end
        if start < end:
            cuts[worker_index[a.worker_id], a.day.index].append((start, end))

    displaced: set[int] = set()
    availability: dict[int, dict[Weekday, list[TimeRange]]] = {}
    for (w, day), ranges in sorted(cuts.items()):
        worker = problem.workers[w]
        matrix = inst.travel(w)
        home = inst.worker_place[w]
        visits = by_worker_day.get((w, day), [])
        pieces: list[tuple[int, int]] = []
        for s in inst.shifts_of_worker[w]:
            shift = inst.shifts[s]
            if shift.day != day:
                continue
            mine = [p for p in visits if s in p.shifts]
            piece = (shift.start, shift.end)
            for start, end in sorted(ranges):
                # Frozen visits are history: the absence starts after them (and the
                # journey home from the last of them).
                done = [
                    p.start
                    + inst.visits[p.visit].duration
                    + matrix[inst.visits[p.visit].place][home]
                    for p in mine
                    if p.visit in frozen and piece[0] <= p.start < piece[1]
                ]
                start = max([start, *done])
                if start >= end or end <= piece[0] or start >= piece[1]:
                    continue
                first = (piece[0], start) if start > piece[0] else None
                second = (end, piece[1]) if end < piece[1] else None
                if first and second:
                    piece = max(
                        (first, second),
                        key=lambda r: (
                            _minutes_inside(inst, mine, r, frozen),
                            _minutes_inside(inst, mine, r, None),
                            r is first,
                        ),
                    )
                else:
                    piece = first or second or (0, 0)
            if piece[1] > piece[0]:
                pieces.append(piece)
            inside = [
                p
                for p in mine
                if piece[0] <= p.start and p.start + inst.visits[p.visit].duration <= piece[1]
            ]
            run = _feasible_run(inst, w, piece, inside, frozen, cut_at_end=piece[1] < shift.end)
            displaced |= {p.visit for p in mine} - {p.visit for p in run}
        day_name = list(Weekday)[day]
        shifts = dict(availability.get(w, worker.availability))
        shifts[day_name] = [
            TimeRange.of_minutes(a - day * MINUTES_PER_DAY, b - day * MINUTES_PER_DAY)
            for a, b in pieces
        ]
        if not shifts[day_name]:
            del shifts[day_name]
        availability[w] = shifts
    displaced -= frozen
    displaced |= {inst.partner[v] for v in displaced if v in inst.partner} - frozen
    workers = [
        worker.model_copy(update={"availability": availability[w]}) if w in availability else worker
        for w, worker in enumerate(problem.workers)
    ]
    return problem.model_copy(update={"workers": workers}), displaced


def _minutes_inside(
    inst: Instance, mine: list[Placement], piece: tuple[int, int], among: set[int] | None
) -> int:
    """Visit minutes of `mine` (of `among` only, if given) wholly inside `piece`."""
    return sum(
        inst.visits[p.visit].duration
        for p in mine
        if (among is None or p.visit in among)
        and piece[0] <= p.start
        and p.start + inst.visits[p.visit].duration <= piece[1]
    )


def _feasible_run(
    inst: Instance,
    w: int,
    piece: tuple[int, int],
    stops: list[Placement],
    frozen: set[int],
    *,
    cut_at_end: bool,
) -> list[Placement]:
    """The stops a worker can still do in one trip inside `piece`: drop the non-frozen
    one nearest the cut until the trip is on time and within the day's maximum."""
    matrix = inst.travel(w)
    home = inst.worker_place[w]
    stops = sorted(stops, key=lambda p: p.start)
    limit = inst.workers[w].max_minutes_per_day
    while stops:
        place, ready, worked, on_time = home, piece[0], 0, True
        for p in stops:
            info = inst.visits[p.visit]
            leg = matrix[place][info.place]
            if p.start < ready + leg:
                on_time = False
                break
            worked += leg + info.duration
            place, ready = info.place, p.start + info.duration
        back = matrix[place][home]
        if on_time and ready + back <= piece[1] and worked + back <= limit:
            return stops
        movable = [i for i in range(len(stops)) if stops[i].visit not in frozen]
        if not movable:
            return stops  # only history left: the checker has the last word
        # Before the cut the last stops go first, after it the first ones.
        del stops[movable[-1] if cut_at_end else movable[0]]
    return stops


def _not_before(inst: Instance, now: int, frozen: set[int]) -> Instance:
    """Nothing that is not frozen may start before `now`."""
    if now <= 0:
        return inst
    visits = [
        v if v.index in frozen or v.earliest >= now else replace(v, earliest=max(v.earliest, now))
        for v in inst.visits
    ]
    return replace(inst, visits=visits)


@dataclass
class _Baseline:
    """The committed roster, to price a new one against (`ReplanWeights`)."""

    inst: Instance
    # visit -> (start, workers) in the committed roster; the cut problem has the same
    # workers and visits in the same order, so indices match.
    was: dict[int, tuple[int, frozenset[int]]]
    displaced: set[int]
    pairs: set[tuple[int, int]] = field(init=False)

    def __post_init__(self) -> None:
        self.pairs = {
            (self.inst.visits[v].client, w) for v, (_, workers) in self.was.items() for w in workers
        }

    def cost(self, placements: list[Placement], weights: ReplanWeights) -> dict[str, int]:
        inst = self.inst
        terms = dict.fromkeys(
            ("uncovered", "carers_changed", "new_carers", "minutes_moved", "visits_touched"), 0
        )
        placed = {p.visit for p in placements}
        terms["uncovered"] = len(self.displaced - placed)
        pairs: set[tuple[int, int]] = set()
        per_shift: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for p in placements:
            info = inst.visits[p.visit]
            workers = frozenset(inst.shifts[s].worker for s in p.shifts)
            for s in p.shifts:
                per_shift[s].append((p.start, info.place))
            for w in workers:
                pairs.add((info.client, w))
            was = self.was.get(p.visit)
            if was is None:
                continue
            changed = not workers <= was[1]
            moved = abs(p.start - was[0])
            terms["carers_changed"] += changed
            terms["minutes_moved"] += moved
            if p.visit not in self.displaced and (changed or moved):
                terms["visits_touched"] += 1
        terms["new_carers"] = len(pairs - self.pairs)
        travel = 0
        for s, stops in per_shift.items():
            worker = inst.shifts[s].worker
            cost = inst.travel_cost(worker)
            route = [inst.worker_place[worker], *(pl for _, pl in sorted(stops))]
            route.append(inst.worker_place[worker])
            travel += sum(cost[a][b] for a, b in itertools.pairwise(route))
        terms["travel_hundredths"] = travel
        terms["objective"] = (
            OBJECTIVE_SCALE
            * (
                weights.uncovered * terms["uncovered"]
                + weights.carer_changed * terms["carers_changed"]
                + weights.new_carer * terms["new_carers"]
                + weights.minute_moved * terms["minutes_moved"]
                + weights.visit_touched * terms["visits_touched"]
            )
            + weights.travel_minute * travel
        )
        return terms


def _search(
    inst: Instance,
    start: list[Placement],
    baseline: _Baseline,
    weights: ReplanWeights,
    params: ReplanParams,
    frozen: set[int],
    control: RunControl,
    *,
    limit: float,
    loose: bool = False,
) -> list[Placement] | None:
    """CP-SAT on the affected days' shifts of every carer who could take a displaced
    visit; other visits keep their carers and may move up to `move_min` minutes within
    their preferred window. With `loose`, they may also move outside it (within their
    hard range) and change carers, at the cost the weights say (not frozen ones, nor
    a visit linked to another)."""
    displaced = baseline.displaced
    days = {inst.visits[v].day for v in displaced}
    workers = {w for v in displaced for w in inst.eligibility[v]}
    if loose:
        # Anyone may take over a visit from a carer who could cover a displaced one
        # (a hoist-trained carer's other visits, say): every carer working that day.
        workers = set(range(len(inst.workers)))
    shifts = {s for w in workers for s in inst.shifts_of_worker[w] if inst.shifts[s].day in days}
    if not shifts:
        return None
    pinned = {
        p.visit: (0 if p.visit in frozen else params.move_min)
        for p in start
        if p.visit not in displaced
    }
    hood = restrict(inst, shifts, start, pinned=pinned)
    if not hood.visits:
        return None
    sub = hood.instance
    if loose:
        sub = _loosen(inst, sub, hood.visits, hood.shifts, start, pinned)
    to_sub_visit = {v: i for i, v in enumerate(hood.visits)}
    sm = build_model(sub, check=control.raise_if_cancelled)
    add_hint(sm, sub, neighbourhood_hint(hood, start))
    model, x = sm.model, sm.vars
    scale = OBJECTIVE_SCALE
    terms: list[Any] = []
    for i, v in enumerate(hood.visits):
        info = sub.visits[i]
        if v not in displaced and v not in baseline.was:
            model.add(x.assigned[i] == 0)  # unassigned before: stays so
            continue
        if v in displaced:
            terms.append(scale * weights.uncovered * (1 - x.assigned[i]))
        was = baseline.was.get(v)
        if was is None:
            continue
        was_start, was_workers = was
        changed = model.new_bool_var(f"changed[{i}]")
        for s, lit in x.serves_of_visit(i, sub):
            if sub.shifts[s].worker not in was_workers:
                model.add_implication(lit, changed)
        span = max(abs(info.earliest - was_start), abs(info.latest - was_start))
        moved = model.new_int_var(0, span, f"moved[{i}]")
        model.add(moved >= x.start[i] - was_start)
        model.add(moved >= was_start - x.start[i])
        terms += [scale * weights.carer_changed * changed, scale * weights.minute_moved * moved]
        if v not in displaced:
            touched = model.new_bool_var(f"touched[{i}]")
            model.add_implication(changed, touched)
            model.add(moved <= span * touched)
            terms.append(scale * weights.visit_touched * touched)
    for key, lit in x.sees.items():
        if key not in baseline.pairs:
            terms.append(scale * weights.new_carer * lit)
    for s in range(len(sub.shifts)):
        terms.append(weights.travel_minute * x.shift_travel(s, sub, cost=True))
    gender = next((p for p in sm.penalties if p.name == "gender_soft"), None)
    if gender is not None and gender.weight:
        terms.append(gender.weight * gender.expression)
    model.minimize(sum(terms, cp_model.LinearExpr.constant(0)))
    solver = make_solver(
        time_limit_s=limit,
        num_workers=params.workers,
        seed=params.seed,
        deterministic=params.deterministic,
    )
    status = run_solver(solver, model, control)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    new = neighbourhood_placements(solver, x, hood, sub)
    return [p for p in start if p.visit not in to_sub_visit] + new


def _loosen(
    inst: Instance,
    sub: Instance,
    visits: list[int],
    shifts: list[int],
    start: list[Placement],
    pinned: dict[int, int],
) -> Instance:
    """The neighbourhood with its movable pinned visits free to change carers and to
    move `pinned[v]` minutes either way inside their hard range."""
    released = {inst.shifts[s].worker for s in shifts}
    starts = {p.visit: p.start for p in start}
    infos, eligibility = list(sub.visits), list(sub.eligibility)
    for i, v in enumerate(visits):
        slack = pinned.get(v, 0)
        if not slack or v in inst.partner:
            continue
        full = inst.visits[v]
        infos[i] = replace(
            infos[i],
            earliest=max(full.earliest, starts[v] - slack),
            latest=min(full.latest, starts[v] + slack),
        )
        eligibility[i] = {w: ok for w, ok in inst.eligibility[v].items() if w in released}
    return replace(sub, visits=infos, eligibility=eligibility)


def _roster(
    inst: Instance, placements: list[Placement], committed: Roster, status: str, began: float
) -> Roster:
    state = roster_state(inst, placements)
    roster = finish(inst, state, placements, status=status, bound=None, began=began, num_workers=1)
    # A visit unassigned in the committed roster keeps its reasons (the re-plan does
    # not try to place it: it changes nothing it was not asked to).
    earlier = {u.visit_id: u.reasons for u in committed.unassigned}
    for item in roster.unassigned:
        if earlier.get(item.visit_id):
            item.reasons = list(earlier[item.visit_id])
    return roster


def _changes(
    original: Instance, before: list[Placement], after: list[Placement], inst: Instance
) -> list[Change]:
    was = {p.visit: p for p in before}
    now_ = {p.visit: p for p in after}
    changes = []
    for v in sorted(set(was) | set(now_), key=lambda v: (inst.visits[v].preferred_start, v)):
        old, new = was.get(v), now_.get(v)
        old_slot = _slot(original, old)
        new_slot = _slot(inst, new)
        if old_slot != new_slot:
            info = inst.visits[v]
            changes.append(
                Change(info.visit.id, info.visit.client_id, info.visit.weekday, old_slot, new_slot)
            )
    return changes


def _slot(inst: Instance, p: Placement | None) -> Slot:
    if p is None:
        return Slot((), None)
    workers = tuple(sorted(inst.workers[inst.shifts[s].worker].id for s in p.shifts))
    return Slot(workers, format_hhmm(p.start % MINUTES_PER_DAY))


def _uncovered(
    inst: Instance, state: Any, placements: list[Placement], displaced: set[int]
) -> list[Uncovered]:
    placed = {p.visit for p in placements}
    result = []
    for v in sorted(displaced - placed, key=lambda v: (inst.visits[v].earliest, v)):
        info = inst.visits[v]
        result.append(
            Uncovered(
                info.visit.id,
                info.visit.client_id,
                tuple(unassigned_reasons(state, info)),
                tuple(_options(state, info)),
            )
        )
    return result


# How much later than its latest start an option may start a visit, at most.
LATER_START_MIN = 180


def _options(state: Any, visit: VisitInfo) -> list[str]:
    """The nearest ways to cover a visit after all: a carer working overtime, or a
    carer free a little after the visit's latest start (one of each, the nearest)."""
    inst = state.instance
    found: list[str] = []
    overtime: tuple[int, int, int] | None = None
    for s in state.candidate_shifts(visit):
        w = inst.shifts[s].worker
        profile = inst.workers[w]
        room = min(
            profile.max_minutes_per_day - state.day_minutes[w][visit.day],
            profile.max_minutes_per_week - state.week_minutes[w],
        )
        for option in state.options(visit, s, limits=False):
            need = visit.duration + option.added_travel - room
            if need > 0 and (overtime is None or need < overtime[0]):
                overtime = (need, w, option.best_start(visit))
    if overtime is not None and visit.carers == 1:
        need, w, start = overtime
        found.append(
            f"overtime: {inst.workers[w].id} could do it at "
            f"{format_hhmm(start % MINUTES_PER_DAY)} working {need} minutes over their maximum"
        )
    day_end = (visit.day + 1) * MINUTES_PER_DAY - visit.duration
    later = replace(
        visit, earliest=visit.latest + 1, latest=min(day_end, visit.latest + LATER_START_MIN)
    )
    if later.earliest <= later.latest and visit.carers == 1:
        best: tuple[int, int] | None = None
        for s in state.candidate_shifts(later):
            for option in state.options(later, s):
                if best is None or option.earliest < best[0]:
                    best = (option.earliest, option.worker)
        if best is not None:
            start, w = best
            found.append(
                f"later start: {inst.workers[w].id} could start it at "
                f"{format_hhmm(start % MINUTES_PER_DAY)}, {start - visit.latest} minutes "
                "after its latest start"
            )
    return found
