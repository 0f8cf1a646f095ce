"""Split offers: when no single agency can take a whole package, the best splits of its
visits between two agencies, each visit wholly with one of them.

Councils do this by hand today ("mornings with one agency, evenings with another").
The search (`split_offers`) starts from the offers the match already has:

1. **What each agency can take.** An agency in reach (not refused for its service
   area) that ran the insertion can take the visits it placed (`Offer.fits`: placed
   together, so any part of them is a candidate). One refused before the insertion (on
   the budget, or a pre-check naming some visits) is asked once more, greedily, for the
   visits no pre-check named, without the cap (the cap is on the split's total).
2. **Pairs.** The `SPLIT_CANDIDATES` agencies that can take most visits; a pair
   qualifies when together they can take every visit. Each visit goes wholly to one of
   them: a visit only one can take goes there; one both can take follows the rest of
   its pattern line, then the rest of its time of day (morning, afternoon, evening),
   then the cheaper rate, so splits come out natural ("mornings with A"). Visits of
   linked lines on the same day stay together. Over the package's cap, the visits both
   can take go to the cheaper agency instead; still over it, the pair is not offered.
3. **Each part for real.** The best `SPLIT_PAIRS` pairs (most visits the two can take,
   then cheapest) are evaluated as two sub-packages (`sub_package`: the package with
   only those visits, same ids, no cap) by `evaluate_agency` with the CP-SAT search,
   each roster checked by the independent checker. A pair whose part fails gives way
   to the next, at most `SPLIT_TRIES` pairs in all: the work is bounded whatever the
   size of the market (at most `SPLIT_PROBES` greedy probes, and two searched
   evaluations per pair tried, a part several pairs share evaluated once).
4. **Ranked like offers.** The two parts are scored as one offer of every visit, with
   the criteria of `matching.score_offers`: preference over every visit's start,
   continuity over the carers of both agencies together (the client sees all of
   them), cost relative to the cheapest split, added travel of both agencies per
   visit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, TypeGuard

from matcher.brokerage.offer import Offer, SplitOffer, SplitPart
from matcher.control import NO_CONTROL, RunControl
from matcher.matching import (
    NOT_EVALUATED,
    AgencyResult,
    MatchParams,
    score_offers,
    window_adherence,
)
from matcher.reasons import join
from matcher.schema import CarePackage, Visit, expand_visits
from matcher.timeutil import WEEKS_PER_YEAR, cost_pence, format_pounds

if TYPE_CHECKING:
    from matcher.matching import Matcher

# How many agencies (those that can take most visits) are paired with each other, and
# how many agencies refused before the insertion are asked what they could take (a
# greedy insertion each: the first at that agency, so the dearest step of the search).
SPLIT_CANDIDATES = 6
SPLIT_PROBES = 4
# How many splits are offered at most, and how many pairs are evaluated at most to
# find them (a pair whose part fails to place every visit gives way to the next).
SPLIT_PAIRS = 3
SPLIT_TRIES = 6
# Times of day, by the start of a visit's preferred window (minutes of the day).
PERIODS = (("morning", 12 * 60), ("afternoon", 17 * 60), ("evening", 24 * 60))


@dataclass(frozen=True)
class Unit:
    """Visits that go to the same agency: one visit, or the visits of linked lines on
    the same weekday (placed together or not at all)."""

    visit_ids: tuple[str, ...]
    line: int  # the pattern line of its first visit
    period: str  # time of day of its first visit's preferred window
    carer_minutes: int


@dataclass(frozen=True)
class Plan:
    """A pair of agencies and which visits each takes, before they are evaluated."""

    first: str
    second: str
    parts: tuple[frozenset[str], frozenset[str]]
    annual_cost: Fraction
    capable: int  # visits the two could take, counting those both could take twice


def split_offers(
    matcher: Matcher,
    package: CarePackage,
    params: MatchParams,
    offers: Sequence[Offer],
    *,
    control: RunControl = NO_CONTROL,
) -> list[SplitOffer]:
    """The best splits of the package between two agencies, best first; [] when one
    agency takes it whole, or no pair can (see the module doc for the search)."""
    if any(o.feasible for o in offers) or len(offers) < 2:
        return []
    units = package_units(package)
    every = frozenset(v for u in units for v in u.visit_ids)
    rates = {a.id: a.agency.hourly_rate_pence for a in matcher.market.agencies}
    capable = _capable(matcher, package, params, offers, units, rates, control)
    if len(capable) < 2 or control.expired():
        return []
    plans = _plans(package, units, capable, rates, every)
    return _evaluate_plans(matcher, package, params, plans, control)


def package_units(package: CarePackage) -> list[Unit]:
    """The package's visits in units that go to one agency each (linked lines' visits
    of one weekday together), in the package's order."""
    line_of = {
        f"{base}-{day.value}": number
        for number, (base, line) in enumerate(zip(line_ids(package), package.visits, strict=True))
        for day in line.weekdays
    }
    partner: dict[str, str] = {}
    for link in package.links:
        partner[link.second] = link.first
    by_key: dict[tuple[str, str], list[Visit]] = {}
    for visit in expand_visits(package):
        line = package.visits[line_of[visit.id]]
        head = partner.get(line.id or "", line.id) or visit.id
        by_key.setdefault((head, visit.weekday.value), []).append(visit)
    units = []
    for visits in by_key.values():
        first = visits[0]
        units.append(
            Unit(
                visit_ids=tuple(v.id for v in visits),
                line=line_of[first.id],
                period=period_of(first),
                carer_minutes=sum(v.duration_min * v.carers for v in visits),
            )
        )
    return units


