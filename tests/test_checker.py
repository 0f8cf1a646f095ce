"""The independent checker and the KPIs, on hand-made rosters with hand-computed figures.

The base week (one Monday, exact travel minutes):

    w1 female, personal_care+medication+hoist, shifts 07:00-12:00 and 17:00-21:00
    w2 male,   personal_care+medication+hoist, shift 07:00-12:00
    w3 female, personal_care,                  shift 07:00-12:00
    c1 (p1) female strict: p1-am 08:00-08:30 window, 30 min, medication
                           p1-mid 08:30-09:00 window, 15 min
                           p1-pm 18:00-18:30 window, 30 min
    c2 (p2) female, not strict, excludes w3: p2-am 09:30-10:00 window (hard 09:00-10:30),
                           45 min, personal_care
    c3 (p3) p3-hoist 10:30-11:00 window, 30 min, two carers, hoist

    travel  w1-c1 10  w1-c2 15  w1-c3 20  w2-c1 25  w2-c2 10  w2-c3 7
            w3-c1 5   w3-c2 10  w3-c3 15  c1-c2 5   c1-c3 12  c2-c3 8   homes 30 apart

The valid roster: w1 does p1-am 08:00, p1-mid 08:30 (same client, no travel), p3 10:30
and p1-pm 18:00 (home in between); w2 does p2 09:30 and p3 10:30. That is 105 visit +
62 travel minutes for w1 and 75 + 25 for w2.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from pydantic import TypeAdapter

from matcher.checker import HARD_RULES, Violation, check
from matcher.kpis import ClientKpis, Kpis, OverallKpis, WorkerKpis, compute_kpis
from matcher.schema import Assignment, Problem, Roster
from matcher.timeutil import Weekday
from tests.helpers import (
    assign,
    make_line,
    make_package,
    make_problem,
    make_roster,
    make_worker,
    travel_item,
    unassign,
    visit_item,
    worker_day,
)

ALL_SKILLS = ("personal_care", "medication", "hoist")
TRAVEL = {
    ("w1", "w2"): 30,
    ("w1", "w3"): 30,
    ("w2", "w3"): 30,
    ("w1", "c1"): 10,
    ("w1", "c2"): 15,
    ("w1", "c3"): 20,
    ("w2", "c1"): 25,
    ("w2", "c2"): 10,
    ("w2", "c3"): 7,
    ("w3", "c1"): 5,
    ("w3", "c2"): 10,
    ("w3", "c3"): 15,
    ("c1", "c2"): 5,
    ("c1", "c3"): 12,
    ("c2", "c3"): 8,
}


def base_problem(
    *,
    w1_max_day: int = 480,
    w1_max_week: int = 2400,
    c2_strict: bool = False,
    max_shift_min: int = 120,
    same_place_minutes: int = 0,
) -> Problem:
    """The base week; keyword arguments tighten one limit for a boundary test."""
    workers = [
        make_worker(
            "w1",
            skills=ALL_SKILLS,
            shifts={"Mon": [("07:00", "12:00"), ("17:00", "21:00")]},
            max_day=w1_max_day,
            max_week=w1_max_week,
        ),
        make_worker("w2", gender="male", skills=ALL_SKILLS),
        make_worker("w3", skills=["personal_care"]),
    ]
    packages = [
        make_package(
            "p1",
            "c1",
            [
                make_line("p1-am", window=("08:00", "08:30"), duration=30, skills=["medication"]),
                make_line("p1-mid", window=("08:30", "09:00"), duration=15),
                make_line("p1-pm", window=("18:00", "18:30"), duration=30),
            ],
            gender_preference="female",
        ),
        make_package(
            "p2",
            "c2",
            [
                make_line(
                    "p2-am",
                    window=("09:30", "10:00"),
                    hard_window=("09:00", "10:30"),
                    duration=45,
                    skills=["personal_care"],
                )
            ],
            gender_preference="female",
            strict=c2_strict,
            excluded=["w3"],
        ),
        make_package(
            "p3",
            "c3",
            [make_line("p3-hoist", window=("10:30", "11:00"), carers=2, skills=["hoist"])],
        ),
    ]
    travel = {**TRAVEL, ("c1", "c1"): same_place_minutes}
    return make_problem(workers, packages, travel, max_shift_min=max_shift_min)


Plan = dict[str, tuple[str, list[str]]]
"""visit id -> (start, workers): a compact way to write a roster's assignments."""

