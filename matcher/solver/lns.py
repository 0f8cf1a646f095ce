"""Large neighbourhood search: re-optimise part of a roster with the same CP-SAT model.

The full week of a 15-worker agency is a model of ~65,000 variables: CP-SAT improves
a greedy start only slowly on it. A *neighbourhood* releases the visits of a few
shifts (for example every shift of one day, or a handful of workers' shifts) and
keeps everything else fixed; that sub-problem is an `Instance` of its own, built by
`restrict`, so the very same constraint families model it (no second solver), and it
is small enough for CP-SAT to solve well in a second or two. What stays fixed enters
as context: minutes each worker already works that day and week, carer minutes each
package already uses, and the (client, worker) pairs already seen, which then cost
no continuity penalty.

A two-carer visit whose carers are split between released and fixed shifts pulls the
other carer's shift into the neighbourhood too, so synchronisation is never broken.
A neighbourhood's solution is kept only if the whole roster's objective improves.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace

from ortools.sat.python import cp_model

from matcher.construct import Placement
from matcher.control import NO_CONTROL, RunControl
from matcher.instance import Instance, Shift, VisitInfo
from matcher.solver.clock import Clock
from matcher.solver.constraints import OBJECTIVE_SCALE
from matcher.solver.model import add_hint, build_model, make_solver, run_solver

log = logging.getLogger(__name__)

# Neighbourhoods with more visits than this are split by workers (measured on the
# urban and rural samples: 20 visits with 0.7 s steps beat 35, 45 and 70 in 15 s).
MAX_RELEASED_VISITS = 20
# A neighbourhood built around a visit still waiting is larger and gets longer.
WAITING_TIME_FACTOR = 4.0


@dataclass(frozen=True)
class Neighbourhood:
    instance: Instance
    visits: list[int]  # sub visit index -> full visit index
    shifts: list[int]  # sub shift index -> full shift index


def objective_terms(inst: Instance, placements: list[Placement]) -> dict[str, int]:
    """The roster's objective term by term, in the model's scaled units (see
    `constraints.OBJECTIVE_SCALE`), exactly as CP-SAT counts it."""
    weights = inst.problem.weights
    scale = OBJECTIVE_SCALE
    terms = dict.fromkeys(
        ("unassigned", "outside_window", "continuity", "travel", "gender_soft"), 0
    )
    terms["unassigned"] = scale * weights.unassigned_visit * (len(inst.visits) - len(placements))
    pairs = set(inst.already_seen)
    per_shift: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p in placements:
        info = inst.visits[p.visit]
        terms["outside_window"] += (
            scale * weights.minute_outside_window * info.minutes_outside(p.start)
        )
        for s in p.shifts:
            worker = inst.shifts[s].worker
            pairs.add((info.client, worker))
            per_shift[s].append((p.start, info.place))
            if not inst.eligibility[p.visit].get(worker, True):
                terms["gender_soft"] += scale * weights.gender_mismatch
    terms["continuity"] = scale * weights.distinct_worker * len(pairs - inst.already_seen)
    if weights.max_lateness:
        terms["max_lateness"] = (
            scale
            * weights.max_lateness
            * max(
                (max(0, p.start - inst.visits[p.visit].preferred_end) for p in placements),
                default=0,
            )
        )
    for s, stops in per_shift.items():
        worker = inst.shifts[s].worker
        cost = inst.travel_cost(worker)
        home = inst.worker_place[worker]
        route = [home, *(place for _, place in sorted(stops)), home]
        terms["travel"] += weights.travel_minute * sum(
            cost[a][b] for a, b in itertools.pairwise(route)
        )
    return terms


def evaluate(inst: Instance, placements: list[Placement]) -> int:
    return sum(objective_terms(inst, placements).values())


def restrict(
    inst: Instance,
    shifts: set[int],
    placements: list[Placement],
    *,
    pinned: dict[int, int] | None = None,
) -> Neighbourhood:
    """The sub-instance that releases `shifts`.

    A two-carer visit on a released shift pulls its other carer's shift in too. A
    linked visit whose partner stays fixed is released alone, but must stay placed and
    may only move within the link's gap of the partner's fixed start.

    `pinned` maps visits that must keep their workers to the minutes they may move
    (0: not at all); a pinned visit that moves stays within its preferred window (or
    as near it as it already was). Pinned visits are always placed.
    """
    pinned = pinned or {}
    shifts = set(shifts)
    while True:
        grown = shifts | {
            s for p in placements if shifts & set(p.shifts) and len(p.shifts) > 1 for s in p.shifts
        }
        if grown == shifts:
            break
        shifts = grown
    days = {inst.shifts[s].day for s in shifts}
    workers_released = {inst.shifts[s].worker for s in shifts}
    released = [p for p in placements if shifts & set(p.shifts)]
    placed = {p.visit for p in placements}
    waiting = {
        v.index
        for v in inst.visits
        if v.index not in placed
        and v.day in days
        and workers_released & inst.eligibility[v.index].keys()
    }
    waiting |= {inst.partner[v] for v in waiting if v in inst.partner}
    free_visits = sorted({p.visit for p in released} | waiting)
    released_ids = {p.visit for p in released}

    week_used: dict[int, int] = defaultdict(int)
    day_used: dict[tuple[int, int], int] = defaultdict(int)
    package_used: dict[int, int] = defaultdict(int)
    seen: set[tuple[int, int]] = set()
    lateness_floor = 0
    per_shift: dict[int, list[Placement]] = defaultdict(list)
    for p in placements:
        if p.visit in released_ids:
            continue
        info = inst.visits[p.visit]
        lateness_floor = max(lateness_floor, p.start - info.preferred_end)
        package_used[info.package] += info.duration * info.carers
        for s in p.shifts:
            per_shift[s].append(p)
            seen.add((info.client, inst.shifts[s].worker))
    for s, stops in per_shift.items():
        shift = inst.shifts[s]
        matrix = inst.travel(shift.worker)
        home = inst.worker_place[shift.worker]
        route = [
            home,
            *(inst.visits[p.visit].place for p in sorted(stops, key=lambda p: p.start)),
            home,
        ]
        worked = sum(inst.visits[p.visit].duration for p in stops) + sum(
            matrix[a][b] for a, b in itertools.pairwise(route)
        )
        week_used[shift.worker] += worked
        day_used[shift.worker, shift.day] += worked

    shift_list = sorted(shifts)
    sub_shifts = [replace(inst.shifts[s], index=i) for i, s in enumerate(shift_list)]
    shifts_of_worker: list[list[int]] = [[] for _ in inst.workers]
    for shift in sub_shifts:
        shifts_of_worker[shift.worker].append(shift.index)
    to_sub = {v: i for i, v in enumerate(free_visits)}
    fixed_start = {p.visit: p.start for p in placements if p.visit not in released_ids}
    placement_of = {p.visit: p for p in placements}
    sub_visits: list[VisitInfo] = []
    required: set[int] = set()
    for i, v in enumerate(free_visits):
        info = replace(inst.visits[v], index=i)
        partner = inst.partner.get(v)
        if partner in fixed_start:
            low, high = _gap_window(inst, v, partner, fixed_start[partner])
            info = replace(info, earliest=max(info.earliest, low), latest=min(info.latest, high))
            required.add(i)
        if v in pinned and v in placement_of:
            start, slack = placement_of[v].start, pinned[v]
            low = min(start, max(start - slack, info.preferred_start))
            high = max(start, min(start + slack, info.preferred_end))
            info = replace(info, earliest=max(info.earliest, low), latest=min(info.latest, high))
            required.add(i)
        sub_visits.append(info)
    workers_of = {
        p.visit: {inst.shifts[s].worker for s in p.shifts} for p in placements if p.visit in pinned
    }
    eligibility = [
        {
            w: ok
            for w, ok in inst.eligibility[v].items()
            if w in workers_released and (v not in workers_of or w in workers_of[v])
        }
        for v in free_visits
    ]
    sub = replace(
        inst,
        visits=sub_visits,
        shifts=sub_shifts,
        shifts_of_worker=shifts_of_worker,
        eligibility=eligibility,
        week_minutes_used=dict(week_used),
        day_minutes_used=dict(day_used),
        package_minutes_used=dict(package_used),
        already_seen=frozenset(seen),
        lateness_floor=lateness_floor,
        required=frozenset(required),
        links=[
            (to_sub[a], to_sub[b], lo, hi)
            for a, b, lo, hi in inst.links
            if a in to_sub and b in to_sub
        ],
    )
    return Neighbourhood(sub, free_visits, shift_list)


def _gap_window(inst: Instance, visit: int, partner: int, partner_start: int) -> tuple[int, int]:
    """Where `visit` may start given its linked partner's fixed start."""
    for first, second, low, high in inst.links:
        if (first, second) == (partner, visit):
            return partner_start + low, partner_start + high
        if (first, second) == (visit, partner):
            return partner_start - high, partner_start - low
    raise KeyError((visit, partner))


