"""ISF changes within the budget (`matcher.living.change`, `carematch change`): Mary's
worked example to the penny, the roster question answered by the checker, and the
command's contract. Every figure is worked out here from DOMAIN.md's arithmetic, not
read back from the code."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matcher.checker import check
from matcher.construct import construct
from matcher.instance import build_instance
from matcher.kpis import compute_kpis
from matcher.living.change import ChangeError, ChangeRequest, budget_figures, propose_change
from matcher.living.money import pence_json
from matcher.schema import Problem, Roster, expand_visits
from matcher.solver.solve import finish
from tests.test_properties import problems

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
MARY = SAMPLES / "mary.json"
MARY_ROSTER = SAMPLES / "living" / "mary_roster.json"

RATE = 1250  # £12.50 an hour
CAP = 438_750  # £4,387.50 a year
# DOMAIN.md: 1 hour on three days, 30 minutes on the other four, 15 minutes every evening.
MARY_WEEK_MIN = 3 * 60 + 4 * 30 + 7 * 15


def _mary() -> tuple[Problem, Roster]:
    problem = Problem.model_validate_json(MARY.read_text())
    roster = Roster.model_validate_json(MARY_ROSTER.read_text())
    return problem, roster


def _request(*changes: dict, bank_minutes: int | None = None) -> ChangeRequest:
    data: dict = {"package_id": "mary", "from": "2026-12-07", "changes": list(changes)}
    if bank_minutes is not None:
        data["bank_minutes"] = bank_minutes
    return ChangeRequest.model_validate(data)


LONGER_SUNDAY = {"action": "lengthen", "visit_id": "mary-sunday-Sun", "minutes": 30}
SHORTER_MONDAY = {"action": "shorten", "visit_id": "mary-shower-Mon", "minutes": 30}


def test_mary_sample_roster_is_valid_and_exactly_at_her_cap() -> None:
    """The committed roster the examples start from passes the checker, and her week
    costs exactly her cap: 405 minutes x £12.50 x 52 = £4,387.50."""
    problem, roster = _mary()
    assert check(problem, roster) == []
    assert MARY_WEEK_MIN == 405
    assert Fraction(MARY_WEEK_MIN * RATE * 52, 60) == CAP
    figures = budget_figures(problem.packages[0], RATE)
    assert figures.weekly_minutes == MARY_WEEK_MIN
    assert figures.annual_pence == CAP


def test_mary_longer_sunday_and_shorter_monday_fits_without_approval() -> None:
    """Sunday +30 minutes and Monday -30: still 405 minutes a week, £4,387.50 a year,
    within her cap; no approval; the same carers at the same times, and the new roster
    passes the checker against the changed input (cap included)."""
    problem, roster = _mary()
    verdict = propose_change(problem, roster, _request(LONGER_SUNDAY, SHORTER_MONDAY))
    assert verdict.verdict == "fits"
    assert not verdict.approval_needed
    assert verdict.roster is not None
    assert check(verdict.problem, verdict.roster) == []
    assert verdict.after.weekly_minutes == MARY_WEEK_MIN + 30 - 30
    annual = Fraction((MARY_WEEK_MIN + 30 - 30) * RATE * 52, 60)
    assert annual == CAP
    body = verdict.to_json()
    assert Decimal(body["budget"]["after"]["annual_cost_pence"]) == Decimal(CAP)
    assert Decimal(body["budget"]["over_per_year_pence"]) == 0
    assert Decimal(body["budget"]["left_per_year_pence"]) == 0
    assert body["suggestions"] == []
    week = {v["visit_id"]: v for v in body["visits"]}
    before = {a.visit_id: a for a in roster.assignments}
    sunday, monday = week["mary-sunday-Sun"], week["mary-shower-mon-Mon"]
    assert (sunday["start"], sunday["end"]) == (before["mary-sunday-Sun"].start, "09:30")
    assert sunday["workers"] == before["mary-sunday-Sun"].workers
    assert (monday["start"], monday["end"]) == ("08:00", "08:30")
    assert monday["workers"] == before["mary-shower-Mon"].workers


def test_mary_longer_sunday_alone_is_over_by_the_exact_figure() -> None:
    """Sunday +30 minutes alone: 435 minutes a week, over by 30 minutes at £12.50 an
    hour = 625 pence a week and 625 x 52 = 32,500 pence (£325.00) a year; it fits the
    roster, so the request to the council carries these figures."""
    problem, roster = _mary()
    verdict = propose_change(problem, roster, _request(LONGER_SUNDAY))
    over_week = Fraction(30 * RATE, 60)
    assert over_week == 625
    assert verdict.verdict == "over_budget"
    assert verdict.approval_needed
    assert verdict.fits_roster
    assert verdict.after.over_per_week == over_week
    body = verdict.to_json()["budget"]
    assert Decimal(body["over_per_week_pence"]) == Decimal(625)
    assert Decimal(body["over_per_year_pence"]) == Decimal(32_500)
    assert body["over_minutes_per_week"] == 30
    assert Decimal(body["after"]["annual_cost_pence"]) == Decimal(CAP + 32_500)


def test_mary_over_budget_suggestions_each_make_it_fit() -> None:
    """What would make it fit is offered ("shorten Wednesday's visit by 30 minutes",
    "use 30 banked minutes a week"), and a shortening suggested, added to the request,
    does make the change fit with no approval."""
    problem, roster = _mary()
    verdict = propose_change(problem, roster, _request(LONGER_SUNDAY, bank_minutes=405))
    assert "shorten Wednesday's 08:00 visit (mary-shower-Wed) by 30 minutes" in (
        verdict.suggestions
    )
    # 405 banked minutes pay 30 minutes a week for 13 weeks.
    assert any(s.startswith("use 30 banked minutes a week") for s in verdict.suggestions)
    assert any("cover 13 weeks" in s for s in verdict.suggestions)
    wednesday = {"action": "shorten", "visit_id": "mary-shower-Wed", "minutes": 30}
    fixed = propose_change(problem, roster, _request(LONGER_SUNDAY, wednesday))
    assert fixed.verdict == "fits"


def test_change_budget_agrees_with_the_checker_and_the_kpis() -> None:
    """The verdict's budget answer is the checker's: the over-budget roster checked
    against the changed input (with its cap) breaks only the budget rule, the fitting
    one breaks nothing; and its annual cost is the KPIs' figure."""
    problem, roster = _mary()
    over = propose_change(problem, roster, _request(LONGER_SUNDAY))
    assert over.roster is not None
    assert {v.rule for v in check(over.problem, over.roster)} == {"budget"}
    kpis = compute_kpis(over.problem, over.roster)
    assert kpis.clients["mary-client"].annual_cost_pence == over.after.annual_pence
    assert kpis.clients["mary-client"].within_budget is False
    fits = propose_change(problem, roster, _request(LONGER_SUNDAY, SHORTER_MONDAY))
    assert fits.roster is not None and check(fits.problem, fits.roster) == []


