"""Split offers: a package no single agency can take but two together can is split
between them, each visit wholly with one, both rosters checked; no split when one agency
takes it whole, when no pair covers it, or when the total is over the cap."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

from matcher.brokerage.offer import OFFER_KEYS
from matcher.brokerage.split import package_units, sub_package
from matcher.checker import check
from matcher.market import Market, MarketAgency
from matcher.matching import (
    MatchParams,
    MatchResult,
    SplitOffer,
    match,
    match_json_schema,
)
from matcher.schema import (
    Agency,
    Assignment,
    Budget,
    CarePackage,
    Client,
    Location,
    Roster,
    TimeRange,
    Unassigned,
    VisitLink,
    VisitPattern,
    Worker,
    expand_visits,
)
from matcher.timeutil import WEEKS_PER_YEAR, cost_pence
from tests.test_matching import _check

SERIAL = MatchParams(time_limit_s=0.3, processes=1, deterministic=True)
DAYS = ["Mon", "Wed", "Fri"]
HOME = Location(lat=51.5400, lon=-0.1000)


def _agency(agency_id: str, name: str, rate: int, *shifts: tuple[str, str]) -> MarketAgency:
    """Two carers living next to the client, on these shifts every weekday, no client yet."""
    workers = [
        Worker(
            id=f"{agency_id}-w{n}",
            name=f"{name} carer {n}",
            gender="female",
            skills=["personal_care"],
            home=HOME,
            availability={
                day: [TimeRange(start=start, end=end) for start, end in shifts] for day in DAYS
            },
        )
        for n in (1, 2)
    ]
    agency = Agency(id=agency_id, name=name, hourly_rate_pence=rate)
    return MarketAgency(agency=agency, workers=workers)


def _line(line_id: str | None, start: str, duration: int) -> VisitPattern:
    return VisitPattern(
        id=line_id,
        weekdays=DAYS,
        window=TimeRange(start=start, end=start),
        duration_min=duration,
        skills=["personal_care"],
    )


def _package(*lines: VisitPattern, budget: Budget | None = None) -> CarePackage:
    return CarePackage(
        id="new",
        client=Client(id="new-c", name="Mary", location=Location(lat=51.541, lon=-0.1)),
        visits=list(lines),
        budget=budget,
    )


MORNINGS = _agency("north", "Northgate Care", 2000, ("07:00", "12:00"))
EVENINGS = _agency("high", "Highbury Homecare", 2200, ("16:00", "21:00"))
AM_PM = _package(_line("am", "08:00", 45), _line("pm", "18:00", 30))
# Each part at its agency's rate, exactly: 3 x 45 min at £20/h and 3 x 30 min at £22/h.
SPLIT_ANNUAL = (cost_pence(135, 2000) + cost_pence(90, 2200)) * WEEKS_PER_YEAR


def _assert_checked_partition(market: Market, package: CarePackage, split: SplitOffer) -> None:
    """Every visit with exactly one of the two agencies, and each agency's whole roster
    (its committed week plus its part) keeps every hard rule by the checker, run here
    against the whole package (the other part's visits left unassigned)."""
    every = [v.id for v in expand_visits(package)]
    taken = [v for part in split.parts for v in part.visit_ids]
    assert sorted(taken) == sorted(every)
    uncapped = package.model_copy(update={"budget": None})
    for part in split.parts:
        offer = part.offer
        assert offer.feasible and offer.checked and offer.agency_id == part.agency_id
        assert sorted(a.visit_id for a in offer.assignments) == sorted(part.visit_ids)
        entry = market.agency(part.agency_id)
        problem = market.problem_of(part.agency_id, [uncapped])
        others = [
            Unassigned.of(v, ["with the other agency of the split"])
            for v in expand_visits(package)
            if v.id not in part.visit_ids
        ]
        roster = Roster(
            problem_id=problem.id,
            assignments=[*entry.roster, *offer.assignments],
            unassigned=others,
        )
        assert check(problem, roster) == []
        assert all(w.startswith(f"{part.agency_id}-") for a in offer.assignments for w in a.workers)


def test_split_when_no_single_agency_can_but_two_together_can() -> None:
    """Northgate has carers only in the mornings, Highbury only in the evenings: neither
    takes the package, the split (mornings with Northgate, evenings with Highbury) is
    offered, costed as the sum of its parts, both rosters checked, and the output
    validates against the published schema."""
    market = Market(agencies=[MORNINGS, EVENINGS])
    result = match(market, AM_PM, SERIAL)
    assert not any(o.feasible for o in result.offers)
    (split,) = result.splits
    assert split.split is True and split.rank == 1 and split.agency_ids == ["north", "high"]
    parts = {p.agency_id: p.visit_ids for p in split.parts}
    assert parts == {
        "north": ["am-Mon", "am-Wed", "am-Fri"],
        "high": ["pm-Mon", "pm-Wed", "pm-Fri"],
    }
    _assert_checked_partition(market, AM_PM, split)
    assert split.annual_cost_pence == sum(p.offer.annual_cost_pence for p in split.parts)
    assert split.annual_cost_pence == int(SPLIT_ANNUAL + Fraction(1, 2))
    assert split.weekly_minutes == 225 and split.within_budget
    assert split.score.total > 0
    assert split.summary == (
        "mornings with Northgate Care (£2,340.00), evenings with Highbury Homecare "
        "(£1,716.00): £4,056.00 a year"
    )
    data = json.loads(json.dumps(result.to_json()))
    schema = match_json_schema()
    _check(data, schema, schema["$defs"], "split")
    assert MatchResult.model_validate(data).to_json() == data
    for part in data["splits"][0]["parts"]:
        assert list(part["offer"])[: len(OFFER_KEYS)] == list(OFFER_KEYS)


def test_split_with_an_agency_booked_in_the_evenings() -> None:
    """Brookside has carers morning and evening but both are booked every evening by a
    double-up client: its insertion places the mornings only (`fits`), the evening-only
    agency takes the rest, and Brookside's part is checked with its committed week."""
    entry = _agency("brook", "Brookside Care", 2000, ("07:00", "12:00"), ("17:00", "21:00"))
    evenings = VisitPattern(
        id="old",
        weekdays=DAYS,
        window=TimeRange(start="17:15", end="17:15"),
        hard_window=TimeRange(start="17:15", end="17:15"),
        duration_min=210,
        carers=2,
    )
    old = _package(evenings).model_copy(
        update={"id": "old-p", "client": Client(id="old-c", name="Old", location=HOME)}
    )
    roster = [
        Assignment(
            visit_id=v.id,
            package_id=old.id,
            client_id="old-c",
            weekday=v.weekday,
            start="17:15",
            end="20:45",
            workers=["brook-w1", "brook-w2"],
        )
        for v in expand_visits(old)
    ]
    busy = entry.model_copy(update={"packages": [old], "roster": roster})
    market = Market(agencies=[busy, EVENINGS])
    result = match(market, AM_PM, SERIAL)
    brook = next(o for o in result.offers if o.agency_id == "brook")
    assert not brook.feasible and sorted(brook.fits) == ["am-Fri", "am-Mon", "am-Wed"]
    (split,) = result.splits
    assert {p.agency_id: p.visit_ids for p in split.parts} == {
        "brook": ["am-Mon", "am-Wed", "am-Fri"],
        "high": ["pm-Mon", "pm-Wed", "pm-Fri"],
    }
    _assert_checked_partition(market, AM_PM, split)


def test_no_split_when_one_agency_takes_it_whole() -> None:
    """The same two agencies and one with carers morning and evening: that agency's
    offer is feasible, so no split is offered."""
    both = _agency("all", "All Day Care", 2100, ("07:00", "12:00"), ("16:00", "21:00"))
    result = match(Market(agencies=[MORNINGS, EVENINGS, both]), AM_PM, SERIAL)
    assert [o.agency_id for o in result.offers if o.feasible] == ["all"]
    assert result.splits == []


def test_no_split_without_suggestions() -> None:
    """`MatchParams.suggest` off (a caller that wants the offers alone): no split is
    searched for either."""
    market = Market(agencies=[MORNINGS, EVENINGS])
    assert match(market, AM_PM, replace(SERIAL, suggest=False)).splits == []


def test_no_split_when_no_pair_covers_every_visit() -> None:
    """Two morning-only agencies: together they still cannot do the evening visits."""
    other = _agency("early", "Early Birds", 1900, ("06:00", "11:00"))
    result = match(Market(agencies=[MORNINGS, other]), AM_PM, SERIAL)
    assert not any(o.feasible for o in result.offers)
    assert result.splits == []


def test_budget_on_the_total_refuses_a_split_over_the_cap() -> None:
    """The cap applies to the two parts together: at exactly the split's annual cost it
    is offered, a penny below it is not."""
    market = Market(agencies=[MORNINGS, EVENINGS])
    assert SPLIT_ANNUAL.denominator == 1
    at_cap = AM_PM.model_copy(update={"budget": Budget(amount_pence=int(SPLIT_ANNUAL))})
    (split,) = match(market, at_cap, SERIAL).splits
    assert split.within_budget and split.budget_cap_pence == split.annual_cost_pence
    _assert_checked_partition(market, at_cap, split)
    below = AM_PM.model_copy(update={"budget": Budget(amount_pence=int(SPLIT_ANNUAL) - 1)})
    assert match(market, below, SERIAL).splits == []


def test_visits_both_can_take_go_to_one_of_them() -> None:
    """A lunchtime visit both agencies can take (their shifts overlap at 12:30) goes to
    exactly one of them, the cheaper (no line or time of day leans either way); the
    package is still covered once and both rosters check."""
    early = _agency("north", "Northgate Care", 2000, ("07:00", "14:00"))
    late = _agency("high", "Highbury Homecare", 2200, ("12:00", "21:00"))
    market = Market(agencies=[early, late])
    package = _package(
        _line("am", "08:00", 45), _line("lunch", "12:30", 30), _line("pm", "18:00", 30)
    )
    result = match(market, package, SERIAL)
    assert not any(o.feasible for o in result.offers)
    (split,) = result.splits
    _assert_checked_partition(market, package, split)
    parts = {p.agency_id: p.visit_ids for p in split.parts}
    assert parts["north"] == ["am-Mon", "am-Wed", "am-Fri", "lunch-Mon", "lunch-Wed", "lunch-Fri"]


def test_sub_package_keeps_the_visit_ids_of_lines_without_an_id() -> None:
    """Lines without an id are named by their position; a sub-package that leaves out
    the first line still names the second line's visits as before (no "-v1-")."""
    package = _package(_line(None, "08:00", 45), _line(None, "18:00", 30))
    ids = [v.id for v in expand_visits(package)]
    assert ids[3:] == ["new-v2-Mon", "new-v2-Wed", "new-v2-Fri"]
    part = sub_package(package, frozenset(ids[3:] + ids[:1]))
    assert [v.id for v in expand_visits(part)] == [ids[0], *ids[3:]]
    assert part.budget is None


def test_linked_visits_of_one_day_go_to_the_same_agency() -> None:
    """A wash linked to a medication round (placed together or not at all) makes one
    unit per weekday: both visits of a day go to the same agency; an unlinked line's
    visits are units of their own; a sub-package with both keeps the link."""
    package = _package(_line("wash", "08:00", 45), _line("meds", "08:45", 15)).model_copy(
        update={"links": [VisitLink(first="wash", second="meds", min_gap_min=45, max_gap_min=60)]}
    )
    units = [u.visit_ids for u in package_units(package)]
    assert units == [("wash-Mon", "meds-Mon"), ("wash-Wed", "meds-Wed"), ("wash-Fri", "meds-Fri")]
    part = sub_package(package, frozenset(units[0]))
    assert len(part.links) == 1 and [v.id for v in expand_visits(part)] == list(units[0])
    alone = _package(_line("wash", "08:00", 45), _line("meds", "08:45", 15))
    assert len(package_units(alone)) == 6
