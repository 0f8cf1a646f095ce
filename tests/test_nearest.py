"""Exact nearest fits (matcher/brokerage/nearest.py), both ways against brute force.

A small agency whose three hoist carers are booked around Thursday 18:00; a new
two-carer visit that wants 18:00-18:30 cannot go in. Brute force tries every start
minute of Thursday, Wednesday and Friday with every pair of carers through the
independent checker: every fit the engine gives passes the checker once accepted (the
package changed with `visit_with_fit`), and the engine's nearest earlier, later and
neighbouring-day starts are exactly the brute force's.
"""

from __future__ import annotations

from itertools import combinations

import pytest

from matcher.brokerage.nearest import Fit, visit_with_fit
from matcher.checker import check
from matcher.market import Market, MarketAgency
from matcher.matching import MatchParams, evaluate_agency, match
from matcher.schema import (
    Agency,
    Assignment,
    CarePackage,
    Client,
    Location,
    Roster,
    TimeRange,
    VisitPattern,
    Worker,
)
from matcher.timeutil import MINUTES_PER_DAY, Weekday, format_hhmm, parse_hhmm

SERIAL = MatchParams(time_limit_s=0.5, processes=1)
HOMES = {
    "w1": Location(lat=51.540, lon=-0.100),
    "w2": Location(lat=51.550, lon=-0.110),
    "w3": Location(lat=51.545, lon=-0.090),
}
CLIENT_HOME = Location(lat=51.542, lon=-0.102)
# Existing visits: (worker, weekday, start, duration, where).
BOOKED = [
    ("w1", "Thu", "17:30", 75, Location(lat=51.548, lon=-0.095)),
    ("w2", "Thu", "18:10", 50, Location(lat=51.552, lon=-0.108)),
    ("w3", "Thu", "17:50", 60, Location(lat=51.538, lon=-0.098)),
    ("w1", "Wed", "18:00", 40, Location(lat=51.541, lon=-0.104)),
    ("w3", "Fri", "07:30", 60, Location(lat=51.539, lon=-0.097)),
]


def _worker(worker_id: str) -> Worker:
    shifts = [TimeRange(start="07:00", end="21:00")]
    return Worker(
        id=worker_id,
        name=worker_id,
        gender="female",
        skills=["personal_care", "hoist"],
        home=HOMES[worker_id],
        availability={day: shifts for day in ("Wed", "Thu", "Fri")},
    )


def _line(
    line_id: str, weekdays: list[str], start: str, duration: int, carers: int
) -> VisitPattern:
    window = TimeRange.of_minutes(parse_hhmm(start), parse_hhmm(start) + 30)
    return VisitPattern(
        id=line_id,
        weekdays=weekdays,
        window=window,
        hard_window=window,
        duration_min=duration,
        carers=carers,
        skills=["hoist"],
    )


def agency() -> MarketAgency:
    packages, roster = [], []
    for i, (worker, day, start, duration, where) in enumerate(BOOKED):
        package_id = f"old{i}"
        packages.append(
            CarePackage(
                id=package_id,
                client=Client(id=f"{package_id}-c", name=package_id, location=where),
                visits=[_line(package_id, [day], start, duration, 1)],
            )
        )
        roster.append(
            Assignment(
                visit_id=f"{package_id}-{day}",
                package_id=package_id,
                client_id=f"{package_id}-c",
                weekday=day,
                start=start,
                end=format_hhmm(parse_hhmm(start) + duration),
                workers=[worker],
            )
        )
    return MarketAgency(
        agency=Agency(id="north", name="Northgate Care", hourly_rate_pence=2400),
        workers=[_worker(w) for w in HOMES],
        packages=packages,
        roster=roster,
    )


def double_up(weekdays: list[str]) -> CarePackage:
    return CarePackage(
        id="new",
        client=Client(id="new-c", name="Mary", location=CLIENT_HOME),
        visits=[_line("hoist-pm", weekdays, "18:00", 45, 2)],
    )


def _accepted(
    entry: MarketAgency, package: CarePackage, placed: list[Assignment], visit_id: str, fit: Fit
) -> list[str]:
    """Checker violations of the roster with the visit at the fit (package changed so
    that it may start there), ignoring other visits of the package left unassigned."""
    changed = visit_with_fit(package, visit_id, fit, entry.weights.max_shift_min)
    line_id = visit_id.rsplit("-", 1)[0]
    moved = f"{line_id}-{fit.weekday.value}"
    start = parse_hhmm(fit.start)
    duration = next(line.duration_min for line in changed.visits if line.id == line_id)
    roster = [
        *placed,
        Assignment(
            visit_id=moved,
            package_id=package.id,
            client_id=package.client.id,
            weekday=fit.weekday,
            start=fit.start,
            end=format_hhmm(start + duration),
            workers=fit.workers,
        ),
    ]
    problem = entry.problem([changed])
    placed_ids = {a.visit_id for a in roster}
    return [
        str(v)
        for v in check(problem, Roster(problem_id=problem.id, assignments=roster))
        if not (v.rule == "coverage" and v.visit_id not in placed_ids)
    ]


