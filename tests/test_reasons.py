"""Reasons that name the binding rule: a visit that fits nowhere is explained by the
rule whose lifting (alone, or with one other) makes it fit, with the weekday and time,
and not as "all are booked" when someone is free but barred by a rule.

Paired per rule: `_binds` where lifting that rule makes the visit fit, `_does_not_bind`
where the same rule is in play but the visit would still not fit (the old reason stays).
Every case: one new visit for Mary, Monday 08:00 sharp, 30 minutes; workers on Monday
07:00-12:00; an existing client at c2 keeps the others busy where needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matcher.instance import build_instance
from matcher.reasons import join, unassigned_reasons
from matcher.schema import Assignment, Problem, Worker
from matcher.solver.placements import placements_of
from matcher.solver.solve import roster_state
from tests.helpers import assign, make_line, make_package, make_problem, make_worker

SHARP = {"window": ("08:00", "08:00"), "hard_window": ("08:00", "08:00")}


def _problem(
    workers: Sequence[Worker],
    *,
    excluded: Sequence[str] = (),
    gender: str = "none",
    skills: Sequence[str] = (),
    travel: Mapping[tuple[str, str], int] | None = None,
    busy: tuple[str, str] = ("08:00", "08:00"),
    busy_carers: int = 1,
    also_busy: bool = False,
    carers: int = 1,
) -> Problem:
    """Mary's new visit and an existing client at c2 (one visit of 45 minutes for
    `busy_carers`, its hard window `busy`) to keep workers busy; with `also_busy`, a
    third client at c3 with an hour at 08:00."""
    mary = make_package(
        "new",
        "Mary",
        [make_line("new", skills=skills, carers=carers, **SHARP)],
        gender_preference=gender,
        excluded=excluded,
    )
    old = make_package(
        "old",
        "c2",
        [make_line("old", duration=45, window=busy, hard_window=busy, carers=busy_carers)],
    )
    more = [make_package("more", "c3", [make_line("more", duration=60, **SHARP)])]
    return make_problem(workers, [mary, old, *(more if also_busy else [])], travel or {})


def _reasons(problem: Problem, roster: Sequence[Assignment]) -> list[str]:
    """The reasons Mary's visit gets against the roster (existing visits only)."""
    inst = build_instance(problem)
    state = roster_state(inst, placements_of(inst, roster))
    visit = next(v for v in inst.visits if v.visit.id == "new-Mon")
    return unassigned_reasons(state, visit)


BOOKED = ["availability: no worker is free on Monday 08:00-08:30 (all are booked)"]


def test_exclusion_binds() -> None:
    """Anna is free at 08:00 but Mary excluded her; Bea is booked: the exclusion is named
    (it used to say that everyone is booked)."""
    problem = _problem([make_worker("anna"), make_worker("bea")], excluded=["anna"])
    roster = [assign(problem, "old-Mon", "08:00", ["bea"])]
    assert _reasons(problem, roster) == [
        "excluded: the only worker free on Monday 08:00 is one Mary has asked not to see"
    ]


def test_exclusion_does_not_bind() -> None:
    """Anna is excluded but booked as well: lifting the exclusion would not help, so the
    reason stays that everyone is booked."""
    problem = _problem([make_worker("anna"), make_worker("bea")], excluded=["anna"], busy_carers=2)
    roster = [assign(problem, "old-Mon", "08:00", ["anna", "bea"])]
    assert _reasons(problem, roster) == BOOKED


def test_exclusion_binds_before_any_roster() -> None:
    """Nobody Mary accepts works at 08:00 (Bea starts at noon), Anna does but is
    excluded: the pre-check names the exclusion, not availability."""
    problem = _problem(
        [make_worker("anna"), make_worker("bea", shifts={"Mon": [("12:00", "18:00")]})],
        excluded=["anna"],
    )
    assert _reasons(problem, []) == [
        "excluded: the only worker available on Monday 08:00 is one Mary has asked not to see"
    ]


def test_gender_binds() -> None:
    """Mary wants a woman (strictly); the only worker free at 08:00 is Bob: gender."""
    problem = _problem([make_worker("bob", gender="male"), make_worker("bea")], gender="female")
    roster = [assign(problem, "old-Mon", "08:00", ["bea"])]
    assert _reasons(problem, roster) == [
        "gender: the only worker free on Monday 08:00 is male; Mary wants a female carer"
    ]


def test_gender_does_not_bind() -> None:
    """Bob is booked too: the gender preference is not what blocks."""
    problem = _problem(
        [make_worker("bob", gender="male"), make_worker("bea")], gender="female", busy_carers=2
    )
    roster = [assign(problem, "old-Mon", "08:00", ["bob", "bea"])]
    assert _reasons(problem, roster) == [
        "availability: no female worker is free on Monday 08:00-08:30 (all are booked)"
    ]