VALID_PLAN: Plan = {
    "p1-am-Mon": ("08:00", ["w1"]),
    "p1-mid-Mon": ("08:30", ["w1"]),
    "p1-pm-Mon": ("18:00", ["w1"]),
    "p2-am-Mon": ("09:30", ["w2"]),
    "p3-hoist-Mon": ("10:30", ["w1", "w2"]),
}


def assignments_of(problem: Problem, plan: Plan) -> list[Assignment]:
    return [assign(problem, vid, start, workers) for vid, (start, workers) in plan.items()]


def roster_of(problem: Problem, **changes: tuple[str, list[str]] | None) -> Roster:
    """The valid plan with some visits changed (or dropped with None); no worker days.

    Keyword names are visit ids with "-" written as "_" (p2_am_Mon).
    """
    plan = dict(VALID_PLAN)
    for key, value in changes.items():
        visit_id = key.replace("_", "-")
        if value is None:
            del plan[visit_id]
        else:
            plan[visit_id] = value
    return make_roster(problem, assignments_of(problem, plan))


def valid_days() -> list:
    """Hand-written worker days of the valid roster, travel legs just before each visit."""
    return [
        worker_day(
            "w1",
            "Mon",
            [
                travel_item("w1", "c1", "07:50", 10),
                visit_item("p1-am-Mon", "c1", "08:00", "08:30"),
                visit_item("p1-mid-Mon", "c1", "08:30", "08:45"),
                travel_item("c1", "c3", "08:45", 12),
                visit_item("p3-hoist-Mon", "c3", "10:30", "11:00"),
                travel_item("c3", "w1", "11:00", 20),
                travel_item("w1", "c1", "17:50", 10),
                visit_item("p1-pm-Mon", "c1", "18:00", "18:30"),
                travel_item("c1", "w1", "18:30", 10),
            ],
        ),
        worker_day(
            "w2",
            "Mon",
            [
                travel_item("w2", "c2", "09:20", 10),
                visit_item("p2-am-Mon", "c2", "09:30", "10:15"),
                travel_item("c2", "c3", "10:15", 8),
                visit_item("p3-hoist-Mon", "c3", "10:30", "11:00"),
                travel_item("c3", "w2", "11:00", 7),
            ],
        ),
    ]


def full_roster(problem: Problem) -> Roster:
    """The valid roster including its worker days."""
    return make_roster(problem, assignments_of(problem, VALID_PLAN), worker_days=valid_days())


def rules(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations}


# --------------------------------------------------------------------------- valid


@pytest.mark.parametrize("with_days", [False, True])
def test_valid_roster_has_no_violations(with_days: bool) -> None:
    """The hand-checked valid roster passes every rule, with and without worker days."""
    problem = base_problem()
    roster = full_roster(problem) if with_days else roster_of(problem)
    assert check(problem, roster) == []


def test_rule_ids_are_the_documented_ones() -> None:
    """The checker knows exactly the rule ids of the docs/model.md table, in its order."""
    assert list(HARD_RULES) == [
        "coverage",
        "skills",
        "gender",
        "excluded",
        "hard_window",
        "synchronised",
        "availability",
        "travel",
        "max_day",
        "max_week",
        "budget",
        "roster",
    ]


def test_violation_str_is_one_readable_line() -> None:
    """A violation prints as "[rule] worker, visit: message"."""
    violation = Violation(
        "travel",
        "starts 07:05 but cannot arrive before 07:12 (leaves c4 at 06:55, 17 min travel)",
        visit_id="p1-v1-Mon",
        worker_id="w3",
    )
    assert str(violation) == (
        "[travel] worker w3, visit p1-v1-Mon: starts 07:05 but cannot arrive before 07:12 "
        "(leaves c4 at 06:55, 17 min travel)"
    )
    assert str(Violation("budget", "package mary: too dear")) == "[budget] package mary: too dear"


