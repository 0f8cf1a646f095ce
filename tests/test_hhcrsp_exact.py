"""The exact finish and the bounds on small HHCRSP instances: CP-SAT proves the toy
optimal, every bound is at most the cost found and the published best-known, and
every roster still passes the engine's checker and the benchmark's evaluator."""

from __future__ import annotations

from pathlib import Path

import pytest

from matcher.checker import check
from matcher.hhcrsp.adapter import cost_bound, time_origin, to_problem, to_solution
from matcher.hhcrsp.bench import problem_after_first_solve, solve_instance
from matcher.hhcrsp.evaluate import evaluate
from matcher.hhcrsp.format import Instance, Solution, load_best_known, load_instance, load_solution
from matcher.instance import build_instance
from matcher.schema import Problem, Roster, SolverReport, Unassigned
from matcher.solver.solve import finishes_exactly
from matcher.timeutil import MINUTES_PER_DAY
from tests.helpers import HHCRSP_DATA

KUMMER = HHCRSP_DATA / "kummer"
# 25 patients, 33 services; its best-known is 306 minutes late at worst, beyond the
# 240-minute cap the larger instances are solved with.
LATE_25 = "HHCRSP_25_5_22_1.0_C_C"
LATE_25_BEST = "sol-HHCRSP_25_5_22_1.0_C_C-2113373269.json"


def test_toy_proved_optimal_with_its_bound() -> None:
    """The 6-patient toy: the exact finish proves the known optimum (334/3), and the
    bound, mapped to the benchmark's cost (whole-number data), is that optimum."""
    toy = load_instance(HHCRSP_DATA / "toy.json")
    optimum = evaluate(toy, load_solution(HHCRSP_DATA / "toy_solution_optimal.json")).cost
    problem, roster = solve_instance(toy, "toy", time_limit_s=20)
    assert finishes_exactly(build_instance(problem))
    assert check(problem, roster) == []
    scored = evaluate(toy, to_solution(toy, roster))
    assert scored.feasible, scored.violations
    assert abs(scored.cost - optimum) < 1e-6
    assert roster.solver is not None and "OPTIMAL" in roster.solver.status
    assert roster.solver.best_bound is not None
    assert abs(roster.solver.best_bound - roster.solver.objective) < 1e-6
    bound = cost_bound(toy, problem, roster)
    assert bound is not None and abs(bound - optimum) < 1e-6


def test_kummer_25_bound_below_cost_and_best_known() -> None:
    """A 25-patient Kummer instance after a short solve: both judges accept the roster,
    the bound is a real one (above 0) yet no more than the cost or the best-known, and
    the problem solved has room for the best-known (no lateness cap on a small
    instance, a clock that starts late enough)."""
    instance = load_instance(KUMMER / "instances" / f"{LATE_25}.json")
    problem, roster = solve_instance(instance, LATE_25, time_limit_s=4)
    assert check(problem, roster) == []
    scored = evaluate(instance, to_solution(instance, roster))
    assert scored.feasible, scored.violations
    bound = cost_bound(instance, problem, roster)
    assert bound is not None and 0 < bound <= scored.cost + 1e-6
    assert bound <= load_best_known(KUMMER / "best_known.md")[LATE_25] + 1e-6
    assert_fits(instance, problem, load_solution(KUMMER / "solutions" / LATE_25_BEST))


def assert_fits(instance: Instance, problem: Problem, solution: Solution) -> None:
    """Every service of the solution starts within its line's hard window."""
    lines = {v.id: v for package in problem.packages for v in package.visits}
    origin = time_origin(instance)
    patients = {p.id: p for p in instance.patients}
    checked = 0
    for route in solution.routes:
        for visit in route.locations:
            services = [r.service for r in patients[visit.patient_id].required_caregivers]
            line = lines[f"{visit.patient_id}-s{services.index(visit.service_id)}"]
            assert line.hard_window is not None
            start = visit.arrival_time - origin
            assert line.hard_window.start_min <= start <= line.hard_window.end_min, line.id
            checked += 1
    assert checked == sum(len(p.required_caregivers) for p in instance.patients)


@pytest.mark.parametrize(
    "solution_path",
    sorted((KUMMER / "solutions").glob("sol-HHCRSP_25_*.json")),
    ids=lambda path: path.stem,
)
def test_every_25_patient_best_known_fits_without_a_cap(solution_path: Path) -> None:
    """Uncapped, the clock's origin leaves room for every published 25-patient solution,
    though some end after midnight counted from 0 (25_5_37: 24:30)."""
    name = solution_path.stem.removeprefix("sol-").rsplit("-", 1)[0]
    instance = load_instance(KUMMER / "instances" / f"{name}.json")
    problem = to_problem(instance, name, lateness_cap=None)
    assert_fits(instance, problem, load_solution(solution_path))


def test_bound_covers_solutions_beyond_the_cap() -> None:
    """With the 240-minute cap the engine's model has no room for the best-known (306
    minutes late), so its bound says nothing about it: even when the engine's bound is
    huge (as when the cap leaves a service unplaceable), the cost bound stays below
    the best-known."""
    instance = load_instance(KUMMER / "instances" / f"{LATE_25}.json")
    problem = to_problem(instance, LATE_25)
    roster = Roster(
        problem_id=LATE_25,
        week_start=problem.week_start,
        assignments=[],
        unassigned=[],
        worker_days=[],
        solver=SolverReport(
            status="test", objective=None, best_bound=1e9, wall_time_s=0, num_workers=1
        ),
    )
    bound = cost_bound(instance, problem, roster)
    assert bound is not None and 0 < bound <= load_best_known(KUMMER / "best_known.md")[LATE_25]


def test_no_bound_where_the_costs_do_not_map() -> None:
    """Mankowska's fractional legs are timed in whole minutes (and charged half a
    minute less, `adapter.LEG_ROUNDING_SHIFT`), so the
    engine's bound is not the benchmark's: none is reported."""
    path = HHCRSP_DATA / "mankowska" / "instances" / "InstanzCPLEX_HCSRP_10_1.json"
    instance = load_instance(path)
    problem, roster = solve_instance(instance, path.stem, time_limit_s=3)
    assert check(problem, roster) == []
    assert evaluate(instance, to_solution(instance, roster)).feasible
    assert roster.solver is not None and roster.solver.best_bound is not None
    assert cost_bound(instance, problem, roster) is None


def test_cap_lifted_for_everybody_when_the_first_solve_leaves_a_service_out() -> None:
    """After a capped first solve that left one service out, every service may be late
    up to the end of the day; after one that placed everything, the cap stays."""
    instance = load_instance(KUMMER / "instances" / f"{LATE_25}.json")
    capped = to_problem(instance, LATE_25)
    package = capped.packages[0]
    left_out = Unassigned(
        visit_id=f"{package.visits[0].id}-Mon",
        package_id=package.id,
        client_id=package.client.id,
        weekday="Mon",
        window=str(package.visits[0].window),
        reasons=["test"],
    )
    complete = Roster(problem_id=LATE_25, assignments=[])
    short = Roster(problem_id=LATE_25, assignments=[], unassigned=[left_out])
    assert problem_after_first_solve(instance, LATE_25, capped, complete) is capped
    lifted = problem_after_first_solve(instance, LATE_25, capped, short)
    for before, after in zip(capped.packages, lifted.packages, strict=True):
        for line, wider in zip(before.visits, after.visits, strict=True):
            assert line.hard_window is not None and wider.hard_window is not None
            assert wider.hard_window.end_min == MINUTES_PER_DAY - wider.duration_min
            assert wider.hard_window.end_min > line.hard_window.end_min