def test_a_move_nobody_can_take_gives_reasons_and_nearest_times_that_fit() -> None:
    """Tuesday's morning visit moved to exactly 14:00: no carer works then, so it does
    not fit; the reason names availability and the day, and the nearest start offered
    does fit when asked for (the checker accepts the roster)."""
    problem, roster = _mary()
    at_two = {"start": "14:00", "end": "14:00"}
    move = {"action": "move", "visit_id": "mary-morning-Tue", "window": at_two}
    verdict = propose_change(problem, roster, _request({**move, "hard_window": at_two}))
    assert verdict.verdict == "does_not_fit"
    reasons = verdict.reasons["mary-morning-tue-Tue"]
    assert any(r.startswith("availability") and "Tuesday 14:00" in r for r in reasons)
    nearest = verdict.nearest["mary-morning-tue-Tue"]
    assert nearest
    for near in nearest:
        at = {"start": near.start, "end": near.start}
        retry = propose_change(problem, roster, _request({**move, "window": at, "hard_window": at}))
        assert retry.verdict == "fits", near
        assert retry.roster is not None and check(retry.problem, retry.roster) == []


def test_added_visit_and_dropped_visit() -> None:
    """Dropping Sunday evening's 15 minutes frees 15 x £12.50 / 60 = 312.5 pence a week
    (16,250 a year); adding a 15-minute Saturday lunch with it keeps her at her cap."""
    problem, roster = _mary()
    drop = {"action": "drop", "visit_id": "mary-evening-Sun"}
    freed = propose_change(problem, roster, _request(drop))
    assert freed.verdict == "fits"
    body = freed.to_json()["budget"]
    assert Decimal(body["left_per_week_pence"]) == Decimal("312.5")
    assert Decimal(body["left_per_year_pence"]) == Decimal(16_250)
    lunch = {
        "action": "add",
        "id": "mary-lunch",
        "weekday": "Sat",
        "window": {"start": "12:00", "end": "12:30"},
        "duration_min": 15,
        "skills": ["meal_preparation"],
    }
    both = propose_change(problem, roster, _request(drop, lunch))
    assert both.verdict == "fits"
    assert both.after.annual_pence == CAP
    assert both.roster is not None
    assert "mary-lunch-Sat" in {a.visit_id for a in both.roster.assignments}
    assert check(both.problem, both.roster) == []


def test_bad_changes_are_refused_naming_the_field() -> None:
    """An unknown visit or a shortening that leaves nothing is a ChangeError naming the
    change; a visit id that is a weekday of nothing is never silently ignored."""
    problem, roster = _mary()
    with pytest.raises(ChangeError, match=r"changes\[0\]\.visit_id"):
        propose_change(problem, roster, _request({"action": "drop", "visit_id": "nope"}))
    with pytest.raises(ChangeError, match=r"changes\[0\]\.minutes"):
        propose_change(
            problem,
            roster,
            _request({"action": "shorten", "visit_id": "mary-evening-Sun", "minutes": 15}),
        )


