"""The scheduling model's constraint families, one function each.

Hard families post constraints and return nothing. Soft families return a
`PenaltyTerm`: a named linear expression and its weight, which `model.build_model`
sums into the objective and `solve` reports term by term. The rule ids and their
meaning are in docs/model.md, which the independent checker follows too.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass

from ortools.sat.python import cp_model

from matcher.instance import Instance, VisitInfo
from matcher.solver.variables import HOME, ScheduleVars

# The objective counts in hundredths of a weighted minute, so that travel from a
# fractional matrix is compared exactly; every other term is scaled up to match.
OBJECTIVE_SCALE = 100


@dataclass(frozen=True)
class PenaltyTerm:
    """A soft rule's expression and its multiplier in the (scaled) objective."""

    name: str
    expression: cp_model.LinearExprT
    weight: int


def _total(terms: list) -> cp_model.LinearExprT:
    return sum(terms, cp_model.LinearExpr.constant(0))


# ------------------------------------------------------------------------- hard


def add_visit_coverage(model: cp_model.CpModel, inst: Instance, x: ScheduleVars) -> None:
    """Hard: an assigned visit has exactly `carers` distinct workers; else none."""
    for v in inst.visits:
        options = x.serves_of_visit(v.index, inst)
        model.add(sum(lit for _, lit in options) == v.carers * x.assigned[v.index])
        per_worker: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for s, lit in options:
            per_worker[inst.shifts[s].worker].append(lit)
        for lits in per_worker.values():
            if len(lits) > 1:
                model.add_at_most_one(lits)
        if len(per_worker) < v.carers:
            model.add(x.assigned[v.index] == 0)
        if v.index in inst.required:
            model.add(x.assigned[v.index] == 1)


def add_shift_routes(model: cp_model.CpModel, inst: Instance, x: ScheduleVars) -> None:
    """Hard: each shift is one trip from home through its visits and back, in time.

    Enforces availability (the trip lies inside the shift), travel between consecutive
    homes, and no overlaps, with one circuit per shift. Arcs that can never be used are
    left out, which keeps the model small without losing any solution:
    - those that can never be on time (the earliest end of one visit plus travel is
      after the latest start of the next);
    - those that would skip a visit the shift must serve (`_ShiftMusts`): a pinned
      visit between them in time is on the route whatever else is, so an insertion's
      route through pinned visits only has arcs between neighbours.
    """
    serving_shifts: dict[int, int] = defaultdict(int)
    for _, v in x.serves:
        serving_shifts[v] += 1
    for s, shift in enumerate(inst.shifts):
        visits = x.candidates[s]
        arcs: dict[tuple[int, int], cp_model.IntVar] = {}
        x.arcs.append(arcs)
        if not visits:
            continue
        musts = _ShiftMusts(
            [
                inst.visits[v]
                for v in visits
                if v in inst.required and serving_shifts[v] == inst.visits[v].carers
            ]
        )
        matrix = inst.travel(shift.worker)
        home = inst.worker_place[shift.worker]
        circuit = []
        unused = model.new_bool_var(f"unused[{s}]")
        arcs[HOME, HOME] = unused
        for node, v in enumerate(visits, start=1):
            info = inst.visits[v]
            served = x.serves[s, v]
            model.add_implication(served, unused.negated())
            arcs[node, node] = served.negated()
            if musts.first_latest >= info.earliest:  # nothing must come before it
                leave = model.new_bool_var(f"from_home[{s},{node}]")
                model.add(x.start[v] >= shift.start + matrix[home][info.place]).only_enforce_if(
                    leave
                )
                arcs[HOME, node] = leave
            if musts.last_earliest <= info.latest:  # nothing must come after it
                back = model.new_bool_var(f"to_home[{s},{node}]")
                model.add(
                    x.start[v] + info.duration + matrix[info.place][home] <= shift.end
                ).only_enforce_if(back)
                arcs[node, HOME] = back
        for i, v in enumerate(visits, start=1):
            a = inst.visits[v]
            next_must_latest = musts.latest_of_next_after(a.latest)
            for j, w in enumerate(visits, start=1):
                if i == j:
                    continue
                b = inst.visits[w]
                gap = a.duration + matrix[a.place][b.place]
                if a.earliest + gap > b.latest or next_must_latest < b.earliest:
                    continue
                arc = model.new_bool_var(f"arc[{s},{i},{j}]")
                model.add(x.start[w] >= x.start[v] + gap).only_enforce_if(arc)
                arcs[i, j] = arc
        circuit = [(i, j, lit) for (i, j), lit in arcs.items()]
        model.add_circuit(circuit)


class _ShiftMusts:
    """The visits a shift must serve (required, and this shift one of exactly as many
    as the visit needs carers), as the route questions `add_shift_routes` asks of them.

    A must-visit `c` whose latest start is before `b`'s earliest lies between `a` and
    `b` on the route whenever its earliest start is after `a`'s latest: the arc a->b
    would skip it, so no solution uses that arc. Likewise home->b when some must-visit
    starts before `b` can, and b->home when some must-visit starts after `b` must.
    """

    def __init__(self, musts: list[VisitInfo]) -> None:
        ordered = sorted(musts, key=lambda v: v.earliest)
        self._earliest = [v.earliest for v in ordered]
        # _suffix_latest[k]: the least latest start among ordered[k:].
        self._suffix_latest = [math.inf] * (len(ordered) + 1)
        for k in range(len(ordered) - 1, -1, -1):
            self._suffix_latest[k] = min(ordered[k].latest, self._suffix_latest[k + 1])
        self.first_latest = self._suffix_latest[0]
        self.last_earliest = self._earliest[-1] if ordered else -math.inf

    def latest_of_next_after(self, time: int) -> float:
        """The least latest start of the must-visits whose earliest start is after
        `time` (inf when none): an arc into a visit that can only start later skips
        one of them."""
        return self._suffix_latest[bisect.bisect_right(self._earliest, time)]