def test_violation_serialises_with_the_ids_it_names() -> None:
    """`to_json` gives rule, message and both ids (null when not named), for the API;
    pydantic serialises a violation held in a model as the same object."""
    problem = base_problem()
    broken = roster_of(problem, p2_am_Mon=("09:30", ["w3"]))  # c2 excludes w3
    found = check(problem, broken)
    assert found
    data = json.loads(json.dumps([v.to_json() for v in found]))
    assert all(set(item) == {"rule", "message", "visit_id", "worker_id"} for item in data)
    excluded = next(item for item in data if item["rule"] == "excluded")
    assert (excluded["visit_id"], excluded["worker_id"]) == ("p2-am-Mon", "w3")
    assert Violation("budget", "too dear").to_json() == {
        "rule": "budget",
        "message": "too dear",
        "visit_id": None,
        "worker_id": None,
    }
    assert TypeAdapter(list[Violation]).dump_python(found, mode="json") == data


# --------------------------------------------------------------------------- coverage


def _drop_pm(problem: Problem) -> Roster:
    return roster_of(problem, p1_pm_Mon=None)


def _unknown_worker(problem: Problem) -> Roster:
    return roster_of(problem, p2_am_Mon=("09:30", ["w9"]))


def _one_carer_short(problem: Problem) -> Roster:
    return roster_of(problem, p3_hoist_Mon=("10:30", ["w1"]))


def _same_carer_twice(problem: Problem) -> Roster:
    return roster_of(problem, p3_hoist_Mon=("10:30", ["w1", "w1"]))


def _unassigned_without_reason(problem: Problem) -> Roster:
    roster = roster_of(problem, p1_pm_Mon=None)
    roster.unassigned.append(unassign(problem, "p1-pm-Mon", reasons=[]))
    return roster


def _assigned_twice(problem: Problem) -> Roster:
    roster = roster_of(problem)
    roster.assignments.append(assign(problem, "p2-am-Mon", "09:30", ["w2"]))
    return roster


def _assigned_and_unassigned(problem: Problem) -> Roster:
    roster = roster_of(problem)
    roster.unassigned.append(unassign(problem, "p2-am-Mon"))
    return roster


def _unknown_visit(problem: Problem) -> Roster:
    roster = roster_of(problem)
    roster.assignments.append(roster.assignments[0].model_copy(update={"visit_id": "p9-nope-Mon"}))
    return roster


@pytest.mark.parametrize(
    "breach",
    [
        _drop_pm,
        _unknown_worker,
        _one_carer_short,
        _same_carer_twice,
        _unassigned_without_reason,
        _assigned_twice,
        _assigned_and_unassigned,
        _unknown_visit,
    ],
)
def test_coverage_rejected(breach: Callable[[Problem], Roster]) -> None:
    """A missing, repeated or unknown visit, or a wrong or unknown crew, is a coverage breach."""
    problem = base_problem()
    assert rules(check(problem, breach(problem))) == {"coverage"}


def test_unassigned_with_reason_is_covered() -> None:
    """Listing a visit as unassigned with a reason satisfies coverage."""
    problem = base_problem()
    roster = roster_of(problem, p1_pm_Mon=None)
    roster.unassigned.append(unassign(problem, "p1-pm-Mon", reasons=["no female carer free"]))
    assert check(problem, roster) == []


# --------------------------------------------------------------------------- skills, people


def test_skills_rejected() -> None:
    """w3 has no medication skill, so she cannot do p1-am."""
    problem = base_problem()
    violations = check(problem, roster_of(problem, p1_am_Mon=("08:00", ["w3"])))
    assert rules(violations) == {"skills"}
    assert (violations[0].visit_id, violations[0].worker_id) == ("p1-am-Mon", "w3")
    assert "medication" in violations[0].message