def _brute_starts(
    entry: MarketAgency, package: CarePackage, placed: list[Assignment], day: Weekday
) -> set[int]:
    """Every start minute on `day` at which some pair of workers passes the checker."""
    whole_day = TimeRange(start="00:00", end=format_hhmm(MINUTES_PER_DAY - 45))
    line = package.visits[0].model_copy(update={"weekdays": [day], "hard_window": whole_day})
    problem = entry.problem([package.model_copy(update={"visits": [line]})])
    fits = set()
    for minute in range(0, MINUTES_PER_DAY - 45 + 1):
        for pair in combinations(HOMES, 2):
            visit = Assignment(
                visit_id=f"hoist-pm-{day.value}",
                package_id="new",
                client_id="new-c",
                weekday=day,
                start=format_hhmm(minute),
                end=format_hhmm(minute + 45),
                workers=list(pair),
            )
            roster = Roster(problem_id=problem.id, assignments=[*placed, visit])
            if not check(problem, roster):
                fits.add(minute)
                break
    return fits


@pytest.fixture(scope="module")
def refused() -> tuple[MarketAgency, CarePackage, object]:
    entry = agency()
    package = double_up(["Thu"])
    result = evaluate_agency(entry, list(Market(agencies=[entry]).skills), package, SERIAL)
    return entry, package, result.offer


def test_blocked_double_up_gets_its_nearest_fits(refused) -> None:
    _, _, offer = refused
    assert not offer.feasible
    (fits,) = offer.nearest_fits
    assert fits.visit_id == "hoist-pm-Thu"
    sides = {(f.day_offset, f.side) for f in fits.fits}
    assert (0, "earlier") in sides and (0, "later") in sides
    assert fits.summary.startswith("Thursday's 18:00 double-up fits at ")


def test_every_fit_once_accepted_passes_the_checker(refused) -> None:
    entry, package, offer = refused
    for fit in offer.nearest_fits[0].fits:
        assert _accepted(entry, package, list(entry.roster), "hoist-pm-Thu", fit) == [], fit


def test_no_fit_that_exists_is_missing(refused) -> None:
    """The nearest earlier, later and neighbouring-day starts equal brute force's."""
    entry, package, offer = refused
    window = (parse_hhmm("18:00"), parse_hhmm("18:30"))
    got = {(f.day_offset, f.side): parse_hhmm(f.start) for f in offer.nearest_fits[0].fits}
    thursday = _brute_starts(entry, package, list(entry.roster), Weekday.THU)
    assert not thursday & set(range(window[0], window[1] + 1)), "it should be blocked"
    assert got.get((0, "earlier")) == max((m for m in thursday if m < window[0]), default=None)
    assert got.get((0, "later")) == min((m for m in thursday if m > window[1]), default=None)
    for offset, day in ((-1, Weekday.WED), (1, Weekday.FRI)):
        starts = _brute_starts(entry, package, list(entry.roster), day)
        nearest = min(
            starts,
            key=lambda m: (max(0, window[0] - m, m - window[1]), abs(m - window[0])),
            default=None,
        )
        found = [parse_hhmm(f.start) for f in offer.nearest_fits[0].fits if f.day_offset == offset]
        assert found == ([] if nearest is None else [nearest])


def test_a_day_the_pattern_already_has_is_not_offered() -> None:
    """Thursday's neighbour Friday is part of the pattern: not a place to move it to."""
    entry = agency()
    package = double_up(["Thu", "Fri"])
    offer = evaluate_agency(entry, ["personal_care", "hoist"], package, SERIAL).offer
    thursday = next(f for f in offer.nearest_fits if f.visit_id == "hoist-pm-Thu")
    assert all(f.weekday != Weekday.FRI for f in thursday.fits)


def test_a_feasible_offer_has_no_nearest_fits() -> None:
    entry = agency()
    package = double_up(["Thu"])
    line = package.visits[0].model_copy(
        update={"window": TimeRange(start="10:00", end="10:30"),
                "hard_window": TimeRange(start="10:00", end="10:30")}
    )  # fmt: skip
    result = match(Market(agencies=[entry]), package.model_copy(update={"visits": [line]}), SERIAL)
    assert result.offers[0].feasible and result.offers[0].nearest_fits == []


def test_on_the_sample_markets_every_nearest_fit_once_accepted_passes_the_checker() -> None:
    """Issue 12's acceptance for nearest fits: on every sample package and its market,
    every fit of every refused offer, accepted into that agency's roster as the match
    left it (the committed week and the package's visits it did place), passes the
    checker."""
    from pathlib import Path

    samples = Path(__file__).resolve().parents[1] / "data" / "samples"
    accepted = 0
    for path in sorted((samples / "packages").glob("*.json")):
        package = CarePackage.model_validate_json(path.read_text())
        area = "rural" if "rural" in path.stem else "urban"
        market = Market.model_validate_json((samples / f"market_{area}.json").read_text())
        for offer in match(market, package, SERIAL).offers:
            fitting = [n for n in offer.nearest_fits if n.fits]
            if not fitting:
                continue
            entry = market.agency(offer.agency_id)
            result = evaluate_agency(entry, market.skills, package, SERIAL)
            assert result.offer.nearest_fits == offer.nearest_fits
            # The roster the fits are on: the insertion's, or the committed week when
            # the agency refused before inserting anything.
            roster = entry.roster if result.roster is None else result.roster
            for nearest in fitting:
                placed = [a for a in roster if a.visit_id != nearest.visit_id]
                for fit in nearest.fits:
                    violations = _accepted(entry, package, placed, nearest.visit_id, fit)
                    assert violations == [], (path.stem, offer.agency_id, fit)
                    accepted += 1
    assert accepted >= 10, accepted  # the samples do exercise it
