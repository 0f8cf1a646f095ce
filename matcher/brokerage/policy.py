"""The council's own rules in the ranking: contract order, and care, quality and price.

Councils do not place new clients on care alone. Where block contracts remain, the
agencies holding them are offered new clients first (the council has paid for those
hours whether it uses them or not), framework agencies next, spot purchases last; and
e-brokerage portals weigh a quality rating against price (60 / 40 is common). So the
market carries, per agency, its `ContractType` and an optional `QualityRating`
(`matcher.market.MarketAgency`), and the council's `RankingPolicy` (`Market`):
whether to order by contract type first, then the weights of the care score (today's
`Score.total`), the agency's quality points and the offer's price points.

The default policy (no contract order, the care score alone) ranks exactly as the
care score always did: its points are the score's total, untouched. Each offer says
how the policy placed it (`Placement`, the offer's `placement` key), with a line a
broker can read out: "block contract: offered before framework and spot agencies;
then by 60 % quality (Good, 75) and 40 % price (100): 85 points".

Nothing here knows about offers or solving: `matching.score_offers` hands it each
offer's care score and price points and sorts by `RankingPolicy.sort_key`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, Field, StrictBool, model_validator

from matcher.brokerage import OUTPUT_CONFIG
from matcher.schema import _NUMBER, Strict


class ContractType(StrEnum):
    """How the council buys care from the agency."""

    BLOCK = "block"  # hours bought in advance: offered new clients first
    FRAMEWORK = "framework"  # on the council's framework: next
    SPOT = "spot"  # bought case by case: last


# Where each contract type comes when the policy orders by contract; an agency whose
# contract is not stated comes after spot purchases: it has no claim to go earlier.
CONTRACT_ORDER: dict[ContractType | None, int] = {
    ContractType.BLOCK: 1,
    ContractType.FRAMEWORK: 2,
    ContractType.SPOT: 3,
    None: 4,
}
_CONTRACT_LINE: dict[ContractType | None, str] = {
    ContractType.BLOCK: "block contract: offered before framework and spot agencies",
    ContractType.FRAMEWORK: "framework agency: offered after block contracts, before spot "
    "purchases",
    ContractType.SPOT: "spot purchase: offered after block and framework agencies",
    None: "no contract stated: offered after block, framework and spot agencies",
}


class CqcRating(StrEnum):
    """The Care Quality Commission's overall rating, in its own words (as its API
    and its reports give them), so an importer copies it as published."""

    OUTSTANDING = "Outstanding"
    GOOD = "Good"
    REQUIRES_IMPROVEMENT = "Requires improvement"
    INADEQUATE = "Inadequate"


# Quality points 0-100 of each CQC rating (docs/matching.md, "The council's ranking
# policy"). The step between Good and Requires improvement is the largest: it is the
# line between meeting the regulator's standards and not. Inadequate earns nothing.
CQC_POINTS: dict[CqcRating, float] = {
    CqcRating.OUTSTANDING: 100.0,
    CqcRating.GOOD: 75.0,
    CqcRating.REQUIRES_IMPROVEMENT: 40.0,
    CqcRating.INADEQUATE: 0.0,
}
# Larger weights would only be typos (the weights are relative: 60 / 40 = 0.6 / 0.4).
MAX_POLICY_WEIGHT = 1_000_000.0

QualityPoints = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False), _NUMBER]
PolicyWeight = Annotated[float, Field(ge=0, le=MAX_POLICY_WEIGHT, allow_inf_nan=False), _NUMBER]


class QualityRating(Strict):
    """An agency's quality: its CQC rating, the council's own points 0-100 (its
    contract monitoring, say), or both; the points, when given, are what counts."""

    cqc: CqcRating | None = Field(default=None, description="The CQC's overall rating.")
    points: QualityPoints | None = Field(
        default=None,
        description="Quality points 0-100; without them the CQC rating's (Outstanding 100, "
        "Good 75, Requires improvement 40, Inadequate 0).",
    )

    @model_validator(mode="after")
    def _something_given(self) -> Self:
        if self.cqc is None and self.points is None:
            raise ValueError("a quality rating needs cqc, points or both")
        return self

    @property
    def value(self) -> float:
        """The points the policy uses: the council's own, else the CQC rating's."""
        if self.points is not None:
            return self.points
        assert self.cqc is not None  # the validator requires one of them
        return CQC_POINTS[self.cqc]


CRITERIA = ("care", "quality", "price")


class PolicyWeights(Strict):
    """Relative weights of the criteria (any scale: 60 / 40 or 0.6 / 0.4)."""

    care: PolicyWeight = Field(default=1.0, description="Today's care score (`score.total`).")
    quality: PolicyWeight = Field(default=0.0, description="The agency's quality points.")
    price: PolicyWeight = Field(
        default=0.0, description="100 x the cheapest feasible annual cost / this offer's."
    )

    @model_validator(mode="after")
    def _not_all_zero(self) -> Self:
        if self.care + self.quality + self.price <= 0:
            raise ValueError("the weights must not all be 0")
        return self

    def shares(self) -> dict[str, float]:
        """Each criterion's share of the total weight (they sum to 1)."""
        total = self.care + self.quality + self.price
        return {name: getattr(self, name) / total for name in CRITERIA}