def test_gender_rejected() -> None:
    """A male carer at a client with a strict female preference is a gender breach."""
    problem = base_problem()
    violations = check(problem, roster_of(problem, p1_am_Mon=("08:00", ["w2"])))
    assert rules(violations) == {"gender"}
    assert violations[0].worker_id == "w2"


def test_gender_non_strict_preference_is_soft() -> None:
    """w2 (male) at c2 is fine while c2's female preference is soft, a breach once strict."""
    assert check(base_problem(c2_strict=False), roster_of(base_problem())) == []
    strict = base_problem(c2_strict=True)
    violations = check(strict, roster_of(strict))
    assert rules(violations) == {"gender"}
    assert (violations[0].visit_id, violations[0].worker_id) == ("p2-am-Mon", "w2")


def test_excluded_rejected() -> None:
    """c2 excludes w3, so w3 cannot do p2-am even though she is otherwise fit."""
    problem = base_problem()
    violations = check(problem, roster_of(problem, p2_am_Mon=("09:30", ["w3"])))
    assert rules(violations) == {"excluded"}
    assert violations[0].worker_id == "w3"


# --------------------------------------------------------------------------- time


def _bad_weekday(problem: Problem) -> Roster:
    roster = roster_of(problem)
    roster.assignments[3] = roster.assignments[3].model_copy(update={"weekday": Weekday.TUE})
    return roster


def _malformed_start(problem: Problem) -> Roster:
    """An unreadable start must be reported, not raised."""
    roster = roster_of(problem)
    roster.assignments[3] = roster.assignments[3].model_copy(update={"start": "9h30"})
    return roster


@pytest.mark.parametrize(
    "breach",
    [
        lambda p: roster_of(p, p2_am_Mon=("08:45", ["w2"])),  # before the explicit hard window
        lambda p: make_roster(
            p,
            [
                *assignments_of(p, {k: v for k, v in VALID_PLAN.items() if k != "p1-pm-Mon"}),
                assign(p, "p1-pm-Mon", "18:00", ["w1"], end="18:40"),  # 30 min visit, 40 claimed
            ],
        ),
        _bad_weekday,
        _malformed_start,
    ],
    ids=["early", "wrong_end", "wrong_weekday", "malformed_start"],
)
def test_hard_window_rejected(breach: Callable[[Problem], Roster]) -> None:
    """Starting outside the hard range, a wrong end or weekday, or an unreadable time."""
    problem = base_problem()
    assert rules(check(problem, breach(problem))) == {"hard_window"}


def test_hard_window_defaults_to_window_widened_by_max_shift() -> None:
    """Without hard_window the range is window ± max_shift_min: 17:20 is fine at 60, not at 30."""
    roster_of_pm = lambda p: roster_of(p, p1_pm_Mon=("17:20", ["w1"]))  # noqa: E731
    assert check(base_problem(max_shift_min=60), roster_of_pm(base_problem(max_shift_min=60))) == []
    tight = base_problem(max_shift_min=30)
    violations = check(tight, roster_of_pm(tight))
    assert rules(violations) == {"hard_window"}
    assert "17:30-19:00" in violations[0].message


def test_synchronised_rejected() -> None:
    """w2's day starting the two-carer visit 5 minutes after w1 (and the assignment) breaks it."""
    problem = base_problem()
    roster = full_roster(problem)
    w2_items = roster.worker_days[1].items
    w2_items[3] = visit_item("p3-hoist-Mon", "c3", "10:35", "11:05")
    w2_items[4] = travel_item("c3", "w2", "11:05", 7)
    violations = check(problem, roster)
    assert rules(violations) == {"synchronised"}
    assert violations[0].worker_id == "w2"


