"""The budget ledger and time banking (`matcher.living.ledger`, `carematch budget`):
Mary's week in hospital banked to the penny and spent later within her cap, the
package's bank rules, the review date, and the command's contract. Figures are worked
out here from DOMAIN.md, not read back from the code."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from matcher.living.change import budget_figures
from matcher.living.ledger import Ledger, LedgerError, statement
from matcher.schema import Problem

ROOT = Path(__file__).resolve().parents[1]
MARY = ROOT / "data" / "samples" / "mary.json"
MARY_LEDGER = ROOT / "data" / "samples" / "living" / "mary_ledger.json"

RATE = 1250  # £12.50 an hour
CAP = 438_750  # £4,387.50 a year
WEEK_MIN = 3 * 60 + 4 * 30 + 7 * 15  # 405 carer minutes, 14 visits a week
WEEK_VISITS = 3 + 4 + 7
YEAR_START = date(2026, 11, 2)  # a Monday
YEAR_END = YEAR_START + timedelta(days=364 - 1)
HOSPITAL = {"kind": "client_away", "from": "2026-11-16", "to": "2026-11-22", "reason": "hospital"}


def _mary() -> Problem:
    return Problem.model_validate_json(MARY.read_text())


def _ledger(*entries: dict[str, Any], as_of: date = date(2026, 12, 1), **rest: Any) -> Ledger:
    data = {
        "package_id": "mary",
        "year_start": YEAR_START.isoformat(),
        "as_of": as_of.isoformat(),
        "entries": list(entries),
        **rest,
    }
    return Ledger.model_validate(data)


def _use(day: date, minutes: int, **rest: Any) -> dict[str, Any]:
    return {"kind": "use_bank", "date": day.isoformat(), "minutes": minutes, **rest}


def test_the_year_planned_is_52_of_her_weeks_exactly_her_cap() -> None:
    """Laid over its 364 days the pattern plans 52 x 14 visits, 52 x 405 minutes, and
    52 x 405 x £12.50 / 60 = £4,387.50: the budget rule's year (`budget_figures`)."""
    s = statement(_mary(), _ledger())
    assert (s.year_start, s.year_end) == (YEAR_START, date(2027, 10, 31))
    assert s.planned.visits == 52 * WEEK_VISITS
    assert s.planned.minutes == 52 * WEEK_MIN
    assert s.pence(s.planned.minutes) == CAP
    assert s.pence(s.planned.minutes) == budget_figures(_mary().packages[0], RATE).annual_pence


def test_a_week_in_hospital_banks_exactly_the_pence_of_the_visits_not_delivered() -> None:
    """Monday 16 to Sunday 22 November in hospital: the 14 visits of that week, 405
    carer minutes, are not delivered and banked: 405 x 1250 / 60 = 8,437.5 pence."""
    s = statement(_mary(), _ledger(HOSPITAL))
    banked = Fraction(WEEK_MIN * RATE, 60)
    assert banked == Fraction(16_875, 2)
    assert s.not_delivered["hospital"].visits == WEEK_VISITS
    assert s.bank_minutes == WEEK_MIN
    assert s.pence(s.bank_minutes) == banked
    body = s.to_json()
    assert Decimal(body["bank"]["pence"]) == Decimal("8437.5")
    # 2 November to 1 December: four whole weeks and a Monday and a Tuesday
    # (two visits each), one of the weeks in hospital.
    assert s.delivered.visits == 4 * WEEK_VISITS + 2 + 2 - WEEK_VISITS
    # Spent, to come and banked add up to the year planned, to the penny.
    assert s.spent_minutes + s.to_come.minutes + s.bank_minutes == 52 * WEEK_MIN
    assert Decimal(body["left_pence"]) == Decimal(CAP) - Decimal(body["spent"]["pence"])


def test_using_the_bank_later_keeps_the_year_within_the_cap_to_the_penny() -> None:
    """The 405 banked minutes spent on five outings of 81 minutes in five later weeks:
    at the year's end she has spent exactly £4,387.50, the bank is empty, and no week
    went over the weekly average by more than 25 % (405 + 81 = 486 <= 506.25 minutes)."""
    outings = [_use(date(2027, 1, 3) + timedelta(weeks=k), 81) for k in range(5)]
    assert WEEK_MIN == 5 * 81
    s = statement(_mary(), _ledger(HOSPITAL, *outings, as_of=YEAR_END))
    assert s.refused == [] and s.approvals_needed == []
    assert s.bank_minutes == 0
    assert s.pence(s.spent_minutes) == CAP
    assert s.within_cap
    body = s.to_json()
    assert body["spent"]["pence"] == "438750"
    assert body["left_pence"] == "0"
    assert body["year_total_pence"] == "438750"