def line_ids(package: CarePackage) -> list[str]:
    """Each pattern line's id as its visits' ids begin: its own, or the one
    `expand_visits` names it by, "<package id>-v<line number>"."""
    return [line.id or f"{package.id}-v{n}" for n, line in enumerate(package.visits, 1)]


def period_of(visit: Visit) -> str:
    """ "morning", "afternoon" or "evening", by the start of the preferred window."""
    return next(name for name, end in PERIODS if visit.window.start_min < end)


def sub_package(package: CarePackage, visit_ids: frozenset[str]) -> CarePackage:
    """The package with only these visits and without its cap: each pattern line keeps
    the weekdays of its visits here (a line with none is left out), and is given its
    generated id if it had none, so every visit keeps its id; links between two lines
    still present stay."""
    lines = []
    for base, line in zip(line_ids(package), package.visits, strict=True):
        days = [d for d in line.weekdays if f"{base}-{d.value}" in visit_ids]
        if days:
            lines.append({**line.model_dump(), "id": base, "weekdays": days})
    kept = {line["id"] for line in lines}
    links = [k.model_dump() for k in package.links if k.first in kept and k.second in kept]
    data = package.model_dump()
    return CarePackage.model_validate({**data, "visits": lines, "links": links, "budget": None})


# ------------------------------------------------------------------ step 1


