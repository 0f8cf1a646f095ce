"""Broker matching: budgets in exact integers, offers that pass the checker and leave
existing clients alone, reasons in a broker's words, and the ranking."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from matcher.brokerage.offer import OFFER_KEYS
from matcher.market import Market, MarketAgency
from matcher.market_samples import early_riser, mary_package
from matcher.matching import (
    Matcher,
    MatchParams,
    MatchResult,
    accept,
    match,
    match_json_schema,
    roster_violations,
)
from matcher.samples import mary_problem
from matcher.schema import (
    Agency,
    Assignment,
    CarePackage,
    Client,
    Location,
    TimeRange,
    VisitPattern,
    Worker,
)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
SERIAL = MatchParams(time_limit_s=0.5, processes=1)


def mary_market() -> Market:
    """Mary's Kendal agency at £12.50/h, and the same agency at £13.00/h."""
    problem = mary_problem()

    def entry(agency_id: str, rate: int) -> MarketAgency:
        agency = problem.agency.model_copy(update={"id": agency_id, "hourly_rate_pence": rate})
        return MarketAgency(agency=agency, workers=problem.workers)

    return Market(agencies=[entry("at-1250", 1250), entry("at-1300", 1300)])


def test_mary_feasible_exactly_at_cap_and_refused_when_dearer() -> None:
    """£12.50/h: feasible at exactly £4,387.50; £13.00/h: refused with the budget reason."""
    result = match(mary_market(), mary_problem().packages[0], SERIAL)
    offers = {o.agency_id: o for o in result.offers}
    cheap, dear = offers["at-1250"], offers["at-1300"]
    assert cheap.feasible and cheap.rank == 1
    assert cheap.annual_cost_pence == cheap.budget_cap_pence == 438_750
    assert cheap.weekly_minutes == 405 and cheap.gender_honoured is True
    assert not dear.feasible and dear.rank is None
    assert dear.reasons == ["budget: £4,563.00 a year at £13.00/h > cap £4,387.50"]


def test_accepted_offer_passes_checker_and_leaves_existing_visits() -> None:
    """Mary accepted by the urban sample's £12.50/h agency: checked, nobody else moved."""
    market = Market.model_validate_json((SAMPLES / "market_urban.json").read_text())
    grown, offer = accept(market, mary_package(), "isl-agency", SERIAL)
    assert offer.feasible and offer.checked
    assert roster_violations(grown, "isl-agency") == []
    before = {
        a.visit_id: (a.weekday, a.start, a.workers) for a in market.agency("isl-agency").roster
    }
    after = {a.visit_id: (a.weekday, a.start, a.workers) for a in grown.agency("isl-agency").roster}
    assert all(after[v] == placed for v, placed in before.items())
    assert len(after) == len(before) + 14


def _worker(worker_id: str, skills: list[str]) -> Worker:
    return Worker(
        id=worker_id,
        name=worker_id,
        gender="female",
        skills=skills,
        home=Location(lat=51.5400, lon=-0.1000),
        availability={"Mon": [TimeRange(start="07:00", end="12:00")]},
    )


def _package(package_id: str, start: str, duration: int, carers: int) -> CarePackage:
    return CarePackage(
        id=package_id,
        client=Client(
            id=f"{package_id}-c", name=package_id, location=Location(lat=51.541, lon=-0.1)
        ),
        visits=[
            VisitPattern(
                id=package_id,
                weekdays=["Mon"],
                window=TimeRange(start=start, end=start),
                hard_window=TimeRange(start=start, end=start),
                duration_min=duration,
                carers=carers,
                skills=["hoist"],
            )
        ],
    )


def test_double_up_reason_names_the_two_carer_rule() -> None:
    """Two hoist workers, one busy at 08:15: the refusal names the two-carer rule."""
    busy = _package("old", "08:00", 60, 1)
    entry = MarketAgency(
        agency=Agency(id="a", name="A", hourly_rate_pence=2000),
        workers=[_worker("w1", ["hoist"]), _worker("w2", ["hoist"])],
        packages=[busy],
        roster=[
            Assignment(
                visit_id="old-Mon",
                package_id="old",
                client_id="old-c",
                weekday="Mon",
                start="08:00",
                end="09:00",
                workers=["w2"],
            )
        ],
    )
    result = match(Market(agencies=[entry]), _package("new", "08:15", 30, 2), SERIAL)
    (offer,) = result.offers
    assert not offer.feasible
    assert any("two-carer visit: only one" in r and "Monday" in r for r in offer.reasons)


def test_outside_service_area_is_refused_with_distance() -> None:
    """A client in Islington is outside a Kendal agency's 5 km area, with the km named."""
    result = match(mary_market(), mary_package(), SERIAL)
    assert all(o.reasons[0].startswith("outside service area (") for o in result.offers)
    assert all(o.reasons[0].endswith("km from the nearest worker)") for o in result.offers)


