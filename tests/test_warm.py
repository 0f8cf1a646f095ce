"""Warm agencies (`matcher.brokerage.warm`): an agency prepared once gives exactly the
offers of the plain path that rebuilds it for every package, in this process and in a
Matcher's worker processes; a changed agency is never served from another version's
state, whatever its id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from matcher.brokerage.warm import WarmAgencies, WarmAgency, base_problem, fingerprint
from matcher.checker import check
from matcher.control import RunControl
from matcher.insertion import RosterState
from matcher.instance import build_instance, extend_instance
from matcher.market import Market, MarketAgency
from matcher.market_samples import early_riser, impossible_package, mary_package, rural_double_up
from matcher.matching import (
    AgencyResult,
    AgencyTask,
    Matcher,
    MatchParams,
    MatchResult,
    _problem,
    committed_travel,
    evaluate_agency,
)
from matcher.schema import CarePackage, TravelMode
from matcher.solver.insert import insert_packages
from matcher.solver.placements import placements_of
from matcher.solver.solve import roster_state
from matcher.travel import travel_model_for

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
# CP-SAT limited in deterministic time: the same offers however busy the machine is.
EXACT = MatchParams(time_limit_s=0.2, deterministic=True)


def urban() -> Market:
    return Market.model_validate_json((SAMPLES / "market_urban.json").read_text())


def rural() -> Market:
    return Market.model_validate_json((SAMPLES / "market_rural.json").read_text())


def plain(tasks: list[AgencyTask], control: RunControl) -> list[AgencyResult]:
    """The reference: each agency evaluated by `evaluate_agency` from scratch, here."""
    return [task() for task in tasks]


def offers_of(result: MatchResult) -> list[dict[str, Any]]:
    """Every key of every offer but the timing, and the suggestions."""
    offers = [{k: v for k, v in o.summary().items() if k != "elapsed_s"} for o in result.offers]
    return [*offers, {"suggestions": result.suggestions}]


def cases() -> list[tuple[Market, CarePackage]]:
    """Feasible at several agencies (so the search runs), feasible nowhere (so the
    suggestions run), refused on skills, and a two-carer visit in the countryside."""
    unbudgeted = mary_package().model_copy(update={"budget": None})
    return [
        (urban(), mary_package()),
        (urban(), unbudgeted),
        (urban(), early_riser()),
        (urban(), impossible_package()),
        (rural(), rural_double_up()),
    ]


def test_warm_path_gives_exactly_the_offers_of_the_plain_path() -> None:
    """Every key of every offer (but elapsed_s) and every suggestion, for several
    packages: warm in this process, warm in two worker processes, and the plain
    path (`evaluate_agency` rebuilding each agency for every package)."""
    for market, package in cases():
        with Matcher(market, evaluator=plain) as reference:
            expected = offers_of(reference.match(package, EXACT))
        with Matcher(market, processes=1) as here:
            assert offers_of(here.match(package, EXACT)) == expected, package.id
            assert offers_of(here.match(package, EXACT)) == expected, package.id  # warm now
        with Matcher(market, processes=2) as pool:
            assert offers_of(pool.match(package, EXACT)) == expected, package.id


@pytest.mark.parametrize("search", [False, True])
def test_warm_agency_gives_the_plain_result_and_roster(search: bool) -> None:
    """Per agency, with and without the search: the same offer and the same whole
    roster (assignments in order) as without the warm agency."""
    market = urban()
    package = mary_package().model_copy(update={"budget": None})
    for entry in market.agencies:
        warm = WarmAgency.prepare(entry, market.skills)
        cold = evaluate_agency(entry, market.skills, package, EXACT, search=search)
        hot = evaluate_agency(entry, market.skills, package, EXACT, search=search, warm=warm)
        assert hot.offer.model_dump(exclude={"elapsed_s"}) == cold.offer.model_dump(
            exclude={"elapsed_s"}
        )
        assert hot.roster == cold.roster
        assert warm.committed_travel_min == committed_travel(entry)


def test_extended_instance_equals_the_built_one() -> None:
    """`extend_instance` (and `TravelModel.with_places`, `RosterState.onto`) give what
    building the agency's week with the package from scratch gives, field by field."""
    market = urban()
    for package in (mary_package(), early_riser()):
        for entry in market.agencies:
            base = build_instance(base_problem(entry, market.skills))
            problem = _problem(entry, market.skills, package)
            travel = base.travel_model.with_places({package.client.id: package.client.location})
            grown = extend_instance(base, problem, travel)
            built = build_instance(problem)
            for name in (
                "visits",
                "shifts",
                "shifts_of_worker",
                "worker_place",
                "worker_mode",
                "client_ids",
                "package_of_client",
                "eligibility",
                "links",
            ):
                assert getattr(grown, name) == getattr(built, name), name
            assert grown.travel_model.ids == built.travel_model.ids
            assert grown.travel_model.kilometres() == built.travel_model.kilometres()
            for mode in TravelMode:
                assert grown.travel_model.matrix(mode) == built.travel_model.matrix(mode)
                assert grown.travel_model.cost_matrix(mode) == built.travel_model.cost_matrix(mode)
            fixed = placements_of(base, entry.roster)
            copied = roster_state(base, fixed).onto(grown)
            loaded = roster_state(built, fixed)
            for name in ("routes", "day_minutes", "week_minutes", "package_minutes"):
                assert getattr(copied, name) == getattr(loaded, name), name
            assert copied.workers_of_client == loaded.workers_of_client