def test_skills_bind() -> None:
    """A hoist visit; the only worker free at 08:00 has no hoist training: skills."""
    problem = _problem(
        [make_worker("anna"), make_worker("bea", skills=["hoist"])], skills=["hoist"]
    )
    roster = [assign(problem, "old-Mon", "08:00", ["bea"])]
    assert _reasons(problem, roster) == ["skills: the only worker free on Monday 08:00 lacks hoist"]


def test_skills_do_not_bind() -> None:
    """Anna (no hoist) is booked as well: skills are not what blocks."""
    problem = _problem(
        [make_worker("anna"), make_worker("bea", skills=["hoist"])],
        skills=["hoist"],
        busy_carers=2,
    )
    roster = [assign(problem, "old-Mon", "08:00", ["anna", "bea"])]
    assert _reasons(problem, roster) == [
        "availability: no worker with skill hoist is free on Monday 08:00-08:30 (all are booked)"
    ]


def test_daily_maximum_binds() -> None:
    """Bea is free at 08:00 but works 45 minutes at 10:00 of a 60-minute day: hours."""
    problem = _problem([make_worker("bea", max_day=60)], busy=("10:00", "10:00"))
    roster = [assign(problem, "old-Mon", "10:00", ["bea"])]
    assert _reasons(problem, roster) == [
        "hours: the only worker free on Monday 08:00 would go over their daily maximum minutes"
    ]


def test_daily_maximum_does_not_bind() -> None:
    """Bea's day is as full, but her visit is at 08:00 itself: lifting her daily maximum
    would not free her, so she is booked."""
    problem = _problem([make_worker("bea", max_day=60)])
    roster = [assign(problem, "old-Mon", "08:00", ["bea"])]
    assert _reasons(problem, roster) == BOOKED


def test_travel_binds() -> None:
    """Bea's 07:00-07:45 visit is 20 minutes' drive away: she would reach Mary at 08:05,
    not 08:00. Travel from the previous visit is named."""
    problem = _problem([make_worker("bea")], travel={("Mary", "c2"): 20}, busy=("07:00", "07:00"))
    roster = [assign(problem, "old-Mon", "07:00", ["bea"])]
    assert _reasons(problem, roster) == [
        "travel: the only worker free on Monday 08:00 cannot get there from their previous "
        "visit in time"
    ]


def test_travel_does_not_bind() -> None:
    """Her visit runs to 08:15: without any travel she would still be late."""
    problem = _problem([make_worker("bea")], travel={("Mary", "c2"): 20}, busy=("07:30", "07:30"))
    roster = [assign(problem, "old-Mon", "07:30", ["bea"])]
    assert _reasons(problem, roster) == BOOKED


def test_two_rules_bind_together() -> None:
    """Anna is excluded and 20 minutes late from her previous visit, Bea is booked:
    neither lifted alone makes it fit, both together do, and the reason says so."""
    problem = _problem(
        [make_worker("anna"), make_worker("bea")],
        excluded=["anna"],
        travel={("Mary", "c2"): 20},
        busy=("07:00", "07:00"),
        also_busy=True,
    )
    roster = [
        assign(problem, "old-Mon", "07:00", ["anna"]),
        assign(problem, "more-Mon", "08:00", ["bea"]),
    ]
    assert _reasons(problem, roster) == [
        "excluded and travel together: it would fit on Monday 08:00 only by ignoring both "
        "Mary's exclusions and the travel between visits"
    ]


def test_exclusion_binds_the_second_carer() -> None:
    """A double-up at 08:00: Anna and Cath are free, but Mary excluded Cath and Bea is
    booked. The second carer is missing because of the exclusion, and that is said
    (not only that one carer is free)."""
    workers = [make_worker("anna"), make_worker("bea"), make_worker("cath")]
    problem = _problem(workers, excluded=["cath"], carers=2)
    roster = [assign(problem, "old-Mon", "08:00", ["bea"])]
    assert _reasons(problem, roster) == [
        "excluded: the only worker who could be the second carer on Monday 08:00 is one "
        "Mary has asked not to see"
    ]


def test_second_carer_booked_is_the_two_carer_rule() -> None:
    """The same double-up with Cath booked too (and excluded): only one carer is free,
    and no rule but the second carer's being booked explains it."""
    workers = [make_worker("anna"), make_worker("bea"), make_worker("cath")]
    problem = _problem(workers, excluded=["cath"], carers=2, busy_carers=2)
    roster = [assign(problem, "old-Mon", "08:00", ["bea", "cath"])]
    assert _reasons(problem, roster) == [
        "two-carer visit: only one worker is free on Monday 08:00-08:30"
    ]


def test_join_lists_as_a_sentence() -> None:
    """Lists read as English: "a", "a and b", "a, b and c"."""
    assert [join(x) for x in (["a"], ["a", "b"], ["a", "b", "c"])] == [
        "a",
        "a and b",
        "a, b and c",
    ]
