"""`solve(problem, params=...)`: one agency's week, from input to a roster.

The pipeline: flatten the problem (`matcher.instance`), build a greedy roster
(`matcher.construct`, the best of several orders), improve it by ruin and recreate
(`matcher.solver.ruin`, from `RUIN_MIN_VISITS` visits up), hand it to CP-SAT as a
hint for the full model (unless that model is too big), improve it by large
neighbourhood search (`matcher.solver.lns`) until the time limit, then greedily
insert anything left out that still fits, explain what remains unassigned
(`matcher.reasons`) and compute the KPIs (`matcher.kpis`, which does not trust the
solver). Every stage hands on a complete, feasible roster, so a short limit still
gives a correct answer. Callers should still run `matcher.checker.check` on the
result, as the CLI does.

Determinism: with `SolveParams.deterministic` every stage is bounded by work rather
than wall time (all the greedy orders; ruin and recreate by iterations, its searches
meeting after fixed numbers of them; CP-SAT, in the full model and in each LNS step,
by deterministic time, with interleaved search when several workers), and the shares
of the limit are counted on a `Clock` that charges each stage its nominal time, so
the same input and seed give the same roster on any machine (the wall time then only
roughly follows the limit). Otherwise wall time bounds them and results may vary.

A caller (a service's job) steers a solve with a `matcher.control.RunControl`: a
cancel raises `Cancelled` within about a second, whatever stage is running (forked
ruin-and-recreate searches stop too); a deadline is wall time, in deterministic mode
too, and the whole solve returns a valid roster by then (plus a small margin),
whatever `time_limit_s` says; progress hears the best objective so far. A solve keeps
nothing in module state, so solves may run at once in threads of one process.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing as mp
import os
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from ortools.sat.python import cp_model

from matcher.construct import ORDERINGS, Placement, construct, place
from matcher.control import NO_CONTROL, CancelFlag, ProgressReporter, RunControl
from matcher.insertion import RosterState, Stop
from matcher.instance import Instance, build_instance
from matcher.kpis import compute_kpis
from matcher.reasons import package_budget_reason, unassigned_reasons
from matcher.schema import (
    Assignment,
    DayItem,
    Problem,
    Roster,
    SolverReport,
    Unassigned,
    WorkerDay,
)
from matcher.solver.bound import assignment_bound
from matcher.solver.clock import Clock
from matcher.solver.constraints import OBJECTIVE_SCALE
from matcher.solver.lns import evaluate, improve, objective_terms
from matcher.solver.model import add_hint, build_model, make_solver, run_solver
from matcher.solver.placements import assignment_of, placements_of
from matcher.solver.ruin import RuinOutcome, RuinParams, _Search
from matcher.timeutil import format_hhmm, split_week_minute

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event as ProcessEvent

log = logging.getLogger(__name__)

# The full model gets this share of the time limit (for its bound and first
# improvements), LNS the rest; a big model is slow to even start, so it gets less.
# Measured on the HHCRSP 25-patient instances (mean gap 1.4 % with the whole limit on
# the full model, 0.5 % with half) and the urban sample.
SMALL_PROBLEM_VISITS = 150
FULL_MODEL_SHARE = {True: 0.5, False: 0.2}  # keyed by "is small"
# Beyond this many arcs the full model takes longer to build and presolve than it
# gives back (the 300-patient HHCRSP instances: ~1.3 million): LNS only.
MAX_FULL_MODEL_ARCS = 300_000
# Greedy orders are tried for up to this share of the time limit (at most 20 tries).
GREEDY_SHARE = 0.05
MAX_GREEDY_TRIES = 20
# Ruin and recreate (`matcher.solver.ruin`) improves the greedy start before CP-SAT
# when the problem has at least this many visits, for this share of the time left, one
# search per worker; in deterministic mode each is bounded by iterations instead, this
# many per second of its share. Measured on the HHCRSP instances (docs/hhcrsp.md):
# from 25 patients (32 visits) up it beats CP-SAT by far (mean gaps 25: 1.24 -> -0.47 %,
# 50: 0.79 -> 0.05 %, 75: 3.49 -> 2.2 % once it had 90 % of the time on both cores
# rather than half on one); below 20 visits CP-SAT proves optimality in a second or
# two, which ruin and recreate cannot, and would only delay it.
RUIN_MIN_VISITS = 20
RUIN_SHARE = 0.9
RUIN_ITERATIONS_PER_SECOND = 150
# A search's iterations per visit at most: its annealing cools over this many (or over
# its share of the time, whichever is less) and the time it leaves goes to CP-SAT's
# full model and LNS. The compiled search converges well before its share of the
# time on small and middling problems (the HHCRSP 50- and 75-patient ones made their
# last improvement after 2,600 to 5,000 iterations per visit of some 10,000 at 30 s),
# after which the full model, hinted by its roster, still improves it: it reorders a
# bottleneck caregiver's route with every partner of its two-carer services at once,
# which string removals rarely do (HHCRSP_50_10_32_1.2_R_C at 30 s: 464.7 in three
# seeds without the cap, 431.3 in two of three with it, below the best-known 434.3;
# docs/hhcrsp.md, "Where the search stops"). Large problems
# (200 patients and more at 60 s) never reach it: their search runs its whole share.
RUIN_ITERATIONS_PER_VISIT = 5000
# Restarts: the cap above is spent in this many annealing runs (each cooling over its
# share of the cap), every one after the first from the best roster so far with fresh
# random streams. A run that ends by the time rather than by its share of the cap
# (large problems) is the last, so only searches that converge early restart.
# Measured at 30 s on Mankowska 50_6, 75_2, 75_3, 75_6, 75_10 and Kummer
# 50_10_32_1.2_R_C, seeds 0-2: mean gap 2.55 % with one run, 2.14 % with two (three
# repeats of the 18 runs: 2.15, 2.06, 2.22), two better in 12 of 18 (docs/hhcrsp.md,
# "Restarts").
RUIN_RUNS = 2
# Explore first: on problems of up to `EXPLORE_MAX_VISITS` visits the first run starts
# `EXPLORE_START_TEMPERATURE` times hotter than `RuinParams`'s start (the later runs,
# from its best, as usual). Some instances have two basins a run settles in early and
# never leaves: HHCRSP_50_10_32_1.2_R_C ends at 431.3 or at 464 by the order of one
# caregiver's route, and a run from the 464 side, at the usual start, reached the
# other in 0 of 30 standalone runs; a first run at 5 then one at 1 reached it in 4 of
# 10 (at 3: 0 of 10; a hot second run after a usual first: 0 of 10). On Mankowska
# 75_2 and 50_6 the same pair of runs was 1.1 and 0.25 % better on average over 10
# seeds, on 75_10 0.3 % worse (docs/hhcrsp.md, "Explore first"). Up to 100 visits
# covers the instances measured (HHCRSP 75 patients are 98-99 visits) and those where
# a run reaches its cap at the limits so that a second run follows; larger
# problems keep the start measured on them (`RuinParams`).
EXPLORE_MAX_VISITS = 100
EXPLORE_START_TEMPERATURE = 5.0
# Rebuild the bottleneck: in the explore run (the first) of a problem of more than
# `EXACT_MAX_VISITS` and up to `EXPLORE_MAX_VISITS` visits, this share of every search's
# iterations takes the latest route out whole, with the partners of its linked visits,
# instead of strings (`RuinParams.route_share`; none while no route is late); the
# second run refines with strings only. HHCRSP_50_10_32_1.2_R_C needs it: at 30 s it
# ended within +5 % in 19 of 20 seeds (3 of 10 without; 40 of 40 with the tries below), where
# strings alone settle on the wrong order of its one skilled caregiver's route. In both
# runs, and on the 25-patient instances too, it cost more elsewhere (Kummer 25-75 -0.04
# -> +0.23 %, HHCRSP_25_5_26_0.8_C_C +4.69 %); as here, Kummer 50-75 went -0.08 ->
# -0.02 % and Mankowska 50-75 (three seeds) 0.07 -> 0.13 % (docs/hhcrsp.md, "Rebuilding
# the latest route in the explore run").
ROUTE_RUIN_SHARE = 0.3
# Try the explore run again: on those same problems, when the first run's try ended by
# its cap and the stage still has time for another try and half of a run after it (or,
# in deterministic mode, `RETRY_ROOM` times its iterations), the first run is tried
# again from the start roster with seeds of its own, and the next run goes on from the
# best try. An explore run is a draw: one search's pair of runs ended R_C in the wrong
# basin in 6 of 20 seeds, and the benchmark's two solves side by side are one search
# each, so 1 run in 20 ended at +6.8 %; with the tries, 0 in 40 (431.333 in 33), and
# Mankowska 50-75 (three seeds) went 0.13 -> 0.00 %, Kummer 50-75 -0.02 -> +0.10 %
# (its 75-patient solves, which make one try, moved as much). Two tries of half the
# length crossed less often than one. The time comes from CP-SAT's finish and LNS,
# which after ruin and recreate changed the roster in 1 of 16 solves at 50 and 75
# patients (docs/hhcrsp.md, "Trying the explore run again").
RETRY_ROOM = 1.5
# The exact finish: up to this many visits (and a full model within
# `MAX_FULL_MODEL_ARCS`) ruin and recreate gets only `EXACT_RUIN_SHARE` of the time
# and the full model, hinted by its roster, all the rest, to prove optimality or
# report its bound; LNS runs only if CP-SAT stops early without a proof. CP-SAT
# proves the HHCRSP 10-patient instances (13-14 visits) in under half a second, none
# of the 25-patient ones (33) in 10-30 s, where ruin shares from 0.3 to 0.9 gave the
# same costs within a run's noise (docs/hhcrsp.md, "Exact finish and bounds"); the
# 50-patient ones (65) keep the stages above.
EXACT_MAX_VISITS = 40
EXACT_RUIN_SHARE = 0.5
# Searches side by side in deterministic mode when the caller does not say
# (`SolveParams.workers`): the same roster for a seed on any machine.
DETERMINISTIC_WORKERS = 2
# With a deadline, the search stages end this long before it, leaving the time for
# repair, reasons and KPIs (about 0.1 s on the urban sample, 381 visits).
FINISH_RESERVE_S = 0.3
# With a deadline, the full model is built only if the time left is at least twice
# this per estimated arc (model and hint took 1.0 s for the urban sample's 66,000
# arcs on a 2-core machine): building it cannot be stopped half-way at the deadline.
MODEL_BUILD_S_PER_ARC = 1.5e-5
# How often the parent looks at the caller's cancel while forked searches run (and
# a child waiting for its next epoch at the stop event and its parent).
CHILD_POLL_S = 0.05
# Cooperating searches (`_cooperate`) meet this many times a stage: every search then
# continues from the best roster of all. In deterministic mode an epoch is a fixed
# number of iterations (the stage's share of `RUIN_ITERATIONS_PER_SECOND` split
# evenly), otherwise a slice of wall time; never shorter than these, so that a short
# stage has fewer epochs rather than searches too short to stray from the common
# roster. Measured on four 100- and 200-patient HHCRSP instances, two searches of
# 12,000 iterations each against the same two independent (docs/hhcrsp.md,
# "Cooperating searches"): 4 epochs ended 0.5 % lower on average (15 runs of 21
# lower), 8 about as well, 16 no better than independent searches, 48 2 % higher:
# handed the best roster too often, the searches stop exploring.
RUIN_EPOCHS = 4
MIN_EPOCH_ITERATIONS = 100
MIN_EPOCH_S = 0.5


@dataclass(frozen=True)
class SolveParams:
    """How to solve; validated on creation."""

    time_limit_s: float = 10.0
    # 0: every core of the machine; in deterministic mode `DETERMINISTIC_WORKERS`.
    num_workers: int = 0
    seed: int = 0
    deterministic: bool = False
    use_hint: bool = True
    log_search: bool = False

    def __post_init__(self) -> None:
        # inf (or nan) would make a solve that never ends: every stage runs to its limit.
        if not math.isfinite(self.time_limit_s) or self.time_limit_s <= 0:
            raise ValueError("time_limit_s must be a finite number of seconds > 0")
        if self.num_workers < 0:
            raise ValueError("num_workers must be >= 0")

    @property
    def workers(self) -> int:
        """How many searches run side by side (ruin and recreate) and CP-SAT workers.

        Their number shapes the answer (one cooperating ruin search per worker, seeds
        `seed`, `seed + 1`, ...; CP-SAT's interleaved workers), so in deterministic mode it
        must not come from the machine: there 0 means `DETERMINISTIC_WORKERS`
        whatever the core count, and a machine with fewer cores takes longer instead.
        """
        if self.num_workers:
            return self.num_workers
        return DETERMINISTIC_WORKERS if self.deterministic else os.cpu_count() or 1


def solve(
    problem: Problem,
    *,
    params: SolveParams | None = None,
    start_from: list[Assignment] | None = None,
    control: RunControl | None = None,
) -> Roster:
    """Schedule the problem's week; `start_from`, a valid roster of the same problem
    (for example an earlier, shorter solve), is used as the starting point when it is
    better than the greedy one.

    `control` (see `matcher.control`): its cancel raises `Cancelled`; by its deadline
    the best roster so far is returned (valid: every stage keeps a complete, feasible
    one); its progress hears the objective (`SolverReport.objective` units) whenever
    it improves, from this thread. Without it the solve runs as it always has.
    """
    params = params or SolveParams()
    control = control or NO_CONTROL
    control.raise_if_cancelled()
    # The search stages stop early enough for repair, reasons and KPIs to end in time.
    search = control.earlier(FINISH_RESERVE_S)
    progress = ProgressReporter(control)
    clock = Clock(params.time_limit_s, deterministic=params.deterministic, control=search)
    inst = build_instance(problem)
    lower = assignment_bound(inst)  # tens of milliseconds for a few hundred visits
    greedy = _best_greedy(
        inst, clock, GREEDY_SHARE * params.time_limit_s, params.seed, control=search
    )
    if start_from is not None:
        warm = placements_of(inst, start_from)
        if evaluate(inst, warm) < evaluate(inst, greedy):
            greedy = warm
    log.info("greedy roster places %d of %d visits", len(greedy), len(inst.visits))
    _report(progress, evaluate(inst, greedy), stage_end=True)

    arcs = estimated_arcs(inst)
    full_model = arcs <= MAX_FULL_MODEL_ARCS
    exact = full_model and finishes_exactly(inst)
    start_name = "greedy"
    ruin: RuinOutcome | None = None
    if uses_ruin(inst) and clock.left() > 0:
        share = EXACT_RUIN_SHARE if exact else RUIN_SHARE
        ruin = _ruin(inst, greedy, params, clock, search, progress, share=share)
        greedy = ruin.placements
        start_name = "ruin and recreate"
        _report(progress, evaluate(inst, greedy), stage_end=True)
    if full_model and search.seconds_left() < 2 * MODEL_BUILD_S_PER_ARC * arcs:
        full_model = False  # the deadline would pass while the model is still built
        status_name = f"full model skipped (deadline), {start_name} start"
    else:
        status_name = f"full model skipped (~{arcs:,} arcs), {start_name} start"
    if full_model:
        share = 1.0 if exact else FULL_MODEL_SHARE[len(inst.visits) <= SMALL_PROBLEM_VISITS]
        placements, status, status_name, bound = _solve_full_model(
            inst, greedy, params, clock, start_name, control=search, share=share
        )
        if exact:
            status_name = f"exact finish: {status_name}"
        _report(progress, evaluate(inst, placements), stage_end=True)
    else:
        placements, status, bound = greedy, cp_model.UNKNOWN, None
    if status != cp_model.OPTIMAL and clock.left() > 0.5:
        before = evaluate(inst, placements)
        placements = improve(
            inst,
            placements,
            clock=clock,
            seed=params.seed,
            num_workers=params.workers,
            control=search,
            on_improve=lambda value: _report(progress, value),
        )
        if evaluate(inst, placements) < before:
            status_name = f"{status_name}, improved by LNS"

    control.raise_if_cancelled()
    state = roster_state(inst, placements)
    placements += _repair(state)
    if lower is not None:  # the larger of CP-SAT's bound and the assignment bound
        bound = max(bound or 0.0, lower / OBJECTIVE_SCALE)
    roster = finish(
        inst,
        state,
        placements,
        status=status_name,
        bound=bound,
        began=clock.began,
        num_workers=params.workers,
        ruin=ruin,
    )
    roster.kpis = compute_kpis(problem, roster)
    if roster.solver is not None and roster.solver.objective is not None:
        progress.improved(roster.solver.objective)
    progress.flush()
    return roster


def _report(progress: ProgressReporter, value: int, *, stage_end: bool = False) -> None:
    """Tell the caller an objective in the model's scaled units (as `SolverReport`
    shows it); at a stage's end, whatever the time since the last report."""
    progress.improved(round(value / OBJECTIVE_SCALE, 2))
    if stage_end:
        progress.flush()


