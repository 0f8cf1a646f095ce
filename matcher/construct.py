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

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from matcher.insertion import InsertionOption, RosterState, Stop
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
    return placements_of_routes(state.routes)


def placements_of_routes(routes: list[list[Stop]]) -> list[Placement]:
    """Every visit on the routes (one per shift) with its start and shifts."""
    starts: dict[int, int] = {}
    shifts: dict[int, list[int]] = {}
    for s, route in enumerate(routes):
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
    gaps = inst.link_gaps
    first, second = (one, other) if one.index in gaps else (other, one)
    min_gap, max_gap = gaps[first.index]
    if first.carers != 1 or second.carers != 1:
        return []  # a linked two-carer visit is left to CP-SAT
    limit = inst.budget_carer_minutes[first.package]
    extra = first.duration + second.duration
    if limit is not None and state.package_minutes[first.package] + extra > limit:
        return []
    window_weight = inst.problem.weights.minute_outside_window
    firsts = _raw_options(state, first, push, blink)
    seconds = _raw_options(state, second, push, blink)
    # The cheapest pair, ties to the first in (first option, second option, start)
    # order; pairs are visited cheapest first so the rest can be cut off early (the
    # start-dependent terms are never negative; pushing costs nothing without push).
    # With push that is not quite so: pushing a visit that starts before its window
    # brings it nearer, so a cut-off pair could have been cheaper. Kept as it is: the
    # search's moves are pinned (tests/test_ruin.py), and changing them is a decision.
    cost_a = _insertion_costs(state, first, firsts)
    cost_b = _insertion_costs(state, second, seconds)
    order_a = sorted(range(len(firsts)), key=cost_a.__getitem__)
    order_b = sorted(range(len(seconds)), key=cost_b.__getitem__)
    cheapest_b = cost_b[order_b[0]] if order_b else 0
    most_off_a = _most_pushes_save(state, firsts, push)
    most_off_b = _most_pushes_save(state, seconds, push)
    first_from, first_to = first.preferred_start, first.preferred_end
    second_from, second_to = second.preferred_start, second.preferred_end
    # The best (cost, i, j, k) so far; nothing yet compares worse than anything.
    best_key: tuple[float, int, int, int] = (math.inf, 0, 0, 0)
    best_cost: float = math.inf  # best_key[0]
    pushes_a: dict[tuple[int, int], int] = {}  # push costs by (option, start)
    pushes_b: dict[tuple[int, int], int] = {}
    best: tuple[int, int, _RawOption, _RawOption] | None = None
    # The second visit's options in the order they are tried, with what the loop reads
    # of each: (cost, index, worker, earliest, latest, most its push may save).
    rows_b = [
        (cost_b[j], j, seconds[j][1], seconds[j][3], seconds[j][4], most_off_b[j]) for j in order_b
    ]
    # The second visit starts at least this long after the first (`then` below).
    least_gap = min_gap if min_gap < max_gap else max_gap
    for i in order_a:
        cost_i = cost_a[i]
        if cost_i + cheapest_b > best_cost:
            break
        a = firsts[i]
        a_worker, a_earliest, a_latest, off_i = a[1], a[3], a[4], most_off_a[i]
        for base, j, b_worker, b_earliest, b_latest, off_j in rows_b:
            base += cost_i
            if base > best_cost:
                break
            if b_worker == a_worker:
                continue
            # min() and max() written out: this loop runs millions of times a minute.
            low = b_earliest - max_gap
            if low < a_earliest:
                low = a_earliest
            high = b_latest - min_gap
            if high > a_latest:
                high = a_latest
            if low > high:
                continue
            # No start tried below is off the windows by less than the first visit's
            # start range [low, high] and the second's range of `then` are from theirs:
            # when that bound cannot beat the best, neither can any of the starts (the
            # same test as the one per start below, on a lower cost).
            if high < first_from:
                off = first_from - high
            else:
                off = low - first_to if low > first_to else 0
            then_low = low + least_gap
            if then_low < b_earliest:
                then_low = b_earliest
            then_high = high + max_gap
            if then_high > b_latest:
                then_high = b_latest
            if then_high < second_from:
                off += second_from - then_high
            elif then_low > second_to:
                off += then_low - second_to
            if base + window_weight * off - (off_i + off_j) > best_cost:
                continue
            b = seconds[j]
            wanted_first = first_from if first_from > low else low
            if wanted_first > high:
                wanted_first = high
            wanted_second = second_from - max_gap
            if wanted_second < low:
                wanted_second = low
            if wanted_second > high:
                wanted_second = high
            for k, start in enumerate({low, high, wanted_first, wanted_second}):
                then = start + min_gap
                if then < second_from:
                    then = second_from
                if then < b_earliest:
                    then = b_earliest
                if then > start + max_gap:
                    then = start + max_gap
                if then > b_latest:
                    then = b_latest
                off = (
                    first_from - start
                    if start < first_from
                    else (start - first_to if start > first_to else 0)
                )
                off += (
                    second_from - then
                    if then < second_from
                    else (then - second_to if then > second_to else 0)
                )
                cost = base + window_weight * off
                if cost - (off_i + off_j) > best_cost:
                    continue  # not even if the pushes took the most they could off
                if push:
                    pushed = pushes_a.get((i, start))
                    if pushed is None:
                        pushed = pushes_a[i, start] = _push_cost(state, a[0], a[2], first, start)
                    cost += pushed
                    pushed = pushes_b.get((j, then))
                    if pushed is None:
                        pushed = pushes_b[j, then] = _push_cost(state, b[0], b[2], second, then)
                    cost += pushed
                key = (cost, i, j, k)
                if key < best_key:
                    best_key, best, best_cost = key, (start, then, a, b), cost
    if best is None:
        return []
    start, then, a, b = best
    return [
        _commit(state, first, start, (InsertionOption(*a),)),
        _commit(state, second, then, (InsertionOption(*b),)),
    ]


