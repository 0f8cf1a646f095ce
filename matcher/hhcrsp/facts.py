"""Facts about the benchmark instances (and published solutions) that a model builder needs.

A CP-SAT model wants integers, a horizon and to know which shortcuts are safe (is the
matrix symmetric? may travel be treated as metric? are all durations of an instance
equal?). Rather than trust a paper's description, these functions measure the files;
docs/hhcrsp.md quotes their output (`python -m matcher.hhcrsp facts`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import sub
from pathlib import Path

from matcher.hhcrsp.format import Instance, Solution, load_instance, load_solution

__all__ = [
    "InstanceFacts",
    "SolutionFacts",
    "facts_report",
    "instance_facts",
    "solution_facts",
]


@dataclass(frozen=True)
class InstanceFacts:
    """What one instance looks like, measured."""

    name: str
    patients: int
    caregivers: int
    services: int
    simultaneous: int
    sequential: int
    sequential_gaps: tuple[tuple[float, float], ...]
    durations: tuple[float, ...]  # distinct, sorted
    window_widths: tuple[float, ...]  # distinct, sorted
    earliest_open: float
    latest_close: float
    integral_times: bool  # windows, durations and gaps are whole minutes
    abilities_per_caregiver: tuple[int, int]  # min, max
    caregivers_per_service: tuple[int, int]  # min, max over required services
    max_asymmetry: float  # max |d[i][j] - d[j][i]|
    max_triangle_excess: float  # max d[i][j] - (d[i][k] + d[k][j]); <= 0 means metric
    max_euclidean_error: float | None  # max |d[i][j] - euclid(i, j)|, None without locations
    millis_exact: bool  # every distance is a whole number of thousandths
    zero_off_diagonal: int  # pairs of distinct places at distance 0


@dataclass(frozen=True)
class SolutionFacts:
    """What one (published) solution does that the problem statement leaves open."""

    caregivers_used: int
    same_caregiver_pairs: int  # two-service patients served twice by one caregiver
    waits: int  # visits whose start is later than the earliest possible arrival
    latest_return: float  # when the last caregiver is back at the depot


def instance_facts(instance: Instance, *, name: str = "") -> InstanceFacts:
    """Measure `instance`; the triangle check is O(n^3) (about a second at 300 patients)."""
    distances = instance.distances
    size = len(distances)
    sequential_gaps = tuple(
        sorted(
            patient.synchronization.gap
            for patient in instance.patients
            if patient.synchronization and patient.synchronization.type == "sequential"
        )
    )
    durations = sorted(
        {
            instance.duration(patient, service)
            for patient in instance.patients
            for service in patient.services
        }
    )
    whole = [
        *durations,
        *(bound for patient in instance.patients for bound in patient.time_window),
        *(bound for gap in sequential_gaps for bound in gap),
    ]
    required = {service for patient in instance.patients for service in patient.services}
    able = [
        sum(service in caregiver.abilities for caregiver in instance.caregivers)
        for service in sorted(required)
    ]
    abilities = [len(caregiver.abilities) for caregiver in instance.caregivers]
    return InstanceFacts(
        name=name,
        patients=len(instance.patients),
        caregivers=len(instance.caregivers),
        services=len(instance.services),
        simultaneous=sum(
            1
            for patient in instance.patients
            if patient.synchronization and patient.synchronization.type == "simultaneous"
        ),
        sequential=len(sequential_gaps),
        sequential_gaps=sequential_gaps,
        durations=tuple(durations),
        window_widths=tuple(
            sorted({p.time_window[1] - p.time_window[0] for p in instance.patients})
        ),
        earliest_open=min(patient.time_window[0] for patient in instance.patients),
        latest_close=max(patient.time_window[1] for patient in instance.patients),
        integral_times=all(float(value).is_integer() for value in whole),
        abilities_per_caregiver=(min(abilities), max(abilities)),
        caregivers_per_service=(min(able), max(able)),
        max_asymmetry=max(
            abs(distances[i][j] - distances[j][i]) for i in range(size) for j in range(i)
        ),
        max_triangle_excess=_max_triangle_excess(distances),
        max_euclidean_error=_max_euclidean_error(instance),
        millis_exact=all(
            abs(value * 1000 - round(value * 1000)) < 1e-6 for row in distances for value in row
        ),
        zero_off_diagonal=sum(1 for i in range(size) for j in range(i) if distances[i][j] == 0.0),
    )


def _max_triangle_excess(distances: Sequence[Sequence[float]]) -> float:
    # max over i, k, j of d[i][j] - d[i][k] - d[k][j]; the inner max over j runs in C
    # (map over two rows), which keeps 300 patients near a second without numpy.
    worst = -math.inf
    for row_i in distances:
        for k, row_k in enumerate(distances):
            worst = max(worst, max(map(sub, row_i, row_k)) - row_i[k])
    return worst


def _max_euclidean_error(instance: Instance) -> float | None:
    places = [instance.central_offices[0].location, *(p.location for p in instance.patients)]
    if any(place is None for place in places):
        return None
    return max(
        abs(instance.distances[i][j] - math.dist(a, b))  # type: ignore[arg-type]
        for i, a in enumerate(places)
        for j, b in enumerate(places)
    )


def solution_facts(instance: Instance, solution: Solution) -> SolutionFacts:
    """Measure a solution that `evaluate` accepts (unknown ids would raise KeyError)."""
    index = instance.matrix_indices()
    patients = {patient.id: patient for patient in instance.patients}
    servers: defaultdict[str, list[str]] = defaultdict(list)
    waits, latest = 0, 0.0
    for route in solution.routes:
        here, free_at = 0, 0.0
        for visit in route.locations:
            there = index[visit.patient_id]
            reach = free_at + instance.distances[here][there]
            if visit.arrival_time > reach + 1e-6:
                waits += 1
            servers[visit.patient_id].append(route.caregiver_id)
            here, free_at = there, visit.departure_time
        if route.locations:
            latest = max(latest, free_at + instance.distances[here][0])
    return SolutionFacts(
        caregivers_used=sum(bool(route.locations) for route in solution.routes),
        same_caregiver_pairs=sum(
            1
            for patient_id, who in servers.items()
            if len(patients[patient_id].services) == 2 and len(set(who)) == 1
        ),
        waits=waits,
        latest_return=latest,
    )


def facts_report(instances: Iterable[Path], solutions: Path | None = None) -> str:
    """Two markdown tables, one row per instance size: the instances, then matrix + solutions.

    `solutions` is a folder holding `sol-<instance name>-*.json` files (the layout of
    the published ones); sizes without any are shown with "-" in the solution columns.
    """
    groups: defaultdict[int, list[tuple[InstanceFacts, SolutionFacts | None]]] = defaultdict(list)
    for path in sorted(instances):
        instance = load_instance(path)
        facts = instance_facts(instance, name=path.stem)
        found = sorted(solutions.glob(f"sol-{path.stem}-*.json")) if solutions else []
        solved = solution_facts(instance, load_solution(found[0])) if found else None
        groups[facts.patients].append((facts, solved))
    structure = [
        "patients", "instances", "caregivers", "abilities/carer", "carers/service",
        "simultaneous", "sequential", "seq. gap min", "seq. gap max", "gap max/min",
        "durations (distinct/inst.)", "window width", "windows open", "windows close",
        "whole minutes",
    ]  # fmt: skip
    travel = [
        "patients", "max asymmetry", "max triangle excess", "max euclid. error",
        "thousandths exact", "zero pairs", "carers used", "same-carer pairs", "waits",
        "latest return",
    ]  # fmt: skip
    first, second = [_header(structure)], [_header(travel)]
    for size, rows in sorted(groups.items()):
        facts = [row[0] for row in rows]
        solved = [row[1] for row in rows if row[1] is not None]
        gaps = [gap for fact in facts for gap in fact.sequential_gaps]
        euclid = [f.max_euclidean_error for f in facts if f.max_euclidean_error is not None]
        first.append(
            _row(
                size,
                len(facts),
                _span(f.caregivers for f in facts),
                _span(n for f in facts for n in f.abilities_per_caregiver),
                _span(n for f in facts for n in f.caregivers_per_service),
                _span(f.simultaneous for f in facts),
                _span(f.sequential for f in facts),
                _span(gap[0] for gap in gaps) if gaps else "-",
                _span(gap[1] for gap in gaps) if gaps else "-",
                _span(gap[1] / gap[0] for gap in gaps if gap[0] > 0) if gaps else "-",
                f"{_span(d for f in facts for d in f.durations)} "
                f"({_span(len(f.durations) for f in facts)})",
                _span(w for f in facts for w in f.window_widths),
                _span(f.earliest_open for f in facts),
                _span(f.latest_close for f in facts),
                "yes" if all(f.integral_times for f in facts) else "no",
            )
        )
        second.append(
            _row(
                size,
                f"{max(f.max_asymmetry for f in facts):g}",
                f"{max(f.max_triangle_excess for f in facts):.4f}",
                f"{max(euclid):.4f}" if euclid else "-",
                "yes" if all(f.millis_exact for f in facts) else "no",
                _span(f.zero_off_diagonal for f in facts),
                _span(s.caregivers_used for s in solved) if solved else "-",
                _span(s.same_caregiver_pairs for s in solved) if solved else "-",
                _span(s.waits for s in solved) if solved else "-",
                f"{max(s.latest_return for s in solved):.1f}" if solved else "-",
            )
        )
    return "\n".join(first) + "\n\n" + "\n".join(second) + "\n"


def _header(names: Sequence[str]) -> str:
    return "| " + " | ".join(names) + " |\n|" + "---|" * len(names)


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _span(values: Iterable[float]) -> str:
    items = list(values)
    low, high = min(items), max(items)
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"
