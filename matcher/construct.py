"""A greedy cheapest-insertion roster, used as CP-SAT's starting hint.

CP-SAT finds a first solution of a large routing model slowly; handed a complete,
feasible assignment as a hint it starts from there and spends its time improving.
The heuristic inserts visits one at a time in a given order (hardest first, or in
time order; `matcher.solver.solve` tries several), each at the place and time that
adds the least objective
(minutes off the preferred window, new carer for the client, added travel), never
moving what is already placed. Visits it cannot place stay unassigned.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from matcher.insertion import InsertionOption, RosterState
from matcher.instance import Instance, VisitInfo


@dataclass(frozen=True)
class Placement:
    visit: int
    start: int
    shifts: tuple[int, ...]


def hardest_first(instance: Instance, rng: random.Random) -> list[VisitInfo]:
    """Two-carer visits, then those few workers can do, then narrow hard ranges."""
    return sorted(
        instance.visits,
        key=lambda v: (
            -v.carers,
            len(instance.eligibility[v.index]),
            v.latest - v.earliest,
            v.preferred_start,
            v.index,
        ),
    )


def earliest_first(instance: Instance, rng: random.Random) -> list[VisitInfo]:
    """In preferred start order: routes then grow forwards in time, as in VRPTW."""
    return sorted(instance.visits, key=lambda v: (v.preferred_start, -v.carers, v.index))


def jittered_earliest_first(instance: Instance, rng: random.Random) -> list[VisitInfo]:
    """Preferred start order with ties and near-ties shuffled, for multi-start."""
    return sorted(instance.visits, key=lambda v: (v.preferred_start + rng.uniform(0, 30), v.index))


ORDERINGS = (hardest_first, earliest_first, jittered_earliest_first)


def construct(
    instance: Instance, order: list[VisitInfo] | None = None
) -> tuple[RosterState, list[Placement]]:
    """Insert the visits in `order` (default: hardest first) at their cheapest places."""
    state = RosterState(instance)
    if order is None:
        order = hardest_first(instance, random.Random(0))
    placed: set[int] = set()
    for visit in order:
        place(state, visit, placed, push=True)
    return state, placements_of_state(state)


def placements_of_state(state: RosterState) -> list[Placement]:
    """Every placed visit with its start and shifts, read off the routes."""
    starts: dict[int, int] = {}
    shifts: dict[int, list[int]] = {}
    for s, route in enumerate(state.routes):
        for stop in route:
            starts[stop.visit] = stop.start
            shifts.setdefault(stop.visit, []).append(s)
    return [Placement(v, starts[v], tuple(shifts[v])) for v in sorted(starts)]


def place(
    state: RosterState,
    visit: VisitInfo,
    placed: set[int],
    *,
    push: bool = False,
    push_first: bool = False,
    blink: Callable[[], bool] | None = None,
) -> list[Placement]:
    """Insert a visit (with its linked partner, if any) where it adds the least.

    Returns the placements made (none if it fits nowhere) and records them in `placed`.
    With `push`, a visit that fits nowhere as the routes stand may move later visits of
    a route on to make room (only then: pushing trades travel for lateness), so the starts
    returned for earlier placements can go stale: read them off the state instead
    (`placements_of_state`). With `push_first` too, pushing is weighed for every visit,
    not only as a last resort: moving visits along inside their windows costs nothing,
    which opens gaps that the routes as they stand hide (the improvement search uses
    it; the greedy start does not). `blink`, called once per option, skips the options
    it says yes to (randomised search); if that leaves nothing, the visit is tried
    without it.
    """
    if visit.index in placed:
        return []
    mode = (push, push and push_first)
    done = _place(state, visit, mode, blink)
    if not done and blink is not None:
        done = _place(state, visit, mode, None)
    placed.update(p.visit for p in done)
    return done


def _place(
    state: RosterState,
    visit: VisitInfo,
    mode: tuple[bool, bool],
    blink: Callable[[], bool] | None,
) -> list[Placement]:
    push, push_first = mode
    partner = state.instance.partner.get(visit.index)
    if partner is None:
        if not state.fits_budget(visit):
            return []
        best = None if push_first else best_insertion(state, visit, blink=blink)
        if best is None and push:
            best = best_insertion(state, visit, push=True, blink=blink)
        if best is None:
            return []
        start, options = best
        return [_commit(state, visit, start, options)]
    other = state.instance.visits[partner]
    done = [] if push_first else _place_linked(state, visit, other, push=False, blink=blink)
    if not done and push:
        done = _place_linked(state, visit, other, push=True, blink=blink)
    return done


def _commit(
    state: RosterState, visit: VisitInfo, start: int, options: tuple[InsertionOption, ...]
) -> Placement:
    for option in options:
        state.insert(visit, option, start)
    state.charge_package(visit)
    return Placement(visit.index, start, tuple(o.shift for o in options))


def _place_linked(
    state: RosterState,
    one: VisitInfo,
    other: VisitInfo,
    *,
    push: bool,
    blink: Callable[[], bool] | None = None,
) -> list[Placement]:
    """Both visits of a link, by different workers, at starts that respect its gap."""
    inst = state.instance
    first, second = (one, other) if any(a == one.index for a, *_ in inst.links) else (other, one)
    _, _, min_gap, max_gap = next(link for link in inst.links if link[0] == first.index)
    if first.carers != 1 or second.carers != 1:
        return []  # a linked two-carer visit is left to CP-SAT
    limit = inst.budget_carer_minutes[first.package]
    extra = first.duration + second.duration
    if limit is not None and state.package_minutes[first.package] + extra > limit:
        return []
    window_weight = inst.problem.weights.minute_outside_window
    firsts = _options(state, first, push, blink)
    seconds = _options(state, second, push, blink)
    # The cheapest pair, ties to the first in (first option, second option, start)
    # order; pairs are visited cheapest first so the rest can be cut off early (the
    # start-dependent terms are never negative; pushing costs nothing without push).
    cost_a = [insertion_cost(state, first, a) for a in firsts]
    cost_b = [insertion_cost(state, second, b) for b in seconds]
    order_a = sorted(range(len(firsts)), key=cost_a.__getitem__)
    order_b = sorted(range(len(seconds)), key=cost_b.__getitem__)
    cheapest_b = cost_b[order_b[0]] if order_b else 0
    best_key: tuple[int, int, int, int] | None = None
    pushes_a: dict[tuple[int, int], int] = {}  # push costs by (option, start)
    pushes_b: dict[tuple[int, int], int] = {}
    best: tuple[int, int, InsertionOption, InsertionOption] | None = None
    for i in order_a:
        if best_key is not None and cost_a[i] + cheapest_b > best_key[0]:
            break
        a = firsts[i]
        for j in order_b:
            base = cost_a[i] + cost_b[j]
            if best_key is not None and base > best_key[0]:
                break
            b = seconds[j]
            if b.worker == a.worker:
                continue
            low = max(a.earliest, b.earliest - max_gap)
            high = min(a.latest, b.latest - min_gap)
            if low > high:
                continue
            for k, start in enumerate(
                {
                    low,
                    high,
                    min(max(first.preferred_start, low), high),
                    min(max(second.preferred_start - max_gap, low), high),
                }
            ):
                then = min(
                    max(second.preferred_start, start + min_gap, b.earliest),
                    start + max_gap,
                    b.latest,
                )
                cost = base + window_weight * (
                    first.minutes_outside(start) + second.minutes_outside(then)
                )
                if push:
                    if (i, start) not in pushes_a:
                        pushes_a[i, start] = push_cost(state, a, first, start)
                    if (j, then) not in pushes_b:
                        pushes_b[j, then] = push_cost(state, b, second, then)
                    cost += pushes_a[i, start] + pushes_b[j, then]
                key = (cost, i, j, k)
                if best_key is None or key < best_key:
                    best_key, best = key, (start, then, a, b)
    if best is None:
        return []
    start, then, a, b = best
    return [_commit(state, first, start, (a,)), _commit(state, second, then, (b,))]


def insertion_cost(state: RosterState, visit: VisitInfo, option: InsertionOption) -> int:
    """Objective added by one carer's part of an insertion, start-independent terms."""
    weights = state.instance.problem.weights
    cost = option.added_travel * weights.travel_minute
    if option.worker not in state.workers_of_client[visit.client]:
        cost += weights.distinct_worker
    if not state.instance.eligibility[visit.index][option.worker]:
        cost += weights.gender_mismatch
    return cost


