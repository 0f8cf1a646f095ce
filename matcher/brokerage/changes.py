"""Which single change makes the whole package fit, per agency, searched rather than guessed.

When no agency can take a package as it stands, a broker's next question is what to
ask the family (or the council) to change, and where that would land. Each agency that
was refused is given the candidate changes its own answer points to, and each
candidate is then tried for real (the agency's insertion and the checker, like any
offer); only those whose resulting offer is feasible are kept:

- **window**: every visit it could not place starts at its nearest fit on its own day
  (`matcher.brokerage.nearest`; the earlier or later one, whichever is nearer the
  preferred window), each visit's pattern line taking a hard start range just wide
  enough. Size: the most minutes any of those starts lies outside its preferred window.
- **another day**: the one visit it could not place moves to the neighbouring day
  where it fits within its own start range. Size: 1 (day).
- **gender**: a strict gender preference made soft (the carers of the other gender are
  then allowed, and the offer says whether it is honoured). Size: 0.
- **budget**: the cap raised to exactly what the whole package costs at this agency.
  Size: pence above the cap.

A change of one kind may touch several visits (widening the windows of each visit
that did not fit), but it is one decision for the family. Changes are ranked by kind,
in the order above (a few minutes earlier is the least a family gives up; a carer of
the other gender and more money are bigger asks), then by size, then by the resulting
offer's score: a broker reads the smallest ask first. Each agency keeps its best
change of each kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from matcher.brokerage import OUTPUT_CONFIG
from matcher.brokerage.nearest import NearestFits, visit_name, visit_with_fit
from matcher.brokerage.offer import Offer
from matcher.reasons import join
from matcher.schema import Budget, CarePackage, expand_visits
from matcher.timeutil import WEEKS_PER_YEAR, cost_pence, format_pounds, parse_hhmm

__all__ = ["KINDS", "Candidate", "Change", "candidates", "rank_changes"]

ChangeKind = Literal["window", "another day", "gender", "budget"]
# The order changes are ranked in (see the module doc).
KINDS: tuple[ChangeKind, ...] = ("window", "another day", "gender", "budget")


class Change(BaseModel):
    """One change to the package that makes it fit whole at one agency, with the offer."""

    model_config = OUTPUT_CONFIG

    rank: int = Field(description="1 = the smallest ask (by kind, then size, then score).")
    kind: ChangeKind
    agency_id: str
    agency_name: str
    size: int = Field(
        description="window: most minutes a start lies outside its preferred window; "
        "another day: 1; gender: 0; budget: pence above the cap."
    )
    description: str = Field(description="The change in a broker's words.")
    package: CarePackage = Field(description="The package with the change, to submit again.")
    offer: Offer = Field(description="This agency's offer for the changed package (feasible).")


@dataclass(frozen=True)
class Candidate:
    """A change to try at one agency."""

    kind: ChangeKind
    agency_id: str
    size: int
    description: str
    package: CarePackage


def candidates(package: CarePackage, offer: Offer, max_shift_min: int) -> list[Candidate]:
    """The changes this agency's refusal points to (not yet tried)."""
    if offer.feasible or any(r.startswith("outside service area") for r in offer.reasons):
        return []
    found: list[Candidate] = []
    unplaced = offer.visits - offer.visits_placed
    fits = {n.visit_id: n for n in offer.nearest_fits}
    reasons_of: dict[str, list[str]] = {}
    for reason in offer.reasons:
        visit_id, _, rule = reason.partition(": ")
        reasons_of.setdefault(visit_id, []).append(rule)
    budget_binds = any(r.startswith("budget:") or ": budget:" in r for r in offer.reasons)
    if not budget_binds and fits and len(fits) == unplaced:
        window = _window_change(package, offer, fits.values(), max_shift_min)
        if window is not None:
            found.append(window)
        if unplaced == 1:
            found += _day_changes(package, offer, next(iter(fits.values())), max_shift_min)
    client = package.client
    if client.gender_preference_strict and any(": gender:" in r for r in offer.reasons):
        soft = package.model_copy(
            update={"client": client.model_copy(update={"gender_preference_strict": False})}
        )
        found.append(
            Candidate(
                "gender",
                offer.agency_id,
                0,
                f"accept a carer who is not {client.gender_preference.value} when no "
                f"{client.gender_preference.value} carer is free",
                soft,
            )
        )
    if budget_binds and package.budget is not None:
        found.append(_budget_change(package, offer))
    return found