def test_a_copied_state_answers_as_a_fresh_one_whatever_it_had_worked_out() -> None:
    """`RosterState.onto` after the state worked out gaps of its routes before and after
    loading them (what it keeps is per route version): the copy's latest starts and
    options are those of a state loaded afresh."""
    market = urban()
    package = mary_package()
    entry = market.agencies[0]
    base = build_instance(base_problem(entry, market.skills))
    problem = _problem(entry, market.skills, package)
    travel = base.travel_model.with_places({package.client.id: package.client.location})
    grown = extend_instance(base, problem, travel)
    loaded = RosterState(base)
    for shift in range(len(base.shifts)):
        loaded.latest_starts(shift)  # worked out on the empty routes
    fixed = placements_of(base, entry.roster)
    per_shift: dict[int, list[tuple[int, int]]] = {}
    for placement in fixed:  # loaded as `roster_state` loads them
        for shift in placement.shifts:
            per_shift.setdefault(shift, []).append((placement.visit, placement.start))
        loaded.charge_package(base.visits[placement.visit])
    for shift, stops in per_shift.items():
        loaded.load_route(shift, stops)
    for shift in range(len(base.shifts)):
        loaded.latest_starts(shift)
    copied = loaded.onto(grown)
    fresh = roster_state(build_instance(problem), fixed)
    new_visits = [v for v in grown.visits if v.visit.package_id == package.id]
    for shift in range(len(base.shifts)):
        assert copied.latest_starts(shift) == fresh.latest_starts(shift), shift
        for visit in new_visits:
            assert list(copied.options(visit, shift, push=True)) == list(
                fresh.options(visit, shift, push=True)
            )


def test_extend_instance_refuses_another_agencys_week() -> None:
    """The base must be the same agency's week (same objects): anything else is a
    programming error, not a silently wrong instance."""
    market = urban()
    first, second = market.agencies[:2]
    base = build_instance(base_problem(first, market.skills))
    other = _problem(second, market.skills, mary_package())
    with pytest.raises(ValueError, match="extend_instance"):
        extend_instance(base, other, travel_model_for(other))


def freed(market: Market, package: CarePackage) -> MarketAgency:
    """The market's first agency with a different committed roster and nothing else
    changed: the carers who would take the package have their visits unassigned."""
    full = market.agencies[0]
    offer = evaluate_agency(full, market.skills, package, EXACT).offer
    assert offer.feasible and offer.carers
    roster = [a for a in full.roster if not set(a.workers) & set(offer.carers)]
    assert roster != full.roster
    return full.model_copy(update={"roster": roster})


def test_bug_same_agency_id_different_roster_gets_its_own_answer() -> None:
    """Two versions of one agency that differ in their committed roster alone, kept
    in one store: each has its own fingerprint and gets the plain answer for its own
    content; the answers differ, so serving one from the other would show."""
    market = urban()
    package = mary_package().model_copy(update={"budget": None})
    versions = (market.agencies[0], freed(market, package))
    keys = [fingerprint(entry, market.skills) for entry in versions]
    store = WarmAgencies()
    for key, entry in zip(keys, versions, strict=True):
        store.add(key, entry, market.skills)
    answers = []
    for key, entry in zip(keys, versions, strict=True):
        warm = store.get(key)
        assert warm is not None and warm.entry is entry
        hot = evaluate_agency(entry, market.skills, package, EXACT, warm=warm)
        cold = evaluate_agency(entry, market.skills, package, EXACT)
        assert hot.offer.model_dump(exclude={"elapsed_s"}) == cold.offer.model_dump(
            exclude={"elapsed_s"}
        )
        answers.append(hot.offer.model_dump(exclude={"elapsed_s"}))
    assert answers[0] != answers[1]


