"""Fitting a new package into an existing roster: nobody's care is upset unless moves
are allowed, and the combined roster passes the checker."""

from __future__ import annotations

from pathlib import Path

from matcher.checker import check
from matcher.schema import Problem
from matcher.solver import SolveParams, solve
from matcher.solver.insert import GREEDY_BLOCKED, insert_packages
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


def greedy_trap_problem() -> Problem:
    """Two new visits at 08:00 for one client: `a` either worker could do (w1 nearer),
    `b` only w1 (hoist). Greedy gives `a` to w1 and then has nobody for `b`; the search
    gives `a` to w2. An existing visit for another client keeps w2 busy at 10:00."""
    return make_problem(
        [
            make_worker("w1", skills=["hoist"], shifts={"Mon": [("07:00", "12:00")]}),
            make_worker("w2", shifts={"Mon": [("07:00", "12:00")]}),
        ],
        [
            make_package("old", "c0", [make_line("o", window=("10:00", "10:00"))]),
            make_package(
                "new",
                "c1",
                [
                    make_line(
                        "a", window=("08:00", "08:00"), hard_window=("08:00", "08:00"), duration=60
                    ),
                    make_line(
                        "b",
                        window=("08:30", "08:30"),
                        hard_window=("08:30", "08:30"),
                        skills=["hoist"],
                    ),
                ],
            ),
        ],
        {("w1", "c1"): 5, ("w2", "c1"): 20, ("w1", "c0"): 5, ("w2", "c0"): 5, ("c0", "c1"): 5},
    )


def test_search_places_what_greedy_cannot_and_shortcut_is_not_taken() -> None:
    """Every new visit has a gap as the roster stands, so the search runs (not the
    'fits nowhere' shortcut) and fits both, where greedy alone fits one."""
    problem = greedy_trap_problem()
    existing = solve(problem.model_copy(update={"packages": problem.packages[:1]}))
    greedy = insert_packages(problem, existing.assignments, {"new"}, search=False)
    assert [u.visit_id for u in greedy.unassigned] == ["b-Mon"]
    searched = insert_packages(problem, existing.assignments, {"new"})
    assert check(problem, searched) == []
    assert searched.unassigned == []
    assert {a.visit_id: a.workers for a in searched.assignments if a.package_id == "new"} == {
        "a-Mon": ["w2"],
        "b-Mon": ["w1"],
    }


def test_a_visit_with_no_gap_skips_the_search() -> None:
    """The clash of `conflict_problem`: no gap for the new visit, so the status says the
    search was skipped, and the answer is the same as searching would give."""
    problem = conflict_problem()
    existing = solve(problem.model_copy(update={"packages": problem.packages[:1]}))
    after = insert_packages(problem, existing.assignments, {"new"})
    assert after.solver is not None and after.solver.status == GREEDY_BLOCKED
    assert [u.visit_id for u in after.unassigned] == ["n-Mon"]