def test_the_bank_never_goes_negative() -> None:
    """A use of more minutes than the bank holds on its date is refused (and not
    counted): 406 minutes after a 405-minute week in hospital, or any use before it."""
    before = statement(_mary(), _ledger(HOSPITAL, _use(date(2026, 11, 15), 30)))
    assert [r["entry"] for r in before.refused] == [1]
    assert before.used.minutes == 0
    too_much = statement(_mary(), _ledger(HOSPITAL, _use(date(2026, 11, 29), WEEK_MIN + 1)))
    assert too_much.refused and "never goes negative" in too_much.refused[0]["reason"]
    assert too_much.bank_minutes == WEEK_MIN
    exact = statement(_mary(), _ledger(HOSPITAL, _use(date(2026, 11, 29), WEEK_MIN)))
    assert exact.refused == [] and exact.bank_minutes == 0


def test_a_week_over_the_average_by_more_than_the_rule_needs_approval() -> None:
    """The weekly average is £4,387.50 / 52 = 405 minutes' worth; 25 % over is 506.25
    minutes: 101 banked minutes in a week pass, 102 need approval, unless approved."""
    assert Fraction(WEEK_MIN * 125, 100) == Fraction(50_625, 100)
    day = date(2026, 11, 29)  # the Sunday of a week of full care
    ok = statement(_mary(), _ledger(HOSPITAL, _use(day, 101)))
    assert ok.approvals_needed == []
    over = statement(_mary(), _ledger(HOSPITAL, _use(day, 102)))
    assert [a["entry"] for a in over.approvals_needed] == [1]
    assert over.approvals_needed[0]["week_start"] == "2026-11-23"
    approved = statement(_mary(), _ledger(HOSPITAL, _use(day, 102, approved=True)))
    assert approved.approvals_needed == []


def test_cancelled_with_notice_is_banked_without_notice_charged() -> None:
    """Tuesday 24 November's 30-minute morning visit cancelled: with notice its 30
    minutes (625 pence) go to the bank; without, they are charged and nothing banks."""
    cancel = {"kind": "cancelled", "date": "2026-11-24", "visit_id": "mary-morning-Tue"}
    banked = statement(_mary(), _ledger(cancel))
    assert banked.bank_minutes == 30 and banked.pence(30) == 625
    charged = statement(_mary(), _ledger({**cancel, "notice": False}))
    assert charged.bank_minutes == 0
    assert charged.charged.minutes == 30
    assert charged.spent_minutes == banked.spent_minutes + 30


def test_the_bank_expires_at_the_year_end_and_dates_must_fit() -> None:
    """A use after the year's end, or a cancelled visit on the wrong weekday, is bad
    input naming the entry's field."""
    late = _use(YEAR_END + timedelta(days=1), 30)
    with pytest.raises(LedgerError, match=r"entries\[1\]\.date: .*expires"):
        statement(_mary(), _ledger(HOSPITAL, late))
    wrong_day = {"kind": "cancelled", "date": "2026-11-25", "visit_id": "mary-morning-Tue"}
    with pytest.raises(LedgerError, match=r"entries\[0\]\.date"):
        statement(_mary(), _ledger(wrong_day))


def test_next_review_six_weeks_after_care_starts_then_yearly() -> None:
    """Care from 2 November: the review is six weeks on, 14 December 2026; once that
    has passed, 52 weeks later, 13 December 2027."""
    assert statement(_mary(), _ledger()).next_review == date(2026, 12, 14)
    later = statement(_mary(), _ledger(as_of=date(2026, 12, 15)))
    assert later.next_review == date(2027, 12, 13)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matcher", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_cli_budget_statement_contract(tmp_path: Path) -> None:
    """`carematch budget` prints the statement (spent, left, banked, next review);
    --json the same as one object; a broken rule exits 1; bad input exits 2 with one
    line naming the field."""
    text = _cli("budget", str(MARY), str(MARY_LEDGER))
    assert text.returncode == 0, text.stderr
    for word in ("Spent so far", "Left", "Banked", "Next review: 14 December 2026"):
        assert word in text.stdout
    run = _cli("budget", str(MARY), str(MARY_LEDGER), "--json")
    body = json.loads(run.stdout)
    assert {"spent", "left_pence", "bank", "next_review", "within_cap"} <= set(body)
    assert body["not_delivered"]["by_reason"]["hospital"]["pence"] == "8437.5"

    broken = tmp_path / "broken.json"
    data = json.loads(MARY_LEDGER.read_text())
    data["entries"].append(_use(date(2026, 12, 27), 10_000))
    broken.write_text(json.dumps(data))
    assert _cli("budget", str(MARY), str(broken)).returncode == 1

    bad = tmp_path / "bad.json"
    data["entries"][-1] = _use(date(2028, 1, 1), 10)
    bad.write_text(json.dumps(data))
    refused = _cli("budget", str(MARY), str(bad))
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "entries[3].date" in lines[0], refused.stderr