def add_visit_links(model: cp_model.CpModel, inst: Instance, x: ScheduleVars) -> None:
    """Hard: linked visits are placed together, the second within its gap of the first."""
    for a, b, min_gap, max_gap in inst.links:
        model.add(x.assigned[a] == x.assigned[b])
        gap = x.start[b] - x.start[a]
        model.add_linear_constraint(gap, min_gap, max_gap).only_enforce_if(x.assigned[a])


def add_working_time_limits(
    model: cp_model.CpModel, inst: Instance, x: ScheduleVars, travel: list
) -> None:
    """Hard: visit plus travel minutes within each worker's daily and weekly maximum."""
    for w, worker in enumerate(inst.workers):
        per_day: dict[int, list] = defaultdict(list)
        for s in inst.shifts_of_worker[w]:
            if x.candidates[s]:
                per_day[inst.shifts[s].day].append(x.shift_visit_minutes(s, inst) + travel[s])
        week = []
        for day, minutes in per_day.items():
            used = inst.day_minutes_used.get((w, day), 0)
            model.add(_total(minutes) <= worker.max_minutes_per_day - used)
            week.extend(minutes)
        if week:
            used = inst.week_minutes_used.get(w, 0)
            model.add(_total(week) <= worker.max_minutes_per_week - used)


def add_budget_caps(model: cp_model.CpModel, inst: Instance, x: ScheduleVars) -> None:
    """Hard: a package's carer minutes stay within what its budget pays for.

    `Instance.budget_carer_minutes` is the exact integer floor of cap / rate, so the
    comparison is exact: Mary's 405 minutes fit her cap, 406 do not.
    """
    for p, limit in enumerate(inst.budget_carer_minutes):
        if limit is None:
            continue
        minutes = [
            inst.visits[v].duration * inst.visits[v].carers * x.assigned[v]
            for v in inst.visits_of_package[p]
        ]
        model.add(_total(minutes) <= limit - inst.package_minutes_used.get(p, 0))


# ------------------------------------------------------------------------- soft


def unassigned_penalty(inst: Instance, x: ScheduleVars) -> PenaltyTerm:
    """Soft: each visit left unassigned costs a large fixed penalty."""
    return PenaltyTerm(
        "unassigned",
        _total([1 - lit for lit in x.assigned]),
        OBJECTIVE_SCALE * inst.problem.weights.unassigned_visit,
    )


def outside_window_penalty(model: cp_model.CpModel, inst: Instance, x: ScheduleVars) -> PenaltyTerm:
    """Soft: minutes an assigned visit starts before or after its preferred window."""
    terms = []
    for v in inst.visits:
        if v.earliest >= v.preferred_start and v.latest <= v.preferred_end:
            continue
        early = model.new_int_var(0, max(0, v.preferred_start - v.earliest), f"early[{v.index}]")
        late = model.new_int_var(0, max(0, v.latest - v.preferred_end), f"late[{v.index}]")
        model.add(early >= v.preferred_start - x.start[v.index])
        model.add(late >= x.start[v.index] - v.preferred_end)
        terms += [early, late]
    weight = OBJECTIVE_SCALE * inst.problem.weights.minute_outside_window
    return PenaltyTerm("outside_window", _total(terms), weight)


def max_lateness_penalty(
    model: cp_model.CpModel, inst: Instance, x: ScheduleVars
) -> PenaltyTerm | None:
    """Soft: the lateness of the latest visit past its preferred window (one number)."""
    weight = OBJECTIVE_SCALE * inst.problem.weights.max_lateness
    if not weight or not inst.visits:
        return None
    floor = inst.lateness_floor
    horizon = max(floor, *(v.latest - v.preferred_end for v in inst.visits))
    latest = model.new_int_var(floor, horizon, "max_lateness")
    for v in inst.visits:
        if v.latest > v.preferred_end:
            model.add(latest >= x.start[v.index] - v.preferred_end).only_enforce_if(
                x.assigned[v.index]
            )
    return PenaltyTerm("max_lateness", latest, weight)


def continuity_penalty(model: cp_model.CpModel, inst: Instance, x: ScheduleVars) -> PenaltyTerm:
    """Soft: each distinct worker a client sees in the week costs a fixed penalty.

    In a neighbourhood, a worker the client already sees elsewhere in the week is free.
    """
    for (s, v), lit in x.serves.items():
        key = (inst.visits[v].client, inst.shifts[s].worker)
        if key in inst.already_seen:
            continue
        if key not in x.sees:
            x.sees[key] = model.new_bool_var(f"sees[{key[0]},{key[1]}]")
        model.add_implication(lit, x.sees[key])
    weight = OBJECTIVE_SCALE * inst.problem.weights.distinct_worker
    return PenaltyTerm("continuity", _total(list(x.sees.values())), weight)


def travel_penalty(inst: Instance, x: ScheduleVars) -> PenaltyTerm:
    """Soft: every travel minute (counted in hundredths), home legs included."""
    travel = [x.shift_travel(s, inst, cost=True) for s in range(len(inst.shifts))]
    return PenaltyTerm("travel", _total(travel), inst.problem.weights.travel_minute)


def gender_mismatch_penalty(inst: Instance, x: ScheduleVars) -> PenaltyTerm:
    """Soft: a visit-worker pair against a client's non-strict gender preference."""
    terms = [
        lit for (s, v), lit in x.serves.items() if not inst.eligibility[v][inst.shifts[s].worker]
    ]
    weight = OBJECTIVE_SCALE * inst.problem.weights.gender_mismatch
    return PenaltyTerm("gender_soft", _total(terms), weight)
