"""Key figures of a roster, recomputed from the input and `Roster.assignments` only.

The KPIs of docs/model.md describe what a roster means for clients (punctuality,
continuity, gender preference, cost against budget), for workers (travel, utilisation)
and overall. They are recomputed here rather than read from the solver's report so a
dashboard cannot show figures the roster does not earn; the travel legs come from the
same `matcher.timeline` the checker uses.

A worker's worked minutes are visit plus travel minutes, home legs included (the
minutes `max_day` limits); utilisation divides them by the minutes of all the worker's
shifts. A client's distinct workers are the worker ids listed on its assigned visits.

Percentages and mean minutes are floats rounded half up to 1 decimal (the mean number
of distinct workers to 2); money is integer pence rounded half up; a figure with
nothing to measure (no assigned visit, no preference, no available minute) is None.

The result is a typed `Kpis` (pydantic, defined in `matcher.schema` beside the
`Roster` that carries it): its JSON is the plain dict this module used to return.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from matcher.schema import (
    CarePackage,
    ClientKpis,
    GenderPreference,
    Kpis,
    OverallKpis,
    Problem,
    Roster,
    Worker,
    WorkerKpis,
    expand_visits,
)
from matcher.timeline import (
    Placement,
    Run,
    package_carer_minutes,
    placements,
    runs_by_worker_day,
    within_budget,
)
from matcher.timeutil import WEEKS_PER_YEAR, Weekday, cost_pence
from matcher.travel import travel_model_for

__all__ = [
    "ClientKpis",
    "Kpis",
    "OverallKpis",
    "WorkerKpis",
    "available_minutes",
    "compute_kpis",
    "minutes_outside_window",
]


def compute_kpis(problem: Problem, roster: Roster) -> Kpis:
    """The roster's KPIs: `Kpis(overall=..., clients={id: ...}, workers={id: ...})`.

    `model_dump(mode="json")` gives `{"overall": {...}, "clients": {id: {...}},
    "workers": {id: {...}}}`. A visit counts as assigned when the roster has an assignment for
    it with a parsable start (its first one if repeated); `roster.unassigned` and
    `roster.worker_days` are not read.
    """
    travel = travel_model_for(problem)
    placed = placements(problem, roster)
    runs = runs_by_worker_day(problem, placed.values(), travel)
    workers_by_id = {worker.id: worker for worker in problem.workers}

    clients = {
        package.client.id: _client_kpis(problem, package, placed, workers_by_id)
        for package in problem.packages
    }
    workers = {worker.id: _worker_kpis(worker, runs) for worker in problem.workers}
    return Kpis(
        overall=_overall(problem, placed, clients, workers), clients=clients, workers=workers
    )


def minutes_outside_window(placement: Placement) -> int:
    """Minutes the visit starts before or after its preferred window (0 inside it)."""
    window = placement.visit.window
    return max(0, window.start_min - placement.start, placement.start - window.end_min)


def _client_kpis(
    problem: Problem,
    package: CarePackage,
    placed: dict[str, Placement],
    workers_by_id: dict[str, Worker],
) -> ClientKpis:
    client = package.client
    visits = expand_visits(package)
    assigned = [placed[visit.id] for visit in visits if visit.id in placed]
    seen = {worker_id for p in assigned for worker_id in p.workers}

    honoured: bool | None = None
    if client.gender_preference is not GenderPreference.NONE:
        honoured = all(
            workers_by_id[w].gender.value == client.gender_preference.value
            for w in seen
            if w in workers_by_id
        )

    carer_minutes = package_carer_minutes(placed, package.id)
    weekly = cost_pence(carer_minutes, problem.agency.hourly_rate_pence)
    budget = package.budget
    within = (
        None
        if budget is None
        else within_budget(carer_minutes, problem.agency.hourly_rate_pence, budget)
    )
    return ClientKpis(
        package_id=package.id,
        visits=len(visits),
        assigned=len(assigned),
        unassigned=len(visits) - len(assigned),
        **_punctuality(assigned),
        distinct_workers=len(seen),
        gender_preference=client.gender_preference.value,
        gender_honoured=honoured,
        visit_minutes=carer_minutes,
        weekly_cost_pence=_pence(weekly),
        annual_cost_pence=_pence(weekly * WEEKS_PER_YEAR),
        budget_cap_pence=budget.amount_pence if budget else None,
        budget_period=budget.period if budget else None,
        within_budget=within,
    )


def _worker_kpis(worker: Worker, runs: dict[tuple[str, Weekday], list[Run]]) -> WorkerKpis:
    own = [
        run
        for (worker_id, _day), day_runs in runs.items()
        if worker_id == worker.id
        for run in day_runs
    ]
    visit_minutes = sum(run.visit_minutes for run in own)
    travel_minutes = sum(run.travel_minutes for run in own)
    available = available_minutes(worker)
    return WorkerKpis(
        visits=sum(len(run.stops) for run in own),
        visit_minutes=visit_minutes,
        travel_minutes=travel_minutes,
        worked_minutes=visit_minutes + travel_minutes,
        available_minutes=available,
        travel_share_pct=_pct(travel_minutes, travel_minutes + visit_minutes),
        utilisation_pct=_pct(visit_minutes + travel_minutes, available),
    )


def available_minutes(worker: Worker) -> int:
    """Minutes of all the worker's shifts in the week."""
    return sum(
        shift.end_min - shift.start_min for day in worker.availability.values() for shift in day
    )


