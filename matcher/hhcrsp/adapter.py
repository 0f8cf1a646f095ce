"""Map an HHCRSP benchmark instance onto the carematch domain, and a roster back.

The benchmark is solved by the very scheduler that rosters agencies; this module only
translates:

- a caregiver is a worker who starts and ends at the central office (their "home" is
  the office's row of the matrix), available all day, with no hour limits;
- a service is a skill; a caregiver's abilities are their skills;
- a patient is a client; each required service is a visit line of its own (one
  carer), and a two-service patient's lines are linked: simultaneous is a [0, 0] gap,
  sequential the published [min, max];
- the time window is the preferred start window; its opening is a hard earliest
  start (waiting allowed), and lateness is allowed up to `lateness_cap` minutes (or,
  with no cap, to the end of the engine's day) and charged one per minute, as is the
  maximum lateness (`Weights.max_lateness`);
- the clock starts at `time_origin`: no caregiver needs to leave the office before
  the earliest window opening less the longest trip from the office, so times are
  counted from there (a whole minute), which leaves the latest windows room for
  lateness within the engine's 24-hour day (Kummer's windows open from about 8:00
  and close up to about 18:00; Mankowska's open at 0, so nothing moves there);
- the distance matrix is the travel matrix, fractional minutes kept but each less
  `LEG_ROUNDING_SHIFT` where the instance has fractional ones: the engine times a
  leg as the next whole minute, so the shift makes that the nearest whole minute,
  and the objective charges travel to the hundredth (half a minute less per leg).

The engine's clock is whole minutes, so a window opening at 12.5 opens at 13 for us
and starts are integers; the benchmark's own objective is recomputed from the
original floats by `matcher.hhcrsp.evaluate`. Windows, durations and gaps are whole
minutes in this family; distances are thousandths, which `retime` gives back by
re-timing the routes in floats (docs/hhcrsp.md).
"""

from __future__ import annotations

import math
from collections import defaultdict

from matcher.hhcrsp.format import Instance, Route, Solution, Visit
from matcher.schema import (
    Agency,
    CarePackage,
    Client,
    Location,
    Problem,
    Roster,
    TimeRange,
    TravelMatrix,
    VisitLink,
    VisitPattern,
    Weights,
    Worker,
)
from matcher.timeutil import MINUTES_PER_DAY, parse_hhmm

# The benchmark allows any lateness; a hard latest start keeps the engine's time
# domains and arcs bounded. Mankowska's best-known solutions reach 224 minutes, so
# 240 is the cap to try first; where it leaves services out, `bench.solve_instance`
# lifts it (Kummer's best-knowns reach 540 minutes).
DEFAULT_LATENESS_CAP = 240
NOWHERE = Location(lat=0.0, lon=0.0)  # places are rows of the given matrix only

# The engine takes a fractional leg as the next whole minute of time ("nobody arrives
# before they could", `TravelModel.matrix`), right for an agency's roads but, on
# Mankowska's fractional distances, half a minute late per leg on average, adding up
# along a route: in the engine's timing the published best-known rosters are up to
# 3.8 % dearer than in the benchmark's floats (InstanzCPLEX_HCSRP_75_10: 1,152.1 ->
# 1,195.4; 50_1 +2.3 %, 75_4 +2.5 %), so the search is steered away from them. Every
# fractional leg handed over this much shorter is timed as its nearest whole minute
# instead (within 0.4 % of the floats on those rosters); its travel is then charged
# half a minute less, the same for every leg, so rosters compare as before but for
# half a minute per caregiver used. `retime` gives the exact floats back, and
# matrices of whole minutes (Kummer's) are left exactly as they are
# (docs/hhcrsp.md, "Legs timed to the nearest minute").
LEG_ROUNDING_SHIFT = 0.5

BENCHMARK_WEIGHTS = Weights(
    unassigned_visit=100_000,
    minute_outside_window=1,
    distinct_worker=0,
    travel_minute=1,
    gender_mismatch=0,
    max_lateness=1,
)


def line_id(patient_id: str, k: int) -> str:
    """Visit line of the patient's k-th required service (0 or 1)."""
    return f"{patient_id}-s{k}"


def time_origin(instance: Instance) -> int:
    """The minute the engine's clock starts at: no route need leave the office earlier
    (it could only wait), so nothing is lost by starting there."""
    first_opening = min(p.time_window[0] for p in instance.patients)
    longest_trip = max(instance.distances[0])
    return max(0, math.floor(first_opening - longest_trip))


