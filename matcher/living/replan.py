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
   (`matcher.construct.place`, nobody moves). Should it leave one uncovered, the
   engine's ruin and recreate (`matcher.solver.ruin`) tries around it, in a wider
   neighbourhood each round and at last on the whole day, free to give other visits
   to other carers, until it is covered (`_escalate`); what it moved but need not
   have goes back (`_revert`).
   Then CP-SAT, on the affected days' shifts of every carer who could take a
   displaced visit, may move the other visits (same carers, up to
   `ReplanParams.move_min` minutes, within their preferred window:
   `matcher.solver.lns.restrict`'s pinned visits) under the re-plan's own objective
   (`ReplanWeights`), and on the routes ruin and recreate changed, takes them back as
   near the committed roster as that objective says (carers free to change). The
   cheapest roster by that objective is kept.
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
from matcher.insertion import RosterState
from matcher.instance import Instance, VisitInfo, build_instance
from matcher.kpis import compute_kpis
from matcher.reasons import unassigned_reasons
from matcher.schema import Problem, Roster, TimeRange
from matcher.solver.clock import Clock
from matcher.solver.constraints import OBJECTIVE_SCALE
from matcher.solver.lns import neighbourhood_hint, neighbourhood_placements, restrict
from matcher.solver.model import add_hint, build_model, make_solver, run_solver
from matcher.solver.placements import RosterMismatch, placements_of
from matcher.solver.ruin import ruin_and_recreate
from matcher.solver.solve import finish, roster_state
from matcher.timeutil import MINUTES_PER_DAY, Weekday, format_hhmm, parse_hhmm

log = logging.getLogger(__name__)

# How the budget is spent when the greedy insertion leaves a visit uncovered: this
# share on CP-SAT over the affected shifts (other visits keep their carers), the rest
# on taking back what ruin and recreate moved to cover them (`_escalate`); whatever
# is left then polishes the disruption. No stage gets less than `MIN_STAGE_S`.
PINNED_SHARE = 0.35
MIN_STAGE_S = 0.1
POLISH_MIN_S = 0.15
# Visits a neighbourhood around an uncovered visit releases, about: as many on the
# first round over the uncovered visits, twice as many on the second, and so on up to
# `MAX_ROUNDS`; then the whole day.
AROUND_VISITS = 20
MAX_ROUNDS = 2
# Ruin and recreate around one uncovered visit: this many tries from the same roster
# (one iteration each at first, up to `COVER_MAX_ITERATIONS` on the last), keeping the
# least disruptive of the first `COVER_KEEP` that cover more.
COVER_TRIES = 60
COVER_MAX_ITERATIONS = 4
COVER_KEEP = 8


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
    # The budget counts from here, the checks and the greedy insertion included (in
    # deterministic mode only what each CP-SAT stage is charged).
    clock = Clock(params.time_limit_s, deterministic=params.deterministic, control=control)
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
    rng = random.Random(params.seed)
    searching = params.search and bool(displaced)

    def attempt(limit: float, name: str, **how: Any) -> None:
        """One CP-SAT stage from the best roster so far; kept if cheaper."""
        nonlocal best, best_cost, status
        limit = max(MIN_STAGE_S, min(limit, clock.left()))
        clock.charge(limit)
        searched = _search(
            inst, best, baseline, weights, params, frozen, control, limit=limit, **how
        )
        if searched is not None:
            cost = baseline.cost(searched, weights)
            if _total(cost) < _total(best_cost):
                best, best_cost, status = searched, cost, name

    pinned_name = "CP-SAT on the affected shifts (other visits may move)"
    covered: tuple[list[Placement], set[int]] | None = None
    if searching and best_cost["uncovered"]:
        # Pure Python and milliseconds: ruin and recreate around each visit still
        # uncovered, in a wider neighbourhood each round, until it covers them.
        covered = _escalate(inst, best, baseline, frozen, rng, seed=params.seed, weights=weights)
    if searching and not control.expired():
        # Everything covered already: the whole budget polishes the disruption. Else
        # a share (it may cover them moving less than ruin and recreate did).
        share = 1.0 if covered is None else PINNED_SHARE
        attempt(clock.left() * share, pinned_name)
    if covered is not None and len(covered[0]) > len(best) and clock.left() >= MIN_STAGE_S:
        # Ruin and recreate covered more: CP-SAT takes its changed routes back as near
        # the committed roster as the re-plan's weights say, carers free to change.
        best, shifts = covered
        best_cost = baseline.cost(best, weights)
        status = "ruin and recreate around the uncovered visits"
        attempt(
            clock.left(),
            "ruin and recreate around the uncovered visits, then CP-SAT (other visits may "
            "move or change carers)",
            shifts=shifts,
            loose=True,
        )
    if searching and covered is not None and clock.left() >= POLISH_MIN_S:
        attempt(clock.left(), status)

    # Never an unchecked roster: should the search's break a rule (never seen), the
    # greedy one stands, and failing that the committed one without the displaced.
    fallbacks = [(best, status)]
    if covered is not None:
        fallbacks.append((covered[0], "ruin and recreate around the uncovered visits"))
    fallbacks.append((greedy, "greedy insertion (nobody else moved)"))
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
    shifts: set[int] | None = None,
    loose: bool = False,
) -> list[Placement] | None:
    """CP-SAT on `shifts` (by default the affected days' shifts of every carer who
    could take a displaced visit); other visits keep their carers and may move up to
    `move_min` minutes within their preferred window. With `loose`, they may also move
    outside it (within their hard range) and change carers among the shifts released,
    at the cost the weights say (not frozen ones, nor a visit linked to another)."""
    built = time.perf_counter()
    displaced = baseline.displaced
    if shifts is None:
        days = {inst.visits[v].day for v in displaced}
        workers = {w for v in displaced for w in inst.eligibility[v]}
        shifts = {
            s for w in workers for s in inst.shifts_of_worker[w] if inst.shifts[s].day in days
        }
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
        sub = _loosen(inst, sub, hood.visits, hood.shifts, start, pinned, baseline.was)
    to_sub_visit = {v: i for i, v in enumerate(hood.visits)}
    sm = build_model(sub, check=control.raise_if_cancelled)
    hint = neighbourhood_hint(hood, start)
    add_hint(sm, sub, hint)
    model, x = sm.model, sm.vars
    hinted = {p.visit: p for p in hint}
    hinted_start = [
        hinted[i].start if i in hinted else min(max(v.preferred_start, v.earliest), v.latest)
        for i, v in enumerate(sub.visits)
    ]
    _hint_window_terms(model, sub, hinted_start)
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
        # Every variable hinted, so the hint is a complete solution that CP-SAT takes
        # at once and then improves (a partial hint only steers its search, which on
        # a neighbourhood of 40 visits found nothing in half a second).
        was_changed = (
            i in hinted and not {sub.shifts[s].worker for s in hinted[i].shifts} <= was_workers
        )
        was_moved = abs(hinted_start[i] - was_start)
        changed = model.new_bool_var(f"changed[{i}]")
        model.add_hint(changed, was_changed)
        for s, lit in x.serves_of_visit(i, sub):
            if sub.shifts[s].worker not in was_workers:
                model.add_implication(lit, changed)
        span = max(abs(info.earliest - was_start), abs(info.latest - was_start))
        moved = model.new_int_var(0, span, f"moved[{i}]")
        model.add_hint(moved, was_moved)
        model.add(moved >= x.start[i] - was_start)
        model.add(moved >= was_start - x.start[i])
        terms += [scale * weights.carer_changed * changed, scale * weights.minute_moved * moved]
        if v not in displaced:
            touched = model.new_bool_var(f"touched[{i}]")
            model.add_hint(touched, was_changed or was_moved > 0)
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
    if not params.deterministic:
        # Building the model is part of the stage's wall time (a tenth of a second or
        # more on a busy machine): CP-SAT gets what is left of it.
        limit = max(MIN_STAGE_S / 2, limit - (time.perf_counter() - built))
    solver = make_solver(
        time_limit_s=limit,
        num_workers=params.workers,
        seed=params.seed,
        deterministic=params.deterministic,
    )
    if loose:
        # Its hint is complete (ruin and recreate's roster): without presolve CP-SAT
        # has it at once and improves on it; presolve took 0.3 s of a 0.5 s limit on
        # a 40-visit neighbourhood before the search began (measured, urban sample).
        solver.parameters.cp_model_presolve = False
    status = run_solver(solver, model, control)
    log.debug(
        "replan: CP-SAT on %d visits, %d shifts%s, %.2f s: %s",
        len(hood.visits),
        len(hood.shifts),
        " (carers may change)" if loose else "",
        limit,
        solver.status_name(status),
    )
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    new = neighbourhood_placements(solver, x, hood, sub)
    return [p for p in start if p.visit not in to_sub_visit] + new


