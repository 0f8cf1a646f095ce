"""Why a visit or a package cannot be placed, in words a broker understands.

Two stages. Cheap pre-checks look at the input alone: nobody has the skill, nobody of
the wanted gender, nobody works that day at that time, a two-carer visit with only one
qualified worker, a package dearer than its budget cap. Whatever survives them but
still ended up unassigned is explained against the final roster by trying to insert
it (`matcher.insertion`): nobody qualified is free then, only one of two carers is,
or the free ones would exceed their hours, or the package's budget is used up.

Each reason starts with the rule it names ("budget:", "two-carer visit:", ...).
"""

from __future__ import annotations

from fractions import Fraction

from matcher.insertion import RosterState
from matcher.instance import Instance, VisitInfo, gender_match
from matcher.schema import GenderPreference
from matcher.timeutil import (
    MINUTES_PER_DAY,
    WEEKDAYS,
    WEEKS_PER_YEAR,
    cost_pence,
    format_hhmm,
    format_pounds,
)


def package_budget_reason(inst: Instance, package: int) -> str | None:
    """The budget reason if the whole package costs more than its cap, else None."""
    budget = inst.packages[package].budget
    limit = inst.budget_carer_minutes[package]
    if budget is None or limit is None:
        return None
    minutes = sum(
        inst.visits[v].duration * inst.visits[v].carers for v in inst.visits_of_package[package]
    )
    if minutes <= limit:
        return None
    rate = inst.problem.agency.hourly_rate_pence
    weekly = cost_pence(minutes, rate)
    cost = weekly * WEEKS_PER_YEAR if budget.period == "year" else weekly
    per = "a year" if budget.period == "year" else "a week"
    return (
        f"budget: {format_pounds(cost)} {per} at {format_pounds(rate)}/h "
        f"> cap {format_pounds(budget.amount_pence)}"
    )


def describe_workers(inst: Instance, visit: VisitInfo) -> str:
    """ "female worker with skill hoist", "worker with skills hoist, medication", ..."""
    client = inst.packages[visit.package].client
    noun = "worker"
    if client.gender_preference != GenderPreference.NONE and client.gender_preference_strict:
        noun = f"{client.gender_preference.value} worker"
    skills = visit.visit.skills
    if len(skills) == 1:
        return f"{noun} with skill {skills[0]}"
    if skills:
        return f"{noun} with skills {', '.join(skills)}"
    return noun


def when(visit: VisitInfo) -> str:
    """The span the visit could occupy: "Tuesday 05:00-10:00"."""
    day = WEEKDAYS[visit.day].full_name
    start = visit.earliest % MINUTES_PER_DAY
    end = visit.latest % MINUTES_PER_DAY + visit.duration
    return f"{day} {format_hhmm(start)}-{format_hhmm(end)}"


def precheck_reasons(inst: Instance, visit: VisitInfo) -> list[str]:
    """Reasons visible from the input alone, without any roster."""
    client = inst.packages[visit.package].client
    skills = set(visit.visit.skills)
    skilled = [w for w in inst.workers if skills <= set(w.skills)]
    if not skilled:
        return [f"skills: no worker has {', '.join(sorted(skills))}"]
    if client.gender_preference_strict and not any(
        gender_match(w, client.gender_preference) for w in skilled
    ):
        return [f"gender: no {describe_workers(inst, visit)}"]
    if not inst.eligibility[visit.index]:
        return [f"excluded: every {describe_workers(inst, visit)} is excluded by the client"]
    available = {
        w
        for w in inst.eligibility[visit.index]
        for s in inst.shifts_of_worker[w]
        if inst.shift_can_host(inst.shifts[s], visit)
    }
    desc = describe_workers(inst, visit)
    if not available:
        return [f"availability: no {desc} is available on {when(visit)}"]
    if visit.carers == 2 and len(available) == 1:
        return [f"two-carer visit: only one {desc} is available on {when(visit)}"]
    return []


def roster_reasons(state: RosterState, visit: VisitInfo) -> list[str]:
    """Why a visit that passes the pre-checks does not fit the roster as it stands."""
    inst = state.instance
    if not state.fits_budget(visit):
        budget = inst.packages[visit.package].budget
        assert budget is not None
        rate = inst.problem.agency.hourly_rate_pence
        used = cost_pence(state.package_minutes[visit.package], rate)
        extra = cost_pence(visit.duration * visit.carers, rate)
        scale = WEEKS_PER_YEAR if budget.period == "year" else 1
        per = "a year" if budget.period == "year" else "a week"
        return [
            f"budget: this visit would bring the package to "
            f"{format_pounds((used + extra) * scale)} {per} > cap "
            f"{format_pounds(Fraction(budget.amount_pence))}"
        ]
    desc = describe_workers(inst, visit)
    free, free_within_hours = set(), set()
    windows: dict[int, list[tuple[int, int]]] = {}
    for s in state.candidate_shifts(visit):
        for option in state.options(visit, s, limits=False):
            free.add(option.worker)
        for option in state.options(visit, s):
            free_within_hours.add(option.worker)
            windows.setdefault(option.worker, []).append((option.earliest, option.latest))
    if not free:
        return [f"availability: no {desc} is free on {when(visit)} (all are booked)"]
    if visit.carers == 2 and len(free) == 1:
        return [f"two-carer visit: only one {desc} is free on {when(visit)}"]
    if len(free_within_hours) < visit.carers:
        return [
            f"hours: the {desc}s free on {when(visit)} would exceed their daily or "
            "weekly maximum minutes"
        ]
    if visit.carers == 2:
        return [f"two-carer visit: no two {desc}s are free at the same time on {when(visit)}"]
    if visit.index in inst.partner:
        other = inst.visits[inst.partner[visit.index]].visit.id
        return [
            f"synchronised visits: no two workers are free for this visit and {other} "
            f"at the required interval on {when(visit)}"
        ]
    return ["time limit: the visit fits but was not placed within the time limit"]


def unassigned_reasons(state: RosterState, visit: VisitInfo) -> list[str]:
    inst = state.instance
    reasons = precheck_reasons(inst, visit)
    if not reasons and visit.index in inst.partner:
        other = inst.visits[inst.partner[visit.index]]
        reasons = [
            f"synchronised visits: linked visit {other.visit.id} cannot be placed ({r})"
            for r in precheck_reasons(inst, other)
        ]
    return reasons or roster_reasons(state, visit)
