"""Today's practice, simulated: the broker emails the agencies, the first yes takes it.

DOMAIN.md describes it: brokers email every contracted agency and wait for replies; the
person ends up with whatever slot an agency happens to have; preferred times are
recorded but not kept, with many different carers. The rules below are meant to be
honest, not a straw man: agencies check what they are bound to check (and the
checker proves every roster this produces), and they put each visit as near the
asked time as the carer they found allows. What they do not do is search: no
re-optimisation, no comparison of carers or agencies, no continuity reasoning.

The broker (`matcher.regions.simulate`)
    1. Sends the package to every agency whose service area covers the client's home
       (an agency outside its area does not answer).
    2. Agencies answer in a seeded random order (emails are answered in whatever order
       they are read), within a day (``REPLY_DAYS`` = 1: e-brokerage offers usually
       close after about 24 hours).
    3. The first agency that answers yes gets the package. Nobody compares offers.
    4. A package nobody can take waits; the broker re-sends waiting packages every
       Monday (``RESEND_WEEKDAY``), in the order they arrived.

An agency (`email_reply`)
    - declines if the package costs more than its budget cap at the agency's rate
      (agencies know their rate and check the commissioned hours against it);
    - otherwise fits the visits one by one (Monday to Sunday, earliest preferred time
      first) into the gaps its carers' runs already have: nobody already rostered
      moves, nothing is re-optimised;
    - for each visit the coordinator goes down the rota board (``scan="board"``: the
      agency's carers in their listed order) and takes the *first* carer who is
      qualified (skills), acceptable (a strict gender preference is respected; a mere
      preference is not looked at), on shift that day and has a gap the visit fits in
      anywhere within the package's hard window (the preferred window +/- 3 hours, see
      `matcher.regions.generate`), travel from and to the neighbouring visits, the
      shift's end and the carer's daily and weekly hours included; the visit goes to
      that carer's gap *nearest the preferred time*
      (`matcher.insertion.InsertionOption.best_start`);
    - a two-carer visit takes the first pair of carers down the board whose gaps
      overlap at a common start, at the start nearest the preferred time;
    - answers yes only if every visit of the package found a place (a package is
      not split), else no.

The rules are a choice among honest ones; ``scan="nearest_time"`` is the kinder
variant in which the coordinator looks at every carer's gaps and takes the one nearest
the preferred time (still first on the board on a tie, still no continuity). The
benchmark reports both (benchmarks/regions/RESULTS.md), so a reader can see how much
of the difference is the rule.

No CP-SAT is used here: `matcher.insertion.RosterState.options` lists the gaps, the
same question the slot finder answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from matcher.construct import Placement
from matcher.insertion import InsertionOption, RosterState
from matcher.instance import Instance, VisitInfo, build_instance
from matcher.market import MarketAgency
from matcher.matching import service_area_reason
from matcher.reasons import package_budget_reason
from matcher.schema import Assignment, CarePackage, Problem
from matcher.solver.placements import assignment_of, placements_of
from matcher.solver.solve import roster_state

REPLY_DAYS = 1
RESEND_WEEKDAY = 0  # Monday
Scan = Literal["board", "nearest_time"]


@dataclass(frozen=True)
class EmailReply:
    """One agency's answer: yes with the new roster (existing plus the new visits)."""

    agency_id: str
    accepted: bool
    reason: str | None = None
    roster: list[Assignment] | None = None