def _around(
    inst: Instance, placements: list[Placement], visit: int, rng: random.Random, *, visits: int
) -> set[int]:
    """The shifts of a neighbourhood built to cover `visit`: the shifts of carers
    qualified for it that could host it, whose routes pass nearest (in travel and in
    time), and the shifts overlapping them whose routes pass nearest theirs, which
    could take over their other visits to make room (when only a few carers have a
    skill, only others can free their time).

    About `visits` visits (besides those a two-carer visit pulls in), random among
    near equals (`rng`), so each try around the same visit releases a different set."""
    info = inst.visits[visit]
    on_day = [s for s in inst.shifts if s.day == info.day]
    stops: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p in placements:
        for s in p.shifts:
            if inst.shifts[s].day == info.day:
                stops[s].append((p.start, inst.visits[p.visit].place))
    budget = visits
    target = [(info.preferred_start, info.place)]
    hosts = {
        s.index: _nearness(target, stops.get(s.index, []), inst.travel(s.worker)) + rng.random()
        for s in on_day
        if s.worker in inst.eligibility[visit] and inst.shift_can_host(s, info)
    }
    chosen: list[int] = []
    released = 0
    for s in sorted(hosts, key=hosts.__getitem__):
        if len(chosen) > info.carers and released >= budget // 2:
            break
        chosen.append(s)
        released += len(stops.get(s, []))
    route = [stop for s in chosen for stop in stops.get(s, [])] or target
    overlapping = {
        s.index: _nearness(route, stops.get(s.index, []), inst.travel(s.worker)) + rng.random()
        for s in on_day
        if s.index not in chosen
        and any(s.start < inst.shifts[c].end and inst.shifts[c].start < s.end for c in chosen)
    }
    for s in sorted(overlapping, key=overlapping.__getitem__):
        if released >= budget:
            break
        chosen.append(s)
        released += len(stops.get(s, []))
    return set(chosen)