# An insertion option as a plain tuple (shift, worker, position, earliest, latest,
# added travel): the fields of `InsertionOption`, in its order, without making one for
# each of the thousands of options a search looks at and drops.
_RawOption = tuple[int, int, int, int, int, int]


def insertion_cost(state: RosterState, visit: VisitInfo, option: InsertionOption) -> int:
    """Objective added by one carer's part of an insertion, start-independent terms."""
    weights = state.instance.problem.weights
    cost = option.added_travel * weights.travel_minute
    if option.worker not in state.workers_of_client[visit.client]:
        cost += weights.distinct_worker
    if not state.instance.eligibility[visit.index][option.worker]:
        cost += weights.gender_mismatch
    return cost


def _insertion_costs(state: RosterState, visit: VisitInfo, options: list[_RawOption]) -> list[int]:
    """`insertion_cost` of each raw option."""
    weights = state.instance.problem.weights
    per_minute, new_worker, mismatch = (
        weights.travel_minute,
        weights.distinct_worker,
        weights.gender_mismatch,
    )
    seen = state.workers_of_client[visit.client]
    eligible = state.instance.eligibility[visit.index]
    costs = []
    for o in options:
        worker = o[1]
        cost = o[5] * per_minute
        if worker not in seen:
            cost += new_worker
        if not eligible[worker]:
            cost += mismatch
        costs.append(cost)
    return costs


def _most_pushes_save(state: RosterState, options: list[_RawOption], push: bool) -> list[int]:
    """Per option, a bound on how much less than nothing its push may cost: a pushed
    visit that started before its preferred window ends off it by less (never below
    minus the weighted `RosterState.early_minutes` after the gap); nothing without push."""
    if not push:
        return [0] * len(options)
    weight = state.instance.problem.weights.minute_outside_window
    return [weight * minutes for minutes in state.early_after(options)]


def push_cost(state: RosterState, option: InsertionOption, visit: VisitInfo, start: int) -> int:
    """Extra minutes off-window of the visits that inserting at `start` moves on."""
    return _push_cost(state, option.shift, option.position, visit, start)