def test_no_agency_then_the_exact_nearest_window_is_suggested() -> None:
    """06:30 sharp fits nowhere (shifts start at 07:00): each agency says where each
    visit would fit, and the smallest window that makes the whole package fit there."""
    market = Market.model_validate_json((SAMPLES / "market_urban.json").read_text())
    small = market.model_copy(update={"agencies": market.agencies[:2]})
    result = match(small, early_riser(), SERIAL)
    assert not any(o.feasible for o in result.offers)
    assert all(o.reasons for o in result.offers)
    assert all(o.nearest_fits for o in result.offers)
    assert any(s.startswith("Monday's 06:30 visit fits from 07:") for s in result.suggestions)
    assert any(s.startswith("let Monday's 06:30 visit start at 07:") for s in result.suggestions)


def test_ranking_is_deterministic_and_parallel_agrees() -> None:
    """Two processes give the same ranking as one (ties broken by cost, travel, id)."""
    market = Market.model_validate_json((SAMPLES / "market_urban.json").read_text())
    package = mary_package().model_copy(update={"budget": None})
    small = market.model_copy(update={"agencies": market.agencies[:3]})
    serial = match(small, package, MatchParams(time_limit_s=0.3, processes=1))
    with Matcher(small, processes=2) as matcher:
        parallel = matcher.match(package, MatchParams(time_limit_s=0.3))
    ranks = [o.rank for o in serial.offers if o.feasible]
    assert ranks == list(range(1, len(ranks) + 1))
    assert {o.agency_id for o in serial.offers if o.feasible} == {
        o.agency_id for o in parallel.offers if o.feasible
    }
    for offer in serial.offers:
        if offer.feasible:
            assert offer.score is not None
            assert set(offer.score.breakdown) == {"preference", "continuity", "cost", "travel"}


def test_impossible_package_reasons_name_the_missing_skill() -> None:
    """PEG feeding: every agency refuses, naming the skill (or its service area)."""
    from matcher.market_samples import impossible_package

    market = Market.model_validate_json((SAMPLES / "market_urban.json").read_text())
    small = market.model_copy(update={"agencies": market.agencies[:4]})
    result = match(small, impossible_package(), SERIAL)
    assert not any(o.feasible for o in result.offers)
    for offer in result.offers:
        assert offer.reasons
        assert all(
            "skills: no worker has peg_feeding" in r or r.startswith("outside service area")
            for r in offer.reasons
        )


def test_bug_service_area_reason_names_the_area_when_a_worker_is_near() -> None:
    """Outside an agency's declared area but 2 km from one of its workers: the reason
    gives the area's centre distance and radius, not only the (small) worker distance."""
    from matcher.matching import service_area_reason

    market = Market.model_validate_json((SAMPLES / "market_urban.json").read_text())
    package = CarePackage.model_validate_json((SAMPLES / "packages" / "mary.json").read_text())
    entry = next(a for a in market.agencies if a.id == "har-agency")
    reason = service_area_reason(entry, package)
    assert reason is not None and "km from its centre, radius" in reason


def _offers_of(result: MatchResult) -> list[dict[str, Any]]:
    """The offers without their timings (which differ from run to run)."""
    return [
        {k: v for k, v in offer.summary().items() if k != "elapsed_s"} for offer in result.offers
    ]


def test_bug_two_markets_matched_at_once_in_threads_do_not_mix() -> None:
    """Two matches with different markets at once in two threads of one process each
    get exactly the offers they get alone. The engine once kept the market in a module
    global for its workers, so one thread evaluated the other's agencies (wrong offers,
    or an IndexError)."""
    rural = Market.model_validate_json((SAMPLES / "market_rural.json").read_text())
    urban = Market.model_validate_json((SAMPLES / "market_urban.json").read_text())
    urban = urban.model_copy(update={"agencies": urban.agencies[:3]})
    rural_package = CarePackage.model_validate_json(
        (SAMPLES / "packages" / "rural_double_up.json").read_text()
    )
    params = MatchParams(time_limit_s=0.2, processes=1, deterministic=True)
    jobs = {"rural": (rural, rural_package), "urban": (urban, mary_package())}
    alone = {name: _offers_of(match(m, p, params)) for name, (m, p) in jobs.items()}
    assert any(o["feasible"] for o in alone["rural"]) and any(o["feasible"] for o in alone["urban"])

    def run(start: threading.Barrier, market: Market, package: CarePackage) -> list[dict]:
        start.wait()
        return _offers_of(match(market, package, params))

    for _ in range(2):
        start = threading.Barrier(len(jobs))
        with ThreadPoolExecutor(max_workers=len(jobs)) as threads:
            futures = {name: threads.submit(run, start, m, p) for name, (m, p) in jobs.items()}
            together = {name: f.result() for name, f in futures.items()}
        assert together == alone


