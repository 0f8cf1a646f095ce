"""The council's ranking policy (`matcher.brokerage.policy`): the default ranks every
sample package exactly by the care score; ordering by contract puts a block agency
first although its care score is lower, and 60 % quality / 40 % price reorders
offers, each with a paired case where the rule leaves the order alone; bad policies
are refused (one line, exit 2, on the CLI)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from pydantic import ValidationError

from matcher.brokerage.policy import (
    CQC_POINTS,
    NOT_RANKED,
    ContractType,
    CqcRating,
    QualityRating,
    RankingPolicy,
    agency_facts,
)
from matcher.market import Market
from matcher.matching import SCORE_WEIGHTS, MatchParams, Offer, match, score_offers
from matcher.schema import CarePackage

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
# Deterministic CP-SAT time: the same offers on every run, so re-ranking them is exact.
PARAMS = MatchParams(time_limit_s=0.2, processes=2, deterministic=True, suggest=False)
CONTRACT_FIRST = RankingPolicy(order_by_contract=True)
QUALITY_PRICE = RankingPolicy.model_validate({"weights": {"care": 0, "quality": 60, "price": 40}})


@cache
def market(name: str) -> Market:
    return Market.model_validate_json((SAMPLES / f"market_{name}.json").read_text())


@cache
def sample_offers(package_name: str) -> tuple[Offer, ...]:
    """The sample package's offers under the market's (default) policy."""
    package = CarePackage.model_validate_json(
        (SAMPLES / "packages" / f"{package_name}.json").read_text()
    )
    name = "rural" if package_name.startswith("rural") else "urban"
    return tuple(match(market(name), package, PARAMS).offers)


def feasible(offers: list[Offer] | tuple[Offer, ...]) -> list[Offer]:
    return [o for o in offers if o.feasible]


def order(offers: list[Offer] | tuple[Offer, ...]) -> list[str]:
    return [o.agency_id for o in feasible(offers)]


def with_facts(offers: tuple[Offer, ...], facts: dict[str, tuple]) -> list[Offer]:
    """The offers as if their agencies had these (contract, quality) instead."""
    return [
        o.model_copy(update={"placement": agency_facts(*facts[o.agency_id])})
        if o.agency_id in facts
        else o
        for o in offers
    ]


# ------------------------------------------------------------------ the default


@pytest.mark.parametrize(
    "package_name", sorted(p.stem for p in (SAMPLES / "packages").glob("*.json"))
)
def test_default_policy_ranks_every_sample_exactly_by_the_care_score(package_name: str) -> None:
    """With the default policy (the sample agencies all have contracts and most have
    ratings) every feasible offer's score is the weighted sum of its breakdown, the
    policy's points are exactly that score, and the order is the care score's: higher
    total, then cheaper, less travel, agency id. Refusals are placed but not ranked."""
    offers = sample_offers(package_name)
    ranked = feasible(offers)
    for offer in ranked:
        assert offer.score is not None
        total = sum(SCORE_WEIGHTS[k] * v for k, v in offer.score.breakdown.items())
        assert offer.score.total == round(total, 1)
        assert offer.placement.points == offer.score.total
        assert (
            offer.placement.explanation == f"ranked by the care score: {offer.score.total:g} points"
        )
    today = sorted(
        ranked,
        key=lambda o: (-o.score.total, o.annual_cost_pence, o.added_travel_min or 0, o.agency_id),
    )
    assert ranked == today
    assert [o.rank for o in ranked] == list(range(1, len(ranked) + 1))
    for offer in offers:
        if not offer.feasible:
            assert offer.placement.points is None and offer.placement.breakdown is None
            assert offer.placement.explanation == NOT_RANKED
    # An explicit default, however written, is the default.
    for policy in (RankingPolicy(), RankingPolicy.model_validate({"weights": {"care": 3}})):
        assert score_offers(list(offers), policy) == list(offers)


def test_sample_agencies_carry_their_contract_and_rating_into_every_offer() -> None:
    """The market's contract and quality reach each offer, feasible or not; the CQC word
    becomes its points, the council's own points win over it, unrated stays null."""
    offers = {o.agency_id: o.placement for o in sample_offers("council_mary")}
    assert offers["hol-agency"].contract == ContractType.BLOCK
    assert offers["isl-agency"].quality_rating == CqcRating.GOOD
    assert offers["isl-agency"].quality_points == 75
    assert offers["kgx-agency"].quality_points == 100
    assert offers["har-agency"].quality_points == 82  # refused (area), still placed
    assert offers["har-agency"].quality_rating == CqcRating.GOOD
    assert offers["shd-agency"].quality_points is None
    assert offers["cam-agency"].contract == ContractType.SPOT


