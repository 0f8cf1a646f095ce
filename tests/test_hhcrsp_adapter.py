"""The HHCRSP benchmark solved through the ordinary scheduler: the toy reaches its known
optimum, and a solved instance is accepted by both the engine's checker and the
benchmark's evaluator, which agree on its travel and lateness."""

from __future__ import annotations

import json
from pathlib import Path

from matcher.checker import check
from matcher.hhcrsp.adapter import to_problem, to_solution
from matcher.hhcrsp.bench import solve_instance
from matcher.hhcrsp.evaluate import evaluate
from matcher.hhcrsp.format import load_instance, load_solution
from matcher.solver import SolveParams, solve

HHCRSP = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "hhcrsp"
INSTANCES = HHCRSP / "mankowska" / "instances"


def test_toy_solved_to_its_known_optimum() -> None:
    """The 6-patient toy (asymmetric matrix, sequential synchronisation) costs 334/3."""
    toy = load_instance(HHCRSP / "toy.json")
    optimum = evaluate(toy, load_solution(HHCRSP / "toy_solution_optimal.json")).cost
    problem, roster = solve_instance(toy, "toy", time_limit_s=5)
    assert check(problem, roster) == []
    assert abs(evaluate(toy, to_solution(toy, roster)).cost - optimum) < 1e-6


def test_round_trip_checker_and_evaluator_agree() -> None:
    """A 10-patient instance with lateness: both judges accept the roster, the travel is
    the same to the hundredth per leg, and re-timing in floats only removes lateness."""
    instance = load_instance(INSTANCES / "InstanzCPLEX_HCSRP_10_3.json")
    problem = to_problem(instance, "InstanzCPLEX_HCSRP_10_3")
    roster = solve(problem, params=SolveParams(time_limit_s=5))
    assert check(problem, roster) == []
    scored = evaluate(instance, to_solution(instance, roster))
    assert scored.feasible, scored.violations
    assert roster.solver is not None
    terms = roster.solver.objective_breakdown
    legs = sum(len(day.items) for day in roster.worker_days)
    assert abs(terms["travel"] - scored.distance) <= 0.005 * legs
    assert scored.total_tardiness <= terms["outside_window"] + 1e-6
    assert scored.total_tardiness >= terms["outside_window"] - len(roster.assignments)
    assert scored.max_tardiness <= terms["max_lateness"] + 1e-6


def test_solution_file_round_trips(tmp_path: Path) -> None:
    """The written solution reads back, in the benchmark's own keys, to the same cost."""
    from matcher.hhcrsp.format import write_solution

    instance = load_instance(INSTANCES / "InstanzCPLEX_HCSRP_10_1.json")
    problem = to_problem(instance, "InstanzCPLEX_HCSRP_10_1")
    solution = to_solution(instance, solve(problem, params=SolveParams(time_limit_s=5)))
    path = tmp_path / "sol.json"
    write_solution(solution, path)
    assert "patient" in json.loads(path.read_text())["routes"][0]["locations"][0]
    assert evaluate(instance, load_solution(path)).cost == evaluate(instance, solution).cost


def test_warm_start_never_worse_than_its_start() -> None:
    """`solve(start_from=...)` returns a roster at least as good as the one it was given."""
    instance = load_instance(INSTANCES / "InstanzCPLEX_HCSRP_25_1.json")
    problem = to_problem(instance, "InstanzCPLEX_HCSRP_25_1")
    first = solve(problem, params=SolveParams(time_limit_s=1))
    second = solve(problem, params=SolveParams(time_limit_s=1), start_from=first.assignments)
    assert check(problem, second) == []
    assert first.solver is not None and second.solver is not None
    assert second.solver.objective is not None and first.solver.objective is not None
    assert second.solver.objective <= first.solver.objective + 1e-6
