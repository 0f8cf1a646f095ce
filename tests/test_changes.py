"""Single changes that make a package fit (matcher/brokerage/changes.py).

Each kind has a case where it is found and a paired case where it is not; every change
found, once accepted (its package placed at its agency by `accept`), passes the checker.
"""

from __future__ import annotations

from pathlib import Path

from matcher.market import Market, MarketAgency
from matcher.market_samples import early_riser
from matcher.matching import MatchParams, MatchResult, accept, match, roster_violations
from matcher.samples import mary_problem
from matcher.schema import CarePackage, GenderPreference, Location, TimeRange, Worker
from tests.test_nearest import agency, double_up

SERIAL = MatchParams(time_limit_s=0.5, processes=1)
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def _accepted_everywhere(market: Market, result: MatchResult) -> None:
    """Every change's package, accepted at its agency, leaves a roster the checker passes."""
    assert result.changes, "expected some change"
    for change in result.changes:
        assert change.offer.feasible and change.offer.checked
        grown, offer = accept(market, change.package, change.agency_id, SERIAL)
        assert offer.feasible
        assert roster_violations(grown, change.agency_id) == [], change.description


def test_window_changes_for_the_early_riser_each_fit_when_accepted() -> None:
    market = Market.model_validate_json((SAMPLES / "market_urban.json").read_text())
    result = match(market, early_riser(), SERIAL)
    assert not any(o.feasible for o in result.offers)
    assert {c.kind for c in result.changes} == {"window"}
    assert [c.rank for c in result.changes] == list(range(1, len(result.changes) + 1))
    sizes = [c.size for c in result.changes]
    assert sizes == sorted(sizes), "the smallest widening first"
    # The change touches the hard start range only, and only as far as it must.
    for change in result.changes:
        (line,) = change.package.visits
        assert line.window == early_riser().visits[0].window
        assert line.hard_window is not None and line.hard_window.start == "06:30"
    assert any(s.startswith("let Monday's 06:30 visit start at") for s in result.suggestions)
    _accepted_everywhere(market, result)


def test_a_blocked_double_up_may_move_to_a_neighbouring_day() -> None:
    market = Market(agencies=[agency()])
    result = match(market, double_up(["Thu"]), SERIAL)
    kinds = [c.kind for c in result.changes]
    assert kinds[0] == "window" and "another day" in kinds
    moved = next(c for c in result.changes if c.kind == "another day")
    assert moved.package.visits[0].weekdays != ["Thu"]
    assert moved.package.visits[0].hard_window == double_up(["Thu"]).visits[0].hard_window
    _accepted_everywhere(market, result)


def test_no_day_move_when_two_visits_are_blocked() -> None:
    """Moving one visit is one change only when one visit is what blocks."""
    market = Market(agencies=[agency()])
    blocked_twice = double_up(["Thu"])
    line = blocked_twice.visits[0]
    second = line.model_copy(update={"id": "hoist-pm2"})
    result = match(market, blocked_twice.model_copy(update={"visits": [line, second]}), SERIAL)
    assert "another day" not in {c.kind for c in result.changes}


def _gendered_market(male_free: bool) -> Market:
    """The nearest-fits agency plus a male carer free (or not) on Thursday evening."""
    entry = agency()
    shifts = [TimeRange(start="07:00", end="21:00" if male_free else "12:00")]
    man = Worker(
        id="m1",
        name="m1",
        gender="male",
        skills=["personal_care", "hoist"],
        home=Location(lat=51.541, lon=-0.101),
        availability={"Thu": shifts},
    )
    return Market(agencies=[entry.model_copy(update={"workers": [*entry.workers, man]})])


def _strict_female(weekdays: list[str]) -> CarePackage:
    """One carer (not two) on Thursday 18:00, a woman only."""
    package = double_up(weekdays)
    line = package.visits[0].model_copy(update={"carers": 1})
    client = package.client.model_copy(
        update={"gender_preference": GenderPreference.FEMALE, "gender_preference_strict": True}
    )
    return package.model_copy(update={"client": client, "visits": [line]})


def test_a_strict_gender_preference_made_soft_when_it_binds() -> None:
    market = _gendered_market(male_free=True)
    result = match(market, _strict_female(["Thu"]), SERIAL)
    soft = [c for c in result.changes if c.kind == "gender"]
    assert len(soft) == 1 and not soft[0].package.client.gender_preference_strict
    assert soft[0].offer.gender_honoured is False
    _accepted_everywhere(market, result)


def test_no_gender_change_when_gender_does_not_bind() -> None:
    market = _gendered_market(male_free=False)
    result = match(market, _strict_female(["Thu"]), SERIAL)
    assert "gender" not in {c.kind for c in result.changes}


def test_the_budget_raised_by_exactly_what_it_takes() -> None:
    """Mary at £13.00/h costs £4,563.00 a year against £4,387.50: raise it by £175.50."""
    problem = mary_problem()
    agency_13 = problem.agency.model_copy(update={"id": "at-1300", "hourly_rate_pence": 1300})
    market = Market(agencies=[MarketAgency(agency=agency_13, workers=problem.workers)])
    result = match(market, problem.packages[0], SERIAL)
    (change,) = result.changes
    assert change.kind == "budget" and change.size == 17_550
    assert change.package.budget is not None and change.package.budget.amount_pence == 456_300
    assert change.description == "raise the budget by £175.50 to £4,563.00 a year"
    _accepted_everywhere(market, result)


def test_no_change_for_what_no_agency_could_ever_do() -> None:
    """Nobody has the skill: no change of time, day, gender or money helps."""
    market = Market.model_validate_json((SAMPLES / "market_urban.json").read_text())
    from matcher.market_samples import impossible_package

    result = match(market, impossible_package(), SERIAL)
    assert result.changes == []
    assert any(s.startswith("no single change") for s in result.suggestions)


# Every reason starts with the rule it names (docs/matching.md, "Reasons that name the
# binding rule"), after the visit id when it is about one visit.
RULES = (
    "excluded",
    "gender",
    "skills",
    "hours",
    "travel",
    "two-carer visit",
    "availability",
    "budget",
    "synchronised visits",
    "outside service area",
)


def _names_a_rule(reason: str, visit_ids: set[str]) -> bool:
    head, _, rest = reason.partition(": ")
    text = rest if head in visit_ids else reason
    together = text.split(": ", 1)[0].removesuffix(" together")
    return text.startswith(RULES) or all(
        part.strip() in RULES for part in together.replace(" and ", ",").split(",")
    )


def test_on_the_sample_markets_every_reason_names_its_rule_and_every_change_fits() -> None:
    """The acceptance of issue 12 on every sample package and its market."""
    from matcher.schema import CarePackage as Package
    from matcher.schema import expand_visits

    for path in sorted((SAMPLES / "packages").glob("*.json")):
        package = Package.model_validate_json(path.read_text())
        area = "rural" if "rural" in path.stem else "urban"
        market = Market.model_validate_json((SAMPLES / f"market_{area}.json").read_text())
        result = match(market, package, SERIAL)
        visit_ids = {v.id for v in expand_visits(package)}
        for offer in result.offers:
            for reason in offer.reasons:
                assert _names_a_rule(reason, visit_ids), f"{path.stem}: {reason}"
        for change in result.changes:
            grown, _ = accept(market, change.package, change.agency_id, SERIAL)
            assert roster_violations(grown, change.agency_id) == [], change.description