def _push_cost(state: RosterState, shift: int, position: int, visit: VisitInfo, start: int) -> int:
    """`push_cost` of the option at `position` of `shift` (`RosterState.push_delays`
    inlined: the search asks this for most options it weighs)."""
    route = state.routes[shift]
    if position == len(route):
        return 0  # nothing after it
    matrix = state.shift_facts(shift)[0]
    ready, place = start + visit.duration, visit.place
    after = route[position]
    if ready + matrix[place][after.place] <= after.start:
        return 0  # the next visit need not move (the first test of `push_delays`)
    visits = state.instance.visits
    extra = 0
    for index in range(position, len(route)):
        stop = route[index]
        arrive = ready + matrix[place][stop.place]
        was = stop.start
        if arrive <= was:
            break
        info = visits[stop.visit]
        low, high = info.preferred_start, info.preferred_end
        # The minutes off the window at the new start less those at the old one, as
        # `minutes_outside` (max() written out: the search asks this for most options).
        off = low - arrive
        if arrive - high > off:
            off = arrive - high
        if off > 0:
            extra += off
        off = low - was
        if was - high > off:
            off = was - high
        if off > 0:
            extra -= off
        ready, place = arrive + (stop.end - was), stop.place
    return extra * state.instance.problem.weights.minute_outside_window


def _raw_options(
    state: RosterState, visit: VisitInfo, push: bool, blink: Callable[[], bool] | None
) -> list[_RawOption]:
    """`RosterState.options` over every candidate shift, as raw tuples, in the same order
    (`blink` asked once per option, in that order)."""
    found = state.option_tuples(visit, push=push)
    if blink is None:
        return found
    return [o for o in found if not blink()]


def best_insertion(
    state: RosterState,
    visit: VisitInfo,
    *,
    push: bool = False,
    blink: Callable[[], bool] | None = None,
) -> tuple[int, tuple[InsertionOption, ...]] | None:
    """The cheapest start and carer options for the visit, or None if it fits nowhere
    (`blink` as in `place`). The first of equally cheap ones wins; a push is costed
    only for an option that could still win (a push adds minutes off window, or takes
    off at most the minutes the stops after the gap start early)."""
    inst = state.instance
    weights = inst.problem.weights
    window_weight = weights.minute_outside_window
    options = _raw_options(state, visit, push, blink)
    wanted, due = visit.preferred_start, visit.preferred_end
    best: tuple[int, int, tuple[_RawOption, ...]] | None = None
    best_cost = 0  # best[0]
    if visit.carers == 1:  # one pass: `_insertion_costs` and `_most_pushes_save` inlined
        per_minute, new_worker, mismatch = (
            weights.travel_minute,
            weights.distinct_worker,
            weights.gender_mismatch,
        )
        seen = state.workers_of_client[visit.client]
        eligible = inst.eligibility[visit.index]
        shift, early = -1, []  # `early_minutes` of the option's shift (mostly the last's)
        for option in options:
            worker = option[1]
            cost = option[5] * per_minute
            if worker not in seen:
                cost += new_worker
            if not eligible[worker]:
                cost += mismatch
            earliest, latest = option[3], option[4]
            # `best_start` and the minutes off the window, min() and max() written out.
            if latest < wanted:
                start = latest
                off = wanted - start
                if start - due > off:  # only if a window could end before it starts
                    off = start - due
                cost += window_weight * off
            else:
                start = earliest if earliest > wanted else wanted
                if start > due:
                    cost += window_weight * (start - due)
            if best is not None and cost >= best_cost:
                if not push:
                    continue
                if option[0] != shift:
                    shift = option[0]
                    early = state.early_minutes(shift)
                if cost - window_weight * early[option[2]] >= best_cost:
                    continue  # not even if the push took the most it could off
            if push:
                cost += _push_cost(state, option[0], option[2], visit, start)
            if best is None or cost < best_cost:
                best, best_cost = (cost, start, (option,)), cost
    else:
        costs = _insertion_costs(state, visit, options)
        most_off = _most_pushes_save(state, options, push)
        for i, first in enumerate(options):
            for j in range(i + 1, len(options)):
                second = options[j]
                if second[1] == first[1]:
                    continue
                earliest = max(first[3], second[3])
                latest = min(first[4], second[4])
                if earliest > latest:
                    continue
                start = latest if latest < wanted else max(earliest, wanted)  # `best_start`
                cost = costs[i] + costs[j] + window_weight * max(0, wanted - start, start - due)
                if best is not None and cost - most_off[i] - most_off[j] >= best_cost:
                    continue
                if push:
                    cost += _push_cost(state, first[0], first[2], visit, start)
                    cost += _push_cost(state, second[0], second[2], visit, start)
                if best is None or cost < best_cost:
                    best, best_cost = (cost, start, (first, second)), cost
    if best is None:
        return None
    return best[1], tuple(InsertionOption(*option) for option in best[2])