class RankingPolicy(Strict):
    """How the council ranks feasible offers. The default is the care score alone."""

    order_by_contract: StrictBool = Field(
        default=False,
        description="Block contracts first, then framework, spot, not stated; the "
        "points order within each.",
    )
    weights: PolicyWeights = Field(default_factory=PolicyWeights)
    unrated_quality: QualityPoints = Field(
        default=50.0,
        description="Quality points of an agency without a rating: mid-scale, so that "
        "an agency the regulator has not yet rated is neither buried nor rewarded.",
    )

    def place(self, facts: Placement, *, care: float, price: float) -> Placement:
        """The placement of a feasible offer: `facts` (its agency's contract and
        quality) with the policy's points for it, and why."""
        shares = self.weights.shares()
        quality = facts.quality_points
        breakdown = {
            "care": care,
            "quality": quality if quality is not None else self.unrated_quality,
            "price": price,
        }
        # The default policy's points are exactly the care score (1.0 x care + 0.0 + 0.0).
        points = round(sum(shares[k] * breakdown[k] for k in CRITERIA), 1)
        used = [k for k in CRITERIA if shares[k] > 0]
        if len(used) == 1:  # its points are the policy's: no need to give them twice
            by = _term(used[0], None, facts)
        else:
            terms = [
                f"{round(100 * shares[k], 1):g} % {_term(k, breakdown[k], facts)}" for k in used
            ]
            by = ", ".join(terms[:-1]) + " and " + terms[-1]
        explanation = f"by {by}: {points:g} points"
        if self.order_by_contract:
            explanation = f"{_CONTRACT_LINE[facts.contract]}; then {explanation}"
        else:
            explanation = f"ranked {explanation}"
        return facts.model_copy(
            update={
                "contract_first": self.order_by_contract,
                "points": points,
                "breakdown": breakdown,
                "weights": shares,
                "explanation": explanation,
            }
        )

    def unplaced(self, facts: Placement) -> Placement:
        """The placement of an offer that is not feasible: the facts, no points."""
        return facts.model_copy(
            update={
                "contract_first": self.order_by_contract,
                "points": None,
                "breakdown": None,
                "weights": self.weights.shares(),
                "explanation": NOT_RANKED,
            }
        )

    def sort_key(self, placement: Placement) -> tuple[int, float]:
        """Contract order first when the policy says so, then the most points."""
        tier = CONTRACT_ORDER[placement.contract] if self.order_by_contract else 0
        return (tier, -(placement.points or 0.0))


NOT_RANKED = "not ranked: not feasible"
DEFAULT_POLICY = RankingPolicy()


def _term(criterion: str, points: float | None, facts: Placement) -> str:
    """A criterion as the explanation names it, with its points unless None:
    "the care score (73.5)", "price (100)", "quality (Good, 75)",
    "quality (unrated, counted as 50)"."""
    if criterion in ("care", "price"):
        name = "the care score" if criterion == "care" else "price"
        return name if points is None else f"{name} ({points:g})"
    if facts.quality_points is None:
        said = ["unrated"] + ([] if points is None else [f"counted as {points:g}"])
    else:
        said = [facts.quality_rating.value] if facts.quality_rating is not None else []
        said += [] if points is None else [f"{points:g}"]
    return f"quality ({', '.join(said)})" if said else "quality"


class Placement(BaseModel):
    """How the council's policy placed an offer (every offer has one, feasible or
    not; `points` and `breakdown` are null when not feasible, like `rank`)."""

    model_config = OUTPUT_CONFIG

    contract: ContractType | None = Field(
        default=None, description="The agency's contract type; null when not stated."
    )
    quality_rating: CqcRating | None = Field(
        default=None, description="The agency's CQC rating; null when not given."
    )
    quality_points: float | None = Field(
        default=None,
        description="The agency's quality points 0-100 (its own, or its CQC rating's); "
        "null when unrated.",
    )
    contract_first: bool = Field(
        default=False, description="Whether the policy ordered offers by contract type first."
    )
    points: float | None = Field(
        default=None,
        description="The policy's points 0-100 (weighted care, quality and price); "
        "null when not feasible. With the default policy, the care score's total.",
    )
    breakdown: dict[str, float] | None = Field(
        default=None,
        description="Points 0-100 per criterion (care, quality, price); null when not "
        "feasible. An unrated agency's quality is the policy's `unrated_quality`.",
    )
    weights: dict[str, float] = Field(
        default_factory=lambda: DEFAULT_POLICY.weights.shares(),
        description="Each criterion's share of the policy's weights (they sum to 1).",
    )
    explanation: str = Field(
        default="not ranked",
        description='Why the offer stands where it does, in a line ("block contract: '
        "offered before ...; then by 60 % quality (Good, 75) and 40 % price (100): 85 "
        'points"); "not ranked: not feasible" for a refusal ("not ranked" before any '
        "ranking).",
    )


def agency_facts(contract: ContractType | None, quality: QualityRating | None) -> Placement:
    """What an offer's placement says about its agency before any ranking."""
    return Placement(
        contract=contract,
        quality_rating=quality.cqc if quality else None,
        quality_points=quality.value if quality else None,
    )
