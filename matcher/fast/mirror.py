"""A `RosterState`'s routes and counters as arrays, for the compiled kernels.

Ruin and recreate asks hundreds of thousands of "where could this visit go, and
which place is cheapest" questions a minute (benchmarks/hhcrsp/THROUGHPUT.md); in pure
Python that question is most of an iteration. `RosterState.use_kernels()` gives the
state a `RosterMirror`: the same routes, minutes and clients' workers as arrays, kept in
step by every `RosterState` method that changes them, so the kernels
(`matcher.fast.kernels`) can answer from the arrays. The lists stay the state's truth
for every other reader; `matches` compares the two (tests/test_fast.py).

A route's rows are kept per version like the Python caches: when a route changes, the
rows it had are put aside under its old version (`_aside`), so that a search putting
the route back (`RosterState.set_route` with that version) gets them back by a copy
instead of writing every stop again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from matcher.construct import Blinks
from matcher.fast import kernels
from matcher.fast.kernels import END, FIELDS, PLACE, START, VISIT

if TYPE_CHECKING:
    from collections.abc import Callable

    from matcher.insertion import OptionTuple, RosterState
    from matcher.instance import VisitInfo

# How many put-aside route versions are kept at most, beyond a few per shift.
ASIDE_SPARE = 512


class RosterMirror:
    """The arrays of `matcher.fast.kernels`'s layout for one `RosterState`."""

    def __init__(self, state: RosterState) -> None:
        self.state = state
        inst = state.instance
        self.visits = inst.visits
        weights = inst.problem.weights
        self.per_minute = weights.travel_minute
        self.new_worker = weights.distinct_worker
        self.mismatch = weights.gender_mismatch
        self.window_weight = weights.minute_outside_window
        matrices: list[list[list[int]]] = []
        matrix_index: dict[int, int] = {}
        shift_facts = np.zeros((len(inst.shifts), 6), dtype=np.int64)
        for s in range(len(inst.shifts)):
            matrix, home, day, start, end = state.shift_facts(s)
            if id(matrix) not in matrix_index:
                matrix_index[id(matrix)] = len(matrices)
                matrices.append(matrix)
            worker = inst.shifts[s].worker
            shift_facts[s] = (matrix_index[id(matrix)], home, day, start, end, worker)
        self.matrices = np.array(matrices, dtype=np.int64).reshape(
            len(matrices), len(matrices[0]) if matrices else 0, -1
        )
        self.shift_facts = shift_facts
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
        n_workers = len(inst.workers)
        self.eligible = np.zeros((len(inst.visits), n_workers), dtype=np.int64)
        for v, workers in enumerate(inst.eligibility):
            for worker, matched in workers.items():
                self.eligible[v, worker] = 1 if matched else 0
        self.max_minutes = np.array(state._max_minutes, dtype=np.int64).reshape(n_workers, 2)
        self.day_minutes = np.array(state.day_minutes, dtype=np.int64).reshape(n_workers, 7)
        self.week_minutes = np.array(state.week_minutes, dtype=np.int64)
        self.seen = np.zeros((len(inst.packages), n_workers), dtype=np.int64)
        for client, workers in enumerate(state.workers_of_client):
            for worker in workers:
                self.seen[client, worker] = 1
        longest = max((len(route) for route in state.routes), default=0)
        capacity = 2 * longest + 8
        self.rows = np.zeros((len(inst.shifts), FIELDS, capacity), dtype=np.int64)
        self.n_stops = np.zeros(len(inst.shifts), dtype=np.int64)
        for s in range(len(inst.shifts)):
            self.load(s)
        self._aside: dict[int, tuple[np.ndarray, int]] = {}
        self._most_aside = 4 * len(inst.shifts) + ASIDE_SPARE
        self._candidates: dict[tuple[int, int], np.ndarray] = {}
        self._found = np.zeros((0, 6), dtype=np.int64)
        self._found_b = np.zeros((0, 6), dtype=np.int64)

    # ----------------------------------------------------------------- keeping in step

    def load(self, s: int) -> None:
        """Write the route's stops from the state's list (the slow way: a stop at a time)."""
        route = self.state.routes[s]
        self._room_for(len(route))
        rows = self.rows
        for i, stop in enumerate(route):
            rows[s, VISIT, i] = stop.visit
            rows[s, START, i] = stop.start
            rows[s, END, i] = stop.end
            rows[s, PLACE, i] = stop.place
        self.n_stops[s] = len(route)
        kernels.derive_rows(
            rows, self.n_stops, s, self.matrices, self.shift_facts, self.visit_facts
        )

    def leaving(self, s: int, version: int) -> None:
        """The route is about to change from `version`: put its rows aside."""
        aside = self._aside
        if version in aside:
            return
        n = int(self.n_stops[s])
        aside[version] = (self.rows[s, :, : n + 1].copy(), n)
        if len(aside) > self._most_aside:
            for old in list(aside)[: len(aside) // 2]:
                del aside[old]

    def back_to(self, s: int, version: int | None) -> None:
        """The route was set back to `version` (or to stops of no known version)."""
        kept = None if version is None else self._aside.get(version)
        if kept is None:
            self.load(s)
            return
        row, n = kept
        self._room_for(n)
        self.rows[s, :, : n + 1] = row
        self.n_stops[s] = n

    def inserted(self, s: int, position: int, visit: VisitInfo, start: int) -> None:
        self._room_for(int(self.n_stops[s]) + 1)
        kernels.insert(
            self.rows,
            self.n_stops,
            self.matrices,
            self.shift_facts,
            self.visit_facts,
            s,
            position,
            visit.index,
            start,
        )

    def removed(self, s: int, position: int) -> None:
        kernels.remove(
            self.rows, self.n_stops, self.matrices, self.shift_facts, self.visit_facts, s, position
        )

    def pulled(self, s: int) -> None:
        kernels.pull(self.rows, self.n_stops, self.matrices, self.shift_facts, self.visit_facts, s)

    def _room_for(self, n: int) -> None:
        """Rows long enough for `n` stops (and the `EARLY` entry after them)."""
        capacity = self.rows.shape[2]
        if n + 1 < capacity:
            return
        grown = np.zeros((self.rows.shape[0], FIELDS, 2 * (n + 1)), dtype=np.int64)
        grown[:, :, :capacity] = self.rows
        self.rows = grown

    # ----------------------------------------------------------------- questions

    def candidates(self, visit: VisitInfo) -> np.ndarray:
        key = (visit.index, visit.day)
        found = self._candidates.get(key)
        if found is None:
            found = self._candidates[key] = np.array(
                self.state.candidate_shifts(visit), dtype=np.int64
            )
        return found

    def options(
        self, visit: VisitInfo, blink: Callable[[], bool] | None, second: bool = False
    ) -> tuple[np.ndarray, int]:
        """The visit's options with push, after the blinks (`construct._raw_options`),
        in a buffer of their own (the first or the second of a linked pair); returns
        the buffer and how many."""
        candidates = self.candidates(visit)
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

    def best_single(
        self, visit: VisitInfo, blink: Callable[[], bool] | None
    ) -> tuple[int, tuple[OptionTuple, ...]] | None:
        """`construct.best_insertion` for a one-carer visit with push."""
        found, n = self.options(visit, blink)
        if not n:
            return None
        k, start = kernels.best_single(
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
        return int(start), (tuple(found[k].tolist()),)  # type: ignore[return-value]

    def best_pair(
        self,
        first: VisitInfo,
        second: VisitInfo,
        min_gap: int,
        max_gap: int,
        blink: Callable[[], bool] | None,
    ) -> tuple[int, int, OptionTuple, OptionTuple] | None:
        """`construct._place_linked`'s choice with push: both starts and options."""
        firsts, n_a = self.options(first, blink)
        seconds, n_b = self.options(second, blink, second=True)
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
            return None
        a: OptionTuple = tuple(firsts[i].tolist())  # type: ignore[assignment]
        b: OptionTuple = tuple(seconds[j].tolist())  # type: ignore[assignment]
        return int(start), int(then), a, b

    # ----------------------------------------------------------------- checks

    def matches(self) -> bool:
        """Whether the arrays say what the state's lists say (for tests)."""
        state = self.state
        fresh = RosterMirror(state)
        for s, route in enumerate(state.routes):
            n = len(route)
            if self.n_stops[s] != n:
                return False
            if not np.array_equal(self.rows[s, :, : n + 1], fresh.rows[s, :, : n + 1]):
                return False
        return (
            np.array_equal(self.day_minutes, fresh.day_minutes)
            and np.array_equal(self.week_minutes, fresh.week_minutes)
            and np.array_equal(self.seen, fresh.seen)
        )