def _neighbourhoods(
    inst: Instance, placements: list[Placement], rng: random.Random
) -> tuple[list[tuple[set[int], float]], bool]:
    """One round of neighbourhoods (shifts, time-limit factor), and whether the round
    is random.

    A day with few visits is one neighbourhood (the round is then the same every time).
    A bigger day gets one neighbourhood per worker, in random order: that worker's
    shifts with those of the workers whose visits are *related* to theirs (near in
    travel and in time, as in Shaw's removal), enough to release about
    `MAX_RELEASED_VISITS` visits, so that visits can change hands between routes that
    could actually swap them. Visits still waiting come first, each with the eligible
    workers nearest to it and a longer time limit: placing them outweighs the rest.
    """
    by_day: dict[int, list[Shift]] = defaultdict(list)
    for shift in inst.shifts:
        by_day[shift.day].append(shift)
    visits_per_day: dict[int, int] = defaultdict(int)
    for v in inst.visits:
        visits_per_day[v.day] += 1
    stops: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for p in placements:
        info = inst.visits[p.visit]
        for s in p.shifts:
            stops[inst.shifts[s].worker, info.day].append((p.start, info.place))
    placed = {p.visit for p in placements}
    waiting: dict[int, list[int]] = defaultdict(list)
    for v in rng.sample(inst.visits, len(inst.visits)):
        if v.index not in placed:
            waiting[v.day].append(v.index)
    rounds: list[tuple[set[int], float]] = []
    random_round = False
    for day in sorted(by_day):
        shifts = by_day[day]
        workers = sorted({s.worker for s in shifts})
        if visits_per_day[day] <= MAX_RELEASED_VISITS or len(workers) <= 2:
            rounds.append(({s.index for s in shifts}, 1.0))
            continue
        random_round = True
        size = max(2, len(workers) * MAX_RELEASED_VISITS // visits_per_day[day])
        for v in waiting.get(day, []):
            # Around a visit still waiting: the eligible workers nearest to it.
            info = inst.visits[v]
            target = [(info.preferred_start, info.place)]
            eligible = [w for w in inst.eligibility[v] if w in workers]
            score = {
                w: _relatedness(target, stops.get((w, day), []), inst.travel(w)) + rng.random()
                for w in eligible
            }
            chosen = set(sorted(score, key=score.__getitem__)[: max(size, info.carers)])
            # ...and the workers who could take over their other visits to make room
            # (when one worker alone has a skill, only others can free their day).
            route = [stop for w in chosen for stop in stops.get((w, day), [])]
            nearby = {
                w: _relatedness(route, stops.get((w, day), []), inst.travel(w)) + rng.random()
                for w in workers
                if w not in chosen
            }
            chosen |= set(sorted(nearby, key=nearby.__getitem__)[: max(0, 2 * size - len(chosen))])
            rounds.append(({s.index for s in shifts if s.worker in chosen}, WAITING_TIME_FACTOR))
        for seed in rng.sample(workers, len(workers)):
            mine = stops.get((seed, day), [])
            score = {
                w: _relatedness(mine, stops.get((w, day), []), inst.travel(seed)) + rng.random()
                for w in workers
                if w != seed
            }
            others = sorted(score, key=score.__getitem__)
            chosen = {seed, *others[: size - 1]}
            rounds.append(({s.index for s in shifts if s.worker in chosen}, 1.0))
    return rounds, random_round


def _relatedness(
    mine: list[tuple[int, int]], theirs: list[tuple[int, int]], matrix: list[list[int]]
) -> float:
    """How near two routes come: travel plus a quarter of the time apart, at closest."""
    if not mine or not theirs:
        return 1e9
    return min(matrix[a][b] + abs(ta - tb) / 4 for ta, a in mine for tb, b in theirs)


def improve(
    inst: Instance,
    placements: list[Placement],
    *,
    clock: Clock,
    seed: int,
    num_workers: int,
    step_limit_s: float = 0.7,
    control: RunControl = NO_CONTROL,
    on_improve: Callable[[int], None] | None = None,
) -> list[Placement]:
    """Re-optimise neighbourhoods until the clock runs out, or until a round that would
    be the same every time brings nothing (each step is charged its limit: in
    deterministic mode, CP-SAT deterministic time).

    `control` stops a step early (its deadline, which the clock also counts) or
    raises `Cancelled` (its cancel); `on_improve` is told each better objective (in
    the model's scaled units) as it is found.
    """
    rng = random.Random(seed)
    best = evaluate(inst, placements)
    while clock.left() > 0:
        improved_in_round = False
        hoods, random_round = _neighbourhoods(inst, placements, rng)
        for shifts, factor in hoods:
            remaining = clock.left()
            if remaining < 0.2:
                return placements
            limit = min(factor * step_limit_s, remaining)
            clock.charge(limit)
            candidate = solve_neighbourhood(
                inst,
                placements,
                shifts,
                limit,
                seed,
                num_workers,
                deterministic=clock.deterministic,
                control=control,
            )
            if candidate is None:
                continue
            value = evaluate(inst, candidate)
            if value < best:
                log.info("lns: %d -> %d", best, value)
                best, placements, improved_in_round = value, candidate, True
                if on_improve is not None:
                    on_improve(best)
        if not improved_in_round and not random_round:
            break
    return placements


def neighbourhood_hint(hood, placements: list[Placement]) -> list[Placement]:
    """The placements inside `restrict`'s neighbourhood `hood`, in its own indices (the
    sub-model's hint); the way back is `neighbourhood_placements`."""
    to_sub_visit = {v: i for i, v in enumerate(hood.visits)}
    to_sub_shift = {s: i for i, s in enumerate(hood.shifts)}
    return [
        Placement(to_sub_visit[p.visit], p.start, tuple(to_sub_shift[s] for s in p.shifts))
        for p in placements
        if p.visit in to_sub_visit
    ]


def neighbourhood_placements(
    solver: cp_model.CpSolver, x, hood, sub: Instance | None = None
) -> list[Placement]:
    """The sub-problem's solution in the whole instance's indices (`restrict`'s
    neighbourhood `hood`, or `sub`, a variant of its instance with the same visits,
    solved with variables `x`): what CP-SAT placed, where."""
    shifts_of: dict[int, list[int]] = defaultdict(list)
    for (s, v), lit in x.serves.items():
        if solver.boolean_value(lit):
            shifts_of[v].append(hood.shifts[s])
    return [
        Placement(hood.visits[v.index], solver.value(x.start[v.index]), tuple(shifts_of[v.index]))
        for v in (sub or hood.instance).visits
        if solver.boolean_value(x.assigned[v.index])
    ]


def solve_neighbourhood(
    inst: Instance,
    placements: list[Placement],
    shifts: set[int],
    limit: float,
    seed: int,
    num_workers: int,
    pinned: dict[int, int] | None = None,
    deterministic: bool = False,
    control: RunControl = NO_CONTROL,
) -> list[Placement] | None:
    """CP-SAT on the shifts given, everything else fixed; None if it found nothing.

    `deterministic`: `limit` is CP-SAT deterministic time, so the same input and seed
    give the same answer on any machine, however busy. `control`: its deadline caps
    the wall time, its cancel stops CP-SAT and raises `Cancelled`."""
    hood = restrict(inst, shifts, placements, pinned=pinned)
    if not hood.visits:
        return None
    sub = hood.instance
    to_sub_visit = {v: i for i, v in enumerate(hood.visits)}
    sm = build_model(sub)
    add_hint(sm, sub, neighbourhood_hint(hood, placements))
    solver = make_solver(
        time_limit_s=limit, num_workers=num_workers, seed=seed, deterministic=deterministic
    )
    status = run_solver(solver, sm.model, control)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    new = neighbourhood_placements(solver, sm.vars, hood)
    kept = [p for p in placements if p.visit not in to_sub_visit]
    return kept + new