def _capable(
    matcher: Matcher,
    package: CarePackage,
    params: MatchParams,
    offers: Sequence[Offer],
    units: list[Unit],
    rates: dict[str, int],
    control: RunControl,
) -> dict[str, frozenset[str]]:
    """Per agency in reach, the visits it can take (whole units only), for the
    `SPLIT_CANDIDATES` agencies that can take most.

    An agency refused before the insertion is probed only if it could still be half
    of a split: with some other agency, the visits each may take cover the package
    and, each visit at the cheaper of the two rates where both may take it, the total
    is within the cap (a split can cost no less). Most agencies refused on the budget
    alone drop out here, unprobed."""
    known: dict[str, frozenset[str]] = {}
    maybe: dict[str, frozenset[str]] = {}
    for offer in offers:
        if offer.reasons == [NOT_EVALUATED] or any(
            r.startswith("outside service area") for r in offer.reasons
        ):
            continue
        if offer.fits:
            known[offer.agency_id] = _whole_units(frozenset(offer.fits), units)
        elif not offer.checked:  # refused before the insertion: budget or pre-checks
            named = {r.split(": ", 1)[0] for r in offer.reasons}
            rest = _whole_units(
                frozenset(v for u in units for v in u.visit_ids if v not in named), units
            )
            if rest:
                maybe[offer.agency_id] = rest
    bounds = {**known, **maybe}
    every = frozenset(v for u in units for v in u.visit_ids)

    def could_pair(first: str, second: str) -> bool:
        a, b = bounds[first], bounds[second]
        if a | b != every:
            return False
        cheapest = {
            u: min(rates[x] for x, may in ((first, a), (second, b)) if u.visit_ids[0] in may)
            for u in units
        }
        annual = sum(
            (cost_pence(u.carer_minutes, rate) * WEEKS_PER_YEAR for u, rate in cheapest.items()),
            Fraction(0),
        )
        return _within_cap(package, annual)

    probes = [x for x in maybe if any(could_pair(x, y) for y in bounds if y != x)]
    # The probes most likely to matter: those that may take most visits.
    probes = sorted(probes, key=lambda x: (-len(maybe[x]), rates[x], x))[:SPLIT_PROBES]
    jobs = [(x, sub_package(package, maybe[x])) for x in probes]
    capable = dict(known)
    for x, result in zip(
        probes, _evaluate(matcher, jobs, params, search=False, control=control), strict=True
    ):
        if result is not None and result.offer.fits:
            capable[x] = _whole_units(frozenset(result.offer.fits), units)
    capable = {a: fits for a, fits in capable.items() if fits}
    best = sorted(capable, key=lambda a: (-len(capable[a]), a))[:SPLIT_CANDIDATES]
    return {a: capable[a] for a in best}


def _whole_units(visit_ids: frozenset[str], units: list[Unit]) -> frozenset[str]:
    """The visits of the units wholly among `visit_ids`."""
    return frozenset(
        v for u in units if all(w in visit_ids for w in u.visit_ids) for v in u.visit_ids
    )


# ------------------------------------------------------------------ step 2


def _plans(
    package: CarePackage,
    units: list[Unit],
    capable: dict[str, frozenset[str]],
    rates: dict[str, int],
    every: frozenset[str],
) -> list[Plan]:
    """Every pair that can take every visit between them, with the natural assignment
    (or, over the cap, the cheapest), best first: most visits the two could take, then
    cheapest, then the agencies' ids."""
    plans = []
    names = sorted(capable)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if capable[first] | capable[second] != every:
                continue
            plan = _assign(package, units, first, second, capable, rates)
            if plan is not None:
                plans.append(plan)
    plans.sort(key=lambda p: (-p.capable, p.annual_cost, p.first, p.second))
    return plans


def _assign(
    package: CarePackage,
    units: list[Unit],
    first: str,
    second: str,
    capable: dict[str, frozenset[str]],
    rates: dict[str, int],
) -> Plan | None:
    """Which visits each of the pair takes; None if either part would be empty or
    every assignment is over the package's cap."""
    pair = (first, second)

    def takes(agency: str, unit: Unit) -> bool:
        return all(v in capable[agency] for v in unit.visit_ids)

    forced = {a: [u for u in units if takes(a, u) and not takes(_other(pair, a), u)] for a in pair}
    shared = [u for u in units if takes(first, u) and takes(second, u)]
    cheaper = min(pair, key=lambda a: (rates[a], pair.index(a)))

    def natural(unit: Unit) -> str:
        def leaning(agency: str) -> tuple[int, int, bool]:
            same_line = sum(u.line == unit.line for u in forced[agency])
            same_period = sum(u.period == unit.period for u in forced[agency])
            return (same_line, same_period, agency == cheaper)

        return max(pair, key=leaning)

    for choose in (natural, lambda _unit: cheaper):
        owner = {u: a for a in pair for u in forced[a]} | {u: choose(u) for u in shared}
        parts = tuple(
            frozenset(v for u in units if owner[u] == a for v in u.visit_ids) for a in pair
        )
        if not all(parts):
            continue
        annual = sum(
            (
                cost_pence(sum(u.carer_minutes for u in units if owner[u] == a), rates[a])
                * WEEKS_PER_YEAR
                for a in pair
            ),
            Fraction(0),
        )
        if _within_cap(package, annual):
            return Plan(
                first,
                second,
                (parts[0], parts[1]),
                annual,
                len(capable[first]) + len(capable[second]),
            )
    return None


