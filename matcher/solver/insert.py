"""Fit new care packages into an agency's existing roster.

Existing clients keep their workers and times (optionally each visit may move up to
`allow_moves_min` minutes, within its preferred window); the new packages' visits get
workers and times under the full rule set. This is the same CP-SAT model on a
neighbourhood (`lns.restrict`): the shifts of every worker who could do a new visit,
on the days of the new visits, are released with their existing visits pinned;
everything else is fixed context (hours already worked, carers already seen).
A greedy insertion gives the hint and, if CP-SAT finds nothing in time, the answer.

When existing visits may not move, a new visit that fits in no gap of the roster as
committed can fit in no solution at all: the other new visits only take room, never
make it. So CP-SAT gets only the shifts that have a gap for some new visit, and when
some new visit has no gap anywhere the package cannot be taken whole whatever the
search does: CP-SAT is skipped and the greedy insertion is the answer (an infeasible
offer explained by the reasons). Most refusals in a busy market are of this kind.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from matcher.construct import Placement, best_insertion, place
from matcher.control import NO_CONTROL, RunControl
from matcher.insertion import RosterState
from matcher.instance import Instance, build_instance
from matcher.schema import Assignment, Problem, Roster
from matcher.solver.lns import objective_terms, solve_neighbourhood
from matcher.solver.placements import placements_of
from matcher.solver.solve import KnownRoster, SolveParams, finish, roster_state

# `Roster.solver.status` of an insertion, by how it was decided.
GREEDY_BLOCKED = "greedy insertion (a new visit fits nowhere without moving anyone)"
GREEDY_ONLY = "greedy insertion (not searched)"
GREEDY_FALLBACK = "greedy insertion (CP-SAT found nothing better in time)"
SEARCHED = "CP-SAT on the affected shifts"


@dataclass(frozen=True)
class InsertionStart:
    """What `insert_packages` builds before it inserts anything, when the caller has
    it ready (broker matching keeps it per agency: `matcher.brokerage.warm`): the
    instance of the problem, the existing assignments as placements on it, their
    state (this insertion's own: it is modified), and the roster they make, whose
    unchanged parts the new roster reuses."""

    instance: Instance
    fixed: list[Placement]
    state: RosterState
    known: KnownRoster | None = None


def insert_packages(
    problem: Problem,
    existing: Iterable[Assignment],
    new_packages: set[str],
    *,
    allow_moves_min: int = 0,
    params: SolveParams | None = None,
    search: bool = True,
    control: RunControl = NO_CONTROL,
    start: InsertionStart | None = None,
) -> Roster:
    """The roster with the new packages' visits placed where they fit best.

    Without `search`, the greedy insertion alone (what broker matching asks of every
    agency before it searches the most promising ones). `control`: its deadline cuts
    the CP-SAT search short (the greedy insertion then stands), its cancel raises
    `Cancelled`. `start`: the instance of `problem`, `existing` as placements and
    their state, when the caller has them (the same roster comes out, sooner).
    """
    params = params or SolveParams()
    control.raise_if_cancelled()
    began = time.perf_counter()
    if start is None:
        inst = build_instance(problem)
        fixed = placements_of(inst, existing)
        state = roster_state(inst, fixed)
        known = None
    else:
        inst, fixed, state, known = start.instance, start.fixed, start.state, start.known
    new_visits = [v for v in inst.visits if v.visit.package_id in new_packages]

    if allow_moves_min == 0:
        # Only shifts with a gap for some new visit can take one (see the module doc).
        shifts = {
            o.shift
            for v in new_visits
            for s in state.candidate_shifts(v)
            for o in state.options(v, s)
        }
        blocked = any(
            v.index not in inst.partner and best_insertion(state, v) is None for v in new_visits
        )
    else:
        workers = {w for v in new_visits for w in inst.eligibility[v.index]}
        days = {v.day for v in new_visits}
        shifts = {
            s for w in workers for s in inst.shifts_of_worker[w] if inst.shifts[s].day in days
        }
        blocked = False
    placed = {p.visit for p in fixed}
    greedy: list[Placement] = []
    for visit in new_visits:
        greedy += place(state, visit, placed)
    if blocked or not search or control.expired():
        return finish(
            inst,
            state,
            fixed + greedy,
            status=GREEDY_BLOCKED if blocked else GREEDY_ONLY,
            bound=None,
            began=began,
            num_workers=params.workers,
            known=known,
        )

    pinned = dict.fromkeys((p.visit for p in fixed), allow_moves_min)
    if params.deterministic:
        limit = params.time_limit_s  # CP-SAT's deterministic time: machine-independent
    else:
        limit = max(0.1, params.time_limit_s - (time.perf_counter() - began))
    solved = solve_neighbourhood(
        inst,
        fixed + greedy,
        shifts,
        limit,
        params.seed,
        params.workers,
        pinned=pinned,
        deterministic=params.deterministic,
        control=control,
    )
    placements = fixed + greedy
    status = GREEDY_FALLBACK
    if solved is not None and _value(inst, solved) <= _value(inst, placements):
        placements, status = solved, SEARCHED
    return finish(
        inst,
        roster_state(inst, placements),
        placements,
        status=status,
        bound=None,
        began=began,
        num_workers=params.workers,
        known=known,
    )


def _value(inst: Instance, placements: list[Placement]) -> int:
    return sum(objective_terms(inst, placements).values())