# ------------------------------------------------------------------ contract order


def test_order_by_contract_puts_a_block_agency_with_a_lower_score_first() -> None:
    """Under contract order the council's block agencies come first although the best
    care score is a framework agency's; within a contract type, the care score."""
    offers = sample_offers("council_mary")
    best_care = feasible(offers)[0]
    ranked = feasible(score_offers(list(offers), CONTRACT_FIRST))
    first = ranked[0]
    assert first.placement.contract == ContractType.BLOCK
    assert best_care.placement.contract != ContractType.BLOCK
    assert first.score.total < best_care.score.total
    tiers = {ContractType.BLOCK: 1, ContractType.FRAMEWORK: 2, ContractType.SPOT: 3, None: 4}
    keys = [(tiers[o.placement.contract], -o.score.total) for o in ranked]
    assert keys == sorted(keys)
    assert first.placement.explanation.startswith(
        "block contract: offered before framework and spot agencies; then by the care score"
    )
    assert (
        first.placement.contract_first
        and first.score == feasible([o for o in offers if o.agency_id == first.agency_id])[0].score
    )  # the care score itself is untouched


def test_order_by_contract_changes_nothing_when_the_best_care_agency_holds_the_block() -> None:
    """Paired: when the block contract is with the agency that has the best care score
    and the others are all on the framework, contract order keeps the care order."""
    offers = sample_offers("council_mary")
    best = feasible(offers)[0].agency_id
    facts = {
        o.agency_id: (ContractType.BLOCK if o.agency_id == best else ContractType.FRAMEWORK, None)
        for o in offers
    }
    assert order(score_offers(with_facts(offers, facts), CONTRACT_FIRST)) == order(offers)


def test_order_by_contract_through_the_market() -> None:
    """The market's own `ranking_policy` is what `match` ranks by."""
    package = CarePackage.model_validate_json((SAMPLES / "packages/council_mary.json").read_text())
    ruled = market("urban").model_copy(update={"ranking_policy": CONTRACT_FIRST})
    offers = match(ruled, package, PARAMS).offers
    assert feasible(offers)[0].placement.contract == ContractType.BLOCK
    assert all(o.placement.contract_first for o in offers)


# ------------------------------------------------------------------ quality and price


def _quality_price_points(offer: Offer, cheapest: int) -> float:
    """60 % quality, 40 % price, computed here from the market and the published CQC
    mapping (not from the offer's placement)."""
    cqc = {"Outstanding": 100, "Good": 75, "Requires improvement": 40, "Inadequate": 0}
    rating = market("urban").agency(offer.agency_id).quality
    if rating is None:
        quality = 50.0  # unrated: the default `unrated_quality`
    elif rating.points is not None:
        quality = rating.points  # the council's own points win over the CQC word
    else:
        quality = cqc[rating.cqc.value]
    price = round(100 * cheapest / offer.annual_cost_pence, 1)  # as every criterion: 0.1
    return 0.6 * quality + 0.4 * price


def test_quality_and_price_60_40_reorders_the_offers() -> None:
    """60 % quality / 40 % price: the order is by those points (computed here), which
    is not the care order on this package; the care score itself does not change."""
    offers = sample_offers("council_mary")
    ranked = feasible(score_offers(list(offers), QUALITY_PRICE))
    cheapest = min(o.annual_cost_pence for o in ranked)
    points = [_quality_price_points(o, cheapest) for o in ranked]
    assert points == sorted(points, reverse=True)
    for offer, expected in zip(ranked, points, strict=True):
        assert math.isclose(offer.placement.points, expected, abs_tol=0.051)
    assert order(ranked) != order(offers)
    before = {o.agency_id: o.score for o in feasible(offers)}
    assert all(o.score == before[o.agency_id] for o in ranked)
    kgx = next(o for o in ranked if o.agency_id == "kgx-agency")
    assert kgx.placement.explanation.startswith(
        "ranked by 60 % quality (Outstanding, 100) and 40 % price ("
    )