def first_agency_changed() -> tuple[Market, Market, CarePackage, list[dict[str, Any]]]:
    """Three urban agencies, the same three with the first one's roster changed
    (`freed`), Mary without a budget, and the plain path's offers on the changed market."""
    market = urban()
    market = market.model_copy(update={"agencies": market.agencies[:3]})
    package = mary_package().model_copy(update={"budget": None})
    changed = market.model_copy(update={"agencies": [freed(market, package), *market.agencies[1:]]})
    with Matcher(changed, evaluator=plain) as reference:
        expected = offers_of(reference.match(package, EXACT))
    return market, changed, package, expected


def test_bug_a_replaced_market_is_not_answered_from_the_workers_old_agencies() -> None:
    """A Matcher's worker processes hold its market's agencies; give it a market in
    which one agency, same id, has another committed roster, and its offers are that
    market's: the workers do not know that fingerprint and get the agency sent, and
    the committed travel the Matcher keeps is not reused for it."""
    market, changed, package, expected = first_agency_changed()
    with Matcher(market, processes=2) as matcher:
        before = offers_of(matcher.match(package, EXACT))
        matcher.market = changed
        assert offers_of(matcher.match(package, EXACT)) == expected
    assert before != expected


def test_with_market_keeps_the_processes_and_answers_the_new_market() -> None:
    """The service's successor Matcher when one agency changes (`with_market`): the
    same worker processes, still holding the unchanged agencies (only the changed one
    comes back `NotWarm` and is sent), the new market's offers exactly, and closing
    the predecessor does not stop the successor's processes."""
    market, changed, package, expected = first_agency_changed()
    with Matcher(market, processes=2) as matcher:
        before = offers_of(matcher.match(package, EXACT))
        pool = matcher._pool
        assert pool is not None
        pids = set(pool._processes)
        sent_again: list[str] = []
        resend = Matcher._warm_task

        def spy(self: Matcher, task: AgencyTask, *, with_entry: bool = False) -> Any:
            if with_entry:
                sent_again.append(task.entry.id)
            return resend(self, task, with_entry=with_entry)

        successor = matcher.with_market(changed)
        matcher.close()
        with successor, pytest.MonkeyPatch.context() as patch:
            patch.setattr(Matcher, "_warm_task", spy)
            assert offers_of(successor.match(package, EXACT)) == expected
            assert successor._pool is pool and set(pool._processes) == pids
    assert before != expected
    assert set(sent_again) == {changed.agencies[0].id}


def test_store_is_bounded_and_drops_the_least_recently_used() -> None:
    """At most `capacity` agencies; the one asked for least recently goes first, and
    an agency no longer held is reported as unknown (None), never guessed."""
    market = urban()
    store = WarmAgencies(capacity=2)
    keys = [fingerprint(a, market.skills) for a in market.agencies[:3]]
    for key, entry in zip(keys[:2], market.agencies[:2], strict=True):
        store.add(key, entry, market.skills)
    assert store.get(keys[0]) is not None  # now the second is the least recent
    store.add(keys[2], market.agencies[2], market.skills)
    assert len(store) == 2
    assert store.get(keys[1]) is None
    assert store.get(keys[0]) is not None and store.get(keys[2]) is not None
    with pytest.raises(ValueError):
        WarmAgencies(capacity=0)


def test_checker_uses_a_given_travel_model_only_if_it_fits() -> None:
    """The warm agency hands the checker its own travel model of the agency's places
    plus the new home; a model of other places (here the client living 20 km away,
    which would break the travel rule everywhere) is not used: the verdict is the
    checker's own."""
    market = urban()
    entry = market.agencies[0]
    package = mary_package().model_copy(update={"budget": None})
    warm = WarmAgency.prepare(entry, market.skills)
    problem = _problem(entry, market.skills, package)
    roster = insert_packages(
        problem, entry.roster, {package.id}, search=False, start=warm.start(problem, package)
    )
    assert check(problem, roster) == []
    given = warm.travel_for_checker(package)
    assert given.fits(problem)
    assert check(problem, roster, travel=given) == []
    far = package.client.location.model_copy(update={"lat": package.client.location.lat + 0.18})
    moved = package.model_copy(
        update={"client": package.client.model_copy(update={"location": far})}
    )
    wrong = warm.travel_for_checker(moved)
    assert check(_problem(entry, market.skills, moved), roster)  # that client is unreachable
    assert check(problem, roster, travel=wrong) == []
    assert not wrong.fits(problem)
