"""Large neighbourhood search: sub-instances keep the rest of the roster's context, the
objective it optimises is the CP-SAT model's, and its rosters pass the checker."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from matcher.checker import check
from matcher.construct import construct
from matcher.instance import build_instance
from matcher.schema import Problem, SolverReport
from matcher.solver.clock import Clock
from matcher.solver.lns import evaluate, improve, objective_terms, restrict
from matcher.solver.model import build_model, make_solver
from matcher.solver.solve import extract, make_roster, roster_state
from tests.helpers import make_line, make_package, make_problem, make_worker
from tests.test_properties import problems

DAYS = ("Mon", "Tue")


def two_day_problem() -> Problem:
    staff = [
        make_worker(w, shifts={d: [("07:00", "12:00")] for d in DAYS}, max_week=200)
        for w in ("w1", "w2")
    ]
    packages = [
        make_package("p1", "c1", [make_line("a", weekdays=DAYS, duration=60)]),
        make_package("p2", "c2", [make_line("b", weekdays=DAYS, carers=2)]),
    ]
    return make_problem(staff, packages, {("c1", "c2"): 10, ("w1", "c1"): 5, ("w2", "c2"): 5})


def test_objective_terms_match_cp_sat_objective() -> None:
    """The Python objective used to accept LNS moves equals CP-SAT's own objective."""
    inst = build_instance(two_day_problem())
    sm = build_model(inst)
    solver = make_solver(time_limit_s=5, num_workers=2, seed=0)
    solver.solve(sm.model)
    placements = extract(sm, inst, solver)
    assert evaluate(inst, placements) == round(solver.objective_value)


def test_restrict_carries_fixed_context() -> None:
    """Releasing Monday keeps Tuesday's minutes, budget use and seen carers as context."""
    inst = build_instance(two_day_problem())
    _, placements = construct(inst)
    monday = {s.index for s in inst.shifts if s.day == 0}
    hood = restrict(inst, monday, placements)
    sub = hood.instance
    assert {inst.visits[v].day for v in hood.visits} == {0}
    assert sum(sub.week_minutes_used.values()) > 0
    assert sub.already_seen
    assert objective_terms(sub, [])["continuity"] == 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems())
def test_lns_rosters_pass_the_checker(problem: Problem) -> None:
    """LNS from the greedy roster never worsens it and its roster breaks no hard rule."""
    inst = build_instance(problem)
    _, greedy = construct(inst)
    improved = improve(inst, greedy, clock=Clock(1.0, deterministic=False), seed=1, num_workers=1)
    assert evaluate(inst, improved) <= evaluate(inst, greedy)
    report = SolverReport(
        status="test", objective=None, best_bound=None, wall_time_s=0, num_workers=1
    )
    roster = make_roster(inst, roster_state(inst, improved), improved, report)
    assert check(problem, roster) == []