@pytest.mark.parametrize(
    "breach",
    [
        lambda p: roster_of(p, p1_pm_Mon=("18:00", ["w3"])),  # w3 has no evening shift
        lambda p: roster_of(p, p3_hoist_Mon=("11:45", ["w1", "w2"])),  # runs past 12:00
    ],
    ids=["no_shift", "past_shift_end"],
)
def test_availability_rejected(breach: Callable[[Problem], Roster]) -> None:
    """A visit that is not wholly inside one of the worker's shifts that day."""
    problem = base_problem()
    assert rules(check(problem, breach(problem))) == {"availability"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"p2_am_Mon": ("09:45", ["w2"])},
            "starts 10:30 but cannot arrive before 10:38 (leaves c2 at 10:30, 8 min travel)",
        ),
        ({"p2_am_Mon": ("10:00", ["w2"])}, "cannot arrive before 10:53"),  # overlap
        ({"p1_pm_Mon": ("17:05", ["w1"])}, "cannot arrive before 17:10"),  # leg from home
        ({"p1_pm_Mon": ("20:30", ["w1"])}, "is home at 21:10, after shift end 21:00"),
    ],
    ids=["between_visits", "overlap", "from_home", "to_home"],
)
def test_travel_rejected(change: dict, expected: str) -> None:
    """Too little time to travel between visits, from home after shift start, or home by its end."""
    problem = base_problem()
    violations = check(problem, roster_of(problem, **change))
    assert rules(violations) == {"travel"}
    assert expected in violations[0].message


def test_travel_back_to_back_at_same_client_is_free() -> None:
    """Two visits of the same client need no travel, even if the matrix says otherwise."""
    problem = base_problem(same_place_minutes=5)
    assert check(problem, full_roster(problem)) == []


def test_travel_split_shift_goes_home_between() -> None:
    """Evening travel starts from home: 17:05 fails (home->c1 is 10) though c3->c1 is shorter."""
    problem = base_problem()
    assert check(problem, roster_of(problem, p1_pm_Mon=("17:10", ["w1"]))) == []
    assert rules(check(problem, roster_of(problem, p1_pm_Mon=("17:09", ["w1"])))) == {"travel"}


# --------------------------------------------------------------------------- limits


def _w1_takes_p2(problem: Problem) -> Roster:
    """w1 adds p2 (45 min) between c1 and c3: 150 visit + 63 travel = 213 minutes."""
    return roster_of(problem, p2_am_Mon=("09:30", ["w1"]))


def test_max_day_at_limit_passes_and_over_is_rejected() -> None:
    """w1's valid day is 167 minutes incl. both home round trips: 167 is fine, 213 is not."""
    problem = base_problem(w1_max_day=167)
    assert check(problem, roster_of(problem)) == []
    violations = check(problem, _w1_takes_p2(problem))
    assert rules(violations) == {"max_day"}
    assert "213 min (visits 150, travel 63) > max 167" in violations[0].message


def test_max_week_at_limit_passes_and_over_is_rejected() -> None:
    """The same 167 vs 213 minutes against a weekly maximum."""
    problem = base_problem(w1_max_week=167)
    assert check(problem, roster_of(problem)) == []
    assert rules(check(problem, _w1_takes_p2(problem))) == {"max_week"}


# --------------------------------------------------------------------------- budget


def mary_problem(budget: tuple[int, str] = (438_750, "year")) -> Problem:
    """Mary: 5 x 80 + 5 + 1 = 406 carer minutes a week at 1,250 p/h."""
    week = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    worker = make_worker("w1", shifts={day: [("07:00", "20:00")] for day in week})
    package = make_package(
        "mary",
        "c-mary",
        [
            make_line("mary-am", weekdays=week[:5], duration=80),
            make_line("mary-sat", weekdays=["Sat"], duration=5),
            make_line("mary-sun", weekdays=["Sun"], duration=1),
        ],
        budget=budget,
    )
    return make_problem([worker], [package], {("w1", "c-mary"): 10})


def mary_roster(problem: Problem, *, skip_sunday: bool) -> Roster:
    """Every Mary visit at 08:00 by w1; optionally Sunday's 1-minute visit left unassigned."""
    visit_ids = [f"mary-am-{d}" for d in ("Mon", "Tue", "Wed", "Thu", "Fri")]
    visit_ids += ["mary-sat-Sat"] + ([] if skip_sunday else ["mary-sun-Sun"])
    unassigned = [unassign(problem, "mary-sun-Sun", ["budget"])] if skip_sunday else []
    return make_roster(
        problem, [assign(problem, v, "08:00", ["w1"]) for v in visit_ids], unassigned
    )


