"""The match output's offers: what one agency answers for a package (`Offer`: every key
on every offer with the same meaning, feasible or not; docs/matching.md, "The match
output"), and a package split between two agencies (`SplitOffer`). Their JSON Schema is
part of the match output's (`matching.match_json_schema`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from matcher.brokerage import OUTPUT_CONFIG
from matcher.brokerage.nearest import NearestFits
from matcher.brokerage.policy import Placement
from matcher.schema import Assignment

# Score weights (points out of 100 per criterion); see docs/matching.md.
SCORE_WEIGHTS: dict[str, float] = {
    "preference": 0.40,
    "continuity": 0.25,
    "cost": 0.20,
    "travel": 0.15,
}
# The contract keys of `carematch match --json` per offer, in this order; the rest of
# the offer follows them.
OFFER_KEYS = (
    "agency_id",
    "feasible",
    "rank",
    "annual_cost_pence",
    "weekly_minutes",
    "in_window_pct",
    "distinct_carers",
    "carers",
    "reasons",
    "score",
)


class Score(BaseModel):
    """Points out of 100: the weighted total and each criterion's own points."""

    model_config = OUTPUT_CONFIG

    total: float = Field(description="Weighted total of the breakdown, 0-100.")
    breakdown: dict[str, float] = Field(
        description="Points 0-100 per criterion: preference, continuity, cost, travel."
    )
    weights: dict[str, float] = Field(
        default_factory=lambda: dict(SCORE_WEIGHTS), description="Each criterion's weight."
    )


class Move(BaseModel):
    """An existing visit that moved to make room (only with `allow_moves_min`)."""

    model_config = OUTPUT_CONFIG

    visit_id: str
    client_id: str
    before: str = Field(description='Weekday and start before: "Mon 08:00".')
    after: str = Field(description="Weekday and start after.")
    minutes: int = Field(description="How far it moved.")


# What an offer says about the new visits an agency placed (`fits`): null when it
# placed none, feasible or not (refused before insertion, or insertion placed nothing).
PLACED_KPIS = (
    "in_window_pct",
    "mean_minutes_outside",
    "max_minutes_outside",
    "distinct_carers",
    "gender_honoured",
    "window_adherence",
    "added_travel_min",
)