def _window_change(
    package: CarePackage, offer: Offer, fits: Iterable[NearestFits], max_shift_min: int
) -> Candidate | None:
    changed, size, said = package, 0, []
    for visit in fits:
        own_day = [f for f in visit.fits if f.day_offset == 0 and f.side != "in window"]
        if not own_day:
            return None
        fit = min(own_day, key=lambda f: (f.minutes_off, f.side != "earlier"))
        changed = visit_with_fit(changed, visit.visit_id, fit, max_shift_min)
        size = max(size, fit.minutes_off)
        said.append(f"{visit_name(visit)} start at {fit.start}")
    return Candidate("window", offer.agency_id, size, f"let {join(said)} ({size} min off)", changed)


def _day_changes(
    package: CarePackage, offer: Offer, visit: NearestFits, max_shift_min: int
) -> list[Candidate]:
    """The visit on a neighbouring day, at a start its own start range already allows."""
    own = next(v for v in expand_visits(package) if v.id == visit.visit_id)
    earliest, latest = own.hard_start_range(max_shift_min)
    found = []
    for fit in visit.fits:
        if fit.day_offset == 0 or not earliest <= parse_hhmm(fit.start) <= latest:
            continue
        changed = visit_with_fit(package, visit.visit_id, fit, max_shift_min)
        found.append(
            Candidate(
                "another day",
                offer.agency_id,
                1,
                f"move {visit_name(visit)} to {fit.weekday.full_name} at {fit.start}",
                changed,
            )
        )
    return found


def _budget_change(package: CarePackage, offer: Offer) -> Candidate:
    """The cap raised to exactly the package's cost at this agency (rounded up to the
    penny, so the engine's exact budget check passes)."""
    assert package.budget is not None
    weekly = cost_pence(offer.weekly_minutes, offer.hourly_rate_pence)
    per_year = package.budget.period == "year"
    needed = math.ceil(weekly * WEEKS_PER_YEAR if per_year else weekly)
    cap = package.budget.amount_pence
    raised = package.model_copy(
        update={"budget": Budget(amount_pence=max(needed, cap), period=package.budget.period)}
    )
    per = "a year" if per_year else "a week"
    return Candidate(
        "budget",
        offer.agency_id,
        max(0, needed - cap),
        f"raise the budget by {format_pounds(max(0, needed - cap))} to "
        f"{format_pounds(max(needed, cap))} {per}",
        raised,
    )


def rank_changes(
    tried: list[tuple[Candidate, Offer]], score: Callable[[list[Offer]], list[Offer]]
) -> list[Change]:
    """The candidates whose offer is feasible, the best per agency and kind, ranked by
    kind, size and the offer's score. `score` is the match's own `score_offers`, given
    each offer alone: each answers a different package, so the cost criterion (relative
    to the offers scored together) is not compared across them. The offer's rank is its
    change's."""
    best: dict[tuple[str, str], tuple[Candidate, Offer]] = {}
    for candidate, offer in tried:
        if not offer.feasible:
            continue
        offer = score([offer])[0]
        slot = (candidate.agency_id, candidate.kind)
        if slot not in best or _order(candidate, offer) < _order(*best[slot]):
            best[slot] = (candidate, offer)
    ordered = sorted(best.values(), key=lambda pair: _order(*pair))
    return [
        Change(
            rank=i,
            kind=c.kind,
            agency_id=c.agency_id,
            agency_name=o.agency_name,
            size=c.size,
            description=c.description,
            package=c.package,
            offer=o.model_copy(update={"rank": i}),
        )
        for i, (c, o) in enumerate(ordered, 1)
    ]


def _order(candidate: Candidate, offer: Offer) -> tuple[int, int, float, str]:
    total = offer.score.total if offer.score else 0.0
    return (KINDS.index(candidate.kind), candidate.size, -total, candidate.agency_id)
