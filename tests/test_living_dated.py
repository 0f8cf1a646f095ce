"""Dated weeks (`matcher.living.dated`, `carematch week`): the template laid on a real
week with its exceptions, bank holidays as data, and `carematch replan --absent` with
an ISO date inside the planned week."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from matcher.checker import check
from matcher.construct import construct
from matcher.instance import build_instance
from matcher.living import Absence, parse_absence, parse_now
from matcher.living.dated import (
    DatedError,
    DatedWeek,
    dated_problem,
    lay_template,
    parse_week,
    week_summary,
)
from matcher.schema import Problem, expand_visits
from matcher.solver.solve import finish
from matcher.timeutil import MINUTES_PER_DAY, Weekday

ROOT = Path(__file__).resolve().parents[1]
MARY = ROOT / "data" / "samples" / "mary.json"
MARY_WEEK = ROOT / "data" / "samples" / "living" / "mary_week.json"
W49 = date(2026, 11, 30)  # the Monday of ISO week 2026-W49


def _mary() -> Problem:
    return Problem.model_validate_json(MARY.read_text())


def _week(**rest: Any) -> DatedWeek:
    return DatedWeek.model_validate({"week": "2026-W49", **rest})


def _ids(problem: Problem) -> dict[str, Weekday]:
    return {v.id: v.weekday for p in problem.packages for v in expand_visits(p)}


def test_parse_week_iso_week_or_its_monday() -> None:
    """ "2026-W49" and "2026-11-30" are the same week; a Tuesday is not a week's start."""
    assert parse_week("2026-W49") == W49
    assert parse_week("2026-11-30") == W49
    with pytest.raises(ValueError, match="Tuesday"):
        parse_week("2026-12-01")
    with pytest.raises(ValueError):
        parse_week("2026-W54")


def test_lay_template_puts_each_weekday_visit_on_its_dates() -> None:
    """Two weeks of Mary's pattern: 28 visits, every Tuesday visit on a Tuesday."""
    laid = lay_template(_mary().packages[0], W49, date(2026, 12, 13))
    assert len(laid) == 2 * 14
    assert all(d.day.weekday() == d.visit.weekday.index for d in laid)
    assert sum(d.carer_minutes for d in laid) == 2 * 405


def test_a_client_away_leaves_those_dates_visits_out() -> None:
    """Mary in hospital from Thursday 3 December to the following Thursday: her
    Thursday to Sunday visits of W49 are left out, Monday to Wednesday stay."""
    week = _week(clients_away=[{"package_id": "mary", "from": "2026-12-03", "to": "2026-12-10"}])
    dated = dated_problem(_mary(), week)
    days = set(_ids(dated).values())
    assert days == {Weekday.MON, Weekday.TUE, Weekday.WED}
    assert dated.week_start == W49
    summary = week_summary(_mary(), week, dated)
    assert {item["date"] for item in summary["left_out"]} == {
        "2026-12-03",
        "2026-12-04",
        "2026-12-05",
        "2026-12-06",
    }


def test_a_carer_away_is_cut_out_of_their_shifts() -> None:
    """Susan (ken-w1) away on Tuesday 1 December from 10:00 to 18:00: her Tuesday
    shifts 07:00-13:00 and 17:00-21:00 become 07:00-10:00 and 18:00-21:00."""
    week = _week(
        carers_away=[
            {"worker_id": "ken-w1", "date": "2026-12-01", "start": "10:00", "end": "18:00"}
        ]
    )
    dated = dated_problem(_mary(), week)
    susan = next(w for w in dated.workers if w.id == "ken-w1")
    assert [str(r) for r in susan.availability[Weekday.TUE]] == ["07:00-10:00", "18:00-21:00"]
    assert [str(r) for r in susan.availability[Weekday.MON]] == ["07:00-13:00", "17:00-21:00"]