def test_match_result_to_json_is_the_cli_contract() -> None:
    """`MatchResult.to_json` is what `carematch match --json` prints (the CLI calls it):
    its top-level keys, each offer's contract keys first, then the rest of the offer."""
    result = match(mary_market(), mary_problem().packages[0], SERIAL)
    data = json.loads(json.dumps(result.to_json()))
    assert list(data) == ["package_id", "elapsed_s", "offers", "suggestions", "changes", "splits"]
    assert len(data["offers"]) == len(result.offers) == 2
    for offer, model in zip(data["offers"], result.offers, strict=True):
        assert list(offer)[: len(OFFER_KEYS)] == list(OFFER_KEYS)
        assert offer == model.model_dump(mode="json")
    assert data["offers"][0]["rank"] == 1 and data["offers"][1]["rank"] is None


def _exclusion_market() -> tuple[Market, CarePackage]:
    """One agency: Anna free at 08:15 on Monday but excluded by the new client, Bea
    (hoist) booked 08:00-09:00; a one-carer hoist visit at 08:15 sharp."""
    anna = _worker("anna", ["hoist"])
    entry = MarketAgency(
        agency=Agency(id="a", name="A", hourly_rate_pence=2000),
        workers=[anna, _worker("bea", ["hoist"])],
        packages=[_package("old", "08:00", 60, 1)],
        roster=[
            Assignment(
                visit_id="old-Mon",
                package_id="old",
                client_id="old-c",
                weekday="Mon",
                start="08:00",
                end="09:00",
                workers=["bea"],
            )
        ],
    )
    package = _package("new", "08:15", 30, 1)
    client = package.client.model_copy(update={"name": "Mary", "excluded_workers": ["anna"]})
    return Market(agencies=[entry]), package.model_copy(update={"client": client})


def test_exclusion_reason_through_matching() -> None:
    """The issue's case end to end: the only carer free at the visit's time is one the
    client excluded. The offer names the exclusion (it said every carer was booked);
    it placed nothing, so what describes placed visits is null, as on every refusal."""
    market, package = _exclusion_market()
    (offer,) = match(market, package, SERIAL).offers
    assert not offer.feasible and offer.checked and offer.visits_placed == 0
    assert offer.reasons == [
        "new-Mon: excluded: the only worker with skill hoist free on Monday 08:15 is one "
        "Mary has asked not to see"
    ]
    assert offer.distinct_carers is None and offer.carers == []
    assert offer.in_window_pct is None and offer.gender_honoured is None


def _check(value: Any, schema: dict[str, Any], defs: dict[str, Any], path: str) -> None:
    """`value` against the subset of JSON Schema pydantic writes ($ref, anyOf, type,
    properties, required, additionalProperties, items, enum); an object's keys must be
    exactly its documented properties (no key undocumented, none missing)."""
    if "$ref" in schema:
        _check(value, defs[schema["$ref"].rsplit("/", 1)[1]], defs, path)
        return
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                _check(value, option, defs, path)
                return
            except AssertionError as error:
                errors.append(str(error))
        raise AssertionError(f"{path}: matches none of anyOf ({errors})")
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    kinds = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "null": type(None),
    }
    kind = schema.get("type")
    if kind is not None:
        ok = isinstance(value, kinds[kind])
        if kind in ("integer", "number"):
            ok = ok and not isinstance(value, bool)
        assert ok, f"{path}: {value!r} is not {kind}"
    if kind == "object" and "properties" in schema:
        assert set(value) == set(schema["properties"]), f"{path}: keys {sorted(value)}"
        assert set(schema.get("required", ())) == set(schema["properties"]), path
        for key, item in value.items():
            _check(item, schema["properties"][key], defs, f"{path}.{key}")
    elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            _check(item, schema["additionalProperties"], defs, f"{path}.{key}")
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            _check(item, schema["items"], defs, f"{path}[{i}]")


def test_match_output_of_every_sample_package_validates_against_its_schema() -> None:
    """Every sample package (the rural one against the rural market, the others against
    the urban one), short limits: the output has every documented key on every offer,
    feasible or not, of the documented types (`match_json_schema`, what `carematch schema
    --match` prints), and reads back through `MatchResult` unchanged. A refused offer
    that placed nothing has distinct_carers null and carers [] however it was refused."""
    schema = match_json_schema()
    rural = Market.model_validate_json((SAMPLES / "market_rural.json").read_text())
    urban = Market.model_validate_json((SAMPLES / "market_urban.json").read_text())
    params = MatchParams(time_limit_s=0.2, processes=2)
    paths = sorted((SAMPLES / "packages").glob("*.json"))
    assert len(paths) >= 4
    for path in paths:
        package = CarePackage.model_validate_json(path.read_text())
        market = rural if path.stem.startswith("rural") else urban
        data = json.loads(json.dumps(match(market, package, params).to_json()))
        _check(data, schema, schema["$defs"], path.stem)
        assert MatchResult.model_validate(data).to_json() == data
        for offer in data["offers"]:
            if offer["visits_placed"] == 0:
                assert offer["distinct_carers"] is None and offer["carers"] == [], offer
            else:
                assert offer["distinct_carers"] == len(offer["carers"]), offer