def _other(pair: tuple[str, str], agency: str) -> str:
    return pair[1] if agency == pair[0] else pair[0]


def _within_cap(package: CarePackage, annual: Fraction) -> bool:
    """The package's cap against an (exact) annual cost, in its own period."""
    budget = package.budget
    if budget is None:
        return True
    cost = annual if budget.period == "year" else annual / WEEKS_PER_YEAR
    return cost <= budget.amount_pence


# ------------------------------------------------------------------ steps 3 and 4


def _evaluate_plans(
    matcher: Matcher,
    package: CarePackage,
    params: MatchParams,
    plans: list[Plan],
    control: RunControl,
) -> list[SplitOffer]:
    """The plans' parts evaluated for real (searched, checked), in rounds of
    `SPLIT_PAIRS` pairs until as many splits are found or `SPLIT_TRIES` pairs were
    tried; the feasible ones scored and ranked."""
    found: list[tuple[Plan, AgencyResult, AgencyResult]] = []
    tried = 0
    while plans and tried < SPLIT_TRIES and len(found) < SPLIT_PAIRS and not control.expired():
        batch = plans[: min(SPLIT_PAIRS - len(found), SPLIT_TRIES - tried)]
        plans = plans[len(batch) :]
        tried += len(batch)
        # A part several pairs share (the same visits at the same agency) is evaluated once.
        keys = list(
            dict.fromkeys(
                (agency, part)
                for plan in batch
                for agency, part in zip((plan.first, plan.second), plan.parts, strict=True)
            )
        )
        jobs = [(agency, sub_package(package, part)) for agency, part in keys]
        results = dict(
            zip(keys, _evaluate(matcher, jobs, params, search=True, control=control), strict=True)
        )
        for plan in batch:
            first = results[(plan.first, plan.parts[0])]
            second = results[(plan.second, plan.parts[1])]
            if _placed_all(first) and _placed_all(second):
                found.append((plan, first, second))
    return _ranked(package, found)


def _placed_all(result: AgencyResult | None) -> TypeGuard[AgencyResult]:
    return result is not None and result.offer.feasible and result.offer.checked


def _evaluate(
    matcher: Matcher,
    jobs: list[tuple[str, CarePackage]],
    params: MatchParams,
    *,
    search: bool,
    control: RunControl,
) -> list[AgencyResult | None]:
    """Each (agency, package) evaluated in one batch by the matcher
    (`Matcher.evaluate_each`: its worker processes, or its evaluator); all None when
    the deadline cut the batch short, as the single changes do (which were done is
    not known then)."""
    index = {a.id: i for i, a in enumerate(matcher.market.agencies)}
    pairs = [(index[agency_id], sub) for agency_id, sub in jobs]
    results = matcher.evaluate_each(pairs, params, search=search, control=control)
    if len(results) != len(jobs):
        return [None] * len(jobs)
    return list(results)