def test_quality_and_price_60_40_changes_nothing_when_quality_follows_the_care_order() -> None:
    """Paired: when the agencies' quality points fall in steps of 20 down the care
    order, the price differences (40 % of a few points) cannot reorder them."""
    offers = sample_offers("council_mary")
    steps = {o.agency_id: 100 - 20 * i for i, o in enumerate(feasible(offers))}
    facts = {a: (None, QualityRating(points=p)) for a, p in steps.items()}
    assert order(score_offers(with_facts(offers, facts), QUALITY_PRICE)) == order(offers)


def test_unrated_agency_counts_as_the_policy_says() -> None:
    """An unrated agency's quality is the policy's `unrated_quality` (50 by default)."""
    offers = sample_offers("council_mary")
    facts = {o.agency_id: (None, None) for o in offers}
    for unrated in (50.0, 0.0):
        policy = QUALITY_PRICE.model_copy(update={"unrated_quality": unrated})
        for offer in feasible(score_offers(with_facts(offers, facts), policy)):
            assert offer.placement.breakdown["quality"] == unrated
            assert "quality (unrated, counted as" in offer.placement.explanation


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "bad",
    [
        {"weights": {"care": 0}},
        {"weights": {"care": 0, "quality": 0, "price": 0}},
        {"weights": {"quality": -1}},
        {"weights": {"price": "40"}},
        {"weights": {"price": True}},
        {"weights": {"price": float("inf")}},
        {"weights": {"price": float("nan")}},
        {"weights": {"price": 1e300}},
        {"weights": {"prices": 40}},
        {"order_by_contract": "yes"},
        {"unrated_quality": 101},
        {"by_contract": True},
    ],
)
def test_bad_policies_are_refused(bad: dict) -> None:
    """Weights finite, non-negative, bounded, not all 0; no strings for numbers or
    booleans; no unknown keys."""
    with pytest.raises(ValidationError):
        RankingPolicy.model_validate(bad)


def test_quality_rating_needs_something_and_maps_the_cqc_words() -> None:
    """A rating is a CQC word, points 0-100, or both (the points win)."""
    with pytest.raises(ValidationError):
        QualityRating.model_validate({})
    for bad in ({"cqc": "good"}, {"points": 101}, {"points": -1}, {"cqc": "Good", "x": 1}):
        with pytest.raises(ValidationError):
            QualityRating.model_validate(bad)
    assert [QualityRating(cqc=r).value for r in CqcRating] == [100, 75, 40, 0]
    assert CQC_POINTS[CqcRating.GOOD] == 75
    assert QualityRating(cqc=CqcRating.GOOD, points=82).value == 82


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matcher", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_cli_policy_file_ranks_and_bad_policy_is_one_line_exit_2(tmp_path: Path) -> None:
    """`carematch match --policy` ranks by it (block first here); a bad policy, in the
    file or in the market, is one line on stderr and exit 2."""
    market_path = str(SAMPLES / "market_urban.json")
    package_path = str(SAMPLES / "packages" / "council_mary.json")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"order_by_contract": True}))
    done = _cli("match", market_path, package_path, "--policy", str(policy), "--json")
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)["offers"][0]
    assert first["placement"]["contract"] == "block" and first["rank"] == 1
    policy.write_text(json.dumps({"weights": {"care": 0, "price": -40}}))
    done = _cli("match", market_path, package_path, "--policy", str(policy))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "weights.price" in done.stderr
    bad_market = json.loads((SAMPLES / "market_rural.json").read_text())
    bad_market["ranking_policy"] = {"weights": {"care": 0}}
    path = tmp_path / "market.json"
    path.write_text(json.dumps(bad_market))
    done = _cli("match", str(path), str(SAMPLES / "packages" / "rural_double_up.json"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "ranking_policy.weights" in done.stderr