def finish(
    inst: Instance,
    state: RosterState,
    placements: list[Placement],
    *,
    status: str,
    bound: float | None,
    began: float,
    num_workers: int,
    known: KnownRoster | None = None,
    ruin: RuinOutcome | None = None,
) -> Roster:
    """The roster with its report (objective recomputed term by term).

    KPIs are left to the caller: a whole week's cost a tenth of a broker match per
    agency, which needs only the new client's (`matcher.matching`). `known`: a roster
    already made on the same shifts, whose unchanged parts are reused (`make_roster`).
    `ruin`: what the ruin-and-recreate stage made (`_ruin`: its searches' iterations and
    loop seconds summed), reported as `search_iterations` and `search_iterations_per_s`;
    None when it did not run.
    """
    breakdown = {k: v / OBJECTIVE_SCALE for k, v in objective_terms(inst, placements).items()}
    report = SolverReport(
        status=status,
        objective=round(sum(breakdown.values()), 2),
        best_bound=bound,
        wall_time_s=round(time.perf_counter() - began, 3),
        num_workers=num_workers,
        objective_breakdown=breakdown,
        search_iterations=None if ruin is None else ruin.iterations,
        search_iterations_per_s=_per_second(ruin),
    )
    return make_roster(inst, state, placements, report, known=known)


