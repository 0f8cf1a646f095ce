"""Mary, the worked example of DOMAIN.md: £4,387.50 a year buys exactly her 6.75 hours a
week at £12.50 an hour; a dearer agency or one more minute is refused on budget."""

from __future__ import annotations

from pathlib import Path

from matcher.checker import check
from matcher.schema import Problem
from matcher.solver import SolveParams, solve
from matcher.timeutil import Weekday

MARY = Path(__file__).resolve().parents[1] / "data" / "samples" / "mary.json"


def mary(*, rate: int | None = None) -> Problem:
    problem = Problem.model_validate_json(MARY.read_text())
    if rate is not None:
        agency = problem.agency.model_copy(update={"hourly_rate_pence": rate})
        problem = Problem.model_validate({**problem.model_dump(), "agency": agency.model_dump()})
    return problem


def test_mary_fits_exactly_at_her_cap() -> None:
    """At £12.50/h every visit is placed with female carers and costs exactly £4,387.50."""
    problem = mary()
    roster = solve(problem, params=SolveParams(time_limit_s=10))
    assert check(problem, roster) == []
    assert roster.unassigned == [] and roster.package_reasons == {}
    assert roster.kpis is not None
    client = roster.kpis.clients["mary-client"]
    assert client.annual_cost_pence == 438_750 == client.budget_cap_pence
    assert client.within_budget is True
    assert client.gender_honoured is True


def test_mary_refused_at_thirteen_pounds_an_hour() -> None:
    """At £13.00/h the package is over the cap: the budget reason names both figures and
    the roster stays within the cap by leaving visits out, each with a budget reason."""
    problem = mary(rate=1300)
    roster = solve(problem, params=SolveParams(time_limit_s=10))
    assert check(problem, roster) == []
    assert roster.package_reasons == {
        "mary": ["budget: £4,563.00 a year at £13.00/h > cap £4,387.50"]
    }
    assert roster.unassigned
    assert all(u.reasons[0].startswith("budget:") for u in roster.unassigned)


def test_mary_one_more_minute_is_over_budget() -> None:
    """One more minute a week (one 16-minute evening visit) is £4,398.33 > £4,387.50."""
    problem = mary()
    package = problem.packages[0]
    evening = next(line for line in package.visits if line.id == "mary-evening")
    sunday_evening = evening.model_copy(
        update={"id": "mary-evening-sun", "weekdays": [Weekday.SUN], "duration_min": 16}
    )
    weekdays = evening.model_copy(update={"weekdays": evening.weekdays[:-1]})
    lines = [line for line in package.visits if line.id != "mary-evening"]
    longer = Problem.model_validate(
        problem.model_copy(
            update={
                "packages": [
                    package.model_copy(update={"visits": [*lines, weekdays, sunday_evening]})
                ]
            }
        ).model_dump()
    )
    roster = solve(longer, params=SolveParams(time_limit_s=10))
    assert check(longer, roster) == []
    assert roster.package_reasons == {
        "mary": ["budget: £4,398.33 a year at £12.50/h > cap £4,387.50"]
    }
    assert len(roster.unassigned) == 1
