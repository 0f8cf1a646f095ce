"""`carematch match`, `slots` and `accept` as a broker meets them: the JSON contract
keys, the acceptance run on the urban sample, and exit 2 with one line on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from matcher.brokerage.offer import OFFER_KEYS as CONTRACT_ORDER
from matcher.checker import check
from matcher.market import Market
from matcher.schema import Roster

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
OFFER_KEYS = {
    "agency_id", "feasible", "rank", "annual_cost_pence", "weekly_minutes", "in_window_pct",
    "distinct_carers", "carers", "reasons", "score",
}  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matcher", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_match_json_contract_on_urban_sample() -> None:
    """Mary on the urban market: a ranked feasible offer, reasons for every refusal."""
    done = run(
        "match", str(SAMPLES / "market_urban.json"), str(SAMPLES / "packages/mary.json"),
        "--json", "--time-limit", "0.5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {"package_id", "elapsed_s", "offers"} <= data.keys()
    assert data["package_id"] == "mary"
    assert list(data) == ["package_id", "elapsed_s", "offers", "suggestions", "changes", "splits"]
    for offer in data["offers"]:
        assert offer.keys() >= OFFER_KEYS
        assert list(offer)[: len(CONTRACT_ORDER)] == list(CONTRACT_ORDER)
        assert offer["feasible"] == (offer["rank"] is not None)
        assert offer["feasible"] == (offer["reasons"] == [])
    best = next(o for o in data["offers"] if o["rank"] == 1)
    assert best["agency_id"] == "isl-agency" and best["score"]["breakdown"]


def test_slots_json_contract() -> None:
    """Slots print weekday, start "HH:MM", workers and added travel."""
    request = ROOT / "tests" / "data" / "slot_request.json"
    done = run("slots", str(SAMPLES / "market_urban.json"), "isl-agency", str(request), "--json")
    assert done.returncode == 0, done.stderr
    slots = json.loads(done.stdout)
    assert slots
    assert all(set(s) == {"weekday", "start", "workers", "added_travel_min"} for s in slots)


def test_accept_writes_a_checked_market(tmp_path: Path) -> None:
    """Accepting Mary writes a market whose grown roster passes the checker."""
    target = tmp_path / "market.json"
    done = run(
        "accept", str(SAMPLES / "market_urban.json"), str(SAMPLES / "packages/mary.json"),
        "isl-agency", "--out", str(target), "--time-limit", "0.5",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    market = Market.model_validate_json(target.read_text())
    entry = market.agency("isl-agency")
    assert any(p.id == "mary" for p in entry.packages)
    problem = market.problem_of("isl-agency")
    assert check(problem, Roster(problem_id=problem.id, assignments=entry.roster)) == []


def test_bad_package_exits_2_with_one_line(tmp_path: Path) -> None:
    """A package with a zero duration: exit 2, one line naming the field."""
    package = json.loads((SAMPLES / "packages/mary.json").read_text())
    package["visits"][0]["duration_min"] = 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(package))
    done = run("match", str(SAMPLES / "market_urban.json"), str(bad), "--json")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "visits[0].duration_min" in lines[0]


def test_bad_market_and_unknown_agency_exit_2(tmp_path: Path) -> None:
    """A market with no agencies, and slots for an unknown agency: exit 2, one line."""
    empty = tmp_path / "market.json"
    empty.write_text(json.dumps({"agencies": []}))
    done = run("match", str(empty), str(SAMPLES / "packages/mary.json"))
    assert done.returncode == 2 and "agencies" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    request = ROOT / "tests" / "data" / "slot_request.json"
    done = run("slots", str(SAMPLES / "market_urban.json"), "nope", str(request))
    assert done.returncode == 2 and "no agency 'nope'" in done.stderr
