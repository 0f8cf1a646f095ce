"""The engine's assignment bound (`matcher.solver.bound`): exact where the relaxation
loses nothing, never above a roster's objective, and reported by `solve`."""

from __future__ import annotations

import importlib

import pytest
from hypothesis import HealthCheck, given, settings

from matcher.checker import check
from matcher.instance import build_instance
from matcher.schema import Problem
from matcher.solver import SolveParams, solve
from matcher.solver.bound import assignment_bound
from matcher.solver.constraints import OBJECTIVE_SCALE
from tests.helpers import make_line, make_package, make_problem, make_worker
from tests.test_properties import problems

solve_module = importlib.import_module("matcher.solver.solve")


def _one_visit(
    *,
    shift: tuple[str, str] = ("07:00", "12:00"),
    gender: str = "female",
    preference: str = "none",
    skills: tuple[str, ...] = (),
) -> Problem:
    """One worker 20 minutes from one client, one visit Mon 08:00-08:30 of 30 minutes."""
    worker = make_worker("w1", gender=gender, shifts={"Mon": [shift]})
    line = make_line("l1", skills=skills)
    package = make_package("p1", "c1", [line], gender_preference=preference, strict=False)
    return make_problem([worker], [package], {("w1", "c1"): 20})


def _bound_and_optimum(problem: Problem) -> tuple[float, float]:
    """The bound in the report's units, and the objective of a roster CP-SAT proved
    optimal (the exact finish, on a problem this small)."""
    roster = solve(problem, params=SolveParams(time_limit_s=5, deterministic=True))
    assert check(problem, roster) == []
    assert roster.solver is not None and "OPTIMAL" in roster.solver.status
    assert roster.solver.objective is not None
    bound = assignment_bound(build_instance(problem))
    assert bound is not None
    return bound / OBJECTIVE_SCALE, roster.solver.objective


def test_one_visit_one_worker_is_exact() -> None:
    """Travel there and back (40) and one new worker for the client (60)."""
    assert _bound_and_optimum(_one_visit()) == (100.0, 100.0)


def test_lateness_no_route_avoids_is_counted() -> None:
    """The shift starts at 08:30, so the visit starts at 08:50 at the earliest: 20
    minutes past its window at 3 a minute, on top of the 100 above."""
    assert _bound_and_optimum(_one_visit(shift=("08:30", "12:00"))) == (160.0, 160.0)


def test_a_mismatched_worker_costs_the_mismatch() -> None:
    """The client would rather have a woman (not strictly); the only worker is a man."""
    problem = _one_visit(gender="male", preference="female")
    assert _bound_and_optimum(problem) == (600.0, 600.0)


def test_a_visit_nobody_may_do_costs_its_penalty() -> None:
    """Nobody has the skill: the visit is left out, and that is all the roster costs."""
    assert _bound_and_optimum(_one_visit(skills=("hoist",))) == (10_000.0, 10_000.0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems())
def test_no_roster_beats_the_bound_and_solve_reports_it(problem: Problem) -> None:
    """Random small problems: the assignment bound is at most the objective of the
    roster `solve` makes (at most the optimum where it proves one), and the bound the
    roster reports is at least the assignment bound."""
    roster = solve(problem, params=SolveParams(time_limit_s=1, num_workers=2))
    assert check(problem, roster) == []
    bound = assignment_bound(build_instance(problem))
    report = roster.solver
    assert report is not None and report.objective is not None
    assert bound is not None and 0 <= bound / OBJECTIVE_SCALE <= report.objective + 1e-9
    assert report.best_bound is not None
    assert bound / OBJECTIVE_SCALE - 1e-9 <= report.best_bound <= report.objective + 1e-9


def test_solve_reports_the_bound_where_cp_sat_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the full model skipped (as on a large week), the report's bound is the
    assignment bound, not None."""
    monkeypatch.setattr(solve_module, "MAX_FULL_MODEL_ARCS", 0)
    problem = _one_visit()
    roster = solve(problem, params=SolveParams(time_limit_s=1))
    assert roster.solver is not None and "full model skipped" in roster.solver.status
    assert roster.solver.best_bound == 100.0


def test_a_week_without_visits_costs_nothing() -> None:
    """No visits (a problem an insertion starts from): the bound is 0, not an error."""
    problem = _one_visit().model_copy(update={"packages": []})
    assert assignment_bound(build_instance(problem)) == 0
