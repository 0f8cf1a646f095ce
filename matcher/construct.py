"""A greedy cheapest-insertion roster, used as CP-SAT's starting hint.

CP-SAT finds a first solution of a large routing model slowly; handed a complete,
feasible assignment as a hint it starts from there and spends its time improving.
The heuristic inserts visits one at a time, hardest first (two-carer visits, then
narrow hard ranges), each at the place and time that adds the least objective
(minutes off the preferred window, new carer for the client, added travel), never
moving what is already placed. Visits it cannot place stay unassigned.
"""

from __future__ import annotations

from dataclasses import dataclass

from matcher.insertion import InsertionOption, RosterState
from matcher.instance import Instance, VisitInfo


@dataclass(frozen=True)
class Placement:
    visit: int
    start: int
    shifts: tuple[int, ...]


def construct(instance: Instance) -> tuple[RosterState, list[Placement]]:
    state = RosterState(instance)
    placements: list[Placement] = []
    order = sorted(
        instance.visits,
        key=lambda v: (
            -v.carers,
            len(instance.eligibility[v.index]),
            v.latest - v.earliest,
            v.preferred_start,
            v.index,
        ),
    )
    for visit in order:
        if not state.fits_budget(visit):
            continue
        best = best_insertion(state, visit)
        if best is None:
            continue
        start, options = best
        for option in options:
            state.insert(visit, option, start)
        state.charge_package(visit)
        placements.append(Placement(visit.index, start, tuple(o.shift for o in options)))
    return state, placements


def insertion_cost(state: RosterState, visit: VisitInfo, option: InsertionOption) -> int:
    """Objective added by one carer's part of an insertion, start-independent terms."""
    weights = state.instance.problem.weights
    cost = option.added_travel * weights.travel_minute
    if option.worker not in state.workers_of_client[visit.client]:
        cost += weights.distinct_worker
    if not state.instance.eligibility[visit.index][option.worker]:
        cost += weights.gender_mismatch
    return cost


def best_insertion(
    state: RosterState, visit: VisitInfo
) -> tuple[int, tuple[InsertionOption, ...]] | None:
    """The cheapest start and carer options for the visit, or None if it fits nowhere."""
    window_weight = state.instance.problem.weights.minute_outside_window
    options = [o for s in state.candidate_shifts(visit) for o in state.options(visit, s)]
    best: tuple[int, int, tuple[InsertionOption, ...]] | None = None
    if visit.carers == 1:
        for option in options:
            start = option.best_start(visit)
            cost = insertion_cost(state, visit, option) + window_weight * visit.minutes_outside(
                start
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
                if best is None or cost < best[0]:
                    best = (cost, start, (first, second))
    return None if best is None else (best[1], best[2])