def test_budget_yearly_exactly_at_cap_passes() -> None:
    """405 carer minutes a week at 1,250 p/h is exactly Mary's 438,750 p a year."""
    problem = mary_problem()
    assert check(problem, mary_roster(problem, skip_sunday=True)) == []


def test_budget_yearly_over_cap_rejected() -> None:
    """406 minutes a week costs £4,398.33 a year, over the £4,387.50 cap."""
    problem = mary_problem()
    violations = check(problem, mary_roster(problem, skip_sunday=False))
    assert rules(violations) == {"budget"}
    assert str(violations[0]).startswith("[budget] package mary: £4,398.33 a year > cap £4,387.50")


def test_budget_weekly_cap() -> None:
    """A weekly cap of 8,438 p admits 405 minutes (8,437.5 p) and refuses 406 (8,458.33 p)."""
    problem = mary_problem((8_438, "week"))
    assert check(problem, mary_roster(problem, skip_sunday=True)) == []
    violations = check(problem, mary_roster(problem, skip_sunday=False))
    assert rules(violations) == {"budget"}
    assert "£84.58 a week > cap £84.38" in violations[0].message


# --------------------------------------------------------------------------- roster


def _item_end_differs(roster: Roster) -> None:
    roster.worker_days[0].items[2] = visit_item("p1-mid-Mon", "c1", "08:30", "08:50")


def _travel_minutes_wrong(roster: Roster) -> None:
    roster.worker_days[0].items[0] = travel_item("w1", "c1", "07:49", 11)


def _items_out_of_order(roster: Roster) -> None:
    items = roster.worker_days[1].items
    items[0], items[1] = items[1], items[0]


def _visit_item_missing(roster: Roster) -> None:
    del roster.worker_days[0].items[7]


def _worker_day_missing(roster: Roster) -> None:
    del roster.worker_days[1]


def _unknown_worker_day(roster: Roster) -> None:
    roster.worker_days.append(worker_day("w9", "Mon", []))


def _wrong_problem(roster: Roster) -> None:
    roster.problem_id = "another"


def _wrong_client_label(roster: Roster) -> None:
    roster.assignments[0] = roster.assignments[0].model_copy(update={"client_id": "c2"})


def _totals_disagree(roster: Roster) -> None:
    roster.worker_days[1].travel_minutes = 18  # no home legs: 8, not 25


def _malformed_item(roster: Roster) -> None:
    roster.worker_days[1].items[1] = (
        roster.worker_days[1].items[1].model_copy(update={"start": "half nine"})
    )


@pytest.mark.parametrize(
    "breach",
    [
        _item_end_differs,
        _travel_minutes_wrong,
        _items_out_of_order,
        _visit_item_missing,
        _worker_day_missing,
        _unknown_worker_day,
        _wrong_problem,
        _wrong_client_label,
        _totals_disagree,
        _malformed_item,
    ],
)
def test_roster_rejected(breach: Callable[[Roster], None]) -> None:
    """Worker days or labels that disagree with the input or with the assignments."""
    problem = base_problem()
    roster = full_roster(problem)
    breach(roster)
    assert rules(check(problem, roster)) == {"roster"}


# --------------------------------------------------------------------------- KPIs

KPI_PLAN: Plan = {
    "p1-am-Mon": ("07:50", ["w1"]),  # 10 min early
    "p1-mid-Mon": ("08:30", ["w3"]),  # on time; c1's second carer
    "p1-pm-Mon": ("18:55", ["w1"]),  # 25 min late
    "p2-am-Mon": ("09:20", ["w2"]),  # 10 min early; c2 wants a woman (soft), w2 is a man
    "p3-hoist-Mon": ("10:30", ["w1", "w2"]),  # on time
}


