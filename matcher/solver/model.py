"""Assemble the CP-SAT model from its constraint families, hint it, and run CP-SAT
under a caller's `RunControl` (deadline, cancel)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ortools.sat.python import cp_model

from matcher.construct import Placement
from matcher.control import NO_CONTROL, RunControl
from matcher.instance import Instance
from matcher.solver import constraints as c
from matcher.solver.variables import HOME, ScheduleVars


@dataclass
class ScheduleModel:
    model: cp_model.CpModel
    vars: ScheduleVars
    penalties: list[c.PenaltyTerm]


# How often a running CP-SAT search looks at the caller's cancel flag (seconds).
CANCEL_POLL_S = 0.05


def build_model(inst: Instance, *, check: Callable[[], None] | None = None) -> ScheduleModel:
    """The whole model of `inst`. `check` is called between constraint families (it
    may raise, as `RunControl.raise_if_cancelled` does): building a big week's model
    takes seconds of pure Python, which a cancel should not have to wait out."""
    check = check or _nothing
    model = cp_model.CpModel()
    x = ScheduleVars.create(model, inst)
    check()
    c.add_visit_coverage(model, inst, x)
    c.add_shift_routes(model, inst, x)
    check()
    travel = [x.shift_travel(s, inst) for s in range(len(inst.shifts))]
    c.add_working_time_limits(model, inst, x, travel)
    check()
    c.add_budget_caps(model, inst, x)
    c.add_visit_links(model, inst, x)
    terms = [
        c.unassigned_penalty(inst, x),
        c.outside_window_penalty(model, inst, x),
        c.max_lateness_penalty(model, inst, x),
        c.continuity_penalty(model, inst, x),
        c.travel_penalty(inst, x),
        c.gender_mismatch_penalty(inst, x),
    ]
    penalties = [t for t in terms if t is not None]
    model.minimize(sum(p.weight * p.expression for p in penalties if p.weight))
    check()
    return ScheduleModel(model, x, penalties)


def _nothing() -> None:
    return None


def add_hint(sm: ScheduleModel, inst: Instance, placements: list[Placement]) -> None:
    """Hint every decision variable from a complete feasible roster."""
    x = sm.vars
    model = sm.model
    placed = {p.visit: p for p in placements}
    for v in inst.visits:
        p = placed.get(v.index)
        start = p.start if p else min(max(v.preferred_start, v.earliest), v.latest)
        model.add_hint(x.start[v.index], start)
        model.add_hint(x.assigned[v.index], p is not None)
    on_shift: dict[tuple[int, int], bool] = {}
    for p in placements:
        for s in p.shifts:
            on_shift[s, p.visit] = True
    for key, lit in x.serves.items():
        model.add_hint(lit, on_shift.get(key, False))
    for s, arcs in enumerate(x.arcs):
        if not arcs:
            continue
        node_of = {v: n for n, v in enumerate(x.candidates[s], start=1)}
        route = sorted(
            (placed[v].start, node_of[v]) for v in x.candidates[s] if on_shift.get((s, v))
        )
        chosen = set()
        nodes = [HOME, *(n for _, n in route), HOME]
        if len(nodes) == 2:
            chosen.add((HOME, HOME))
        else:
            chosen.update(itertools.pairwise(nodes))
        for (i, j), lit in arcs.items():
            if i != j or i == HOME:  # a visit's self-loop is `not serves`, hinted above
                model.add_hint(lit, (i, j) in chosen)
    seen = {
        (inst.visits[p.visit].client, inst.shifts[s].worker) for p in placements for s in p.shifts
    }
    for key, lit in x.sees.items():
        model.add_hint(lit, key in seen)


def make_solver(
    *,
    time_limit_s: float,
    num_workers: int,
    seed: int,
    deterministic: bool = False,
    log_search: bool = False,
) -> cp_model.CpSolver:
    """A CP-SAT solver configured the way every carematch model is solved."""
    solver = cp_model.CpSolver()
    params = solver.parameters
    params.num_workers = num_workers
    params.random_seed = seed
    params.log_search_progress = log_search
    # Probing and repeated presolve took 12 of 20 s on the urban sample before the
    # search started; one light presolve pass keeps a bound and starts in ~2 s.
    params.cp_model_probing_level = 0
    params.max_presolve_iterations = 1
    if deterministic:
        # One worker is deterministic as it is; interleaving is what makes several
        # repeatable, and on one it was 3x slower for worse insertions (measured).
        params.interleave_search = num_workers > 1
        params.max_deterministic_time = time_limit_s
    else:
        params.max_time_in_seconds = time_limit_s
    return solver


def run_solver(
    solver: cp_model.CpSolver, model: cp_model.CpModel, control: RunControl = NO_CONTROL
) -> cp_model.CpSolverStatus:
    """`solver.solve(model)`, kept within the caller's control.

    The deadline caps the wall time (in deterministic mode too, where the limit is
    otherwise deterministic time: a deadline is wall time). A cancel stops the search
    from a watcher thread (CP-SAT releases the GIL while it searches, and
    `stop_search` may be called from any thread) and raises `Cancelled` once CP-SAT
    has returned, within about `CANCEL_POLL_S` plus CP-SAT's reaction time.
    """
    control.raise_if_cancelled()
    if control.deadline is not None:
        params = solver.parameters
        params.max_time_in_seconds = min(
            params.max_time_in_seconds, max(0.01, control.seconds_left())
        )
    if control.cancel is None:
        return solver.solve(model)
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(CANCEL_POLL_S):
            if control.cancelled():
                solver.stop_search()
                return

    watcher = threading.Thread(target=watch, name="carematch-cancel-watch", daemon=True)
    watcher.start()
    try:
        status = solver.solve(model)
    finally:
        finished.set()
        watcher.join()
    control.raise_if_cancelled()
    return status