def _per_second(ruin: RuinOutcome | None) -> float | None:
    """Iterations per second of one search process: the searches' iterations over
    their loop seconds, both summed (None without a search or without a measurable
    time)."""
    if ruin is None or ruin.seconds <= 0:
        return None
    return round(ruin.iterations / ruin.seconds, 1)


def uses_ruin(inst: Instance) -> bool:
    """Whether the problem is big enough for ruin and recreate to pay."""
    return len(inst.visits) >= RUIN_MIN_VISITS


def finishes_exactly(inst: Instance) -> bool:
    """Whether the problem is small enough for the full model to get the time left
    after a shorter ruin and recreate (the exact finish): CP-SAT may prove the roster
    optimal, and its bound says how far from optimal it can be at most."""
    return len(inst.visits) <= EXACT_MAX_VISITS


def _ruin(
    inst: Instance,
    start: list[Placement],
    params: SolveParams,
    clock: Clock,
    control: RunControl = NO_CONTROL,
    progress: ProgressReporter | None = None,
    *,
    share: float = RUIN_SHARE,
) -> RuinOutcome:
    """Ruin and recreate for `share` of the time left, or `RUIN_ITERATIONS_PER_VISIT`
    iterations per search if they come first, in up to `RUIN_RUNS` annealing runs of an
    equal share of those iterations, each after the first from the best roster so far (a
    run that ends by the time is the last); on small problems the first run explores
    (`_first_run`), and above the exact-finish size it is tried again from the start
    roster while the stage has room (`RETRY_ROOM`), the runs after it going on from the
    best try. In each run, one search per worker (seeds `seed + run * searches`, then +
    1, ..., runs counted with the tries), cooperating (`_cooperate`): in epochs, after
    each of which every search continues from the best roster of all. The outcome
    holds the best roster with the iterations and loop seconds of all the searches
    summed: the searches run side by side in processes of their own (or one after
    another), so the iterations over the seconds are one process's rate, whatever their
    number.

    The search is pure Python, so one process uses one core; the others would idle
    until CP-SAT starts. Searches run in forked processes where the platform can fork
    and this process may have children (not in a daemonic worker, such as a
    multiprocessing pool's). Otherwise only the first runs, here; except in
    deterministic mode, where they all run here one after another, epoch by epoch, so
    that the roster does not depend on where `solve` is called from (it takes longer
    instead).

    Every search stops at the control's deadline or cancel (then `Cancelled` is
    raised); only this process reports progress as it goes.
    """
    seconds = share * max(0.0, clock.left())
    forks = can_fork()
    searches = params.workers if forks or params.deterministic else 1
    most = RUIN_ITERATIONS_PER_VISIT * len(inst.visits)
    caps = [most // RUIN_RUNS + (run < most % RUIN_RUNS) for run in range(RUIN_RUNS)]
    explore, tries_again = _first_run(inst)
    budget = int(RUIN_ITERATIONS_PER_SECOND * seconds)  # deterministic mode's iterations
    stage_end = time.perf_counter() + seconds
    outcomes: list[RuinOutcome] = []
    done = 0

    def on_best(value: int) -> None:
        if progress is not None:
            _report(progress, value)

    def run(cap: int, roster: list[Placement], run_params: RuinParams) -> bool:
        """The next run (its seeds follow from how many ran before it), of at most `cap`
        iterations per search from `roster`; False, and nothing run, when the stage has
        no room."""
        nonlocal done
        number = len(outcomes)
        if params.deterministic:
            length = min(cap, budget - done)
            if length <= 0:
                return False
            done += length
            epochs = ruin_epochs(iterations=length, searches=searches)
        else:
            left = stage_end - time.perf_counter()
            if number and (left < MIN_EPOCH_S or control.should_stop()):
                return False  # the run before ended by the time (or the deadline)
            epochs = ruin_epochs(seconds=left, iterations=cap, searches=searches)
        seeds = [params.seed + number * searches + k for k in range(searches)]
        outcomes.append(
            _cooperate(inst, roster, seeds, epochs, control, on_best, fork=forks, params=run_params)
        )
        return True

    def room_for_another_try(took: float) -> bool:
        """Time (or iterations) for one more try of the first run and `RETRY_ROOM` - 1
        of a run after it (by the wall clock, tries as long as the last, and never less
        than an epoch for the run after)."""
        if params.deterministic:
            return budget - done >= RETRY_ROOM * caps[0]
        return stage_end - time.perf_counter() >= RETRY_ROOM * took + MIN_EPOCH_S

    began = time.perf_counter()
    run(caps[0], start, explore)
    while outcomes and tries_again and room_for_another_try(time.perf_counter() - began):
        began = time.perf_counter()
        if not run(caps[0], start, explore):
            break
    best = min(outcomes, key=_objective, default=None)  # the best try
    for cap in caps[1:]:
        if best is None or not run(cap, best.placements, RuinParams()):
            break
        best = outcomes[-1]
    if params.deterministic:  # the stage is charged the nominal time it used
        clock.charge(seconds if done >= budget else done / RUIN_ITERATIONS_PER_SECOND)
    else:
        clock.charge(seconds)
    if best is None:  # no iterations in the budget: nothing ran
        return RuinOutcome(start, 0, 0.0, evaluate(inst, start))
    return RuinOutcome(
        best.placements,
        sum(o.iterations for o in outcomes),
        sum(o.seconds for o in outcomes),
        best.objective,
    )


def _objective(outcome: RuinOutcome) -> float:
    """What tries are ranked by (`_cooperate` always sets it)."""
    return math.inf if outcome.objective is None else outcome.objective


def _first_run(inst: Instance) -> tuple[RuinParams, bool]:
    """The first run's search parameters, and whether it is tried again while there is
    room: on problems of up to `EXPLORE_MAX_VISITS` visits it starts
    `EXPLORE_START_TEMPERATURE` times hotter, and above the exact-finish size
    (`finishes_exactly`: no exact finish follows) it also rebuilds the latest route
    (`ROUTE_RUIN_SHARE`) and is tried again; larger problems start as `RuinParams`
    says, once."""
    usual = RuinParams()
    if len(inst.visits) > EXPLORE_MAX_VISITS:
        return usual, False
    hotter = replace(usual, start_temperature=EXPLORE_START_TEMPERATURE * usual.start_temperature)
    if finishes_exactly(inst):
        return hotter, False
    return replace(hotter, route_share=ROUTE_RUIN_SHARE), True


@dataclass(frozen=True)
class RuinEpoch:
    """One slice of the ruin-and-recreate stage, the same for every search: so many
    iterations, or until a `time.perf_counter()` deadline, or whichever of the two
    comes first, as the part `progress` (fractions from and to) of the whole stage,
    along which the annealing temperature falls (`_Search.run`)."""

    iterations: int | None
    deadline: float | None
    progress: tuple[float, float]


def ruin_epochs(
    *, iterations: int | None = None, seconds: float | None = None, searches: int
) -> list[RuinEpoch]:
    """The stage's epochs for `searches` searches of `iterations` each (deterministic
    mode) or `seconds` from now, with at most `iterations` each if given too (then each
    epoch ends at its deadline or at its share of the iterations, whichever comes
    first, and the annealing follows whichever is further on): `RUIN_EPOCHS` of them,
    fewer when they would be shorter than `MIN_EPOCH_ITERATIONS` or `MIN_EPOCH_S`, and
    one (the whole stage) for a single search, which has no one to cooperate with.
    Iteration counts depend on the total alone, never on the machine, and add up to
    it."""
    if iterations is None and seconds is None:
        raise ValueError("give iterations, seconds or both")
    if seconds is None:
        assert iterations is not None
        count = 1 if searches <= 1 else max(1, min(RUIN_EPOCHS, iterations // MIN_EPOCH_ITERATIONS))
    else:
        count = 1 if searches <= 1 else max(1, min(RUIN_EPOCHS, int(seconds / MIN_EPOCH_S)))
    lengths: list[int | None] = [None] * count
    if iterations is not None:
        base, extra = divmod(iterations, count)
        lengths = [base + (k < extra) for k in range(count)]
    began = time.perf_counter()
    epochs, done = [], 0
    for k, length in enumerate(lengths):
        if seconds is None:
            assert iterations is not None and length is not None
            progress = (done / max(1, iterations), (done + length) / max(1, iterations))
            deadline = None
            done += length
        else:
            progress = (k / count, (k + 1) / count)
            deadline = began + seconds * (k + 1) / count
        epochs.append(RuinEpoch(iterations=length, deadline=deadline, progress=progress))
    return epochs


def can_fork() -> bool:
    """Whether this process may fork children that run searches: where the platform
    can fork, and not in a daemonic process (a multiprocessing pool's worker)."""
    return "fork" in mp.get_all_start_methods() and not mp.current_process().daemon


def _cooperate(
    inst: Instance,
    start: list[Placement],
    seeds: list[int],
    epochs: list[RuinEpoch],
    control: RunControl = NO_CONTROL,
    on_best: Callable[[int], None] | None = None,
    *,
    fork: bool,
    params: RuinParams | None = None,
) -> RuinOutcome:
    """The best roster of cooperating ruin-and-recreate searches from `start`, one per
    seed, each with `params` (`RuinParams()` by default), with their iterations and
    loop seconds summed.

    Every search runs each epoch from where it stands; then the best roster of all
    (ties to the lowest seed) becomes every search's current and best roster, and
    each goes on with its own random stream, at the temperature of the whole stage's
    schedule. So a search that drifted into a poor region is brought back to the best
    one found, and the cores improve one roster instead of each its own. The answer
    depends on the seeds and epochs only: run in forked children or one after another
    here (`fork` False), the searches make the same moves.

    With `fork` the first search runs here and each other one in a child forked once
    for the whole stage (the instance is inherited, not pickled, and the search's
    set-up is made once), which gets each epoch and the best roster through a pipe
    and sends back its outcome. Each child gets a `multiprocessing` event it inherits
    (the caller's cancel may be a `threading.Event`, which a child would only see a
    copy of) and the caller's deadline: it stops at whichever comes first, within an
    epoch. A cancel seen here sets the event; a child's error is raised here as a
    `RuntimeError` with its traceback; children that do not stop within a second of
    the end are terminated. Children never call the caller back: only this process
    reports progress (`on_best`: its own searches' new bests, and a child's best once
    it is the best of all).
    """
    params = params or RuinParams()
    children: list[_Child] = []
    stop: ProcessEvent | None = None
    try:
        here = seeds
        if fork and len(seeds) > 1:
            context = mp.get_context("fork")
            stop = context.Event()
            for seed in seeds[1:]:
                children.append(
                    _Child.start(context, seed, inst, start, params, stop, control.deadline)
                )
            here = seeds[:1]
        searches = [_Search(inst, start, random.Random(seed), params) for seed in here]
        roster: list[Placement] | None = None
        value = math.inf
        iterations, seconds = 0, 0.0
        for epoch in epochs:
            for child in children:
                child.send(roster, epoch)
            outcomes: list[RuinOutcome] = []
            for search in searches:
                if roster is not None:
                    search.load(roster)
                outcomes.append(
                    search.run(
                        epoch.deadline,
                        epoch.iterations,
                        should_stop=control.should_stop,
                        on_best=on_best,
                        progress=epoch.progress,
                    )
                )
                control.raise_if_cancelled()
            outcomes += [child.receive(control) for child in children]
            iterations += sum(outcome.iterations for outcome in outcomes)
            seconds += sum(outcome.seconds for outcome in outcomes)
            best = min(range(len(outcomes)), key=lambda k: (outcomes[k].objective, k))
            roster = outcomes[best].placements
            found = outcomes[best].objective
            assert found is not None  # `_Search.run` always says
            if found < value and best >= len(searches) and on_best is not None:
                on_best(found)
            value = found
            if control.should_stop():
                break
        if roster is None:  # no epoch: nothing ran
            roster, value = start, evaluate(inst, start)
        control.raise_if_cancelled()
        return RuinOutcome(roster, iterations, seconds, int(value))
    finally:
        if stop is not None:
            stop.set()
        for child in children:
            child.close()


@dataclass
class _Child:
    """A search in a forked process (`_ruin_child`), and the pipe to it."""

    process: mp.process.BaseProcess
    connection: Connection

    @classmethod
    def start(
        cls,
        context: mp.context.ForkContext,
        seed: int,
        inst: Instance,
        start: list[Placement],
        params: RuinParams,
        stop: CancelFlag,
        deadline: float | None,
    ) -> _Child:
        mine, theirs = context.Pipe()
        process = context.Process(
            target=_ruin_child,
            args=(seed, inst, start, params, stop, deadline, theirs, os.getpid()),
            name=f"carematch-ruin-{seed}",
            daemon=True,
        )
        process.start()
        theirs.close()
        return cls(process, mine)

    def send(self, roster: list[Placement] | None, epoch: RuinEpoch) -> None:
        """Start an epoch, from `roster` (None: from where the search stands)."""
        try:
            self.connection.send((roster, epoch))
        except OSError:
            raise self._gone() from None

    def receive(self, control: RunControl) -> RuinOutcome:
        """The epoch's outcome (best roster, its objective, iterations, seconds),
        waiting for it while watching the caller's cancel."""
        while not self.connection.poll(CHILD_POLL_S):
            control.raise_if_cancelled()
        try:
            kind, payload = self.connection.recv()
        except (EOFError, OSError):
            raise self._gone() from None
        control.raise_if_cancelled()
        if kind != "ok":
            raise RuntimeError(f"ruin and recreate process {self.process.name} failed:\n{payload}")
        return payload  # type: ignore[return-value]

    def _gone(self) -> RuntimeError:
        self.process.join(timeout=CHILD_POLL_S)
        return RuntimeError(
            f"ruin and recreate process {self.process.name} ended without a roster "
            f"(exit code {self.process.exitcode})"
        )

    def close(self) -> None:
        """Tell the child to end (the stop event is already set), and terminate it
        if it has not within a second."""
        with contextlib.suppress(OSError):  # else it ended already
            self.connection.send(None)
        self.connection.close()
        self.process.join(timeout=1.0)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def _ruin_child(
    seed: int,
    inst: Instance,
    start: list[Placement],
    params: RuinParams,
    stop: CancelFlag,
    deadline: float | None,
    connection: Connection,
    parent: int,
) -> None:
    """A forked search for the whole stage: sets itself up from `start` once, then for
    each (roster, epoch) it receives loads the roster (unless None), runs the epoch
    and sends back ("ok", its `RuinOutcome`); on an error it sends ("error",
    traceback) and ends. It ends when told (None), when the stop event is set between
    epochs, or when its parent is gone (killed: nobody would ever tell it)."""
    control = RunControl(deadline=deadline, cancel=stop)
    try:
        search = _Search(inst, start, random.Random(seed), params)
        while True:
            if not connection.poll(CHILD_POLL_S):
                if stop.is_set() or os.getppid() != parent:
                    return
                continue
            message = connection.recv()
            if message is None:
                return
            roster, epoch = message
            if roster is not None:
                search.load(roster)
            outcome = search.run(
                epoch.deadline,
                epoch.iterations,
                should_stop=control.should_stop,
                progress=epoch.progress,
            )
            connection.send(("ok", outcome))
    except (EOFError, BrokenPipeError):
        pass  # the parent stopped listening (cancelled): nothing to report to
    except Exception:
        with contextlib.suppress(OSError):
            connection.send(("error", traceback.format_exc()))
    finally:
        connection.close()


def estimated_arcs(inst: Instance) -> int:
    """About how many arc literals the full model would have (before time pruning)."""
    per_shift = [0] * len(inst.shifts)
    for v in inst.visits:
        for worker in inst.eligibility[v.index]:
            for s in inst.shifts_of_worker[worker]:
                if inst.shift_can_host(inst.shifts[s], v):
                    per_shift[s] += 1
    return sum(n * n for n in per_shift)


def _solve_full_model(
    inst: Instance,
    greedy: list[Placement],
    params: SolveParams,
    clock: Clock,
    start_name: str = "greedy",
    control: RunControl = NO_CONTROL,
    share: float = FULL_MODEL_SHARE[True],
) -> tuple[list[Placement], int, str, float | None]:
    """CP-SAT on the whole week for `share` of the time left, hinted by the start
    roster (`greedy`: the greedy one, or what ruin and recreate made of it); stopped by
    the control's deadline or cancel (`Cancelled`)."""
    sm = build_model(inst, check=control.raise_if_cancelled)
    if params.use_hint:
        add_hint(sm, inst, greedy)
    remaining = max(0.1, share * max(0.1, clock.left()))
    clock.charge(remaining)
    solver = make_solver(
        time_limit_s=remaining,
        num_workers=params.workers,
        seed=params.seed,
        deterministic=params.deterministic,
        log_search=params.log_search,
    )
    status = run_solver(solver, sm.model, control)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return greedy, status, f"{solver.status_name(status)} ({start_name} roster returned)", None
    placements = extract(sm, inst, solver)
    if evaluate(inst, greedy) < evaluate(inst, placements):
        placements = greedy  # cut short before CP-SAT had even matched its hint
    # Every term is non-negative, so 0 bounds the objective when CP-SAT's own bound
    # (from an objective expanded with offsets) is still below it.
    bound = max(0.0, solver.best_objective_bound) / OBJECTIVE_SCALE
    return placements, status, solver.status_name(status), bound


def _best_greedy(
    inst: Instance, clock: Clock, seconds: float, seed: int, control: RunControl = NO_CONTROL
) -> list[Placement]:
    """The best of several greedy orders: at least one, more for up to `seconds`, at
    most `MAX_GREEDY_TRIES` (always that many in deterministic mode).

    With a deadline, no more than `GREEDY_SHARE` of the wall time left to it either
    (in deterministic mode too: a deadline is wall time).
    """
    rng = random.Random(seed)
    best: tuple[int, list[Placement]] | None = None
    tries = 0
    wall = math.inf if clock.deterministic else seconds
    wall = min(wall, GREEDY_SHARE * max(0.0, control.seconds_left()))
    deadline = time.perf_counter() + wall
    clock.charge(seconds)
    while best is None or time.perf_counter() < deadline:
        control.raise_if_cancelled()
        ordering = ORDERINGS[min(tries, len(ORDERINGS) - 1)]
        _, placements = construct(inst, ordering(inst, rng))
        value = evaluate(inst, placements)
        if best is None or value < best[0]:
            best = (value, placements)
        tries += 1
        if tries >= MAX_GREEDY_TRIES:
            break
    log.info("greedy: best of %d orders", tries)
    return best[1]


def extract(sm, inst: Instance, solver: cp_model.CpSolver) -> list[Placement]:
    x = sm.vars
    shifts_of: dict[int, list[int]] = {}
    for (s, v), lit in x.serves.items():
        if solver.boolean_value(lit):
            shifts_of.setdefault(v, []).append(s)
    return [
        Placement(v.index, solver.value(x.start[v.index]), tuple(shifts_of.get(v.index, ())))
        for v in inst.visits
        if solver.boolean_value(x.assigned[v.index])
    ]


def roster_state(inst: Instance, placements: list[Placement]) -> RosterState:
    state = RosterState(inst)
    per_shift: dict[int, list[tuple[int, int]]] = {}
    for p in placements:
        for s in p.shifts:
            per_shift.setdefault(s, []).append((p.visit, p.start))
        state.charge_package(inst.visits[p.visit])
    for s, stops in per_shift.items():
        state.load_route(s, stops)
    return state


def _repair(state: RosterState) -> list[Placement]:
    """Insert what the solve left out but still fits (short time limits leave some)."""
    inst = state.instance
    placed = {stop.visit for route in state.routes for stop in route}
    added = []
    for visit in inst.visits:
        added += place(state, visit, placed)
    if added:
        log.info("repair inserted %d visits left out by the solver", len(added))
    return added


@dataclass(frozen=True)
class KnownRoster:
    """A roster already made on the same shifts and places (an agency's committed
    week, which every broker request for it starts from): per shift its route, per
    worker and day its `WorkerDay`, per placement its `Assignment`. `make_roster`
    takes from it what is the same in the new roster instead of building it again;
    its objects are shared between the rosters, so nobody may modify them."""

    routes: list[list[Stop]]
    days: dict[tuple[int, int], WorkerDay]
    assignments: dict[Placement, Assignment]

    @classmethod
    def of(cls, inst: Instance, state: RosterState, placements: list[Placement]) -> KnownRoster:
        """The parts of the roster of `placements` (whose state is `state`)."""
        days = {(d.worker, d.day): d.day_model for d in _days_of(inst, state)}
        return cls(
            routes=[list(route) for route in state.routes],
            days=days,
            assignments={p: assignment_of(inst, p) for p in placements},
        )


def make_roster(
    inst: Instance,
    state: RosterState,
    placements: list[Placement],
    report: SolverReport,
    *,
    known: KnownRoster | None = None,
) -> Roster:
    """The roster of `placements` (whose state is `state`), with the reasons of every
    visit left out. With `known`, the assignments and worker days that are the same
    as its own are its objects (equal to what would be built: tests/test_warm.py)."""
    problem = inst.problem
    made = known.assignments if known is not None else {}
    assignments = [
        made.get(p) or assignment_of(inst, p)
        for p in sorted(placements, key=lambda p: (p.start, p.visit))
    ]
    placed = {p.visit for p in placements}
    unassigned = [
        Unassigned.of(v.visit, unassigned_reasons(state, v))
        for v in inst.visits
        if v.index not in placed
    ]
    package_reasons = {
        package.id: [reason]
        for p, package in enumerate(inst.packages)
        if (reason := package_budget_reason(inst, p))
    }
    return Roster(
        problem_id=problem.id,
        week_start=problem.week_start,
        assignments=assignments,
        unassigned=unassigned,
        worker_days=_worker_days(inst, state, known),
        package_reasons=package_reasons,
        solver=report,
    )


def _worker_days(
    inst: Instance, state: RosterState, known: KnownRoster | None = None
) -> list[WorkerDay]:
    """Each worker's day as travel legs and visits, shift by shift, in time order;
    with `known`, a day whose shifts all have the routes they have there is its day.

    Built without validation (every value is computed here), as a roster has
    thousands of items and this runs per agency per broker package.
    """
    if known is None:
        return [d.day_model for d in _days_of(inst, state)]
    changed = {
        (inst.shifts[s].worker, inst.shifts[s].day)
        for s, route in enumerate(state.routes)
        if route != known.routes[s]
    }
    days = {key: day for key, day in known.days.items() if key not in changed}
    for built in _days_of(inst, state, only=changed):
        days[(built.worker, built.day)] = built.day_model
    return [days[k] for k in sorted(days)]


@dataclass(frozen=True)
class _BuiltDay:
    worker: int
    day: int
    day_model: WorkerDay


def _days_of(
    inst: Instance, state: RosterState, only: set[tuple[int, int]] | None = None
) -> list[_BuiltDay]:
    """The worker days of the state's routes (those of `only`, when given), in
    worker and day order."""
    days: dict[tuple[int, int], WorkerDay] = {}
    place_ids = inst.travel_model.ids
    for s, route in enumerate(state.routes):
        if not route:
            continue
        shift = inst.shifts[s]
        key = (shift.worker, shift.day)
        if only is not None and key not in only:
            continue
        matrix = inst.travel(shift.worker)
        home = inst.worker_place[shift.worker]
        worker_id = inst.workers[shift.worker].id
        if key not in days:
            days[key] = WorkerDay.model_construct(
                worker_id=worker_id,
                weekday=split_week_minute(shift.start)[0],
                items=[],
                visit_minutes=0,
                travel_minutes=0,
            )
        day = days[key]
        place, free_at = home, None
        for stop in route:
            minutes = matrix[place][stop.place]
            if minutes:
                leave = stop.start - minutes if free_at is None else free_at
                day.items.append(_leg(place_ids, place, stop.place, leave, minutes))
                day.travel_minutes += minutes
            info = inst.visits[stop.visit]
            day.items.append(
                DayItem.model_construct(
                    kind="visit",
                    start=_hhmm(stop.start),
                    end=_hhmm(stop.end),
                    minutes=info.duration,
                    visit_id=info.visit.id,
                    client_id=info.visit.client_id,
                )
            )
            day.visit_minutes += info.duration
            place, free_at = stop.place, stop.end
        minutes = matrix[place][home]
        if minutes:
            day.items.append(_leg(place_ids, place, home, free_at or shift.end, minutes))
            day.travel_minutes += minutes
    return [_BuiltDay(w, d, days[(w, d)]) for w, d in sorted(days)]


def _leg(ids: list[str], a: int, b: int, start: int, minutes: int) -> DayItem:
    return DayItem.model_construct(
        kind="travel",
        start=_hhmm(start),
        end=_hhmm(start + minutes),
        minutes=minutes,
        from_id=ids[a],
        to_id=ids[b],
    )


def _hhmm(week_minute: int) -> str:
    return format_hhmm(split_week_minute(week_minute)[1])