def test_kpis_on_a_hand_made_roster() -> None:
    """Punctuality, continuity, gender, travel with home legs, utilisation and cost."""
    problem = base_problem()
    roster = make_roster(problem, assignments_of(problem, KPI_PLAN))
    assert check(problem, roster) == []
    kpis = compute_kpis(problem, roster).model_dump(mode="json")  # as the CLI and API show it
    json.dumps(kpis)

    c1, c2, c3 = (kpis["clients"][c] for c in ("c1", "c2", "c3"))
    assert (c1["in_window_pct"], c1["mean_minutes_outside"], c1["max_minutes_outside"]) == (
        33.3,
        11.7,
        25,
    )
    assert (c2["in_window_pct"], c2["mean_minutes_outside"], c2["max_minutes_outside"]) == (
        0.0,
        10.0,
        10,
    )
    assert (c3["in_window_pct"], c3["mean_minutes_outside"]) == (100.0, 0.0)
    assert [c["distinct_workers"] for c in (c1, c2, c3)] == [2, 1, 2]
    assert [c["gender_honoured"] for c in (c1, c2, c3)] == [True, False, None]
    assert [c["visit_minutes"] for c in (c1, c2, c3)] == [75, 45, 60]
    assert [c["weekly_cost_pence"] for c in (c1, c2, c3)] == [1563, 938, 1250]  # 1562.5 -> 1563
    assert [c["annual_cost_pence"] for c in (c1, c2, c3)] == [81_250, 48_750, 65_000]
    assert (c1["budget_cap_pence"], c1["within_budget"]) == (None, None)

    w1, w2, w3 = (kpis["workers"][w] for w in ("w1", "w2", "w3"))
    # w1: 10+12+20 morning, 10+10 evening; w2: 10+8+7; w3: 5+5
    assert [w["travel_minutes"] for w in (w1, w2, w3)] == [62, 25, 10]
    assert [w["visit_minutes"] for w in (w1, w2, w3)] == [90, 75, 15]
    assert [w["available_minutes"] for w in (w1, w2, w3)] == [540, 300, 300]
    assert [w["utilisation_pct"] for w in (w1, w2, w3)] == [28.1, 33.3, 8.3]
    assert w1["travel_share_pct"] == 40.8  # 62 / 152

    overall = kpis["overall"]
    assert (overall["visits"], overall["assigned"], overall["unassigned"]) == (5, 5, 0)
    assert overall["in_window_pct"] == 40.0
    assert (overall["mean_minutes_outside"], overall["max_minutes_outside"]) == (9.0, 25)
    assert overall["mean_distinct_workers"] == 1.67
    assert overall["gender_honoured_pct"] == 50.0
    assert (overall["travel_minutes"], overall["visit_minutes"]) == (97, 180)
    assert overall["travel_share_pct"] == 35.0  # 97 / 277
    assert overall["utilisation_pct"] == 24.3  # 277 / 1140
    assert (overall["weekly_cost_pence"], overall["annual_cost_pence"]) == (3750, 195_000)


def test_kpis_are_typed_and_dump_to_the_same_json_keys_in_order() -> None:
    """`compute_kpis` returns a typed `Kpis` whose JSON has exactly the keys, in the
    order, of the plain dict it replaced (what the CLI and the API show), and a roster
    carrying it round-trips through JSON."""
    problem = base_problem()
    roster = roster_of(problem)
    kpis = compute_kpis(problem, roster)
    assert isinstance(kpis, Kpis)
    assert isinstance(kpis.clients["c1"], ClientKpis)
    assert isinstance(kpis.workers["w1"], WorkerKpis)
    assert isinstance(kpis.overall, OverallKpis)
    data = kpis.model_dump(mode="json")
    punctuality = ["in_window_pct", "mean_minutes_outside", "max_minutes_outside"]
    assert list(data) == ["overall", "clients", "workers"]
    assert list(data["overall"]) == [
        "visits", "assigned", "unassigned", *punctuality, "mean_distinct_workers",
        "gender_honoured_pct", "travel_minutes", "visit_minutes", "travel_share_pct",
        "utilisation_pct", "weekly_cost_pence", "annual_cost_pence", "clients_over_budget",
    ]  # fmt: skip
    assert list(data["clients"]["c1"]) == [
        "package_id", "visits", "assigned", "unassigned", *punctuality, "distinct_workers",
        "gender_preference", "gender_honoured", "visit_minutes", "weekly_cost_pence",
        "annual_cost_pence", "budget_cap_pence", "budget_period", "within_budget",
    ]  # fmt: skip
    assert list(data["workers"]["w1"]) == [
        "visits", "visit_minutes", "travel_minutes", "worked_minutes", "available_minutes",
        "travel_share_pct", "utilisation_pct",
    ]  # fmt: skip
    roster.kpis = kpis
    assert Roster.model_validate_json(roster.model_dump_json()).kpis == kpis