def matrix_rows(instance: Instance) -> list[int]:
    """The instance's distance-matrix row of each place of `to_problem`'s travel
    matrix: every caregiver at the central office (row 0), then every patient."""
    index = instance.matrix_indices()
    return [0] * len(instance.caregivers) + [index[p.id] for p in instance.patients]


def to_problem(
    instance: Instance,
    name: str,
    *,
    lateness_cap: int | None = DEFAULT_LATENESS_CAP,
) -> Problem:
    """The instance as a carematch problem; with `lateness_cap=None` every service may
    be late up to the end of the day."""
    origin = time_origin(instance)
    workers = [
        Worker(
            id=caregiver.id,
            name=caregiver.id,
            gender="female",
            skills=list(caregiver.abilities),
            home=NOWHERE,
            availability={"Mon": [TimeRange(start="00:00", end="24:00")]},
            max_minutes_per_day=MINUTES_PER_DAY,
            max_minutes_per_week=MINUTES_PER_DAY,
        )
        for caregiver in instance.caregivers
    ]
    packages = []
    for patient in instance.patients:
        opens = math.ceil(patient.time_window[0] - origin - 1e-9)
        due = max(opens, math.floor(patient.time_window[1] - origin + 1e-9))
        lines = []
        for k, required in enumerate(patient.required_caregivers):
            duration = math.ceil(instance.duration(patient, required.service) - 1e-9)
            day_end = MINUTES_PER_DAY - duration
            latest = max(due, day_end if lateness_cap is None else min(due + lateness_cap, day_end))
            lines.append(
                VisitPattern(
                    id=line_id(patient.id, k),
                    weekdays=["Mon"],
                    window=TimeRange.of_minutes(opens, due),
                    hard_window=TimeRange.of_minutes(opens, latest),
                    duration_min=duration,
                    skills=[required.service],
                )
            )
        links = []
        if patient.synchronization is not None and len(lines) == 2:
            low, high = patient.synchronization.gap
            links.append(
                VisitLink(
                    first=line_id(patient.id, 0),
                    second=line_id(patient.id, 1),
                    min_gap_min=math.ceil(low - 1e-9),
                    max_gap_min=math.floor(high + 1e-9),
                )
            )
        packages.append(
            CarePackage(
                id=patient.id,
                client=Client(id=f"client-{patient.id}", name=patient.id, location=NOWHERE),
                visits=lines,
                links=links,
            )
        )
    ids = [w.id for w in workers] + [p.client.id for p in packages]
    rows = matrix_rows(instance)
    fractional = any(not float(x).is_integer() for row in instance.distances for x in row)
    shift = LEG_ROUNDING_SHIFT if fractional else 0.0
    matrix = [[max(0.0, instance.distances[r][c] - shift) for c in rows] for r in rows]
    return Problem(
        id=name,
        agency=Agency(id="benchmark", name=name, hourly_rate_pence=1),
        workers=workers,
        packages=packages,
        skills=sorted({s.id for s in instance.services}),
        weights=BENCHMARK_WEIGHTS,
        travel_matrix=TravelMatrix(ids=ids, minutes=matrix),
    )


def to_solution(instance: Instance, roster: Roster) -> Solution:
    """The roster as the benchmark's solution: each caregiver's visits in start order,
    re-timed in the benchmark's own floats (`retime`)."""
    services = {
        line_id(p.id, k): (p, r.service)
        for p in instance.patients
        for k, r in enumerate(p.required_caregivers)
    }
    stops: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for a in roster.assignments:
        patient, service = services[a.visit_id.rsplit("-", 1)[0]]
        for worker in a.workers:
            stops[worker].append((parse_hhmm(a.start), patient.id, service))
    routes = {
        c.id: [(p, s) for _, p, s in sorted(stops.get(c.id, []))] for c in instance.caregivers
    }
    return timed_solution(instance, routes)


def route_orders(solution: Solution) -> dict[str, list[tuple[str, str]]]:
    """Each caregiver's (patient, service) order: what `timed_solution` times again."""
    return {
        r.caregiver_id: [(v.patient_id, v.service_id) for v in r.locations] for r in solution.routes
    }