def _ranked(
    package: CarePackage, found: list[tuple[Plan, AgencyResult, AgencyResult]]
) -> list[SplitOffer]:
    """The splits scored as single offers of every visit (`score_offers`), best first,
    at most `SPLIT_PAIRS`."""
    visits = expand_visits(package)
    by_key: dict[str, tuple[Plan, Offer, Offer]] = {}
    combined = []
    for plan, first, second in found:
        a, b = first.offer, second.offer
        key = f"{a.agency_id}+{b.agency_id}"
        by_key[key] = (plan, a, b)
        honoured = [h for h in (a.gender_honoured, b.gender_honoured) if h is not None]
        combined.append(
            a.model_copy(
                update={
                    "agency_id": key,
                    "visits": a.visits + b.visits,
                    "visits_placed": a.visits_placed + b.visits_placed,
                    "assignments": [*a.assignments, *b.assignments],
                    "window_adherence": window_adherence(visits, [*a.assignments, *b.assignments]),
                    "gender_honoured": all(honoured) if honoured else None,
                    "distinct_carers": (a.distinct_carers or 0) + (b.distinct_carers or 0),
                    "added_travel_min": (a.added_travel_min or 0) + (b.added_travel_min or 0),
                    "annual_cost_pence": a.annual_cost_pence + b.annual_cost_pence,
                }
            )
        )
    splits = []
    for rank, scored in enumerate(score_offers(combined)[:SPLIT_PAIRS], 1):
        plan, a, b = by_key[scored.agency_id]
        assert scored.score is not None  # every combined offer is feasible
        parts = sorted(
            (
                SplitPart(
                    agency_id=o.agency_id,
                    agency_name=o.agency_name,
                    visit_ids=[v.id for v in visits if v.id in part],
                    offer=o,
                )
                for o, part in zip((a, b), plan.parts, strict=True)
            ),
            key=lambda p: _earliest(visits, p.visit_ids),
        )
        a, b = parts[0].offer, parts[1].offer
        budget = package.budget
        splits.append(
            SplitOffer(
                rank=rank,
                agency_ids=[a.agency_id, b.agency_id],
                parts=parts,
                weekly_minutes=a.weekly_minutes + b.weekly_minutes,
                weekly_cost_pence=a.weekly_cost_pence + b.weekly_cost_pence,
                annual_cost_pence=a.annual_cost_pence + b.annual_cost_pence,
                budget_cap_pence=budget.amount_pence if budget else None,
                budget_period=budget.period if budget else None,
                within_budget=_within_cap(package, plan.annual_cost),
                score=scored.score,
                summary=split_summary(visits, parts),
            )
        )
    return splits


def _earliest(visits: list[Visit], visit_ids: list[str]) -> tuple[int, int]:
    """Where a part comes in the day, so the broker reads "mornings with A, evenings
    with B": its earliest preferred start, then its first visit in the package's order."""
    ids = set(visit_ids)
    return min((v.window.start_min, i) for i, v in enumerate(visits) if v.id in ids)


def split_summary(visits: list[Visit], parts: list[SplitPart]) -> str:
    """ "mornings with Northgate Care (£2,190.00), evenings with Highbury Homecare
    (£2,190.00): £4,380.00 a year": each part named by its time of day when the parts
    keep to different ones, else by its weekdays when they keep to different days,
    else by its number of visits."""
    by_id = {v.id: v for v in visits}
    periods = [{period_of(by_id[v]) for v in p.visit_ids} for p in parts]
    days = [list(dict.fromkeys(by_id[v].weekday.value for v in p.visit_ids)) for p in parts]
    if all(len(p) == 1 for p in periods) and len({next(iter(p)) for p in periods}) == len(parts):
        labels = [f"{next(iter(p))}s" for p in periods]
    elif not set(days[0]) & set(days[1]):
        labels = [join(d) for d in days]
    else:
        labels = [f"{len(p.visit_ids)} visit{'s' if len(p.visit_ids) != 1 else ''}" for p in parts]
    shares = [
        f"{label} with {p.agency_name} ({format_pounds(p.offer.annual_cost_pence)})"
        for label, p in zip(labels, parts, strict=True)
    ]
    total = sum(p.offer.annual_cost_pence for p in parts)
    return f"{', '.join(shares)}: {format_pounds(total)} a year"