def test_kpis_ignore_worker_days() -> None:
    """KPIs come from assignments only: wrong worker-day figures do not move them."""
    problem = base_problem()
    plain = compute_kpis(problem, roster_of(problem))
    tampered = full_roster(problem)
    tampered.worker_days[0].travel_minutes = 0
    del tampered.worker_days[1]
    assert compute_kpis(problem, tampered) == plain
    assert plain.workers["w1"].travel_minutes == 62


@pytest.mark.parametrize(
    ("skip_sunday", "within", "weekly", "annual", "assigned"),
    [(True, True, 8438, 438_750, 6), (False, False, 8458, 439_833, 7)],
)
def test_kpis_budget_for_mary(
    skip_sunday: bool, within: bool, weekly: int, annual: int, assigned: int
) -> None:
    """405 carer minutes a week is within Mary's cap, 406 is over; costs round to the penny."""
    problem = mary_problem()
    kpis = compute_kpis(problem, mary_roster(problem, skip_sunday=skip_sunday)).model_dump()
    mary = kpis["clients"]["c-mary"]
    assert (mary["budget_cap_pence"], mary["budget_period"]) == (438_750, "year")
    assert mary["within_budget"] is within
    assert (mary["weekly_cost_pence"], mary["annual_cost_pence"]) == (weekly, annual)
    assert (mary["visits"], mary["assigned"], mary["unassigned"]) == (7, assigned, 7 - assigned)
    assert kpis["overall"]["clients_over_budget"] == ([] if within else ["c-mary"])


def test_kpis_of_an_empty_roster() -> None:
    """With nothing assigned, ratios are None rather than a misleading 0 or 100."""
    problem = base_problem()
    kpis = compute_kpis(problem, make_roster(problem, [])).model_dump()
    overall = kpis["overall"]
    assert (overall["assigned"], overall["unassigned"]) == (0, 5)
    assert overall["in_window_pct"] is None
    assert overall["mean_distinct_workers"] is None
    assert overall["travel_share_pct"] is None
    assert overall["utilisation_pct"] == 0.0
    assert kpis["workers"]["w1"]["travel_minutes"] == 0


def test_linked_visit_gap_and_partner_checked() -> None:
    """A link's gap outside [min, max], or a linked visit placed alone, is `synchronised`."""
    from tests.test_solver import linked_problem

    problem = linked_problem(30, 45)
    too_soon = make_roster(
        problem,
        [
            assign(problem, "meds-Mon", "08:00", ["w1"]),
            assign(problem, "care-Mon", "08:10", ["w2"]),
        ],
    )
    alone = make_roster(
        problem, [assign(problem, "meds-Mon", "08:00", ["w1"])], [unassign(problem, "care-Mon")]
    )
    good = make_roster(
        problem,
        [
            assign(problem, "meds-Mon", "08:00", ["w1"]),
            assign(problem, "care-Mon", "08:40", ["w2"]),
        ],
    )
    assert [v.rule for v in check(problem, too_soon)] == ["synchronised"]
    assert [v.rule for v in check(problem, alone)] == ["synchronised"]
    assert check(problem, good) == []