def _overall(
    problem: Problem,
    placed: dict[str, Placement],
    clients: dict[str, ClientKpis],
    workers: dict[str, WorkerKpis],
) -> OverallKpis:
    visits = sum(c.visits for c in clients.values())
    served = [c.distinct_workers for c in clients.values() if c.assigned]
    with_preference = [c.gender_honoured for c in clients.values() if c.gender_honoured is not None]
    visit_minutes = sum(w.visit_minutes for w in workers.values())
    travel_minutes = sum(w.travel_minutes for w in workers.values())
    worked = sum(w.worked_minutes for w in workers.values())
    available = sum(w.available_minutes for w in workers.values())
    weekly = sum(
        (
            cost_pence(package_carer_minutes(placed, p.id), problem.agency.hourly_rate_pence)
            for p in problem.packages
        ),
        start=Fraction(0),
    )
    return OverallKpis(
        visits=visits,
        assigned=len(placed),
        unassigned=visits - len(placed),
        **_punctuality(placed.values()),
        mean_distinct_workers=_round(Fraction(sum(served), len(served)), 2) if served else None,
        gender_honoured_pct=_pct(sum(with_preference), len(with_preference)),
        travel_minutes=travel_minutes,
        visit_minutes=visit_minutes,
        travel_share_pct=_pct(travel_minutes, travel_minutes + visit_minutes),
        utilisation_pct=_pct(worked, available),
        weekly_cost_pence=_pence(weekly),
        annual_cost_pence=_pence(weekly * WEEKS_PER_YEAR),
        clients_over_budget=sorted(
            client_id for client_id, c in clients.items() if c.within_budget is False
        ),
    )


def _punctuality(assigned: Iterable[Placement]) -> dict[str, Any]:
    outside = [minutes_outside_window(p) for p in assigned]
    if not outside:
        return {"in_window_pct": None, "mean_minutes_outside": None, "max_minutes_outside": None}
    return {
        "in_window_pct": _pct(sum(1 for m in outside if m == 0), len(outside)),
        "mean_minutes_outside": _round(Fraction(sum(outside), len(outside)), 1),
        "max_minutes_outside": max(outside),
    }


def _round(value: Fraction, digits: int) -> float:
    """Round half up (not to even) so 12.25 shows as 12.3 whatever the float error."""
    scale = 10**digits
    return math.floor(value * scale + Fraction(1, 2)) / scale


def _pct(part: int, whole: int) -> float | None:
    return _round(Fraction(100 * part, whole), 1) if whole else None


def _pence(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))