def test_extra_and_changed_visits_and_bank_holidays() -> None:
    """Christmas week: an extra lunch on Friday 25 December (a bank holiday, given as
    data), Sunday's visit an hour later that one Sunday; every visit of the dated week
    can be rostered and the roster passes the checker (budget rule included) against
    the dated input."""
    week = DatedWeek.model_validate_json(MARY_WEEK.read_text())
    dated = dated_problem(_mary(), week)
    ids = _ids(dated)
    assert ids["mary-christmas-Fri"] == Weekday.FRI
    assert "mary-sunday@2026-12-27-Sun" in ids and "mary-sunday-Sun" not in ids
    sunday = next(
        v for p in dated.packages for v in expand_visits(p) if v.id == "mary-sunday@2026-12-27-Sun"
    )
    assert str(sunday.window) == "09:30-10:00"
    summary = week_summary(_mary(), week, dated)
    # The one-off lunch (60 minutes) is paid from the bank: the week's cap is lifted by
    # exactly it, (405 + 60) x £12.50 / 60 x 52 = £5,037.50 a year's worth.
    assert summary["from_bank_minutes"] == {"mary": 60}
    budget = dated.packages[0].budget
    assert budget is not None and budget.amount_pence == (405 + 60) * 1250 * 52 // 60 == 503_750
    assert summary["bank_holidays"] == ["2026-12-25"]  # 28 Dec and 1 Jan are next week
    assert [d["bank_holiday"] for d in summary["days"]] == [False] * 4 + [True] + [False] * 2
    inst = build_instance(dated)
    state, placements = construct(inst)
    roster = finish(inst, state, placements, status="t", bound=None, began=0, num_workers=1)
    assert roster.unassigned == []
    assert check(dated, roster) == []


def test_exceptions_outside_the_week_or_unknown_are_refused_naming_the_field() -> None:
    """A date outside the week, an unknown carer, or a changed visit on the wrong
    weekday is a DatedError naming the field."""
    with pytest.raises(DatedError, match=r"carers_away\[0\]\.date"):
        dated_problem(_mary(), _week(carers_away=[{"worker_id": "ken-w1", "date": "2026-12-07"}]))
    with pytest.raises(DatedError, match=r"carers_away\[0\]\.worker_id"):
        dated_problem(_mary(), _week(carers_away=[{"worker_id": "nobody", "date": "2026-12-01"}]))
    wrong_day = {"visit_id": "mary-sunday-Sun", "date": "2026-12-05", "duration_min": 45}
    with pytest.raises(DatedError, match=r"changed_visits\[0\]\.date"):
        dated_problem(_mary(), _week(changed_visits=[wrong_day]))


def test_parse_absence_takes_an_iso_date_inside_a_dated_week() -> None:
    """In the week of 30 November, 2026-12-01 is its Tuesday; a date outside the week,
    or any date when the input is the weekly template, is refused."""
    assert parse_absence("w03:2026-12-01", week_start=W49) == Absence(
        "w03", Weekday.TUE, 0, MINUTES_PER_DAY
    )
    assert parse_absence("w03:2026-12-06:06:30-12:00", week_start=W49) == Absence(
        "w03", Weekday.SUN, 390, 720
    )
    assert parse_now("2026-12-01:06:30", week_start=W49) == MINUTES_PER_DAY + 390
    with pytest.raises(ValueError, match="not in the planned week"):
        parse_absence("w03:2026-12-07", week_start=W49)
    with pytest.raises(ValueError, match="weekly template"):
        parse_absence("w03:2026-12-01")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matcher", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_cli_week_then_solve_and_replan_by_date(tmp_path: Path) -> None:
    """`carematch week` writes the dated input; `solve` rosters it; `replan --absent
    ken-w2:2026-12-24` (the Thursday of that week) covers her visits, lists each change
    with its date, and `check` accepts the new roster; a date outside the week exits 2
    with one line naming --absent."""
    dated, roster, new = tmp_path / "dated.json", tmp_path / "roster.json", tmp_path / "new.json"
    run = _cli("week", str(MARY), str(MARY_WEEK), "--out", str(dated), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["week_start"] == "2026-12-21"
    solved = _cli("solve", str(dated), "--time-limit", "2", "--out", str(roster))
    assert solved.returncode == 0, solved.stderr
    assert json.loads(roster.read_text())["week_start"] == "2026-12-21"
    replanned = _cli(
        "replan", str(dated), str(roster), "--absent", "ken-w2:2026-12-24",
        "--now", "2026-12-24:06:00", "--out", str(new), "--json",
    )  # fmt: skip
    assert replanned.returncode == 0, replanned.stderr
    body = json.loads(replanned.stdout)
    assert body["week_start"] == "2026-12-21"
    assert all(c["date"] == "2026-12-24" for c in body["changes"])
    assert all("ken-w2" not in c["after"]["workers"] for c in body["changes"])
    assert _cli("check", str(dated), str(new)).returncode == 0
    assert json.loads(new.read_text())["week_start"] == "2026-12-21"
    outside = _cli(
        "replan", str(dated), str(roster), "--absent", "ken-w2:2026-12-31", "--out", str(new)
    )
    assert outside.returncode == 2
    lines = outside.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --absent"), outside.stderr
