"""A lower bound on an HHCRSP instance's cost from the instance alone: the assignment
relaxation, which counts lateness that the windows force (issue 15, item 4).

Every service is one *slot*; every caregiver has a start node (leaving the central
office) and an end node (coming back). In any solution each slot has exactly one
predecessor on its caregiver's route (another slot or the caregiver's start) and one
successor (a slot or the caregiver's end), and an unused caregiver goes from its start
straight to its end. That is an assignment of predecessors to successors, so the
cheapest assignment (`ortools.graph` linear sum assignment, polynomial: under a second
for 400 services) is at most any solution's

    distance + total tardiness

when an arc j -> i costs the distance d(j, i) plus the lateness it forces on i: i
cannot start before j's earliest start plus j's duration plus d(j, i), nor before its
own earliest start, so it is at least that far past its window's close. An arc exists
only where one caregiver has both services' abilities and the two services' own
synchronisation allows it (the two halves of a simultaneous visit never follow one
another). The maximum tardiness is at least the largest, over slots, of the least
lateness any arc into it forces. The bound is the sum of the two, divided by 3 as the
cost is.

What it gives up, and so how weak it is: the assignment may close cycles among near
services whose windows overlap, which time forbids on a real route, so it pays little
of the travel a day's spread of windows forces; and it knows nothing of how many
services a caregiver can do in a day, so where the best-knowns are late because
there are too few caregivers it sees little of that lateness. On average it is 48 %
(300 patients) to 75 % (10) of Mankowska's best-knowns, 38-50 % of Kummer's per size,
and 9-14 % on the Kummer 25-patient instances whose best-knowns are hours late
(docs/hhcrsp.md, "Bounds on every instance"). But it holds for every solution, with
or without the engine's lateness cap, on whole-number data or not, which the
engine's bound (`adapter.cost_bound`) does not, and costs under a second.

Nothing here imports the solver; the test checks it against every published
best-known (tests/test_hhcrsp_bound.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import linear_sum_assignment

from matcher.hhcrsp.format import Instance

__all__ = ["assignment_bound"]

# Arc costs are floored to this many units per minute for the integer assignment
# solver: each floored cost is at most the real one, so the bound stays a bound.
UNITS_PER_MINUTE = 1000


@dataclass(frozen=True)
class _Slots:
    """The instance's required services in the patients' order: per slot its patient's
    matrix row, window and duration, its service id, and the synchronised pairs as
    (first slot, second slot, least gap, largest gap) of start(second) - start(first)."""

    rows: np.ndarray
    opens: np.ndarray
    closes: np.ndarray
    durations: np.ndarray
    services: list[str]
    pairs: list[tuple[int, int, float, float]]

    @classmethod
    def of(cls, instance: Instance) -> _Slots:
        index = instance.matrix_indices()
        default = {s.id: s.default_duration for s in instance.services}
        rows, windows, durations, services, pairs = [], [], [], [], []
        for patient in instance.patients:
            if len(patient.required_caregivers) == 2 and patient.synchronization is not None:
                pairs.append((len(rows), len(rows) + 1, *patient.synchronization.gap))
            for required in patient.required_caregivers:
                rows.append(index[patient.id])
                windows.append(patient.time_window)
                durations.append(required.duration or default[required.service])
                services.append(required.service)
        spans = np.array(windows, dtype=float).reshape(-1, 2)
        return cls(
            np.array(rows, dtype=int),
            spans[:, 0],
            spans[:, 1],
            np.array(durations),
            services,
            pairs,
        )


def _from_office(distances: np.ndarray) -> np.ndarray:
    """The shortest travel from the central office (row 0) to every row, over any
    sequence of legs: the matrix need not obey the triangle inequality."""
    reach = distances[0].copy()
    done = np.zeros(len(reach), dtype=bool)
    for _ in range(len(reach)):
        node = int(np.argmin(np.where(done, np.inf, reach)))
        done[node] = True
        reach = np.minimum(reach, reach[node] + distances[node])
    return reach


def _earliest_starts(slots: _Slots, distances: np.ndarray) -> np.ndarray:
    """Per slot: no service starts before its window opens nor before the office's
    travel reaches it (routes leave at 0), and the second half of a synchronised visit
    starts at least the least gap after the first. (The halves share their patient's
    window and travel, so the second never lifts the first.)"""
    start = np.maximum(slots.opens, _from_office(distances)[slots.rows])
    for first, second, low, _ in slots.pairs:
        start[second] = max(start[second], start[first] + low)
    return start


def _arc_allowed(instance: Instance, slots: _Slots) -> np.ndarray:
    """allowed[j, i]: some caregiver can do slot j and then slot i, and the pair's own
    synchronisation (two halves of one visit) lets i start `duration(j)` after j."""
    abilities = [set(c.abilities) for c in instance.caregivers]
    kinds = sorted(set(slots.services))
    both = {(a, b): any(a in s and b in s for s in abilities) for a in kinds for b in kinds}
    allowed = np.array([[both[j, i] for i in slots.services] for j in slots.services], dtype=bool)
    allowed = allowed.reshape(len(slots.services), len(slots.services))
    np.fill_diagonal(allowed, False)
    for first, second, low, high in slots.pairs:
        # first -> second makes start(second) - start(first) >= duration(first);
        # second -> first makes it <= -duration(second), below any gap (low >= 0).
        allowed[first, second] &= high >= slots.durations[first]
        allowed[second, first] &= low <= -slots.durations[second]
    return allowed


def assignment_bound(instance: Instance) -> float | None:
    """A lower bound on the benchmark's cost of every solution of `instance` (module
    doc), or None when no assignment exists (a service no caregiver can do)."""
    slots = _Slots.of(instance)
    rows, durations, close = slots.rows, slots.durations, slots.closes
    distances = np.asarray(instance.distances, dtype=float)
    start = _earliest_starts(slots, distances)
    n, m = len(rows), len(instance.caregivers)
    # Slot to slot: travel plus the lateness it forces on the successor.
    travel = distances[np.ix_(rows, rows)]
    arrival = np.maximum((start + durations)[:, None] + travel, start[None, :])
    late = np.maximum(0.0, arrival - close[None, :])
    allowed = _arc_allowed(instance, slots)
    own_late = np.maximum(0.0, start - close)
    least_late = np.where(allowed, late, np.inf).min(axis=0, initial=np.inf)
    least_late = np.minimum(least_late, own_late)  # a caregiver's first service

    tails: list[np.ndarray] = []
    heads: list[np.ndarray] = []
    costs: list[np.ndarray] = []

    def add(tail: np.ndarray, head: np.ndarray, cost: np.ndarray) -> None:
        tails.append(tail)
        heads.append(head)
        costs.append(np.floor(cost * UNITS_PER_MINUTE).astype(np.int64))

    j, i = np.nonzero(allowed)
    add(j, i, travel[j, i] + late[j, i])
    for k, caregiver in enumerate(instance.caregivers):
        can = np.array([s in caregiver.abilities for s in slots.services], dtype=bool)
        mine = np.nonzero(can)[0]
        start_node, end_node = n + k, n + k
        # Start node n + k (a tail) -> first slot; last slot -> end node n + k (a head).
        add(np.full(len(mine), start_node), mine, distances[0, rows[mine]] + own_late[mine])
        add(mine, np.full(len(mine), end_node), distances[rows[mine], 0])
        add(np.array([start_node]), np.array([end_node]), np.zeros(1))
    solver = linear_sum_assignment.SimpleLinearSumAssignment()
    solver.add_arcs_with_cost(np.concatenate(tails), np.concatenate(heads), np.concatenate(costs))
    if n + m == 0 or solver.solve() != solver.OPTIMAL:
        return None
    most_late = float(least_late.max()) if n else 0.0
    if math.isinf(most_late):
        return None
    return (solver.optimal_cost() / UNITS_PER_MINUTE + most_late) / 3