def email_reply(
    entry: MarketAgency, skills: list[str], package: CarePackage, *, scan: Scan = "board"
) -> EmailReply:
    """The agency's answer to the broker's email (rules in the module doc)."""
    if reason := service_area_reason(entry, package):
        return EmailReply(entry.id, False, reason)
    if package.links:
        return EmailReply(entry.id, False, "linked visits: not handled by email")
    problem = Problem.model_construct(
        id=entry.agency.id,
        area_type=entry.area_type,
        agency=entry.agency,
        workers=entry.workers,
        packages=[*entry.packages, package],
        skills=skills,
        weights=entry.weights,
        travel=entry.travel,
        travel_matrix=None,
    )
    inst = build_instance(problem)
    new = len(problem.packages) - 1
    if reason := package_budget_reason(inst, new):
        return EmailReply(entry.id, False, reason)
    state = roster_state(inst, placements_of(inst, entry.roster))
    visits = sorted(
        (inst.visits[v] for v in inst.visits_of_package[new]),
        key=lambda v: (v.day, v.preferred_start, v.index),
    )
    placed: list[Placement] = []
    for visit in visits:
        choice = _two_carers(state, visit, scan) if visit.carers == 2 else _one(state, visit, scan)
        if choice is None:
            return EmailReply(
                entry.id, False, f"{visit.visit.id}: no carer has a gap for it within the window"
            )
        start, options = choice
        for option in options:
            state.insert(visit, option, start)
        state.charge_package(visit)
        placed.append(Placement(visit.index, start, tuple(o.shift for o in options)))
    added = [assignment_of(inst, p) for p in placed]
    return EmailReply(entry.id, True, None, [*entry.roster, *added])


def _board(inst: Instance, visit: VisitInfo) -> list[int]:
    """Carers who may do the visit at all (skills, strict gender), in rota-board order."""
    return sorted(inst.eligibility[visit.index])


def _gaps(state: RosterState, visit: VisitInfo, worker: int) -> list[InsertionOption]:
    inst = state.instance
    return [
        option
        for s in inst.shifts_of_worker[worker]
        if inst.shifts[s].day == visit.day
        for option in state.options(visit, s)
    ]


def _nearest(visit: VisitInfo, options: list[InsertionOption]) -> InsertionOption:
    """The gap whose best start is nearest the preferred time (earliest on a tie)."""
    return min(
        options, key=lambda o: (visit.minutes_outside(o.best_start(visit)), o.best_start(visit))
    )


def _one(
    state: RosterState, visit: VisitInfo, scan: Scan
) -> tuple[int, tuple[InsertionOption, ...]] | None:
    best: tuple[int, InsertionOption] | None = None
    for worker in _board(state.instance, visit):
        gaps = _gaps(state, visit, worker)
        if not gaps:
            continue
        option = _nearest(visit, gaps)
        if scan == "board":
            return option.best_start(visit), (option,)
        off = visit.minutes_outside(option.best_start(visit))
        if best is None or off < best[0]:
            best = (off, option)
    if best is None:
        return None
    return best[1].best_start(visit), (best[1],)


def _two_carers(
    state: RosterState, visit: VisitInfo, scan: Scan
) -> tuple[int, tuple[InsertionOption, ...]] | None:
    board = [(w, _gaps(state, visit, w)) for w in _board(state.instance, visit)]
    board = [(w, gaps) for w, gaps in board if gaps]
    best: tuple[int, int, tuple[InsertionOption, ...]] | None = None
    for i, (_, first_gaps) in enumerate(board):
        for _, second_gaps in board[i + 1 :]:
            pair = _common_start(visit, first_gaps, second_gaps)
            if pair is None:
                continue
            start, a, b = pair
            if scan == "board":
                return start, (a, b)
            off = visit.minutes_outside(start)
            if best is None or off < best[0]:
                best = (off, start, (a, b))
    return None if best is None else (best[1], best[2])


def _common_start(
    visit: VisitInfo, first: list[InsertionOption], second: list[InsertionOption]
) -> tuple[int, InsertionOption, InsertionOption] | None:
    """The start nearest the preferred time that both carers' gaps allow."""
    best: tuple[int, int, InsertionOption, InsertionOption] | None = None
    for a in first:
        for b in second:
            both = InsertionOption(
                -1, -1, -1, max(a.earliest, b.earliest), min(a.latest, b.latest), 0
            )
            if both.earliest > both.latest:
                continue
            start = both.best_start(visit)
            key = (visit.minutes_outside(start), start)
            if best is None or key < best[:2]:
                best = (*key, a, b)
    return None if best is None else (best[1], best[2], best[3])