class Offer(BaseModel):
    """One agency's answer for a package, feasible or not: every offer has every key,
    with the same meaning (docs/matching.md, "The match output")."""

    model_config = OUTPUT_CONFIG

    agency_id: str
    agency_name: str
    hourly_rate_pence: int = Field(description="The agency's rate, pence an hour.")
    feasible: bool = Field(
        description="Every new visit placed, the budget kept and the roster checked."
    )
    rank: int | None = Field(default=None, description="1 = best; null when not feasible.")
    score: Score | None = Field(default=None, description="Null when not feasible.")
    placement: Placement = Field(
        default_factory=Placement,
        description="How the council's ranking policy placed the offer: the agency's "
        "contract and quality, the policy's points and why (docs/matching.md).",
    )
    reasons: list[str] = Field(
        default_factory=list,
        description='Why not feasible, each naming its rule ("<visit id>: excluded: ..."); '
        "[] when feasible.",
    )
    weekly_minutes: int = Field(description="Carer minutes a week of the whole package.")
    weekly_cost_pence: int = Field(description="The whole package a week at this rate.")
    annual_cost_pence: int = Field(description="The whole package a year (52 weeks).")
    budget_cap_pence: int | None = Field(description="The package's cap; null without one.")
    budget_period: str | None = Field(description='"year" or "week"; null without a cap.')
    within_budget: bool = Field(description="False when refused on the budget.")
    visits: int = Field(description="New visits in the package's week.")
    visits_placed: int = Field(
        description="New visits this agency placed (0 when refused before insertion)."
    )
    fits: list[str] = Field(default_factory=list, description="Ids of the new visits placed.")
    in_window_pct: float | None = Field(
        default=None, description="Placed visits starting in their preferred window, %."
    )
    mean_minutes_outside: float | None = Field(
        default=None, description="Mean minutes the placed visits start outside it."
    )
    max_minutes_outside: int | None = Field(default=None, description="The most of those.")
    distinct_carers: int | None = Field(
        default=None,
        description="How many different carers do the placed visits (len of carers); "
        "null when none is placed.",
    )
    carers: list[str] = Field(
        default_factory=list, description="Ids of those carers; [] when none is placed."
    )
    gender_preference: str = Field(default="none", description="The client's preference.")
    gender_honoured: bool | None = Field(
        default=None,
        description="Every carer of the placed visits of the preferred gender; null "
        "without a preference or with no visit placed.",
    )
    window_adherence: float | None = Field(
        default=None,
        description="Mean over the placed visits of max(0, 1 - minutes off window / 120).",
    )
    added_travel_min: int | None = Field(
        default=None, description="The agency's travel minutes after minus before."
    )
    disruption: list[Move] = Field(
        default_factory=list, description="Existing visits moved (only with allow_moves)."
    )
    assignments: list[Assignment] = Field(
        default_factory=list, description="The new client's visits, when feasible."
    )
    nearest_fits: list[NearestFits] = Field(
        default_factory=list,
        description="For each new visit this agency could not place, the nearest starts "
        'at which it would fit there, exactly (docs/matching.md, "Nearest fits"); [] '
        "when feasible or refused before looking at the roster (service area).",
    )
    solver_status: str | None = Field(
        default=None, description="How the insertion was decided; null when not tried."
    )
    checked: bool = Field(default=False, description="The roster passed the independent checker.")
    elapsed_s: float = Field(default=0.0, description="Seconds spent on this agency.")

    def summary(self) -> dict[str, Any]:
        """The offer as the CLI's JSON shows it: the contract keys (`OFFER_KEYS`) first,
        then the rest in field order."""
        data = self.model_dump(mode="json")
        return {**{k: data[k] for k in OFFER_KEYS}, **data}


class SplitPart(BaseModel):
    """One agency's share of a split offer: the visits it takes and its offer for
    exactly those (a sub-package with the same visit ids, searched and checked)."""

    model_config = OUTPUT_CONFIG

    agency_id: str
    agency_name: str
    visit_ids: list[str] = Field(description="The package's visits this agency takes.")
    offer: Offer = Field(
        description="The agency's feasible offer for those visits alone (no cap on the "
        "part: the package's cap applies to the split's total)."
    )


class SplitOffer(BaseModel):
    """The package split between two agencies, each visit wholly with one of them;
    offered only when no single agency can take it whole (docs/matching.md, "Split
    offers")."""

    model_config = OUTPUT_CONFIG

    split: Literal[True] = Field(default=True, description="Always true: a split offer.")
    rank: int = Field(description="1 = best split.")
    agency_ids: list[str] = Field(description="The two agencies, as in `parts`.")
    parts: list[SplitPart] = Field(description="Per agency, its visits and its offer.")
    weekly_minutes: int = Field(description="Carer minutes a week of the whole package.")
    weekly_cost_pence: int = Field(description="The parts' weekly costs added up.")
    annual_cost_pence: int = Field(description="The parts' annual costs added up.")
    budget_cap_pence: int | None = Field(description="The package's cap; null without one.")
    budget_period: str | None = Field(description='"year" or "week"; null without a cap.')
    within_budget: bool = Field(
        description="The total within the package's cap (a split over it is not offered)."
    )
    score: Score = Field(description="The two parts scored as one offer of every visit.")
    summary: str = Field(description="One line for the broker: who takes what, and the cost.")

    def to_json(self) -> dict[str, Any]:
        """The split as `carematch match --json` shows it: each part's offer as offers
        are shown (`Offer.summary`, the contract keys first)."""
        data = self.model_dump(mode="json")
        for shown, part in zip(data["parts"], self.parts, strict=True):
            shown["offer"] = part.offer.summary()
        return data
