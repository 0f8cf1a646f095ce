"""An independent evaluator of HHCRSP benchmark solutions: feasibility and published cost.

It recomputes everything from the instance and the solution files alone, imports
nothing from the solver or ortools, and agrees with the public validator
(`validator/solution.py` of iolab-uniud/hhcrsp) on every published best solution, so a
figure we report is comparable with the published table. Where the validator is looser
than the problem statement this evaluator is strict, and docs/hhcrsp.md lists each
difference:

- every required service must be done exactly once (the validator only asks that every
  patient be visited at least once);
- time comparisons use one absolute tolerance (`TOLERANCE`, the validator's 1e-3 for
  travel and durations) everywhere; the validator compares synchronisation gaps and
  window openings with a *relative* 1e-3, which at start times near 500 forgives half a
  minute.

Cost, as the validator's `check-solution` prints it (no route tardiness at the depot;
the JSON instances give the depot no closing time anyway):

    distance   sum over routes of d[depot, v1] + d[v1, v2] + ... + d[vk, depot]
    tardiness  max(0, start - latest start of the patient's window), per service
    cost       (distance + total tardiness + max tardiness) / 3

A malformed solution (unknown ids, a missing route) is a violation, never an exception,
and the cost is still computed over whatever can be read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from matcher.hhcrsp.format import Instance, Patient, Solution, Visit

__all__ = ["RULES", "TOLERANCE", "Evaluation", "evaluate"]

# The public validator's absolute tolerance for travel and service durations. The
# published solutions round times to 3 decimals, so exact comparison would reject them.
TOLERANCE = 1e-6

# Rule id -> what it enforces. A violation string starts with "[rule id] ".
RULES: dict[str, str] = {
    "route": "one route per caregiver of the instance, none for anyone else",
    "visit": "a visit names a patient of the instance and a service that patient requires",
    "coverage": "every required service of every patient is done exactly once",
    "ability": "the caregiver doing a service has that ability",
    "duration": "departure_time = arrival_time + the service's duration",
    "travel": "a service starts no earlier than the previous departure (depot at 0) + travel",
    "window": "a service starts no earlier than its patient's window opens",
    "sync": "simultaneous services start together; sequential ones min..max apart",
}


@dataclass(frozen=True)
class Evaluation:
    """Cost components as the benchmark defines them, and every hard rule broken."""

    distance: float
    total_tardiness: float
    max_tardiness: float
    cost: float
    feasible: bool
    violations: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """The validator's cost keys plus ours, so the two outputs can be diffed."""
        return {
            "distance_traveled": self.distance,
            "max_tardiness": self.max_tardiness,
            "total_tardiness": self.total_tardiness,
            "total_cost": self.cost,
            "feasible": self.feasible,
            "violations": self.violations,
        }


@dataclass(frozen=True)
class _Done:
    """A visit that names a known patient, with who did it."""

    caregiver_id: str
    patient: Patient
    visit: Visit


def evaluate(instance: Instance, solution: Solution, *, tolerance: float = TOLERANCE) -> Evaluation:
    """Check `solution` against every rule of `RULES` and compute its benchmark cost.

    Parameters
    ----------
    instance, solution
        As read by `load_instance` / `load_solution`.
    tolerance
        Absolute slack (minutes) on every time comparison; see the module docstring.
    """
    index = instance.matrix_indices()
    patients = {patient.id: patient for patient in instance.patients}
    caregivers = {caregiver.id: caregiver for caregiver in instance.caregivers}
    violations = list(_route_rules(instance, solution))
    distance = 0.0
    tardiness: list[float] = []
    done: list[_Done] = []
    for route in solution.routes:
        caregiver = caregivers.get(route.caregiver_id)
        abilities = set(caregiver.abilities) if caregiver else set()
        here, free_at = 0, 0.0  # at the depot, free from time 0
        for visit in route.locations:
            patient = patients.get(visit.patient_id)
            where = f"caregiver {route.caregiver_id}, {visit.patient_id}/{visit.service_id}"
            if patient is None:
                violations.append(f"[visit] {where}: no such patient")
                continue
            done.append(_Done(route.caregiver_id, patient, visit))
            there = index[patient.id]
            leg = instance.distances[here][there]
            distance += leg
            tardiness.append(max(0.0, visit.arrival_time - patient.time_window[1]))
            if visit.arrival_time < free_at + leg - tolerance:
                violations.append(
                    f"[travel] {where}: starts at {visit.arrival_time:g}, before "
                    f"{free_at:g} + travel {leg:g} = {free_at + leg:g}"
                )
            if visit.arrival_time < patient.time_window[0] - tolerance:
                violations.append(
                    f"[window] {where}: starts at {visit.arrival_time:g}, before the window "
                    f"opens at {patient.time_window[0]:g}"
                )
            if visit.service_id not in patient.services:
                violations.append(f"[visit] {where}: {patient.id} does not require it")
            else:
                if caregiver is not None and visit.service_id not in abilities:
                    violations.append(f"[ability] {where}: not among {sorted(abilities)}")
                expected = instance.duration(patient, visit.service_id)
                took = visit.departure_time - visit.arrival_time
                if abs(took - expected) > tolerance:
                    violations.append(f"[duration] {where}: takes {took:g}, not {expected:g}")
            here, free_at = there, visit.departure_time
        distance += instance.distances[here][0]
    violations += _coverage_and_sync(instance, done, tolerance=tolerance)
    total, worst = sum(tardiness), max(tardiness, default=0.0)
    return Evaluation(
        distance=distance,
        total_tardiness=total,
        max_tardiness=worst,
        cost=(distance + total + worst) / 3,
        feasible=not violations,
        violations=violations,
    )


def _route_rules(instance: Instance, solution: Solution) -> Iterator[str]:
    """One route per caregiver: the validator counts routes and keys them by caregiver."""
    counts = Counter(route.caregiver_id for route in solution.routes)
    known = {c.id for c in instance.caregivers}
    for caregiver_id, count in counts.items():
        if caregiver_id not in known:
            yield f"[route] caregiver {caregiver_id}: not in the instance"
        elif count > 1:
            yield f"[route] caregiver {caregiver_id}: {count} routes"
    for caregiver_id in sorted(known - counts.keys()):
        yield f"[route] caregiver {caregiver_id}: no route (an empty one is fine)"


def _coverage_and_sync(
    instance: Instance, done: Sequence[_Done], *, tolerance: float
) -> Iterator[str]:
    """Each required service exactly once; then the synchronisation of the two starts."""
    by_patient: dict[str, defaultdict[str, list[_Done]]] = {
        p.id: defaultdict(list) for p in instance.patients
    }
    for item in done:
        by_patient[item.patient.id][item.visit.service_id].append(item)
    for patient in instance.patients:
        starts: list[float] = []
        for service_id in patient.services:
            doers = by_patient[patient.id][service_id]
            if len(doers) != 1:
                who = ", ".join(item.caregiver_id for item in doers) or "nobody"
                yield f"[coverage] {patient.id}/{service_id}: done {len(doers)} times ({who})"
            else:
                starts.append(doers[0].visit.arrival_time)
        if patient.synchronization is None or len(starts) != 2:
            continue
        low, high = patient.synchronization.gap
        gap = starts[1] - starts[0]
        if not low - tolerance <= gap <= high + tolerance:
            first, second = patient.services
            yield (
                f"[sync] {patient.id}: {patient.synchronization.type} {first}->{second} needs "
                f"start({second}) - start({first}) in [{low:g}, {high:g}], got {gap:g}"
            )
