"""Fitting a new package into an existing roster: nobody's care is upset unless moves
are allowed, and the combined roster passes the checker."""

from __future__ import annotations

from pathlib import Path

from matcher.checker import check
from matcher.schema import Problem
from matcher.solver import SolveParams, solve
from matcher.solver.insert import insert_packages
from tests.helpers import make_line, make_package, make_problem, make_worker

URBAN = Path(__file__).resolve().parents[1] / "data" / "samples" / "urban.json"


def test_new_package_leaves_existing_visits_where_they_were() -> None:
    """The urban week plus a new client: every existing visit keeps worker and time."""
    urban = Problem.model_validate_json(URBAN.read_text())
    before = solve(urban, params=SolveParams(time_limit_s=5))
    new = make_package(
        "new", "new-client", [make_line("n", weekdays=["Mon", "Thu"], window=("10:00", "10:30"))]
    ).model_copy(update={"client": urban.packages[0].client.model_copy(update={"id": "new-c"})})
    grown = Problem.model_validate(
        {**urban.model_dump(), "packages": [*urban.model_dump()["packages"], new.model_dump()]}
    )
    after = insert_packages(grown, before.assignments, {"new"}, params=SolveParams(time_limit_s=5))
    assert check(grown, after) == []
    old = {a.visit_id: (a.start, a.workers) for a in before.assignments}
    now = {a.visit_id: (a.start, a.workers) for a in after.assignments}
    assert all(now[v] == placed for v, placed in old.items())
    assert {"n-Mon", "n-Thu"} <= now.keys()


def conflict_problem() -> Problem:
    """One worker; an existing 08:00-08:30 visit (window 08:00-08:30) and a new visit
    that can only be at 08:00-08:30 too (hard window)."""
    return make_problem(
        [make_worker("w1", shifts={"Mon": [("07:00", "12:00")]})],
        [
            make_package("old", "c1", [make_line("o", window=("08:00", "08:30"))]),
            make_package(
                "new",
                "c2",
                [make_line("n", window=("08:00", "08:00"), hard_window=("08:00", "08:00"))],
            ),
        ],
        {("c1", "c2"): 0},
    )


def test_no_moves_means_the_new_visit_waits() -> None:
    """Without moves the new visit, clashing with an existing one, stays unassigned."""
    problem = conflict_problem()
    existing = solve(problem.model_copy(update={"packages": problem.packages[:1]}))
    assert existing.assignments[0].start == "08:00"
    after = insert_packages(problem, existing.assignments, {"new"})
    assert check(problem, after) == []
    assert [u.visit_id for u in after.unassigned] == ["n-Mon"]


def test_allowed_moves_make_room_within_the_window() -> None:
    """With 30-minute moves allowed the existing visit shifts to 08:30, still in window."""
    problem = conflict_problem()
    existing = solve(problem.model_copy(update={"packages": problem.packages[:1]}))
    after = insert_packages(problem, existing.assignments, {"new"}, allow_moves_min=30)
    assert check(problem, after) == []
    starts = {a.visit_id: a.start for a in after.assignments}
    assert starts == {"n-Mon": "08:00", "o-Mon": "08:30"}
