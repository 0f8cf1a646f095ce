"""`SolveParams.deterministic`: the same problem and seed give the same roster, through
every stage of the pipeline (greedy, ruin and recreate in parallel, full model, LNS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from matcher.checker import check
from matcher.hhcrsp.adapter import to_problem
from matcher.hhcrsp.format import load_instance
from matcher.instance import build_instance
from matcher.schema import Roster
from matcher.solver import SolveParams, solve
from matcher.solver.solve import uses_ruin

HHCRSP = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "hhcrsp"
INSTANCE = HHCRSP / "mankowska" / "instances" / "InstanzCPLEX_HCSRP_25_1.json"


def schedule(roster: Roster) -> list[tuple[str, str, list[str]]]:
    return [(a.visit_id, a.start, sorted(a.workers)) for a in roster.assignments]


@pytest.mark.skipif(not INSTANCE.exists(), reason="HHCRSP instances not present")
def test_same_seed_same_roster() -> None:
    """Twice with seed 3 on two workers: the rosters are equal (a limit of 12 s leaves
    LNS a nominal half second after ruin and recreate and the full model, so every
    stage takes part), and each passes the checker."""
    problem = to_problem(load_instance(INSTANCE), "determinism")
    assert uses_ruin(build_instance(problem))
    rosters = [
        solve(
            problem,
            params=SolveParams(time_limit_s=12, num_workers=2, seed=seed, deterministic=True),
        )
        for seed in (3, 3)
    ]
    for roster in rosters:
        assert check(problem, roster) == []
    assert schedule(rosters[0]) == schedule(rosters[1])
    assert rosters[0].solver.objective == rosters[1].solver.objective
