"""Ruin and recreate: many small, cheap moves on a roster, in compiled kernels.

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
  may, which takes back lateness that an earlier push caused. A share of the
  iterations (`RuinParams.route_share`; `solve.ROUTE_RUIN_SHARE`, in `solve`'s explore
  run) instead takes the *latest* route out whole, with the partner of every linked
  visit on it: the bottleneck's order and who carries its partners change at once,
  which strings make only by a long chain of worse steps (docs/hhcrsp.md, "Rebuilding
  the latest route").
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

The roster lives in an `ArrayRoster` (`matcher.fast.roster`): the search's
`RosterState` as arrays, and one compiled call makes a whole iteration (the strings,
the order, saving what it may change, the removals and pulls, the insertions as
`construct.place` makes them, the costs of what changed) and another undoes it, so
every hard rule (ranges, travel, shifts, hours per day and week, budgets,
synchronisation) holds at every iteration. Only the routes a visit could go to are
saved and only the routes that changed are re-costed. The loop, the temperature and
the acceptance stay here; the random draws are this search's `random.Random`, whose
state the kernels carry (`RandomStream`) and draw from exactly as its methods would:
the moves for a seed are the same as the pure Python's that came before
(tests/test_ruin.py pins them), at about 10 to 14 times the iterations a second
(benchmarks/hhcrsp/THROUGHPUT.md). Python's own definitions of the rules (`RosterState`,
`construct`, `lns.objective_terms`) stay the reference the kernels are tested against
(tests/test_fast.py).

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

from matcher.construct import Placement
from matcher.fast.roster import ArrayRoster, RandomStream
from matcher.insertion import RosterState
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
    10 % on the bigger ones, and 0.1 to 0.01 or 3.0 to 0.01 by a little. On problems
    of up to 100 visits `solve._ruin` starts the first of its runs five times hotter
    (`solve.EXPLORE_START_TEMPERATURE`): it explores, the run after it refines.
    """

    mean_removed: float = 10.0  # SISR's c-bar: visits removed per iteration on average
    max_string: int = 10  # SISR's L_max: the longest string cut from one route
    neighbours: int = 60  # related visits considered around a seed
    blink_rate: float = 0.01  # chance of skipping an insertion option
    # Share of iterations that take the latest route out whole (with its linked
    # visits' partners) instead of strings; none while no route is late.
    route_share: float = 0.0
    start_temperature: float = 1.0
    end_temperature: float = 0.03

    def __post_init__(self) -> None:
        if self.mean_removed < 1 or self.max_string < 1 or self.neighbours < 1:
            raise ValueError("mean_removed, max_string and neighbours must be >= 1")
        if not 0 <= self.blink_rate < 1:
            raise ValueError("blink_rate must be in [0, 1)")
        if not 0 <= self.route_share <= 1:
            raise ValueError("route_share must be in [0, 1]")
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
        # Visits the greedy insertion can put back (a linked two-carer visit it cannot).
        self.removable = [
            v.index
            for v in inst.visits
            if not (v.index in inst.partner and self._linked_two_carer(v.index))
        ]
        self.roster = ArrayRoster(
            self._state_of(placements, pull=True),
            scale=OBJECTIVE_SCALE,
            removable=self.removable,
            related=self._related_visits(),
            mean_removed=params.mean_removed,
            max_string=params.max_string,
            blink_rate=params.blink_rate,
            route_share=params.route_share,
        )
        # The temperatures are relative to the start roster's cost per placed visit and
        # fixed here, so that runs continuing the search (`run`'s `progress`) follow one
        # schedule whatever roster they are handed (`load`).
        unassigned_weight = OBJECTIVE_SCALE * inst.problem.weights.unassigned_visit
        per_visit = (self.objective() - unassigned_weight * self.roster.unassigned) / max(
            1, self.roster.placed_count()
        )
        self.t_start = max(1e-9, params.start_temperature * per_visit)
        self.t_end = max(1e-9, params.end_temperature * per_visit)

    def _state_of(self, placements: list[Placement], *, pull: bool) -> RosterState:
        """A `RosterState` with the placements' routes; with `pull`, every route's stops
        then start as early as they may (a start roster's, which may be a greedy one)."""
        inst = self.inst
        state = RosterState(inst)
        per_shift: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for p in placements:
            for s in p.shifts:
                per_shift[s].append((p.visit, p.start))
            state.charge_package(inst.visits[p.visit])
        for s, stops in per_shift.items():
            state.load_route(s, stops)
        if pull:
            for s in per_shift:
                state.pull(s)
        return state

    def load(self, placements: list[Placement], *, pull: bool = False) -> None:
        """Make `placements` (a valid roster of the instance) the current roster. Without
        `pull` it is taken exactly as given, so that its objective is the one the search
        that made it reported (cooperating searches hand each other the best of all,
        `matcher.solver.solve._cooperate`)."""
        self.roster.load(self._state_of(placements, pull=pull))

    def _linked_two_carer(self, v: int) -> bool:
        visits = self.inst.visits
        return visits[v].carers > 1 or visits[self.inst.partner[v]].carers > 1

    def objective(self) -> int:
        """`lns.evaluate` of the roster as it stands, kept up to date route by route and
        client by client."""
        return self.roster.objective()

    def current(self) -> list[Placement]:
        """The roster as it stands."""
        return ArrayRoster.placements(self.roster.copy_routes())

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
        `matcher.solver.solve._cooperate`) follows the schedule of one long run. By
        default this run is the whole search."""
        began = time.perf_counter()
        roster = self.roster
        current = start = self.objective()
        # The best routes are kept as array copies and read off as placements once, at
        # the end.
        best, best_routes = current, roster.copy_routes()
        if not self.removable:
            seconds = time.perf_counter() - began
            return RuinOutcome(ArrayRoster.placements(best_routes), 0, seconds, best)
        t_start, t_end = self.t_start, self.t_end
        low, high = progress
        iterations = accepted = 0
        stream = RandomStream(self.rng)  # the kernels draw from the rng until closed
        try:
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

                before_unassigned = roster.unassigned
                value, draw = roster.iterate(stream)
                threshold = current - temperature * math.log(1.0 - draw)
                if roster.unassigned <= before_unassigned and value < threshold:
                    current = value
                    accepted += 1
                    if value < best:
                        best, best_routes = value, roster.copy_routes()
                        if on_best is not None:
                            on_best(best)
                else:
                    roster.undo()
        finally:
            stream.close()
        seconds = time.perf_counter() - began
        log.info(
            "ruin and recreate: %d iterations, %d accepted, objective %d -> %d",
            iterations,
            accepted,
            start,
            best,
        )
        return RuinOutcome(ArrayRoster.placements(best_routes), iterations, seconds, best)

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
