"""Ruin and recreate's roster as arrays, changed and questioned by compiled kernels.

Ruin and recreate asks hundreds of thousands of "where could this visit go, and
which place is cheapest" questions a minute, and changes a few dozen routes an
iteration (benchmarks/hhcrsp/THROUGHPUT.md); in pure Python that is the whole
iteration. An `ArrayRoster` is a `RosterState` as the search needs it: routes,
minutes worked, clients' workers and the objective's route and client terms as numpy
arrays (`matcher.fast.kernels` has the layout), built once from a state and from then
on changed only by the kernels, so the search's loop stays in Python and the work in
compiled code. It answers exactly as the pure Python it stands for: `place` as
`construct.place` with push first, `remove` and `pull` as `RosterState`'s, the terms
as `lns.objective_terms` route by route (tests/test_fast.py holds each equal, and
tests/test_ruin.py pins the search's moves).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from matcher.construct import Blinks, Placement
from matcher.fast import kernels
from matcher.fast.kernels import END, FIELDS, PLACE, START, VISIT
from matcher.insertion import RosterState
from matcher.instance import VisitInfo


@dataclass
class Saved:
    """What one iteration may change, as it was before (`ArrayRoster.save`)."""

    shifts: np.ndarray
    rows: np.ndarray
    n_stops: np.ndarray
    route_cost: np.ndarray
    route_late: np.ndarray
    routes_total: int
    day_minutes: np.ndarray
    week_minutes: np.ndarray
    clients: np.ndarray
    seen: np.ndarray
    client_terms: np.ndarray
    clients_total: int
    packages: dict[int, int]


class ArrayRoster:
    """The routes and books of a `RosterState` as arrays (see the module's docstring)."""

    def __init__(self, state: RosterState, scale: int) -> None:
        """The state's routes and books; the objective's terms in units of `1/scale`
        (the solver's `OBJECTIVE_SCALE`: travel costs come scaled already)."""
        inst = self.instance = state.instance
        self.visits = inst.visits
        weights = inst.problem.weights
        self.per_minute = weights.travel_minute
        self.new_worker = weights.distinct_worker
        self.mismatch = weights.gender_mismatch
        self.window_weight = weights.minute_outside_window
        n_shifts, n_workers, n_clients = len(inst.shifts), len(inst.workers), len(inst.packages)
        matrices: dict[int, tuple[int, list[list[int]]]] = {}
        costs: dict[int, tuple[int, list[list[int]]]] = {}
        self.shift_facts = np.zeros((n_shifts, 6), dtype=np.int64)
        self.shift_cost_matrix = np.zeros(n_shifts, dtype=np.int64)
        for s, shift in enumerate(inst.shifts):
            matrix, home, day, start, end = state.shift_facts(s)
            index = matrices.setdefault(id(matrix), (len(matrices), matrix))[0]
            cost = inst.travel_cost(shift.worker)
            self.shift_cost_matrix[s] = costs.setdefault(id(cost), (len(costs), cost))[0]
            self.shift_facts[s] = (index, home, day, start, end, shift.worker)
        self.matrices = _stack([matrix for _, matrix in matrices.values()])
        self.cost_matrices = _stack([cost for _, cost in costs.values()])
        most = max((len(shifts) for shifts in inst.shifts_of_worker), default=0)
        self.worker_shifts = np.full((n_workers, most + 1), -1, dtype=np.int64)
        for worker, shifts in enumerate(inst.shifts_of_worker):
            self.worker_shifts[worker, : len(shifts)] = shifts
        partner = inst.partner
        self.visit_facts = np.array(
            [
                (
                    v.place,
                    v.duration,
                    v.earliest,
                    v.latest,
                    v.preferred_start,
                    v.preferred_end,
                    v.carers == 1 and v.index not in partner,  # `RosterState.movable`
                    v.client,
                )
                for v in inst.visits
            ],
            dtype=np.int64,
        ).reshape(len(inst.visits), 8)
        self.carers = np.array([v.carers for v in inst.visits], dtype=np.int64)
        self.eligible = np.zeros((len(inst.visits), n_workers), dtype=np.int64)
        for v, workers in enumerate(inst.eligibility):
            for worker, matched in workers.items():
                self.eligible[v, worker] = 1 if matched else 0
        self.already = np.zeros((n_clients, n_workers), dtype=np.int64)
        for client, worker in inst.already_seen:
            self.already[client, worker] = 1
        self.max_minutes = np.array(state._max_minutes, dtype=np.int64).reshape(n_workers, 2)
        self.budget = inst.budget_carer_minutes
        self._candidates = [
            np.array(state.candidate_shifts(v), dtype=np.int64) for v in inst.visits
        ]
        self.candidate_shifts = [tuple(state.candidate_shifts(v)) for v in inst.visits]

        # What changes: the routes and books.
        self.day_minutes = np.array(state.day_minutes, dtype=np.int64).reshape(n_workers, 7)
        self.week_minutes = np.array(state.week_minutes, dtype=np.int64)
        self.package_minutes = list(state.package_minutes)
        self.seen = np.zeros((n_clients, n_workers), dtype=np.int64)
        for client, workers in enumerate(state.workers_of_client):
            for worker in workers:
                self.seen[client, worker] = 1
        longest = max((len(route) for route in state.routes), default=0)
        self.rows = np.zeros((n_shifts, FIELDS, 2 * longest + 8), dtype=np.int64)
        self.n_stops = np.zeros(n_shifts, dtype=np.int64)
        # A two-carer visit's minutes off window count on its first shift only.
        self.first_shift = np.full(len(inst.visits), -1, dtype=np.int64)
        for s, route in enumerate(state.routes):
            for i, stop in enumerate(route):
                self.rows[s, VISIT, i] = stop.visit
                self.rows[s, START, i] = stop.start
                self.rows[s, END, i] = stop.end
                self.rows[s, PLACE, i] = stop.place
                if self.first_shift[stop.visit] < 0 or s < self.first_shift[stop.visit]:
                    self.first_shift[stop.visit] = s
            self.n_stops[s] = len(route)
            kernels.derive_rows(
                self.rows, self.n_stops, s, self.matrices, self.shift_facts, self.visit_facts
            )
        self.w_travel = weights.travel_minute
        self.w_window = scale * weights.minute_outside_window
        self.w_gender = scale * weights.gender_mismatch
        self.w_client = scale * weights.distinct_worker
        self.route_cost = np.zeros(n_shifts, dtype=np.int64)
        self.route_late = np.zeros(n_shifts, dtype=np.int64)
        self.routes_total = self.cost_routes(np.arange(n_shifts, dtype=np.int64))
        self.client_terms = np.zeros(n_clients, dtype=np.int64)
        self.clients_total = self.cost_clients(np.arange(n_clients, dtype=np.int64))
        self._found = np.zeros((0, 6), dtype=np.int64)
        self._found_b = np.zeros((0, 6), dtype=np.int64)

    # ----------------------------------------------------------------- reading

    def route_visits(self, s: int) -> list[int]:
        """The visits of the shift's route, in order."""
        return self.rows[s, VISIT, : self.n_stops[s]].tolist()

    def busy_routes(self) -> int:
        return int(np.count_nonzero(self.n_stops))

    def latest_lateness(self) -> int:
        return int(self.route_late.max()) if len(self.route_late) else 0

    def copy_routes(self) -> tuple[np.ndarray, np.ndarray]:
        """The routes as they stand (for `placements`)."""
        width = int(self.n_stops.max()) if len(self.n_stops) else 0
        return self.rows[:, :3, :width].copy(), self.n_stops.copy()

    @staticmethod
    def placements(routes: tuple[np.ndarray, np.ndarray]) -> list[Placement]:
        """Every visit on copied routes with its start and shifts
        (`construct.placements_of_routes`)."""
        rows, n_stops = routes
        starts: dict[int, int] = {}
        shifts: dict[int, list[int]] = {}
        for s, n in enumerate(n_stops.tolist()):
            for visit, start in zip(
                rows[s, VISIT, :n].tolist(), rows[s, START, :n].tolist(), strict=True
            ):
                starts[visit] = start
                shifts.setdefault(visit, []).append(s)
        return [Placement(v, starts[v], tuple(shifts[v])) for v in sorted(starts)]

    # ----------------------------------------------------------------- changing

    def remove(self, visit: VisitInfo, shifts: tuple[int, ...]) -> tuple[int, ...]:
        """`RosterState.remove(visit, on=shifts)`: the shifts it was taken out of."""
        removed = tuple(
            s
            for s in shifts
            if kernels.remove(
                self.rows,
                self.n_stops,
                self.matrices,
                self.shift_facts,
                self.visit_facts,
                self.worker_shifts,
                self.day_minutes,
                self.week_minutes,
                self.seen,
                s,
                visit.index,
            )
        )
        if removed:
            self.package_minutes[visit.package] -= visit.duration * visit.carers
        return removed

    def pull(self, s: int) -> bool:
        """`RosterState.pull`."""
        return bool(
            kernels.pull(
                self.rows, self.n_stops, self.matrices, self.shift_facts, self.visit_facts, s
            )
        )

    def place(
        self, visit: VisitInfo, placed: set[int], blink: Callable[[], bool] | None
    ) -> list[Placement]:
        """`construct.place(state, visit, placed, push=True, push_first=True, blink=blink)`."""
        if visit.index in placed:
            return []
        done = self._place(visit, blink)
        if not done and blink is not None:
            done = self._place(visit, None)
        for p in done:
            placed.add(p.visit)
            self.first_shift[p.visit] = min(p.shifts)
        return done

    def _place(self, visit: VisitInfo, blink: Callable[[], bool] | None) -> list[Placement]:
        inst = self.instance
        partner = inst.partner.get(visit.index)
        if partner is None:
            limit = self.budget[visit.package]  # `RosterState.fits_budget`
            used = self.package_minutes[visit.package]
            if limit is not None and used + visit.duration * visit.carers > limit:
                return []
            found, n = self._options(visit, blink)
            if not n:
                return []
            if visit.carers == 1:
                k, start = kernels.best_single(*self._best_args(found, n, visit))
                chosen = (k,)
            else:
                i, j, start = kernels.best_two(*self._best_args(found, n, visit))
                if i < 0:
                    return []
                chosen = (i, j)
            return [self._commit(visit, int(start), found, chosen)]
        other = self.visits[partner]
        gaps = inst.link_gaps
        first, second = (visit, other) if visit.index in gaps else (other, visit)
        min_gap, max_gap = gaps[first.index]
        if first.carers != 1 or second.carers != 1:
            return []  # a linked two-carer visit is left to CP-SAT
        limit = self.budget[first.package]
        extra = first.duration + second.duration
        if limit is not None and self.package_minutes[first.package] + extra > limit:
            return []
        firsts, n_a = self._options(first, blink)
        seconds, n_b = self._options(second, blink, second=True)
        i, j, start, then = kernels.best_pair(
            self.rows,
            self.n_stops,
            self.matrices,
            self.shift_facts,
            self.visit_facts,
            firsts,
            n_a,
            seconds,
            n_b,
            self.seen[first.client],
            self.eligible[first.index],
            self.eligible[second.index],
            first.index,
            second.index,
            min_gap,
            max_gap,
            self.per_minute,
            self.new_worker,
            self.mismatch,
            self.window_weight,
        )
        if i < 0:
            return []
        b = seconds[j].copy()  # committing the first changes nothing of the second's
        return [
            self._commit(first, int(start), firsts, (i,)),
            self._commit(second, int(then), b[np.newaxis, :], (0,)),
        ]

    def _best_args(self, found: np.ndarray, n: int, visit: VisitInfo) -> tuple:
        return (
            self.rows,
            self.n_stops,
            self.matrices,
            self.shift_facts,
            self.visit_facts,
            found,
            n,
            self.seen[visit.client],
            self.eligible[visit.index],
            visit.duration,
            visit.place,
            visit.preferred_start,
            visit.preferred_end,
            self.per_minute,
            self.new_worker,
            self.mismatch,
            self.window_weight,
        )

    def _commit(
        self, visit: VisitInfo, start: int, found: np.ndarray, chosen: tuple[int, ...]
    ) -> Placement:
        """`construct._commit`: the visit in at `start` on each chosen option."""
        options = [found[k].tolist() for k in chosen]  # before an insert shifts positions
        for shift, _, position, _, _, added in options:
            self._room_for(int(self.n_stops[shift]) + 1)
            kernels.insert(
                self.rows,
                self.n_stops,
                self.matrices,
                self.shift_facts,
                self.visit_facts,
                self.day_minutes,
                self.week_minutes,
                self.seen,
                shift,
                position,
                visit.index,
                start,
                added,
            )
        self.package_minutes[visit.package] += visit.duration * visit.carers
        return Placement(visit.index, start, tuple(option[0] for option in options))

    def _options(
        self, visit: VisitInfo, blink: Callable[[], bool] | None, second: bool = False
    ) -> tuple[np.ndarray, int]:
        """The visit's options with push, after the blinks (`construct._raw_options`),
        in a buffer of their own (the first or the second of a linked pair)."""
        candidates = self._candidates[visit.index]
        needed = len(candidates) * self.rows.shape[2]
        found = self._found_b if second else self._found
        if found.shape[0] < needed:
            found = np.zeros((2 * needed, 6), dtype=np.int64)
            if second:
                self._found_b = found
            else:
                self._found = found
        n = kernels.options(
            self.rows,
            self.n_stops,
            self.matrices,
            self.shift_facts,
            self.day_minutes,
            self.week_minutes,
            self.max_minutes,
            candidates,
            visit.place,
            visit.duration,
            visit.earliest,
            visit.latest,
            visit.day,
            found,
        )
        if blink is None or not n:
            return found, n
        if type(blink) is Blinks:
            draw, rate = blink.rng.random, blink.rate
            draws = np.fromiter((draw() for _ in range(n)), dtype=np.float64, count=n)
        else:
            rate = 0.5
            draws = np.fromiter((0.0 if blink() else 1.0 for _ in range(n)), np.float64, n)
        return found, kernels.keep_unblinked(found, n, draws, rate)

    def _room_for(self, n: int) -> None:
        """Rows long enough for `n` stops (and the `EARLY` entry after them)."""
        capacity = self.rows.shape[2]
        if n + 1 < capacity:
            return
        grown = np.zeros((self.rows.shape[0], FIELDS, 2 * (n + 1)), dtype=np.int64)
        grown[:, :, :capacity] = self.rows
        self.rows = grown

    # ----------------------------------------------------------------- costs

    def cost_routes(self, shifts: np.ndarray) -> int:
        """Work the routes' terms out again; returns the change of their total."""
        return int(
            kernels.route_terms(
                self.rows,
                self.n_stops,
                self.cost_matrices,
                self.shift_facts,
                self.shift_cost_matrix,
                self.visit_facts,
                self.carers,
                self.first_shift,
                self.eligible,
                shifts,
                self.route_cost,
                self.route_late,
                self.w_travel,
                self.w_window,
                self.w_gender,
            )
        )

    def cost_clients(self, clients: np.ndarray) -> int:
        """Work the clients' continuity terms out again; returns the change of their total."""
        return int(
            kernels.client_terms(self.seen, self.already, clients, self.client_terms, self.w_client)
        )

    # ----------------------------------------------------------------- undo

    def save(self, shifts: np.ndarray, clients: np.ndarray, packages: set[int]) -> Saved:
        """What changing those shifts, clients and packages may change."""
        width = int(self.n_stops[shifts].max()) + 1 if len(shifts) else 0
        return Saved(
            shifts=shifts,
            rows=self.rows[shifts, :, :width],
            n_stops=self.n_stops[shifts],
            route_cost=self.route_cost[shifts],
            route_late=self.route_late[shifts],
            routes_total=self.routes_total,
            day_minutes=self.day_minutes.copy(),
            week_minutes=self.week_minutes.copy(),
            clients=clients,
            seen=self.seen[clients],
            client_terms=self.client_terms[clients],
            clients_total=self.clients_total,
            packages={p: self.package_minutes[p] for p in packages},
        )

    def restore(self, saved: Saved) -> None:
        shifts = saved.shifts
        self.rows[shifts, :, : saved.rows.shape[2]] = saved.rows
        self.n_stops[shifts] = saved.n_stops
        self.route_cost[shifts] = saved.route_cost
        self.route_late[shifts] = saved.route_late
        self.routes_total = saved.routes_total
        self.day_minutes = saved.day_minutes
        self.week_minutes = saved.week_minutes
        self.seen[saved.clients] = saved.seen
        self.client_terms[saved.clients] = saved.client_terms
        self.clients_total = saved.clients_total
        for p, minutes in saved.packages.items():
            self.package_minutes[p] = minutes


def _stack(matrices: list[list[list[int]]]) -> np.ndarray:
    """Square matrices of one size as one array (at least one, possibly empty)."""
    size = len(matrices[0]) if matrices else 0
    return np.array(matrices, dtype=np.int64).reshape(max(1, len(matrices)), size, size)
