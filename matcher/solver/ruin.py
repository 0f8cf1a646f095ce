"""Ruin and recreate: many small, cheap moves on a roster, in pure Python.

CP-SAT's large neighbourhood search (`matcher.solver.lns`) makes a few good moves a
second; on a big week (hundreds of visits a day) that is far too few, and routes stay
much longer than they need be. This phase makes thousands of small moves instead, in
the spirit of SISR (Christiaens and Vanden Berghe, "Slack induction by string
removals", Transportation Science 54, 2020):

- **Ruin.** A seed visit is drawn at random; then, walking through the visits of its
  day most *related* to it (near in travel and in preferred start, as LNS's
  neighbourhoods), a *string* of consecutive stops around each one is cut out of its
  route, one string per route, until a few routes are cut. String lengths and the
  number of strings follow SISR (`RuinParams.mean_removed`, `max_string`): about ten
  visits leave per iteration, from routes that pass near each other, so they can
  change hands. A linked visit leaves with its partner, a two-carer visit leaves both
  routes. Linked two-carer visits, which the greedy insertion cannot place, stay.
  The cut routes are then `RosterState.pull`-ed: later stops start as early as they
  may, which takes back lateness that an earlier push caused.
- **Recreate.** The removed visits, and the visits still waiting, go back one by one
  with the construction heuristic's own `construct.place` (cheapest insertion, with
  its partner for a linked visit), in a random one of a few orders (random, earliest
  preferred start, hardest first, latest first), skipping each option with a small
  probability (SISR's "blinks") so that ties and near-ties do not always go the same
  way. Unlike the greedy start it weighs pushing later stops along for every visit
  (`push_first`), at the cost of the minutes they then start off their windows:
  within their windows that is free, and it opens gaps the routes as they stand hide
  (7 to 9 % cheaper HHCRSP rosters after 30 s than pushing only as a last resort).
- **Accept** by simulated annealing on the engine's objective (`lns.objective_terms`,
  kept up to date route by route rather than recomputed): a worse roster is accepted
  with the usual probability, at a temperature that falls geometrically, relative to
  the roster's cost per placed visit, from `start_temperature` to `end_temperature`
  over the time (or iterations) allowed. A roster with more visits unassigned than the
  current one is never accepted, so the best roster returned never has more
  unassigned visits than the start.

Every change goes through `RosterState` (`options`/`insert` to put visits in,
`remove` and `pull` to take them out and close gaps), which keeps every hard rule
(ranges, travel, shifts, hours per day and week, budgets, synchronisation) at every
iteration; a rejected iteration restores the routes and counters it touched from a
snapshot taken before it. Only the routes a visit could go to are snapshotted and only
the routes that changed are re-costed, so an iteration costs about as much as
inserting ten visits.

With `max_iterations` and no deadline the result depends on the seed alone; with a
deadline it also depends on how many iterations the machine manages. Either way the
search says how many it made and in how many seconds (`RuinOutcome`), which `solve`
reports (`SolverReport.search_iterations`, `search_iterations_per_s`).

`ruin_and_recreate` is one search. `solve` runs one per worker and makes them
cooperate (`matcher.solver.solve._cooperate`): they run in epochs, slices of one
temperature schedule (`_Search.run`'s `progress`), and between epochs every search is
handed the best roster of all (`_Search.load`) and goes on from it with its own
random stream.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from matcher.construct import Blinks, Placement, place, placements_of_routes
from matcher.insertion import RosterState, Stop
from matcher.instance import Instance, VisitInfo
from matcher.solver.constraints import OBJECTIVE_SCALE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuinOutcome:
    """What one search made: its best roster, and how many iterations it ran in how
    many seconds of its own loop (wall time; building the search's state beforehand is
    not counted), so a caller can report the search's speed, iterations per second of
    one process, beside the roster (as benchmarks/hhcrsp/THROUGHPUT.md measures it)."""

    placements: list[Placement]
    iterations: int
    seconds: float
    # The roster's objective in the model's scaled units (`lns.objective_terms`), as
    # the search tracked it: what cooperating searches compare without re-scoring.
    objective: int | None = None


@dataclass(frozen=True)
class RuinParams:
    """How hard to ruin and how to accept; validated on creation.

    Temperatures are fractions of the start roster's objective per placed visit
    (unassigned penalty left out). Measured on HHCRSP instances of 75 to 300 patients
    at 10 and 30 s: starting hot (1.0) and ending at 0.03 beat 0.05 to 0.002 by 5 to
    10 % on the bigger ones, and 0.1 to 0.01 or 3.0 to 0.01 by a little.
    """

    mean_removed: float = 10.0  # SISR's c-bar: visits removed per iteration on average
    max_string: int = 10  # SISR's L_max: the longest string cut from one route
    neighbours: int = 60  # related visits considered around a seed
    blink_rate: float = 0.01  # chance of skipping an insertion option
    start_temperature: float = 1.0
    end_temperature: float = 0.03

    def __post_init__(self) -> None:
        if self.mean_removed < 1 or self.max_string < 1 or self.neighbours < 1:
            raise ValueError("mean_removed, max_string and neighbours must be >= 1")
        if not 0 <= self.blink_rate < 1:
            raise ValueError("blink_rate must be in [0, 1)")
        if not 0 < self.end_temperature <= self.start_temperature:
            raise ValueError("need 0 < end_temperature <= start_temperature")


def ruin_and_recreate(
    inst: Instance,
    placements: list[Placement],
    *,
    seed: int = 0,
    deadline: float | None = None,
    max_iterations: int | None = None,
    params: RuinParams | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_best: Callable[[int], None] | None = None,
) -> RuinOutcome:
    """The best roster found from `placements` (a valid roster of `inst`) until the
    deadline (a `time.perf_counter()` value) or after `max_iterations`, whichever
    comes first; at least one of them must be given.

    `should_stop` is asked before every iteration (a caller's cancel or deadline: an
    iteration takes milliseconds, so the search stops within them); the best roster
    so far is then returned. `on_best` is told each new best objective, in the
    model's scaled units (`lns.objective_terms`), as the search finds it. The outcome
    also says how many iterations the search made in how many seconds.
    """
    if deadline is None and max_iterations is None:
        raise ValueError("give a deadline, max_iterations or both")
    search = _Search(inst, placements, random.Random(seed), params or RuinParams())
    return search.run(deadline, max_iterations, should_stop=should_stop, on_best=on_best)


@dataclass
class _Snapshot:
    """What one iteration may change, as it was before."""

    routes: dict[int, tuple[list[Stop], int]]  # stops and `RosterState.route_version`
    costs: dict[int, tuple[int, int]]
    minutes: dict[int, tuple[list[int], int]]
    packages: dict[int, int]
    clients: dict[int, tuple[set[int], int]]
    where: dict[int, tuple[int, ...] | None]
    routes_total: int
    unassigned: int


class _Search:
    def __init__(
        self,
        inst: Instance,
        placements: list[Placement],
        rng: random.Random,
        params: RuinParams,
    ) -> None:
        self.inst = inst
        self.rng = rng
        self.params = params
        weights = inst.problem.weights
        self.w_travel = weights.travel_minute
        self.w_window = OBJECTIVE_SCALE * weights.minute_outside_window
        self.w_gender = OBJECTIVE_SCALE * weights.gender_mismatch
        self.w_client = OBJECTIVE_SCALE * weights.distinct_worker
        self.w_late = OBJECTIVE_SCALE * weights.max_lateness
        self.w_unassigned = OBJECTIVE_SCALE * weights.unassigned_visit

        self.load(placements, pull=True)
        # The temperatures are relative to the start roster's cost per placed visit and
        # fixed here, so that runs continuing the search (`run`'s `progress`) follow
        # one schedule whatever roster they are handed (`load`).
        per_visit = (self.objective() - self.w_unassigned * self.unassigned) / max(
            1, len(self.placed)
        )
        self.t_start = max(1e-9, params.start_temperature * per_visit)
        self.t_end = max(1e-9, params.end_temperature * per_visit)

        # Visits the greedy insertion can put back (a linked two-carer visit it cannot).
        self.removable = [
            v.index
            for v in inst.visits
            if not (v.index in inst.partner and self._linked_two_carer(v.index))
        ]
        self.removable_set = set(self.removable)
        self.related = self._related_visits()

    def load(self, placements: list[Placement], *, pull: bool = False) -> None:
        """Make `placements` (a valid roster of the instance) the current roster: a
        fresh `RosterState` with their routes, and the costs, places and counters
        worked out from them. With `pull`, every route's stops then start as early as
        they may (the start roster's, which may be a greedy one); without, the roster
        is taken exactly as given, so that its objective is the one its search reported
        (cooperating searches handed the best of all, `matcher.solver.solve._cooperate`)."""
        inst = self.inst
        self.state = state = RosterState(inst)
        per_shift: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self.where: dict[int, tuple[int, ...]] = {}
        for p in placements:
            for s in p.shifts:
                per_shift[s].append((p.visit, p.start))
            state.charge_package(inst.visits[p.visit])
            self.where[p.visit] = tuple(sorted(p.shifts))
        for s, stops in per_shift.items():
            state.load_route(s, stops)
        if pull:
            for s in per_shift:
                state.pull(s)
        self.placed = set(self.where)

        self.costs = [self._route_terms(s) for s in range(len(inst.shifts))]
        self.routes_total = sum(c for c, _ in self.costs)
        self.client_terms = [self._client_term(c) for c in range(len(inst.packages))]
        self.clients_total = sum(self.client_terms)
        self.unassigned = len(inst.visits) - len(self.placed)

    # ----------------------------------------------------------------- objective

    def _linked_two_carer(self, v: int) -> bool:
        visits = self.inst.visits
        return visits[v].carers > 1 or visits[self.inst.partner[v]].carers > 1

    def _route_terms(self, s: int) -> tuple[int, int]:
        """(travel + window + gender cost, latest lateness) of one route."""
        route = self.state.routes[s]
        if not route:
            return 0, 0
        inst = self.inst
        visits, eligibility, where = inst.visits, inst.eligibility, self.where
        worker = inst.shifts[s].worker
        cost = inst.travel_cost(worker)
        home = inst.worker_place[worker]
        travel, outside, mismatches, late, prev = 0, 0, 0, 0, home
        for stop in route:
            info = visits[stop.visit]
            travel += cost[prev][stop.place]
            start = stop.start
            if info.carers == 1 or s == where[stop.visit][0]:
                if start < info.preferred_start:  # `minutes_outside`
                    outside += info.preferred_start - start
                elif start > info.preferred_end:
                    outside += start - info.preferred_end
            if not eligibility[stop.visit][worker]:
                mismatches += 1
            if start - info.preferred_end > late:
                late = start - info.preferred_end
            prev = stop.place
        travel += cost[prev][home]
        return self.w_window * outside + self.w_gender * mismatches + self.w_travel * travel, late

    def _client_term(self, client: int) -> int:
        seen = self.inst.already_seen
        workers = self.state.workers_of_client[client]
        return self.w_client * sum(1 for w in workers if (client, w) not in seen)

    def objective(self) -> int:
        late = max((late for _, late in self.costs), default=0)
        return (
            self.routes_total
            + self.clients_total
            + self.w_late * late
            + self.w_unassigned * self.unassigned
        )

    # ----------------------------------------------------------------- search

    def run(
        self,
        deadline: float | None,
        max_iterations: int | None,
        *,
        should_stop: Callable[[], bool] | None = None,
        on_best: Callable[[int], None] | None = None,
        progress: tuple[float, float] = (0.0, 1.0),
    ) -> RuinOutcome:
        """The best roster from the current one, with the iterations made and the
        seconds they took (`ruin_and_recreate` says when it stops).

        `progress`: the part of the whole search this run is, as fractions of it from
        and to; the temperature falls over the whole search (from `t_start` to
        `t_end`), so a search run in slices (the epochs of cooperating searches,
        `matcher.solver.solve._cooperate`) follows the schedule of one long run. By default
        this run is the whole search."""
        began = time.perf_counter()
        current = start = self.objective()
        # The best routes are kept as copies (cheap: the stops never change) and read
        # off as placements once, at the end.
        best, best_routes = current, [list(route) for route in self.state.routes]
        if not self.removable:
            seconds = time.perf_counter() - began
            return RuinOutcome(placements_of_routes(best_routes), 0, seconds, best)
        t_start, t_end = self.t_start, self.t_end
        low, high = progress
        iterations = accepted = 0
        while True:
            fraction = 0.0
            if max_iterations is not None:
                if iterations >= max_iterations:
                    break
                fraction = iterations / max_iterations
            if deadline is not None:
                now = time.perf_counter()
                if now >= deadline:
                    break
                fraction = max(fraction, (now - began) / max(1e-9, deadline - began))
            if should_stop is not None and should_stop():
                break
            temperature = t_start * (t_end / t_start) ** (low + (high - low) * fraction)
            iterations += 1

            before_unassigned = self.unassigned
            snapshot = self._iterate()
            value = self.objective()
            threshold = current - temperature * math.log(1.0 - self.rng.random())
            if self.unassigned <= before_unassigned and value < threshold:
                current = value
                accepted += 1
                if value < best:
                    best, best_routes = value, [list(route) for route in self.state.routes]
                    if on_best is not None:
                        on_best(best)
            else:
                self._restore(snapshot)
        seconds = time.perf_counter() - began
        log.info(
            "ruin and recreate: %d iterations, %d accepted, objective %d -> %d",
            iterations,
            accepted,
            start,
            best,
        )
        return RuinOutcome(placements_of_routes(best_routes), iterations, seconds, best)

    def _iterate(self) -> _Snapshot:
        """One ruin and recreate; returns what to restore if it is rejected."""
        inst, state = self.inst, self.state
        removed = self._choose_strings()
        placed = self.placed
        waiting = [v for v in self.removable if v not in placed] if self.unassigned else []
        todo = sorted(set(removed) | set(waiting))
        snapshot = self._snapshot(todo)

        cut: set[int] = set()
        for v in removed:
            shifts = state.remove(inst.visits[v], on=self.where[v])
            cut.update(shifts)
            self.placed.discard(v)
            del self.where[v]
        self.unassigned += len(removed)
        for s in cut:
            state.pull(s)

        touched = set(cut)
        rate = self.params.blink_rate
        blink = Blinks(self.rng, rate) if rate else None
        for info in self._order(todo):
            for p in place(state, info, self.placed, push=True, push_first=True, blink=blink):
                self.where[p.visit] = tuple(sorted(p.shifts))
                touched.update(p.shifts)
                self.unassigned -= 1
        for s in touched:
            terms = self._route_terms(s)
            self.routes_total += terms[0] - self.costs[s][0]
            self.costs[s] = terms
        for c in {inst.visits[v].client for v in todo}:
            term = self._client_term(c)
            self.clients_total += term - self.client_terms[c]
            self.client_terms[c] = term
        return snapshot

    def _choose_strings(self) -> list[int]:
        """SISR's string removal around a random seed visit (nothing removed yet)."""
        inst, state, rng, params = self.inst, self.state, self.rng, self.params
        routes = state.routes
        busy = sum(1 for r in routes if r)
        mean_route = len(self.placed) / busy if busy else 1.0
        longest = min(float(params.max_string), mean_route)
        most_strings = 4 * params.mean_removed / (1 + longest) - 1
        n_strings = int(rng.uniform(1, most_strings + 1))
        seed = rng.choice(self.removable)
        removed: dict[int, None] = {}  # ordered set
        ruined: set[int] = set()
        for v in (seed, *self.related[seed]):
            if len(ruined) >= n_strings:
                break
            if v not in self.placed or v in removed:
                continue
            s = rng.choice(self.where[v])
            if s in ruined:
                continue
            route = routes[s]
            position = next(i for i, stop in enumerate(route) if stop.visit == v)
            length = int(rng.uniform(1, min(len(route), longest) + 1))
            first = rng.randint(max(0, position - length + 1), min(position, len(route) - length))
            for stop in route[first : first + length]:
                if stop.visit in self.removable_set:
                    removed[stop.visit] = None
                    partner = inst.partner.get(stop.visit)
                    if partner is not None and partner in self.placed:
                        removed[partner] = None
            ruined.add(s)
        return list(removed)

    def _order(self, todo: list[int]) -> list[VisitInfo]:
        """The visits to put back, in one of SISR-like orders chosen at random."""
        visits = [self.inst.visits[v] for v in todo]
        rng = self.rng
        pick = rng.random()
        if pick < 0.4:
            rng.shuffle(visits)
        elif pick < 0.8:
            visits.sort(key=lambda v: (v.preferred_start, v.index))
        elif pick < 0.9:
            eligibility = self.inst.eligibility
            visits.sort(key=lambda v: (-v.carers, len(eligibility[v.index]), v.index))
        else:
            visits.sort(key=lambda v: (-v.preferred_end, v.index))
        return visits

    # ----------------------------------------------------------------- undo

    def _snapshot(self, todo: list[int]) -> _Snapshot:
        """Everything placing or removing the `todo` visits (and partners) may change."""
        inst, state = self.inst, self.state
        shifts: set[int] = set()
        packages: set[int] = set()
        clients: set[int] = set()
        for v in todo:
            info = inst.visits[v]
            shifts.update(state.candidate_shifts(info))
            packages.add(info.package)
            clients.add(info.client)
        workers = {inst.shifts[s].worker for s in shifts}
        return _Snapshot(
            routes={s: (list(state.routes[s]), state.route_version(s)) for s in shifts},
            costs={s: self.costs[s] for s in shifts},
            minutes={w: (list(state.day_minutes[w]), state.week_minutes[w]) for w in workers},
            packages={p: state.package_minutes[p] for p in packages},
            clients={c: (set(state.workers_of_client[c]), self.client_terms[c]) for c in clients},
            where={v: self.where.get(v) for v in todo},
            routes_total=self.routes_total,
            unassigned=self.unassigned,
        )

    def _restore(self, snapshot: _Snapshot) -> None:
        state = self.state
        for s, (route, version) in snapshot.routes.items():
            if state.route_version(s) != version:  # else it never changed
                state.set_route(s, route, version)
                self.costs[s] = snapshot.costs[s]
        for w, (days, week) in snapshot.minutes.items():
            state.day_minutes[w] = days
            state.week_minutes[w] = week
        for p, minutes in snapshot.packages.items():
            state.package_minutes[p] = minutes
        for c, (workers, term) in snapshot.clients.items():
            state.workers_of_client[c] = workers
            self.clients_total += term - self.client_terms[c]
            self.client_terms[c] = term
        for v, shifts in snapshot.where.items():
            if shifts is None:
                self.where.pop(v, None)
                self.placed.discard(v)
            else:
                self.where[v] = shifts
                self.placed.add(v)
        self.routes_total = snapshot.routes_total
        self.unassigned = snapshot.unassigned

    # ----------------------------------------------------------------- set-up

    def _related_visits(self) -> dict[int, list[int]]:
        """Per removable visit, the removable visits of its day nearest in travel plus a
        quarter of the gap between preferred starts, nearest first."""
        inst = self.inst
        matrix = inst.travel(0) if inst.workers else []
        by_day: dict[int, list[VisitInfo]] = defaultdict(list)
        for v in self.removable:
            by_day[inst.visits[v].day].append(inst.visits[v])
        related: dict[int, list[int]] = {}
        k = self.params.neighbours
        for visits in by_day.values():
            for a in visits:
                row = matrix[a.place]
                scored = sorted(
                    (row[b.place] + abs(a.preferred_start - b.preferred_start) / 4, b.index)
                    for b in visits
                    if b.index != a.index
                )
                related[a.index] = [b for _, b in scored[:k]]
        return related
