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

import random
from dataclasses import dataclass

import numpy as np

from matcher.construct import Placement
from matcher.fast import kernels
from matcher.fast.kernels import END, FIELDS, PLACE, START, VISIT, VISIT_FACTS
from matcher.insertion import RosterState


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
    packages: np.ndarray
    placed: np.ndarray


class BlinkStream:
    """SISR's blinks (`construct.Blinks`) drawn by the kernels themselves: the state of
    the search's `random.Random` copied into an array on opening, the kernels draw from
    it exactly as `rng.random()` would, and `close` hands the state back, so the stream
    goes on where the kernels left it. Nothing else may draw from `rng` in between."""

    def __init__(self, rng: random.Random, rate: float) -> None:
        version, words, self._gauss = rng.getstate()
        self._rng, self._version = rng, version
        self.mt = np.array(words[:-1], dtype=np.int64)
        self.index = np.array(words[-1:], dtype=np.int64)
        self.rate = rate

    def close(self) -> None:
        words = (*self.mt.tolist(), int(self.index[0]))
        self._rng.setstate((self._version, words, self._gauss))


# Draws for a question asked without blinks (the kernels never read them then).
_NO_STREAM = (np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), -1.0)


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
        partner, gaps = inst.partner, inst.link_gaps
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
                    v.day,
                    v.package,
                    v.carers,
                    partner.get(v.index, -1),
                    v.index in gaps,
                    *gaps.get(v.index, (0, 0)),
                )
                for v in inst.visits
            ],
            dtype=np.int64,
        ).reshape(len(inst.visits), VISIT_FACTS)
        self.carers = np.array([v.carers for v in inst.visits], dtype=np.int64)
        self.eligible = np.zeros((len(inst.visits), n_workers), dtype=np.int64)
        for v, workers in enumerate(inst.eligibility):
            for worker, matched in workers.items():
                self.eligible[v, worker] = 1 if matched else 0
        self.already = np.zeros((n_clients, n_workers), dtype=np.int64)
        for client, worker in inst.already_seen:
            self.already[client, worker] = 1
        self.max_minutes = np.array(state._max_minutes, dtype=np.int64).reshape(n_workers, 2)
        self.budget = np.array(
            [-1 if limit is None else limit for limit in inst.budget_carer_minutes],
            dtype=np.int64,
        )
        self.candidate_shifts = [tuple(state.candidate_shifts(v)) for v in inst.visits]
        self.candidate_start = np.cumsum(
            [0] + [len(shifts) for shifts in self.candidate_shifts], dtype=np.int64
        )
        self.candidates = np.array(
            [s for shifts in self.candidate_shifts for s in shifts], dtype=np.int64
        )
        self._most_candidates = max((len(c) for c in self.candidate_shifts), default=0)
        self.weights = np.array(
            [self.per_minute, self.new_worker, self.mismatch, self.window_weight], dtype=np.int64
        )

        # What changes: the routes and books.
        self.day_minutes = np.array(state.day_minutes, dtype=np.int64).reshape(n_workers, 7)
        self.week_minutes = np.array(state.week_minutes, dtype=np.int64)
        self.package_minutes = np.array(state.package_minutes, dtype=np.int64)
        self.placed = np.zeros(len(inst.visits), dtype=np.int64)
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
                self.placed[stop.visit] = 1
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
        self._found_a = np.zeros((0, 6), dtype=np.int64)
        self._found_b = np.zeros((0, 6), dtype=np.int64)
        self._cut = np.zeros(n_shifts, dtype=np.int64)

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

    def ruin(self, removed: list[int], where: dict[int, tuple[int, ...]]) -> list[int]:
        """Take the visits out of their shifts (`where`), one after another, then pull
        the routes cut (`RosterState.remove` with `on`, and `pull`); returns the cut
        shifts."""
        removed_from = np.full((len(removed), 2), -1, dtype=np.int64)
        for k, v in enumerate(removed):
            shifts = where[v]
            removed_from[k, : len(shifts)] = shifts
        n_cut = kernels.ruin(
            self.rows,
            self.n_stops,
            self.matrices,
            self.shift_facts,
            self.visit_facts,
            self.worker_shifts,
            self.day_minutes,
            self.week_minutes,
            self.seen,
            self.package_minutes,
            self.placed,
            np.array(removed, dtype=np.int64),
            removed_from,
            self._cut,
        )
        return self._cut[:n_cut].tolist()

    def recreate(self, order: list[int], blink: BlinkStream | None) -> list[Placement]:
        """Put the visits back in `order`, each as `construct.place(state, visit, placed,
        push=True, push_first=True, blink=...)` would, with the blinks of `blink`
        (`construct.Blinks` of its rng and rate; none without it); returns the
        placements made, in order."""
        self._room_for(int(self.n_stops.max()) + len(order) + 1)
        out = np.empty((len(order), 4), dtype=np.int64)
        mt, index, rate = _NO_STREAM if blink is None else (blink.mt, blink.index, blink.rate)
        n = kernels.recreate(
            self.rows,
            self.n_stops,
            self.matrices,
            self.shift_facts,
            self.visit_facts,
            self.candidate_start,
            self.candidates,
            self.day_minutes,
            self.week_minutes,
            self.max_minutes,
            self.seen,
            self.eligible,
            self.package_minutes,
            self.budget,
            self.placed,
            self.first_shift,
            np.array(order, dtype=np.int64),
            mt,
            index,
            rate,
            self.weights,
            self._found_a,
            self._found_b,
            out,
        )
        return [
            Placement(v, start, (s,) if other < 0 else (s, other))
            for v, start, s, other in out[:n].tolist()
        ]

    def _room_for(self, n: int) -> None:
        """Rows long enough for `n` stops (and the `EARLY` entry after them), and
        buffers for every option a visit could have on them."""
        capacity = self.rows.shape[2]
        if n + 1 >= capacity:
            grown = np.zeros((self.rows.shape[0], FIELDS, 2 * (n + 1)), dtype=np.int64)
            grown[:, :, :capacity] = self.rows
            self.rows = grown
        needed = self._most_candidates * self.rows.shape[2]
        if self._found_a.shape[0] < needed:
            self._found_a = np.zeros((needed, 6), dtype=np.int64)
            self._found_b = np.zeros((needed, 6), dtype=np.int64)

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

    def save(self, shifts: np.ndarray, clients: np.ndarray) -> Saved:
        """What changing those shifts and clients may change (the smaller books are
        copied whole)."""
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
            packages=self.package_minutes.copy(),
            placed=self.placed.copy(),
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
        self.package_minutes = saved.packages
        self.placed = saved.placed


def _stack(matrices: list[list[list[int]]]) -> np.ndarray:
    """Square matrices of one size as one array (at least one, possibly empty)."""
    size = len(matrices[0]) if matrices else 0
    return np.array(matrices, dtype=np.int64).reshape(max(1, len(matrices)), size, size)