def timed_solution(instance: Instance, routes: dict[str, list[tuple[str, str]]]) -> Solution:
    """Routes given as (patient, service) orders, timed by `retime`: every service as
    early as the orders allow. Raises ValueError if they admit no timing."""
    starts = retime(instance, routes)
    patients = {p.id: p for p in instance.patients}
    return Solution(
        routes=[
            Route(
                caregiver_id=caregiver,
                locations=[
                    Visit(
                        patient_id=p,
                        service_id=s,
                        arrival_time=starts[p, s],
                        departure_time=starts[p, s] + instance.duration(patients[p], s),
                    )
                    for p, s in keys
                ],
            )
            for caregiver, keys in routes.items()
        ]
    )


def retime(
    instance: Instance, routes: dict[str, list[tuple[str, str]]]
) -> dict[tuple[str, str], float]:
    """The earliest start of every service given the routes' orders, in exact floats.

    Starts are the least solution of difference constraints (window openings, travel
    after the previous service, synchronisation gaps both ways), found by relaxing
    until nothing moves. Every start is as early as it can be, so each tardiness, and
    hence the total and the maximum, is the least these routes allow: the engine's
    whole-minute clock rounds each leg up, and this gives those minutes back.
    """
    patients = {p.id: p for p in instance.patients}
    index = instance.matrix_indices()
    d = instance.distances
    start: dict[tuple[str, str], float] = {}
    for visits in routes.values():
        for p, s in visits:
            start[p, s] = patients[p].time_window[0]
    pairs = []
    for p in instance.patients:
        if p.synchronization is not None and len(p.required_caregivers) == 2:
            low, high = p.synchronization.gap
            first, second = (
                (p.id, p.required_caregivers[0].service),
                (
                    p.id,
                    p.required_caregivers[1].service,
                ),
            )
            pairs.append((first, second, low, high))
    for _ in range(10 * len(start) + 10):
        moved = False
        for visits in routes.values():
            ready, here = 0.0, 0
            for key in visits:
                earliest = ready + d[here][index[key[0]]]
                if earliest > start[key] + 1e-9:
                    start[key], moved = earliest, True
                ready = start[key] + instance.duration(patients[key[0]], key[1])
                here = index[key[0]]
        for first, second, low, high in pairs:
            if first not in start or second not in start:
                continue  # an unplaced service: the evaluator reports it
            if start[second] < start[first] + low - 1e-9:
                start[second], moved = start[first] + low, True
            if start[first] < start[second] - high - 1e-9:
                start[first], moved = start[second] - high, True
        if not moved:
            return start
    raise ValueError("the routes admit no timing (a synchronisation cycle)")


def cost_bound(instance: Instance, problem: Problem, roster: Roster) -> float | None:
    """A proven lower bound on the benchmark's cost, from the solver's bound on its
    objective (`SolverReport.best_bound`), or None where the two do not map exactly.

    They map exactly when every distance, window, duration and synchronisation gap is
    a whole number (the Kummer family): the engine's whole-minute clock and
    hundredth-minute travel then lose nothing, and with `BENCHMARK_WEIGHTS` the
    engine's objective is distance + total tardiness + max tardiness, three times the
    cost. (Mankowska's fractional legs are timed in whole minutes and charged
    `LEG_ROUNDING_SHIFT` less, so the engine's optimum is not the benchmark's: no
    bound there.)

    The engine's bound covers only rosters whose visits start within their hard
    windows (the lateness cap, the end of the day). A benchmark solution outside them
    has a service at least `reach` minutes late, so its total and maximum tardiness are
    each at least `reach`, and its distance at least the cheapest way into every
    patient: the bound is the smaller of the two.
    """
    report = roster.solver
    if report is None or report.best_bound is None or not _whole_numbers(instance):
        return None
    reach = min(
        v.hard_window.end_min - v.window.end_min + 1
        for package in problem.packages
        for v in package.visits
        if v.hard_window is not None  # always set by `to_problem`
    )
    index = instance.matrix_indices()
    d = instance.distances
    into_every_patient = sum(
        min(d[i][index[p.id]] for i in range(len(d)) if i != index[p.id]) for p in instance.patients
    )
    return min(report.best_bound, into_every_patient + 2 * reach) / 3


def _whole_numbers(instance: Instance) -> bool:
    numbers = [x for row in instance.distances for x in row]
    for p in instance.patients:
        numbers += p.time_window
        numbers += [instance.duration(p, r.service) for r in p.required_caregivers]
        if p.synchronization is not None:
            numbers += p.synchronization.gap
    return all(float(x).is_integer() for x in numbers)


__all__ = [
    "BENCHMARK_WEIGHTS",
    "DEFAULT_LATENESS_CAP",
    "cost_bound",
    "time_origin",
    "to_problem",
    "to_solution",
]