def _escalate(
    inst: Instance,
    placements: list[Placement],
    baseline: _Baseline,
    frozen: set[int],
    rng: random.Random,
    *,
    seed: int,
    weights: ReplanWeights,
) -> tuple[list[Placement], set[int]] | None:
    """Ruin and recreate around each displaced visit still uncovered, one at a time
    (the earliest first): its nearest qualified carers that day and whoever could
    take over their other visits (`_around`), about `AROUND_VISITS` visits on the first
    round, twice as many on the second, and so on up to `MAX_ROUNDS`, then the whole
    day. Returns the roster that covers the most (None if no more than `placements`)
    and the shifts for CP-SAT to take it back towards the committed roster on;
    seeded, so deterministic."""
    best = placements
    uncovered = baseline.displaced - {p.visit for p in best}
    tries = 0
    for scale in range(1, MAX_ROUNDS + 2):
        for visit in sorted(uncovered, key=lambda v: (inst.visits[v].earliest, v)):
            if visit in {p.visit for p in best}:
                continue
            if scale > MAX_ROUNDS:
                day = inst.visits[visit].day
                shifts = {s.index for s in inst.shifts if s.day == day}
            else:
                shifts = _around(inst, best, visit, rng, visits=AROUND_VISITS * scale)
            tries += 1
            found = _cover(inst, best, baseline, frozen, shifts, seed=seed + tries, weights=weights)
            if found is not None:
                best = found
        uncovered = baseline.displaced - {p.visit for p in best}
        if not uncovered:
            break
    if best is placements:
        return None
    best = _revert(inst, best, baseline, frozen)
    # CP-SAT's neighbourhood afterwards: the routes it changed, and every shift that
    # could host a visit the greedy insertion left uncovered, so that CP-SAT may still
    # give it to a carer ruin and recreate did not (urban isl-w07:Wed: one visit moved
    # 53 minutes instead of three).
    hosts = {
        s.index
        for v in baseline.displaced - {p.visit for p in placements}
        for s in inst.shifts
        if s.worker in inst.eligibility[v] and inst.shift_can_host(s, inst.visits[v])
    }
    return best, _changed_shifts(placements, best) | hosts


def _revert(
    inst: Instance, placements: list[Placement], baseline: _Baseline, frozen: set[int]
) -> list[Placement]:
    """`placements` with every other carer's visit that moved put back where it was in
    the committed roster (same carer, same start) wherever it still fits as the
    routes stand, over and over until none more does: what ruin and recreate moved
    but need not have. One-carer visits not linked to another only (a two-carer
    visit would need both carers free at once; CP-SAT sees to those). Every step goes
    through `RosterState`, which keeps every hard rule."""
    state = roster_state(inst, placements)
    where = {p.visit: p for p in placements}
    reverted = True
    while reverted:
        reverted = False
        for v in sorted(where):
            info = inst.visits[v]
            was = baseline.was.get(v)
            if (
                was is None
                or v in baseline.displaced
                or v in frozen
                or v in inst.partner
                or info.carers != 1
                or not info.earliest <= was[0] <= info.latest
            ):
                continue
            now = where[v]
            workers = {inst.shifts[s].worker for s in now.shifts}
            if now.start == was[0] and workers == was[1]:
                continue
            targets = [
                s
                for w in was[1]
                for s in inst.shifts_of_worker[w]
                if inst.shifts[s].day == info.day
            ]
            state.remove(info)
            moved = _insert_at(state, info, targets, was[0]) or _insert_at(
                state, info, list(now.shifts), now.start
            )
            if moved is None:  # never expected: it was there a moment ago
                return placements
            where[v] = moved
            reverted |= moved != now
    return placements_of_state(state)


