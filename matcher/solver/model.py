"""Assemble the CP-SAT model from its constraint families and hint it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ortools.sat.python import cp_model

from matcher.construct import Placement
from matcher.instance import Instance
from matcher.solver import constraints as c
from matcher.solver.variables import HOME, ScheduleVars


@dataclass
class ScheduleModel:
    model: cp_model.CpModel
    vars: ScheduleVars
    penalties: list[c.PenaltyTerm]


def build_model(inst: Instance) -> ScheduleModel:
    model = cp_model.CpModel()
    x = ScheduleVars.create(model, inst)
    c.add_visit_coverage(model, inst, x)
    c.add_shift_routes(model, inst, x)
    travel = [x.shift_travel(s, inst) for s in range(len(inst.shifts))]
    c.add_working_time_limits(model, inst, x, travel)
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
    return ScheduleModel(model, x, penalties)


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
