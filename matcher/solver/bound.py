"""A lower bound on the objective of every roster of an instance, cheap enough for any
size: the assignment relaxation (issue 15, item 4).

CP-SAT's bound (`SolverReport.best_bound`) exists only where the full model ran, and on
a large week it stays near 0. This one needs no model: in any roster each carer slot
of a visit (a two-carer visit has two) has exactly one predecessor on its shift's
route, another slot or the shift's start at the worker's home, and one successor,
another slot or the shift's end back home; a shift with no visits goes from its start
to its end; a visit left out is its own predecessor and successor. That is an
assignment of predecessors to successors, so the cheapest one
(`ortools.graph` linear sum assignment) is at most the roster's objective when

- a slot-to-slot arc costs the cheapest travel any worker who may do both could make
  between them (and exists only where such a worker could reach the second within its
  hard window after the first at the earliest), plus the minutes outside the second's
  preferred window that its start forces;
- an arc from a shift's start costs that worker's travel from home, the forced
  minutes outside the window, and the gender mismatch if the worker is one;
- an arc to a shift's end costs the travel home;
- a visit left out costs its penalty (split between its slots);
- every slot that is done also carries its share of the continuity term: a client
  with no worker already seen gets at least one new worker if any visit is done, so
  each of its k slots carries 1/k of that weight.

All costs are whole units of the objective (`lns.objective_terms`), so nothing is
rounded. What it leaves out (hours per worker, budgets, links' gaps, routes that time
forbids closing into cycles) only makes it lower. docs/architecture.md, "Bounds".
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from ortools.graph.python import linear_sum_assignment

from matcher.instance import Instance
from matcher.solver.constraints import OBJECTIVE_SCALE

__all__ = ["assignment_bound"]

_NO_ARC = np.iinfo(np.int64).max


def assignment_bound(inst: Instance) -> int | None:
    """A lower bound on `lns.evaluate` of every roster of `inst` (scaled units), or
    None where no assignment exists (a visit that must stay placed that no shift can
    host)."""
    weights = inst.problem.weights
    scale = OBJECTIVE_SCALE
    slot_visit = np.array([v.index for v in inst.visits for _ in range(v.carers)], dtype=int)
    n, m = len(slot_visit), len(inst.shifts)
    seen_clients = {client for client, _ in inst.already_seen}
    slots_of_client: dict[int, int] = defaultdict(int)
    for v in slot_visit:
        slots_of_client[inst.visits[v].client] += 1
    # What every slot that is done carries whatever its predecessor: its client's
    # share of one new worker.
    carried = np.array(
        [
            0
            if inst.visits[v].client in seen_clients
            else scale * weights.distinct_worker // slots_of_client[inst.visits[v].client]
            for v in slot_visit
        ],
        dtype=np.int64,
    )

    def per_slot(field: str) -> np.ndarray:
        return np.array([getattr(inst.visits[v], field) for v in slot_visit], dtype=np.int64)

    earliest, latest = per_slot("earliest"), per_slot("latest")
    duration, place = per_slot("duration"), per_slot("place")
    preferred_start, preferred_end = per_slot("preferred_start"), per_slot("preferred_end")
    outside_weight = scale * weights.minute_outside_window

    def outside(start: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Least minutes outside slot i's preferred window for a start from `start` to
        its latest."""
        return np.maximum(0, np.maximum(start - preferred_end[i], preferred_start[i] - latest[i]))

    tails: list[np.ndarray] = []
    heads: list[np.ndarray] = []
    costs: list[np.ndarray] = []

    def add(tail: np.ndarray, head: np.ndarray, cost: np.ndarray) -> None:
        tails.append(np.asarray(tail, dtype=np.int64))
        heads.append(np.asarray(head, dtype=np.int64))
        costs.append(np.asarray(cost, dtype=np.int64))

    # May shift s host slot i alone (eligible worker, same day, reachable from home)?
    hosts = np.zeros((n, m), dtype=bool)
    shifts_of_day: dict[int, list[int]] = defaultdict(list)
    for s, shift in enumerate(inst.shifts):
        shifts_of_day[shift.day].append(s)
    for k, v in enumerate(slot_visit):
        info = inst.visits[v]
        for s in shifts_of_day[info.day]:
            shift = inst.shifts[s]
            hosts[k, s] = shift.worker in inst.eligibility[v] and inst.shift_can_host(shift, info)
    modes = sorted(set(inst.worker_mode), key=str)
    travel = {mode: np.array(inst.travel_model.matrix(mode), dtype=np.int64) for mode in modes}
    cost = {mode: np.array(inst.travel_model.cost_matrix(mode), dtype=np.int64) for mode in modes}
    shift_mode = [inst.worker_mode[shift.worker] for shift in inst.shifts]

    # Slot to slot: the cheapest over travel modes of a worker who may do both.
    best = np.full((n, n), _NO_ARC, dtype=np.int64)
    for mode in modes:
        mine = np.array([shift_mode[s] == mode for s in range(m)], dtype=bool)
        both = (hosts[:, mine].astype(np.int64) @ hosts[:, mine].T.astype(np.int64)) > 0
        if not both.any():
            continue
        minutes = travel[mode][np.ix_(place, place)]
        start = np.maximum(earliest[None, :], (earliest + duration)[:, None] + minutes)
        reachable = both & (start <= latest[None, :])
        columns = np.broadcast_to(np.arange(n), (n, n))
        price = (
            weights.travel_minute * cost[mode][np.ix_(place, place)]
            + outside_weight * outside(start, columns)
            + carried[None, :]
        )
        best = np.where(reachable, np.minimum(best, price), best)
    same_visit = slot_visit[:, None] == slot_visit[None, :]
    best[same_visit] = _NO_ARC
    j, i = np.nonzero(best != _NO_ARC)
    add(j, i, best[j, i])

    for s, shift in enumerate(inst.shifts):
        i = np.nonzero(hosts[:, s])[0]
        home = inst.worker_place[shift.worker]
        minutes = travel[shift_mode[s]]
        price = cost[shift_mode[s]]
        start = np.maximum(earliest[i], shift.start + minutes[home, place[i]])
        mismatch = np.array(
            [not inst.eligibility[slot_visit[k]][shift.worker] for k in i], dtype=np.int64
        )
        add(
            np.full(len(i), n + s),
            i,
            weights.travel_minute * price[home, place[i]]
            + outside_weight * outside(start, i)
            + scale * weights.gender_mismatch * mismatch
            + carried[i],
        )
        add(i, np.full(len(i), n + s), weights.travel_minute * price[place[i], home])
        add([n + s], [n + s], [0])

    # A visit left out: its slots loop, sharing its penalty.
    penalty = scale * weights.unassigned_visit
    first_slot: dict[int, bool] = {}
    for k, v in enumerate(slot_visit):
        if v in inst.required:
            continue
        share = penalty // inst.visits[v].carers
        if v not in first_slot:
            share += penalty % inst.visits[v].carers
            first_slot[v] = True
        add([k], [k], [share])

    if n + m == 0:
        return 0
    solver = linear_sum_assignment.SimpleLinearSumAssignment()
    solver.add_arcs_with_cost(np.concatenate(tails), np.concatenate(heads), np.concatenate(costs))
    if solver.solve() != solver.OPTIMAL:
        return None
    return int(solver.optimal_cost())
