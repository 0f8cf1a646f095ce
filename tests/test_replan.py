"""Re-planning a committed roster around a carer's absence (`matcher.living.replan`,
`carematch replan`): least disruption, frozen history, reasons, and the checker's word
on every roster it writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.checker import check
from matcher.construct import construct
from matcher.instance import build_instance
from matcher.living import Absence, parse_absence, parse_now, replan
from matcher.schema import Problem, Roster
from matcher.solver.solve import finish
from matcher.timeutil import MINUTES_PER_DAY, Weekday, parse_hhmm
from tests.helpers import assign, make_line, make_package, make_problem, make_roster, make_worker
from tests.test_properties import problems

ROOT = Path(__file__).resolve().parents[1]
MON = Weekday.MON


def _slots(roster: Roster) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {a.visit_id: (a.start, tuple(sorted(a.workers))) for a in roster.assignments}


def _fixed(window: str) -> tuple[str, str]:
    return (window, window)


def _move_one_problem() -> tuple[Problem, Roster]:
    """Ann and Bea work Mon 07:00-12:00, no travel. Ann's x is fixed at 08:00 (60 min);
    Bea has y at 08:45 (window 08:45-09:15, 60 min) and z fixed at 10:00. With Ann away
    the only cover is Bea doing x at 08:00 and y 15 minutes later, at 09:00."""
    problem = make_problem(
        [make_worker("ann"), make_worker("bea")],
        [
            make_package(
                "px",
                "cx",
                [make_line("x", window=_fixed("08:00"), duration=60, hard_window=_fixed("08:00"))],
            ),
            make_package("py", "cy", [make_line("y", window=("08:45", "09:15"), duration=60)]),
            make_package(
                "pz",
                "cz",
                [make_line("z", window=_fixed("10:00"), duration=60, hard_window=_fixed("10:00"))],
            ),
        ],
        {},
    )
    roster = make_roster(
        problem,
        [
            assign(problem, "x-Mon", "08:00", ["ann"]),
            assign(problem, "y-Mon", "08:45", ["bea"]),
            assign(problem, "z-Mon", "10:00", ["bea"]),
        ],
    )
    return problem, _with_days(problem, roster)


def _with_days(problem: Problem, roster: Roster) -> Roster:
    """The hand-made roster with its worker days, as `carematch solve` writes them."""
    from matcher.solver.placements import placements_of
    from matcher.solver.solve import roster_state

    inst = build_instance(problem)
    placements = placements_of(inst, roster.assignments)
    made = finish(
        inst,
        roster_state(inst, placements),
        placements,
        status="t",
        bound=None,
        began=0,
        num_workers=1,
    )
    assert check(problem, made) == []
    return made


def test_the_only_cover_moves_one_visit_15_minutes_and_nothing_more() -> None:
    """Ann away on Monday: x goes to Bea at 08:00, y moves exactly 15 minutes, z and
    everything else stays; the roster passes the checker."""
    problem, roster = _move_one_problem()
    result = replan(problem, roster, [Absence("ann", MON)])
    assert check(problem, result.roster) == []
    assert _slots(result.roster) == {
        "x-Mon": ("08:00", ("bea",)),
        "y-Mon": ("09:00", ("bea",)),
        "z-Mon": ("10:00", ("bea",)),
    }
    assert [(c.visit_id, c.before.to_json(), c.after.to_json()) for c in result.changes] == [
        ("x-Mon", {"workers": ["ann"], "start": "08:00"}, {"workers": ["bea"], "start": "08:00"}),
        ("y-Mon", {"workers": ["bea"], "start": "08:45"}, {"workers": ["bea"], "start": "09:00"}),
    ]
    assert result.disruption["minutes_moved"] == 15
    assert result.disruption["visits_touched"] == 1
    assert result.uncovered == []
    assert result.notify_clients == ["cx", "cy"]
    assert result.notify_workers == ["bea"]


def _frozen_problem() -> tuple[Problem, Roster]:
    """Ann has w at 07:00, x fixed at 10:00 (60 min) and q fixed at 11:00 (30 min);
    Bea has y at 09:45 (window 09:30-10:00, 30 min), which runs into 10:00 (moving it
    15 minutes earlier lets Bea take x), and u at 11:00 (window 11:00-11:30, 30 min),
    which Bea can move to 11:30 to take q."""

    def fixed(line: str, at: str, duration: int):
        return make_line(line, window=_fixed(at), duration=duration, hard_window=_fixed(at))

    problem = make_problem(
        [make_worker("ann"), make_worker("bea")],
        [
            make_package("pw", "cw", [fixed("w", "07:00", 30)]),
            make_package("px", "cx", [fixed("x", "10:00", 60)]),
            make_package("pq", "cq", [fixed("q", "11:00", 30)]),
            make_package("py", "cy", [make_line("y", window=("09:30", "10:00"), duration=30)]),
            make_package("pu", "cu", [make_line("u", window=("11:00", "11:30"), duration=30)]),
        ],
        {},
    )
    roster = make_roster(
        problem,
        [
            assign(problem, "w-Mon", "07:00", ["ann"]),
            assign(problem, "x-Mon", "10:00", ["ann"]),
            assign(problem, "q-Mon", "11:00", ["ann"]),
            assign(problem, "y-Mon", "09:45", ["bea"]),
            assign(problem, "u-Mon", "11:00", ["bea"]),
        ],
    )
    return problem, _with_days(problem, roster)


def test_a_visit_before_now_never_moves() -> None:
    """Without a clock, y moves 15 minutes earlier so Bea covers x (and u moves so she
    covers q). With now Mon 09:50 y has started: it stays exactly where it was even
    though the search moves other visits (u), x is left uncovered, and Ann keeps her
    07:00 visit (history) although she is away all day."""
    problem, roster = _frozen_problem()
    free = replan(problem, roster, [Absence("ann", MON)])
    assert _slots(free.roster)["y-Mon"] == ("09:30", ("bea",))  # the clock matters
    assert _slots(free.roster)["x-Mon"] == ("10:00", ("bea",))

    result = replan(problem, roster, [Absence("ann", MON)], now=parse_now("Mon:09:50"))
    slots = _slots(result.roster)
    assert slots["y-Mon"] == ("09:45", ("bea",))
    assert slots["w-Mon"] == ("07:00", ("ann",))
    assert slots["q-Mon"] == ("11:00", ("bea",))  # the search ran: u moved for q
    assert slots["u-Mon"] == ("11:30", ("bea",))
    assert [u.visit_id for u in result.uncovered] == ["x-Mon"]
    assert check(problem, result.roster) == []


def test_no_cover_names_the_rule_and_the_time() -> None:
    """Ann away, Bea booked at x's only start: x is uncovered, and the reason names
    the rule (availability) and the day and time."""
    problem = make_problem(
        [make_worker("ann"), make_worker("bea")],
        [
            make_package(
                "px",
                "cx",
                [make_line("x", window=_fixed("08:00"), duration=60, hard_window=_fixed("08:00"))],
            ),
            make_package(
                "py",
                "cy",
                [make_line("y", window=_fixed("08:00"), duration=60, hard_window=_fixed("08:00"))],
            ),
        ],
        {},
    )
    roster = _with_days(
        problem,
        make_roster(
            problem,
            [
                assign(problem, "x-Mon", "08:00", ["ann"]),
                assign(problem, "y-Mon", "08:00", ["bea"]),
            ],
        ),
    )
    result = replan(problem, roster, [Absence("ann", MON)])
    assert [u.visit_id for u in result.uncovered] == ["x-Mon"]
    reason = result.uncovered[0].reasons[0]
    assert reason.startswith("availability:"), reason
    assert "Monday" in reason and "08:00" in reason, reason
    assert check(problem, result.roster) == []
    assert [u.visit_id for u in result.roster.unassigned] == ["x-Mon"]


def test_overtime_is_offered_as_the_nearest_option() -> None:
    """Bea is free at 08:00 but only 30 minutes short of her day's maximum: the
    re-plan leaves x uncovered and says how much overtime would cover it."""
    problem = make_problem(
        [make_worker("ann"), make_worker("bea", max_day=60)],
        [
            make_package(
                "px",
                "cx",
                [make_line("x", window=_fixed("08:00"), duration=60, hard_window=_fixed("08:00"))],
            ),
            make_package(
                "py",
                "cy",
                [make_line("y", window=_fixed("10:00"), duration=30, hard_window=_fixed("10:00"))],
            ),
        ],
        {},
    )
    roster = _with_days(
        problem,
        make_roster(
            problem,
            [
                assign(problem, "x-Mon", "08:00", ["ann"]),
                assign(problem, "y-Mon", "10:00", ["bea"]),
            ],
        ),
    )
    result = replan(problem, roster, [Absence("ann", MON)])
    assert [u.visit_id for u in result.uncovered] == ["x-Mon"]
    assert any("overtime: bea" in o and "30 minutes" in o for o in result.uncovered[0].options)


def test_a_partial_absence_keeps_what_the_carer_can_still_do_and_get_home_from() -> None:
    """Ann away from 08:35: her shift becomes 07:00-08:35. She keeps e (07:20-07:50,
    home by 08:00) but not a (08:00-08:30 at the same client), since the 10 minutes
    home would run into the absence; a and b go to Bea, and the roster passes the
    checker against the input as given and as cut."""
    problem = make_problem(
        [make_worker("ann"), make_worker("bea")],
        [
            make_package(
                "p1",
                "c1",
                [
                    make_line("e", window=("07:20", "07:20"), duration=30),
                    make_line("a", window=("08:00", "08:00"), duration=30),
                ],
            ),
            make_package("p2", "c2", [make_line("b", window=("08:40", "08:40"), duration=30)]),
        ],
        {(w, c): 10 for w in ("ann", "bea", "c1") for c in ("c1", "c2") if w != c},
        max_shift_min=0,
    )
    roster = _with_days(
        problem,
        make_roster(
            problem,
            [
                assign(problem, "e-Mon", "07:20", ["ann"]),
                assign(problem, "a-Mon", "08:00", ["ann"]),
                assign(problem, "b-Mon", "08:40", ["ann"]),
            ],
        ),
    )
    result = replan(problem, roster, [parse_absence("ann:Mon:08:35-24:00")])
    assert str(result.problem.workers[0].availability[MON][0]) == "07:00-08:35"
    assert sorted(result.displaced) == ["a-Mon", "b-Mon"]
    assert _slots(result.roster) == {
        "e-Mon": ("07:20", ("ann",)),
        "a-Mon": ("08:00", ("bea",)),
        "b-Mon": ("08:40", ("bea",)),
    }
    assert check(problem, result.roster) == []
    assert check(result.problem, result.roster) == []


def test_parse_absence_and_now() -> None:
    """WORKER:DAY[:HH:MM-HH:MM], a start alone meaning to the end of the day; an ISO
    date is refused on a weekly template (in a dated week: tests/test_living_dated.py)."""
    assert parse_absence("w03:Tue") == Absence("w03", Weekday.TUE, 0, MINUTES_PER_DAY)
    assert parse_absence("w03:tuesday:06:30-12:00") == Absence("w03", Weekday.TUE, 390, 720)
    assert parse_absence("w03:Tue:06:30") == Absence("w03", Weekday.TUE, 390, MINUTES_PER_DAY)
    assert parse_now("Tue:06:30") == MINUTES_PER_DAY + 390
    for bad in ("w03", "w03:Xyz", "w03:Tue:12:00-06:00", "w03:2026-12-01", "w03:Tue:25:00"):
        with pytest.raises(ValueError):
            parse_absence(bad)


# ------------------------------------------------------------------- property


@st.composite
def absences(draw: st.DrawFn, roster: Roster, problem: Problem) -> tuple[list[Absence], int]:
    """One or two absences, mostly of a carer around one of their visits (from some
    time before it to some time after it starts), and a `now` up to four hours before
    that visit."""
    found, latest_now = [], 3 * MINUTES_PER_DAY
    for _ in range(draw(st.integers(1, 2))):
        if roster.assignments and draw(st.integers(0, 3)):
            a = draw(st.sampled_from(roster.assignments))
            begin = parse_hhmm(a.start)
            start = max(0, begin - draw(st.integers(0, 8)) * 30)
            end = min(MINUTES_PER_DAY, begin + 1 + draw(st.integers(0, 8)) * 30)
            found.append(Absence(draw(st.sampled_from(a.workers)), a.weekday, start, end))
            latest_now = min(latest_now, a.weekday.index * MINUTES_PER_DAY + begin)
        else:
            worker = draw(st.sampled_from(problem.workers)).id
            day = draw(st.sampled_from([Weekday.MON, Weekday.TUE, Weekday.WED]))
            start = draw(st.integers(0, 22)) * 60
            end = draw(st.integers(start // 60 + 1, 24)) * 60
            found.append(Absence(worker, day, start, end))
    return found, max(0, latest_now - draw(st.integers(0, 16)) * 15)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_every_replan_is_checked_and_never_changes_the_past(data: st.DataObject) -> None:
    """Random absences on random small rosters (the greedy roster of a random problem):
    the re-planned roster passes the checker against the input, the absent carers do
    nothing new in their absences, and no visit starting before `now` (or linked to
    one that did) changes."""
    problem = data.draw(problems())
    inst = build_instance(problem)
    state, placements = construct(inst)
    roster = finish(inst, state, placements, status="greedy", bound=None, began=0, num_workers=1)
    assert check(problem, roster) == []
    away, now = data.draw(absences(roster, problem))
    result = replan(problem, roster, away, now=now)
    assert check(problem, result.roster) == []
    assert check(result.problem, result.roster) == []
    before, after = _slots(roster), _slots(result.roster)
    # Under way: started before now, or linked to a visit that did.
    under_way = {
        a.visit_id
        for a in roster.assignments
        if a.weekday.index * MINUTES_PER_DAY + parse_hhmm(a.start) < now
    }
    partner = {inst.visits[x].visit.id: inst.visits[y].visit.id for x, y in inst.partner.items()}
    under_way |= {partner[v] for v in under_way if v in partner}
    for v in under_way:
        assert after.get(v) == before[v], v
    for a in result.roster.assignments:
        start = a.weekday.index * MINUTES_PER_DAY + parse_hhmm(a.start)
        if start < now:
            assert before.get(a.visit_id) == after[a.visit_id]  # nothing new in the past
            continue
        end = a.weekday.index * MINUTES_PER_DAY + parse_hhmm(a.end)
        for absence in away:
            if absence.worker_id not in a.workers or absence.day != a.weekday:
                continue
            # An absence that begins while the carer is on a visit under way (before
            # now) begins once they are home from it.
            offset = absence.day.index * MINUTES_PER_DAY
            w = next(i for i, x in enumerate(problem.workers) if x.id == absence.worker_id)
            home_by = max(
                (
                    offset + parse_hhmm(f.end) + max(map(max, inst.travel(w)))
                    for f in roster.assignments
                    if absence.worker_id in f.workers
                    and f.weekday == absence.day
                    and f.visit_id in under_way
                ),
                default=0,
            )
            away_from = max(offset + absence.start, now, home_by)
            if away_from >= offset + absence.end:
                continue  # over before they are home from what is under way
            assert end <= away_from or start >= offset + absence.end, a.visit_id


# ------------------------------------------------------------------------ CLI


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matcher", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_cli_replan_json_contract_and_check(tmp_path: Path) -> None:
    """`carematch replan --json` prints changes (visit_id, before and after with
    workers and start), uncovered (with reasons) and notify; `carematch check` accepts
    the roster it wrote; a bad --absent exits 2 with one line naming the option."""
    problem, roster = _move_one_problem()
    (tmp_path / "in.json").write_text(problem.model_dump_json())
    (tmp_path / "roster.json").write_text(roster.model_dump_json())
    new = tmp_path / "new.json"
    run = _cli(
        "replan", str(tmp_path / "in.json"), str(tmp_path / "roster.json"),
        "--absent", "ann:Mon", "--now", "Mon:06:30", "--out", str(new), "--json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    body = json.loads(run.stdout)
    assert {"changes", "uncovered", "notify"} <= body.keys()
    assert body["changes"][0]["visit_id"] == "x-Mon"
    for change in body["changes"]:
        assert set(change["before"]) == set(change["after"]) == {"workers", "start"}
    assert body["uncovered"] == []
    assert body["notify"] == {"clients": ["cx", "cy"], "workers": ["bea"]}
    checked = _cli("check", str(tmp_path / "in.json"), str(new))
    assert checked.returncode == 0, checked.stdout

    for bad in ("ann", "ann:Someday", "nobody:Mon", "ann:2026-12-01"):
        run = _cli(
            "replan", str(tmp_path / "in.json"), str(tmp_path / "roster.json"),
            "--absent", bad, "--out", str(tmp_path / "x.json"),
        )  # fmt: skip
        assert run.returncode == 2, (bad, run.stdout, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --absent:"), lines


def test_bug_a_search_result_that_breaks_a_rule_is_never_returned(monkeypatch) -> None:
    """Should a CP-SAT stage ever return a roster that breaks a rule (here one forced to
    put x and y on Bea at once), the re-plan falls back to a roster the checker
    accepts rather than return it: the one ruin and recreate found (it covers x by
    moving y), or with that stage off, the greedy one (x uncovered)."""
    import sys

    from matcher.construct import Placement

    module = sys.modules["matcher.living.replan"]
    problem, roster = _move_one_problem()

    def overlapping(inst, start, *args, **kwargs):
        bea = next(s.index for s in inst.shifts if inst.workers[s.worker].id == "bea")
        x = next(v.index for v in inst.visits if v.visit.id == "x-Mon")
        return [*start, Placement(x, 8 * 60, (bea,))]

    monkeypatch.setattr(module, "_search", overlapping)
    result = replan(problem, roster, [Absence("ann", MON)])
    assert result.status == "ruin and recreate around the uncovered visits"
    assert result.uncovered == []
    assert _slots(result.roster)["x-Mon"] == ("08:00", ("bea",))
    assert check(problem, result.roster) == []

    monkeypatch.setattr(module, "_escalate", lambda *args, **kwargs: None)
    result = replan(problem, roster, [Absence("ann", MON)])
    assert result.status.startswith("greedy")
    assert [u.visit_id for u in result.uncovered] == ["x-Mon"]
    assert check(problem, result.roster) == []


def test_bug_a_linked_pair_under_way_stays_together() -> None:
    """Ann's l0 (08:00) has started at now 08:10; its linked l1 (30-60 minutes later)
    has not, and Ann is away from 08:15. The pair is under way: l1 stays with Ann (her
    absence begins once she is home from it), so the link holds and the checker
    accepts the roster (l1 alone was displaced, nobody could take it, and the roster
    broke the link rule)."""
    from matcher.schema import VisitLink

    package = make_package(
        "p",
        "c",
        [
            make_line("l0", window=_fixed("08:00"), duration=30),
            make_line("l1", window=("08:30", "09:00"), duration=30),
        ],
    ).model_copy(
        update={"links": [VisitLink(first="l0", second="l1", min_gap_min=30, max_gap_min=60)]}
    )
    problem = make_problem(
        [make_worker("ann"), make_worker("bea", shifts={"Mon": [("11:00", "12:00")]})],
        [package],
        {},
    )
    roster = _with_days(
        problem,
        make_roster(
            problem,
            [
                assign(problem, "l0-Mon", "08:00", ["ann"]),
                assign(problem, "l1-Mon", "08:45", ["ann"]),
            ],
        ),
    )
    result = replan(problem, roster, [parse_absence("ann:Mon:08:15")], now=parse_now("Mon:08:10"))
    assert _slots(result.roster) == {"l0-Mon": ("08:00", ("ann",)), "l1-Mon": ("08:45", ("ann",))}
    assert result.changes == [] and result.uncovered == []
    assert check(problem, result.roster) == []