def push_cost(state: RosterState, option: InsertionOption, visit: VisitInfo, start: int) -> int:
    """Extra minutes off-window of the visits that inserting at `start` moves on."""
    inst = state.instance
    route = state.routes[option.shift]
    if option.position == len(route):
        return 0  # nothing after it
    after = route[option.position]
    if start + visit.duration + inst.travel(option.worker)[visit.place][after.place] <= after.start:
        return 0  # the next visit need not move (the first test of `push_delays`)
    extra = 0
    for offset, delay in enumerate(state.push_delays(option, visit, start)):
        stop = route[option.position + offset]
        info = inst.visits[stop.visit]
        extra += info.minutes_outside(stop.start + delay) - info.minutes_outside(stop.start)
    return extra * inst.problem.weights.minute_outside_window


def _options(
    state: RosterState, visit: VisitInfo, push: bool, blink: Callable[[], bool] | None
) -> list[InsertionOption]:
    options = [o for s in state.candidate_shifts(visit) for o in state.options(visit, s, push=push)]
    return options if blink is None else [o for o in options if not blink()]


def best_insertion(
    state: RosterState,
    visit: VisitInfo,
    *,
    push: bool = False,
    blink: Callable[[], bool] | None = None,
) -> tuple[int, tuple[InsertionOption, ...]] | None:
    """The cheapest start and carer options for the visit, or None if it fits nowhere
    (`blink` as in `place`)."""
    window_weight = state.instance.problem.weights.minute_outside_window
    options = _options(state, visit, push, blink)
    best: tuple[int, int, tuple[InsertionOption, ...]] | None = None
    if visit.carers == 1:
        for option in options:
            start = option.best_start(visit)
            cost = (
                insertion_cost(state, visit, option)
                + window_weight * visit.minutes_outside(start)
                + (push_cost(state, option, visit, start) if push else 0)
            )
            if best is None or cost < best[0]:
                best = (cost, start, (option,))
    else:
        costs = [insertion_cost(state, visit, o) for o in options]
        for i, first in enumerate(options):
            for j in range(i + 1, len(options)):
                second = options[j]
                if second.worker == first.worker:
                    continue
                both = InsertionOption(
                    -1,
                    -1,
                    -1,
                    max(first.earliest, second.earliest),
                    min(first.latest, second.latest),
                    0,
                )
                if both.earliest > both.latest:
                    continue
                start = both.best_start(visit)
                cost = costs[i] + costs[j] + window_weight * visit.minutes_outside(start)
                if push:
                    cost += push_cost(state, first, visit, start)
                    cost += push_cost(state, second, visit, start)
                if best is None or cost < best[0]:
                    best = (cost, start, (first, second))
    return None if best is None else (best[1], best[2])