def _insert_at(
    state: RosterState, info: VisitInfo, shifts: list[int], start: int
) -> Placement | None:
    """Put a one-carer visit on the first of `shifts` where it fits at `start` with
    nobody else moving; None if it fits on none."""
    for s in shifts:
        for option in state.options(info, s):
            if option.earliest <= start <= option.latest:
                state.insert(info, option, start)
                state.charge_package(info)
                return Placement(info.index, start, (s,))
    return None


def _cover(
    inst: Instance,
    placements: list[Placement],
    baseline: _Baseline,
    frozen: set[int],
    shifts: set[int],
    *,
    seed: int,
    weights: ReplanWeights,
) -> list[Placement] | None:
    """`placements` with the visits of `shifts` rearranged by the engine's ruin and
    recreate (`matcher.solver.ruin`) so that more displaced visits are covered, or
    None if no try did.

    Every visit but the frozen ones may change carers and move within its hard range.
    Each try is one ruin (a few strings of nearby visits out of their routes) and one
    recreate (cheapest insertion) from `placements`, seeded differently: one step
    away, not a search that also shortens everyone's travel. Of the first
    `COVER_KEEP` tries that cover more, the one the re-plan's weights price lowest is
    kept. Ruin and recreate never leaves more visits unassigned than it started with,
    but it could trade one for another: a try that drops a visit placed before is
    refused. Seeded and bounded in tries (`COVER_TRIES`), so deterministic."""
    hood = restrict(inst, shifts, placements, pinned=dict.fromkeys(frozen, 0))
    if not hood.visits:
        return None
    sub = _with_room(hood.instance)
    start = neighbourhood_hint(hood, placements)
    wanted = {i for i, v in enumerate(hood.visits) if v in baseline.displaced}
    before = len(wanted & {p.visit for p in start})
    inside = set(hood.visits)
    had = {p.visit for p in placements if p.visit in inside}
    mine = [p for p in placements if p.visit in inside]
    others = [p for p in placements if p.visit not in inside]
    # A visit unassigned in the committed roster stays so (the re-plan changes nothing
    # it was not asked to): dropping a visit from a route keeps it valid.
    keep = {i for i, v in enumerate(hood.visits) if v in baseline.displaced or v in baseline.was}
    found: list[tuple[int, int, list[Placement]]] = []
    for attempt in range(COVER_TRIES):
        iterations = 1 + attempt * COVER_MAX_ITERATIONS // COVER_TRIES
        out = ruin_and_recreate(
            sub, start, seed=seed * COVER_TRIES + attempt, max_iterations=iterations
        ).placements
        covered = len(wanted & {p.visit for p in out})
        if covered <= before:
            continue
        new = [
            Placement(hood.visits[p.visit], p.start, tuple(hood.shifts[s] for s in p.shifts))
            for p in out
            if p.visit in keep
        ]
        if not had <= {p.visit for p in new}:
            continue
        candidate = _settle(inst, mine, new) + others
        found.append((_total(baseline.cost(candidate, weights)), attempt, candidate))
        if len(found) >= COVER_KEEP:
            break
    return min(found)[2] if found else None


def _changed_shifts(before: list[Placement], after: list[Placement]) -> set[int]:
    """The shifts whose routes (visits and starts) differ between two rosters."""
    routes: list[dict[int, set[tuple[int, int]]]] = [defaultdict(set), defaultdict(set)]
    for placements, route in zip((before, after), routes, strict=True):
        for p in placements:
            for s in p.shifts:
                route[s].add((p.visit, p.start))
    return {s for s in routes[0].keys() | routes[1].keys() if routes[0][s] != routes[1][s]}


