"""Ruin and recreate's search as arrays, run by compiled kernels.

Ruin and recreate makes thousands of small moves a second, each asking hundreds of
"where could this visit go, and which place is cheapest" questions and changing a
few dozen routes (benchmarks/hhcrsp/THROUGHPUT.md); in pure Python that was the whole
iteration. An `ArrayRoster` is the search's roster and books as numpy arrays (routes,
minutes worked, clients' workers, packages' minutes, where each visit is, the
objective's route and client terms; `matcher.fast.kernels` has the layout), built
once from a `RosterState` and from then on changed only by the kernels: one call
makes a whole iteration (`iterate`: strings, order, ruin, recreate, costs), another
undoes it (`undo`). The random draws come from the search's own `random.Random`,
whose state the kernels carry (`RandomStream`), in the order the pure Python made
them, so the moves for a seed are those of the pure Python code it replaced
(tests/test_ruin.py pins them; tests/test_fast.py holds each kernel to the Python
that defines its rule: `RosterState`, `construct.place`, `lns.objective_terms`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from matcher.construct import Placement
from matcher.fast import kernels
from matcher.fast.kernels import END, FIELDS, PLACE, START, VISIT, VISIT_FACTS
from matcher.insertion import RosterState


class RandomStream:
    """A `random.Random`'s Mersenne Twister state as arrays the kernels draw from
    exactly as the Python methods would; `close` hands the state back, so the Python
    stream goes on where the kernels left it. Nothing may draw from the `rng` itself
    while the stream is open."""

    def __init__(self, rng: random.Random) -> None:
        version, words, self._gauss = rng.getstate()
        self._rng, self._version = rng, version
        self.mt = np.array(words[:-1], dtype=np.int64)
        self.index = np.array(words[-1:], dtype=np.int64)

    def close(self) -> None:
        words = (*self.mt.tolist(), int(self.index[0]))
        self._rng.setstate((self._version, words, self._gauss))


class ArrayRoster:
    """The search's roster and books as arrays (see the module's docstring)."""

    def __init__(
        self,
        state: RosterState,
        *,
        scale: int,
        removable: Sequence[int],
        related: dict[int, list[int]],
        mean_removed: float,
        max_string: int,
        blink_rate: float,
        route_share: float = 0.0,
    ) -> None:
        """The state's routes and books, for a search that may remove the `removable`
        visits (ascending), strings around a seed visit's `related` ones (SISR's
        `mean_removed` and `max_string`), and skips options at `blink_rate`. The
        objective's terms are in units of `1/scale` (the solver's `OBJECTIVE_SCALE`:
        travel costs come scaled already)."""
        inst = state.instance
        weights = inst.problem.weights
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

        n_visits = len(inst.visits)
        self.eligible_count = np.array([len(e) for e in inst.eligibility], dtype=np.int64)
        self.removable = np.array(removable, dtype=np.int64)
        self.is_removable = np.zeros(n_visits, dtype=np.int64)
        self.is_removable[self.removable] = 1
        self.related_start = np.zeros(n_visits + 1, dtype=np.int64)
        for v in range(n_visits):
            self.related_start[v + 1] = self.related_start[v] + len(related.get(v, ()))
        self.related = np.array(
            [b for v in range(n_visits) for b in related.get(v, ())], dtype=np.int64
        )
        self.params = np.array(
            [mean_removed, max_string, blink_rate, route_share], dtype=np.float64
        )
        self.weights = np.array(
            [
                weights.travel_minute,
                weights.distinct_worker,
                weights.gender_mismatch,
                weights.minute_outside_window,
                weights.travel_minute,  # travel costs come scaled
                scale * weights.minute_outside_window,
                scale * weights.gender_mismatch,
                scale * weights.distinct_worker,
                scale * weights.max_lateness,
                scale * weights.unassigned_visit,
            ],
            dtype=np.int64,
        )

        # What changes: the routes and books (`load` fills them). Room on every route
        # for every visit of the busiest day (and the `EARLY` entry after the last
        # stop): the kernels cannot grow an array.
        per_day = np.bincount([v.day for v in inst.visits], minlength=7) if n_visits else [0]
        capacity = int(max(per_day)) + 2
        self.rows = np.zeros((n_shifts, FIELDS, capacity), dtype=np.int64)
        self.n_stops = np.zeros(n_shifts, dtype=np.int64)
        self.day_minutes = np.zeros((n_workers, 7), dtype=np.int64)
        self.week_minutes = np.zeros(n_workers, dtype=np.int64)
        self.package_minutes = np.zeros(len(inst.packages), dtype=np.int64)
        self.seen = np.zeros((n_clients, n_workers), dtype=np.int64)
        # Where each visit is: placed (1/0) and its shifts, ascending (-1: none); a
        # two-carer visit's minutes off window count on its first shift only.
        self.placed = np.zeros(n_visits, dtype=np.int64)
        self.where_a = np.full(n_visits, -1, dtype=np.int64)
        self.where_b = np.full(n_visits, -1, dtype=np.int64)
        self.route_cost = np.zeros(n_shifts, dtype=np.int64)
        self.route_late = np.zeros(n_shifts, dtype=np.int64)
        self.client_terms = np.zeros(n_clients, dtype=np.int64)
        # (routes' terms, clients' terms, unassigned visits)
        self.totals = np.zeros(3, dtype=np.int64)
        self.load(state)

        # Scratch (masks are all zero between calls) and what an iteration saves.
        most_options = max(1, self._most_candidates * capacity)
        self._found_a = np.zeros((most_options, 6), dtype=np.int64)
        self._found_b = np.zeros((most_options, 6), dtype=np.int64)
        self._out = np.zeros((max(1, n_visits), 4), dtype=np.int64)
        self._visit_scratch = np.zeros((4, n_visits), dtype=np.int64)
        self._shift_scratch = np.zeros((6, n_shifts), dtype=np.int64)
        self._client_scratch = np.zeros((3, max(2, n_clients)), dtype=np.int64)
        self._saved_rows = np.zeros_like(self.rows)
        self._saved_n = np.zeros(n_shifts, dtype=np.int64)
        self._saved_terms = np.zeros((n_shifts, 2), dtype=np.int64)
        self._saved_seen = np.zeros_like(self.seen)
        self._saved_client_terms = np.zeros(n_clients, dtype=np.int64)
        self._saved_day_minutes = np.zeros_like(self.day_minutes)
        self._saved_week_minutes = np.zeros_like(self.week_minutes)
        self._saved_package_minutes = np.zeros_like(self.package_minutes)
        self._saved_visits = np.zeros((3, n_visits), dtype=np.int64)
        self._saved_totals = np.zeros(3, dtype=np.int64)

    def load(self, state: RosterState) -> None:
        """Make the state's roster (of this instance) the current one: every book worked
        out again from its routes and counters, in the same arrays (cooperating searches
        hand each other rosters: `ruin._Search.load`)."""
        self.day_minutes[:] = np.array(state.day_minutes, dtype=np.int64).reshape(
            self.day_minutes.shape
        )
        self.week_minutes[:] = state.week_minutes
        self.package_minutes[:] = state.package_minutes
        self.seen[:] = 0
        for client, workers in enumerate(state.workers_of_client):
            self.seen[client, list(workers)] = 1
        self.placed[:] = 0
        self.where_a[:] = -1
        self.where_b[:] = -1
        for s, route in enumerate(state.routes):
            for i, stop in enumerate(route):
                v = stop.visit
                self.rows[s, VISIT, i] = v
                self.rows[s, START, i] = stop.start
                self.rows[s, END, i] = stop.end
                self.rows[s, PLACE, i] = stop.place
                if not self.placed[v]:
                    self.placed[v], self.where_a[v] = 1, s
                elif s < self.where_a[v]:
                    self.where_a[v], self.where_b[v] = s, self.where_a[v]
                else:
                    self.where_b[v] = s
            self.n_stops[s] = len(route)
            kernels.derive_rows(
                self.rows, self.n_stops, s, self.matrices, self.shift_facts, self.visit_facts
            )
        self.route_cost[:] = 0
        self.client_terms[:] = 0
        self.totals[0] = self._cost_routes(np.arange(len(self.n_stops), dtype=np.int64))
        self.totals[1] = kernels.continuity_terms(
            self.seen,
            self.already,
            np.arange(len(self.client_terms), dtype=np.int64),
            self.client_terms,
            self.weights[7],
        )
        self.totals[2] = len(self.placed) - int(self.placed.sum())

    # ----------------------------------------------------------------- reading

    @property
    def unassigned(self) -> int:
        return int(self.totals[2])

    def placed_count(self) -> int:
        return len(self.placed) - self.unassigned

    def objective(self) -> int:
        """`lns.evaluate` of the roster as it stands (the kept terms summed, as
        `kernels.iterate` sums them)."""
        late = int(self.route_late.max()) if len(self.route_late) else 0
        routes, clients, unassigned = self.totals.tolist()
        return routes + clients + int(self.weights[8]) * late + int(self.weights[9]) * unassigned

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

    # ----------------------------------------------------------------- the search

    def iterate(self, stream: RandomStream) -> tuple[int, float]:
        """One ruin and recreate (`ruin._Search._iterate`), with what it changes saved
        for `undo`; returns the objective after it and the stream's next draw (the one
        its acceptance takes)."""
        value, draw = kernels.iterate(
            self.matrices,
            self.cost_matrices,
            self.shift_facts,
            self.shift_cost_matrix,
            self.visit_facts,
            self.carers,
            self.eligible,
            self.eligible_count,
            self.already,
            self.max_minutes,
            self.worker_shifts,
            self.candidate_start,
            self.candidates,
            self.budget,
            self.removable,
            self.is_removable,
            self.related_start,
            self.related,
            self.rows,
            self.n_stops,
            self.day_minutes,
            self.week_minutes,
            self.seen,
            self.package_minutes,
            self.placed,
            self.where_a,
            self.where_b,
            self.route_cost,
            self.route_late,
            self.client_terms,
            self.totals,
            self.params,
            self.weights,
            stream.mt,
            stream.index,
            self._visit_scratch,
            self._shift_scratch,
            self._client_scratch,
            self._found_a,
            self._found_b,
            self._out,
            self._saved_rows,
            self._saved_n,
            self._saved_terms,
            self._saved_seen,
            self._saved_client_terms,
            self._saved_day_minutes,
            self._saved_week_minutes,
            self._saved_package_minutes,
            self._saved_visits,
            self._saved_totals,
        )
        return int(value), float(draw)

    def recreate(self, order: list[int], stream: RandomStream | None) -> list[Placement]:
        """Put the visits back in `order`, each as `construct.place(state, visit, placed,
        push=True, push_first=True, blink=...)` would, with blinks drawn from `stream`
        (none without it); returns the placements made, in order. The search does this
        inside `iterate`; this is the same kernel on its own (tests hold it to
        `construct.place`): routes, minutes, packages and where each visit is follow,
        the objective's terms do not (`iterate` works them out)."""
        mt, index = (
            (np.zeros(1, dtype=np.int64),) * 2 if stream is None else (stream.mt, stream.index)
        )
        out = self._out
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
            self.where_a,
            np.array(order, dtype=np.int64),
            mt,
            index,
            self.params[2] if stream is not None else -1.0,
            self.weights[:4],
            self._found_a,
            self._found_b,
            out,
        )
        placements = []
        for v, start, s, other in out[:n].tolist():
            placements.append(Placement(v, start, (s,) if other < 0 else (s, other)))
            self.where_a[v], self.where_b[v] = (s, other) if other < 0 or s < other else (other, s)
        return placements

    def undo(self) -> None:
        """Put everything the last `iterate` changed back as it was."""
        kernels.undo(
            self.rows,
            self.n_stops,
            self.day_minutes,
            self.week_minutes,
            self.seen,
            self.package_minutes,
            self.placed,
            self.where_a,
            self.where_b,
            self.route_cost,
            self.route_late,
            self.client_terms,
            self.totals,
            self._shift_scratch,
            self._client_scratch,
            self._saved_rows,
            self._saved_n,
            self._saved_terms,
            self._saved_seen,
            self._saved_client_terms,
            self._saved_day_minutes,
            self._saved_week_minutes,
            self._saved_package_minutes,
            self._saved_visits,
            self._saved_totals,
        )

    def _cost_routes(self, shifts: np.ndarray) -> int:
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
                self.where_a,
                self.eligible,
                shifts,
                self.route_cost,
                self.route_late,
                self.weights[4],
                self.weights[5],
                self.weights[6],
            )
        )


def _stack(matrices: list[list[list[int]]]) -> np.ndarray:
    """Square matrices of one size as one array (at least one, possibly empty)."""
    size = len(matrices[0]) if matrices else 0
    return np.array(matrices, dtype=np.int64).reshape(max(1, len(matrices)), size, size)
