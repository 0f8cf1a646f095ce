"""Fit new care packages into an agency's existing roster.

Existing clients keep their workers and times (optionally each visit may move up to
`allow_moves_min` minutes, within its preferred window); the new packages' visits get
workers and times under the full rule set. This is the same CP-SAT model on a
neighbourhood (`lns.restrict`): the shifts of every worker who could do a new visit,
on the days of the new visits, are released with their existing visits pinned;
everything else is fixed context (hours already worked, carers already seen).
A greedy insertion gives the hint and, if CP-SAT finds nothing in time, the answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from matcher.construct import Placement, place
from matcher.instance import Instance, build_instance
from matcher.schema import Assignment, Problem, Roster
from matcher.solver.lns import objective_terms, solve_neighbourhood
from matcher.solver.placements import placements_of
from matcher.solver.solve import SolveParams, finish, roster_state


def insert_packages(
    problem: Problem,
    existing: Iterable[Assignment],
    new_packages: set[str],
    *,
    allow_moves_min: int = 0,
    params: SolveParams | None = None,
) -> Roster:
    """The roster with the new packages' visits placed where they fit best."""
    params = params or SolveParams()
    began = time.perf_counter()
    inst = build_instance(problem)
    fixed = placements_of(inst, existing)
    new_visits = [v for v in inst.visits if v.visit.package_id in new_packages]

    state = roster_state(inst, fixed)
    placed = {p.visit for p in fixed}
    greedy: list[Placement] = []
    for visit in new_visits:
        greedy += place(state, visit, placed)

    workers = {w for v in new_visits for w in inst.eligibility[v.index]}
    days = {v.day for v in new_visits}
    shifts = {s for w in workers for s in inst.shifts_of_worker[w] if inst.shifts[s].day in days}
    pinned = dict.fromkeys((p.visit for p in fixed), allow_moves_min)
    remaining = max(0.1, params.time_limit_s - (time.perf_counter() - began))
    solved = solve_neighbourhood(
        inst, fixed + greedy, shifts, remaining, params.seed, params.workers, pinned=pinned
    )
    placements = fixed + greedy
    status = "greedy insertion (CP-SAT found nothing in time)"
    if solved is not None and _value(inst, solved) <= _value(inst, placements):
        placements, status = solved, "CP-SAT on the affected shifts"
    return finish(
        inst,
        roster_state(inst, placements),
        placements,
        status=status,
        bound=None,
        began=began,
        num_workers=params.workers,
    )


def _value(inst: Instance, placements: list[Placement]) -> int:
    return sum(objective_terms(inst, placements).values())