def test_money_is_written_exactly() -> None:
    """Half pence stay half pence, and a price that does not end in decimal is the
    exact fraction: 1 minute at £12.50 is 1250/60 = 125/6 pence."""
    assert pence_json(Fraction(16_875, 2)) == "8437.5"
    assert pence_json(CAP) == "438750"
    assert pence_json(Fraction(RATE, 60)) == "125/6"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matcher", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_cli_change_contract(tmp_path: Path) -> None:
    """`carematch change --json`: exit 0 and the verdict when it fits, with the roster
    and changed input written so that `carematch check` accepts them; exit 1 over the
    budget with the figures; exit 2 with one line naming the field on bad input."""
    new_roster, new_input = tmp_path / "new.json", tmp_path / "in.json"
    run = _cli(
        "change", str(MARY), str(MARY_ROSTER), str(SAMPLES / "living" / "mary_change.json"),
        "--json", "--out", str(new_roster), "--out-input", str(new_input),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    body = json.loads(run.stdout)
    assert body["verdict"] == "fits" and body["approval_needed"] is False
    assert {"budget", "roster_changes", "visits", "reasons", "nearest", "suggestions"} <= set(body)
    checked = _cli("check", str(new_input), str(new_roster))
    assert checked.returncode == 0, checked.stdout

    over = _cli(
        "change", str(MARY), str(MARY_ROSTER),
        str(SAMPLES / "living" / "mary_change_over.json"), "--json",
    )  # fmt: skip
    assert over.returncode == 1, over.stderr
    assert json.loads(over.stdout)["budget"]["over_per_year_pence"] == "32500"
    over_roster = tmp_path / "over.json"
    _cli(
        "change", str(MARY), str(MARY_ROSTER),
        str(SAMPLES / "living" / "mary_change_over.json"), "--out", str(over_roster),
    )  # fmt: skip
    assert not over_roster.exists()  # only a change that fits is written

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"package_id": "mary", "changes": [{"action": "lengthen"}]}))
    refused = _cli("change", str(MARY), str(MARY_ROSTER), str(bad))
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "changes[0]" in lines[0], refused.stderr


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_a_change_never_moves_anyone_else_and_agrees_with_the_checker(
    data: st.DataObject,
) -> None:
    """Random lengthenings, shortenings, moves and drops on random small rosters: a
    roster it returns passes the checker against the changed input without its cap,
    and with its cap exactly when the verdict says within the budget; every visit the
    change does not touch keeps its carers and its start (nobody else moves)."""
    problem = data.draw(problems())
    inst = build_instance(problem)
    state, placements = construct(inst)
    roster = finish(inst, state, placements, status="greedy", bound=None, began=0, num_workers=1)
    assert check(problem, roster) == []
    placed = [a for a in roster.assignments]
    if not placed:
        return
    target = data.draw(st.sampled_from(placed))
    action = data.draw(st.sampled_from(["lengthen", "shorten", "move", "drop"]))
    item: dict = {"action": action, "visit_id": target.visit_id}
    if action in ("lengthen", "shorten"):
        item["minutes"] = data.draw(st.sampled_from([5, 15, 30]))
    elif action == "move":
        start = data.draw(st.integers(6 * 4, 20 * 4)) * 15
        hhmm = f"{start // 60:02d}:{start % 60:02d}"
        item["window"] = {"start": hhmm, "end": hhmm}
    request = ChangeRequest.model_validate({"package_id": target.package_id, "changes": [item]})
    try:
        verdict = propose_change(problem, roster, request)
    except ChangeError:
        return  # shortened to nothing, or one day of a linked pair: refused, not guessed
    package = next(p for p in verdict.problem.packages if p.id == target.package_id)
    if package.budget is not None:
        minutes = sum(v.duration_min * v.carers for v in expand_visits(package))
        weeks = 52 if package.budget.period == "year" else 1
        cost_60 = minutes * problem.agency.hourly_rate_pence * weeks  # pence x 60
        assert verdict.within_budget == (cost_60 <= package.budget.amount_pence * 60)
    if verdict.roster is None:
        assert verdict.verdict == "does_not_fit" and verdict.reasons
        return
    rules = {v.rule for v in check(verdict.problem, verdict.roster)}
    assert rules <= {"budget"}
    planned = {v.id for v in expand_visits(package)}
    if planned <= {a.visit_id for a in verdict.roster.assignments}:
        # The verdict prices the package's pattern (as broker matching does), the
        # checker its placed visits: the same when every visit is placed.
        assert ("budget" not in rules) == verdict.within_budget
    touched = {target.visit_id}
    linked = {end for p in problem.packages for k in p.links for end in (k.first, k.second)}
    after = {a.visit_id: (a.start, sorted(a.workers)) for a in verdict.roster.assignments}
    for a in roster.assignments:
        line = a.visit_id.rsplit("-", 1)[0]
        if a.visit_id in touched or line in linked:
            continue
        assert after.get(a.visit_id) == (a.start, sorted(a.workers)), a.visit_id