def _settle(inst: Instance, before: list[Placement], after: list[Placement]) -> list[Placement]:
    """`after` with every route that holds the same visits in the same order as in
    `before` given back its starts from `before`.

    Ruin and recreate starts by pulling every route it is given to its earliest
    starts, so even a route it never changed comes back moved; only the routes it
    did change need CP-SAT to take them back. A route keeps `after`'s starts when a
    visit on it also sits on a changed route (a two-carer visit: one start for both)
    or is linked to a visit that moved (the link's gap), and so on until nothing
    changes: what is given back is then exactly a piece of `before`, so it keeps
    every rule it kept there."""
    old = {p.visit: p for p in before}
    routes_before: dict[int, list[int]] = defaultdict(list)
    routes_after: dict[int, list[int]] = defaultdict(list)
    for placements, routes in ((before, routes_before), (after, routes_after)):
        for p in sorted(placements, key=lambda p: p.start):
            for s in p.shifts:
                routes[s].append(p.visit)
    same = {s for s in routes_after if routes_after[s] == routes_before.get(s)}
    inside = {p.visit for p in after}
    while True:
        restored = {v for s in same for v in routes_after[s]}
        broken = {
            s
            for s in same
            for v in routes_after[s]
            if not set(old[v].shifts) <= same
            or (v in inst.partner and inst.partner[v] in inside and inst.partner[v] not in restored)
        }
        if not broken:
            break
        same -= broken
    return [old[p.visit] if p.visit in restored else p for p in after]


def _with_room(sub: Instance) -> Instance:
    """A neighbourhood whose workers' daily and weekly maxima are what the fixed rest
    of the roster leaves them: the insertion heuristic (`RosterState`) counts only the
    routes it holds, not the neighbourhood's context (`day_minutes_used`,
    `week_minutes_used`), which only the CP-SAT model reads."""
    days = {shift.day for shift in sub.shifts}
    workers = []
    for w, worker in enumerate(sub.workers):
        day_used = max((sub.day_minutes_used.get((w, d), 0) for d in days), default=0)
        week_used = sub.week_minutes_used.get(w, 0)
        if day_used or week_used:
            worker = worker.model_copy(
                update={
                    "max_minutes_per_day": max(0, worker.max_minutes_per_day - day_used),
                    "max_minutes_per_week": max(0, worker.max_minutes_per_week - week_used),
                }
            )
        workers.append(worker)
    return replace(sub, problem=sub.problem.model_copy(update={"workers": workers}))


def _nearness(
    mine: list[tuple[int, int]], theirs: list[tuple[int, int]], matrix: list[list[int]]
) -> float:
    """How near two routes come: travel plus a quarter of the time apart, at closest
    (Shaw's relatedness, as the engine's LNS measures it); a carer with no visits that
    day is near anyone, since they are free."""
    if not mine or not theirs:
        return 0.0
    return min(matrix[a][b] + abs(ta - tb) / 4 for ta, a in mine for tb, b in theirs)


_WINDOW_VAR = re.compile(r"^(early|late)\[(\d+)\]$")


def _hint_window_terms(model: cp_model.CpModel, sub: Instance, starts: list[int]) -> None:
    """Hint the engine's minutes-outside-the-window variables (`early[i]`, `late[i]`,
    made by `constraints.outside_window_penalty`, which `add_hint` leaves out) from
    the hinted starts, so that the hint is complete."""
    for index, var in enumerate(model.proto.variables):
        match = _WINDOW_VAR.match(var.name)
        if match is None:
            continue
        info = sub.visits[int(match[2])]
        start = starts[info.index]
        value = info.preferred_start - start if match[1] == "early" else start - info.preferred_end
        model.add_hint(model.get_int_var_from_proto_index(index), max(0, value))


def _loosen(
    inst: Instance,
    sub: Instance,
    visits: list[int],
    shifts: list[int],
    start: list[Placement],
    pinned: dict[int, int],
    was: dict[int, tuple[int, frozenset[int]]],
) -> Instance:
    """The neighbourhood with its movable pinned visits free to change carers and to
    move `pinned[v]` minutes either way inside their hard range, of where they are and
    of where they were in the committed roster (`was`), so a roster that ruin and
    recreate moved can be taken back."""
    released = {inst.shifts[s].worker for s in shifts}
    starts = {p.visit: p.start for p in start}
    infos, eligibility = list(sub.visits), list(sub.eligibility)
    for i, v in enumerate(visits):
        slack = pinned.get(v, 0)
        if not slack or v in inst.partner:
            continue
        full = inst.visits[v]
        low = high = starts[v]
        if v in was:
            low, high = min(low, was[v][0]), max(high, was[v][0])
        infos[i] = replace(
            infos[i],
            earliest=max(full.earliest, low - slack),
            latest=min(full.latest, high + slack),
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
