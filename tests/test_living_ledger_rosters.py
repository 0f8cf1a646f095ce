"""What was delivered, read from the dated rosters of weeks gone by (`Ledger.rosters`,
issue 13, section 4): a planned visit the week's roster leaves uncovered is banked as
not delivered by the agency, to the penny; a roster that covers everything changes
nothing; the ledger's entries win over a roster. Figures are worked out here from
Mary's pattern (DOMAIN.md), not read back from the code."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from matcher.living.ledger import NOT_COVERED, Ledger, LedgerError, statement
from matcher.schema import Problem

ROOT = Path(__file__).resolve().parents[1]
LIVING = ROOT / "data" / "samples" / "living"
MARY = ROOT / "data" / "samples" / "mary.json"
MARY_LEDGER = LIVING / "mary_ledger.json"
MARY_LEDGER_ROSTERS = LIVING / "mary_ledger_rosters.json"

RATE = 1250  # £12.50 an hour
SHOWER_MIN = 60  # mary-shower-Wed, one carer
SHOWER_PENCE = Fraction(SHOWER_MIN * RATE, 60)  # 1,250 pence, £12.50


def _mary() -> Problem:
    return Problem.model_validate_json(MARY.read_text())


def _week_roster(monday: str, *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """Mary's committed week (every one of her 14 visits assigned) as the dated roster
    of the week from `monday`, less the visits named (a carer away, nobody covered)."""
    roster = json.loads((LIVING / "mary_roster.json").read_text())
    roster["week_start"] = monday
    roster["assignments"] = [a for a in roster["assignments"] if a["visit_id"] not in leave_out]
    return roster


def _ledger(*rosters: dict[str, Any], **changes: Any) -> Ledger:
    """The sample ledger (a week in hospital, a cancellation with notice, an outing
    booked) with the rosters given."""
    data = json.loads(MARY_LEDGER.read_text())
    data.update(changes)
    data["rosters"] = list(rosters)
    return Ledger.model_validate(data)


def test_an_uncovered_visit_is_banked_as_not_delivered_by_the_agency() -> None:
    """Wednesday 11 November's shower visit (60 minutes) missing from that week's
    roster: exactly 60 x 1250 / 60 = 1,250 pence banked as not covered by the agency,
    not charged; one visit fewer delivered; everything else as the plan less entries."""
    before = statement(_mary(), _ledger())
    after = statement(_mary(), _ledger(_week_roster("2026-11-09", leave_out=("mary-shower-Wed",))))
    assert SHOWER_PENCE == 1250
    assert after.not_delivered[NOT_COVERED].visits == 1
    assert after.not_delivered[NOT_COVERED].minutes == SHOWER_MIN
    assert after.delivered.visits == before.delivered.visits - 1 == 44
    assert after.delivered.minutes == before.delivered.minutes - SHOWER_MIN
    assert after.bank_minutes == before.bank_minutes + SHOWER_MIN
    assert after.pence(after.spent_minutes) == before.pence(before.spent_minutes) - SHOWER_PENCE
    body, was = after.to_json(), before.to_json()
    assert body["not_delivered"]["by_reason"][NOT_COVERED] == {
        "visits": 1,
        "minutes": 60,
        "pence": "1250",
    }
    assert Decimal(body["bank"]["pence"]) - Decimal(was["bank"]["pence"]) == Decimal(1250)
    assert Decimal(was["spent"]["pence"]) - Decimal(body["spent"]["pence"]) == Decimal(1250)
    # Not charged: nothing of it in what is spent; the rest of the year unchanged.
    assert body["spent"]["charged_not_delivered"] == was["spent"]["charged_not_delivered"]
    assert body["to_come"] == was["to_come"]
    assert body["not_delivered"]["by_reason"]["hospital"]["pence"] == "8437.5"
    # What is left is the person's: the banked visit is in it, as it is in the bank.
    assert Decimal(body["left_pence"]) - Decimal(was["left_pence"]) == Decimal(1250)
    assert "Not delivered (not covered by the agency): 1 visit, 1 h, £12.50 banked." in (
        after.lines()
    )


def test_a_roster_covering_every_visit_gives_the_plan_less_entries() -> None:
    """Rosters of every week gone by, each assigning all 14 visits, give exactly the
    statement of today's rule (the plan less the ledger's entries), figure for figure;
    the hospital week's roster is overruled by the client_away entry."""
    weeks = ["2026-11-02", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"]
    with_rosters = statement(_mary(), _ledger(*(_week_roster(m) for m in weeks)))
    assert with_rosters.to_json() == statement(_mary(), _ledger()).to_json()


def test_an_entry_wins_over_the_roster() -> None:
    """A visit cancelled with notice and left out of the roster is banked as
    cancelled, not as not covered; cancelled without notice it is charged even though
    nobody went; the hospital week banks its 14 visits whatever its roster says."""
    roster = _week_roster("2026-11-23", leave_out=("mary-morning-Tue",))
    s = statement(_mary(), _ledger(roster))
    assert NOT_COVERED not in s.not_delivered
    assert s.not_delivered["cancelled with notice"].minutes == 30
    data = json.loads(MARY_LEDGER.read_text())
    data["entries"][1]["notice"] = False
    data["rosters"] = [roster, _week_roster("2026-11-16", leave_out=("mary-shower-Wed",))]
    charged = statement(_mary(), Ledger.model_validate(data))
    assert charged.charged.minutes == 30
    assert NOT_COVERED not in charged.not_delivered
    assert charged.not_delivered["hospital"].visits == 14


def test_only_days_up_to_as_of_are_read_from_the_current_weeks_roster() -> None:
    """As of Tuesday 1 December the week of 30 November is under way: its Monday
    shower left uncovered is banked, its Wednesday shower (still to come, a re-plan
    may yet cover it) stays planned."""
    roster = _week_roster("2026-11-30", leave_out=("mary-shower-Mon", "mary-shower-Wed"))
    s = statement(_mary(), _ledger(roster))
    base = statement(_mary(), _ledger())
    assert s.not_delivered[NOT_COVERED].visits == 1
    assert s.to_come == base.to_come


def test_a_visit_changed_for_one_date_delivers_that_dates_visit() -> None:
    """`carematch week` names a visit changed for one date `<line>@<date>-<Day>`:
    assigned, it delivers the template visit of that date (its extra minutes are a
    use_bank entry); the same id on another week's roster does not."""
    roster = _week_roster("2026-11-09")
    for a in roster["assignments"]:
        if a["visit_id"] == "mary-sunday-Sun":
            a["visit_id"] = "mary-sunday@2026-11-15-Sun"
    assert NOT_COVERED not in statement(_mary(), _ledger(roster)).not_delivered
    roster["week_start"] = "2026-11-02"
    s = statement(_mary(), _ledger(roster))
    assert s.not_delivered[NOT_COVERED].minutes == 30


@pytest.mark.parametrize(
    ("week_start", "message"),
    [
        (None, r"rosters\[0\]\.week_start: missing"),
        ("2026-11-10", r"rosters\[0\]\.week_start: 2026-11-10 is not a Monday"),
        ("2026-12-07", r"rosters\[0\]\.week_start: .* begins after as_of"),
        ("2026-10-19", r"rosters\[0\]\.week_start: .* outside the budget year"),
    ],
)
def test_a_roster_that_does_not_fit_the_ledger_is_bad_input(
    week_start: str | None, message: str
) -> None:
    """A roster without a dated week, a week not starting on a Monday, not begun by
    as_of, or outside the budget year names its field."""
    roster = _week_roster("2026-11-09")
    roster["week_start"] = week_start
    with pytest.raises(LedgerError, match=message):
        statement(_mary(), _ledger(roster))


def test_two_rosters_of_one_week_are_bad_input() -> None:
    """Which of two rosters of a week was delivered is not the ledger's guess."""
    with pytest.raises(LedgerError, match=r"rosters\[1\]\.week_start: a second roster"):
        statement(_mary(), _ledger(_week_roster("2026-11-09"), _week_roster("2026-11-09")))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matcher", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_cli_reads_the_sample_ledger_with_its_rosters(tmp_path: Path) -> None:
    """The sample (shower of 11 November uncovered) prints its own line and 44
    visits delivered; a roster without week_start exits 2 with one line naming it."""
    run = _cli("budget", str(MARY), str(MARY_LEDGER_ROSTERS))
    assert run.returncode == 0, run.stderr
    assert "Not delivered (not covered by the agency): 1 visit, 1 h, £12.50 banked." in run.stdout
    assert "44 visits delivered" in run.stdout
    data = json.loads(MARY_LEDGER_ROSTERS.read_text())
    del data["rosters"][0]["week_start"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    refused = _cli("budget", str(MARY), str(bad))
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "rosters[0].week_start" in lines[0], refused.stderr
