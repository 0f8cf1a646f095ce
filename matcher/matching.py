"""Broker matching: one care package against every agency's live roster, ranked offers.

For each agency, cheapest test first:

1. service area: the client's home must lie within the agency's service radius
   ("outside service area (31 km from the nearest worker)");
2. budget, in exact integers at this agency's rate (`reasons.package_budget_reason`:
   "budget: £4,563.00 a year at £13.00/h > cap £4,387.50");
3. structure, from the input alone (`reasons.precheck_reasons`): nobody with the
   skill, of the wanted gender, on shift that day, or only one for a two-carer visit;
4. the package inserted into the committed roster with the same CP-SAT model as
   everything else (`solver.insert.insert_packages`): existing visits pinned, or
   movable by `allow_moves_min` within their preferred window, the new visits under
   every hard rule. The result is checked by the independent checker before it may
   become an offer; an agency whose roster failed the check would be refused with the
   violation (never seen so far, but a short time limit must not produce a wrong offer).

Each agency yields an `Offer`, feasible or not, with the new client's KPIs, cost
against the cap, added travel, disruption and reasons. Feasible offers are ranked by
`score_offers` (docs/matching.md). When no agency can take the whole package,
`suggestions` says what would: the agency taking most of its visits and which, and
whether windows 30 minutes wider, or a larger budget, would make it fit somewhere.

Agencies are independent, so they are solved in parallel processes (`Matcher` keeps a
pool of worker processes, as a broker service would; `match` is the one-shot form).
Each agency is kept warm (`matcher.brokerage.warm`): prepared once, keyed by a
fingerprint of its content, so a request adds only the package. The pool's workers
hold their Matcher's agencies (the one process-local object of `matcher/`,
docs/architecture.md) and a task names its agency by fingerprint; nothing about a
market or a request lives in the module state of the calling process, so matches
with different markets may run at once in threads of one process. Each agency's
search is bounded by `MatchParams.time_limit_s`; the greedy insertion behind the
CP-SAT search keeps the answer valid (checked) when the limit is short.

A caller steers a match with a `matcher.control.RunControl`: a cancel raises
`Cancelled` (within about a second); by a deadline the offers computed so far are
returned, and an agency not reached in time is listed as refused with the reason
`NOT_EVALUATED`. Progress is not reported (a match has no single objective).
"""

from __future__ import annotations

import itertools
import logging
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from geopy.distance import geodesic
from pydantic import BaseModel, ConfigDict, Field

from matcher.brokerage.warm import (
    MIN_CAPACITY,
    NotWarm,
    WarmAgencies,
    WarmAgency,
    WarmTask,
    fingerprint,
    start_pool_worker,
)
from matcher.checker import check
from matcher.control import NO_CONTROL, RunControl
from matcher.instance import build_instance
from matcher.kpis import compute_kpis
from matcher.market import Market, MarketAgency, package_clash
from matcher.reasons import package_budget_reason, precheck_reasons
from matcher.schema import (
    Assignment,
    CarePackage,
    Problem,
    Roster,
    TimeRange,
    Visit,
    expand_visits,
)
from matcher.solver.insert import GREEDY_BLOCKED, insert_packages, placements_of
from matcher.solver.solve import SolveParams
from matcher.timeutil import WEEKS_PER_YEAR, cost_pence, format_pounds, parse_hhmm

log = logging.getLogger(__name__)

# Score weights (points out of 100 per criterion); see docs/matching.md.
SCORE_WEIGHTS: dict[str, float] = {
    "preference": 0.40,
    "continuity": 0.25,
    "cost": 0.20,
    "travel": 0.15,
}
# Minutes off the preferred window at which a visit's preference points reach 0.
PREFERENCE_ZERO_MIN = 120
# Added travel per visit (minutes) at which the travel points halve.
TRAVEL_HALF_MIN = 10
# How much wider each window is tried when no agency can take the package as is.
RELAX_WINDOW_MIN = 30
# How many of the best greedy offers the CP-SAT search then improves (see `Matcher`).
SEARCH_TOP = 4
# The reason given for an agency the match did not reach before the caller's deadline.
NOT_EVALUATED = "not evaluated: the deadline came first"
# How often a match waiting for its worker processes looks at the caller's control,
# and how long past a deadline it waits for the agencies they are finishing.
POLL_S = 0.05
DEADLINE_GRACE_S = 0.25
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


class PackageClash(ValueError):
    """The package's ids collide with an agency's existing ones (bad input)."""


@dataclass(frozen=True)
class MatchParams:
    """How hard to try per agency; validated on creation."""

    # CP-SAT limit per agency. An insertion with everyone else pinned is small: 0.3 s
    # gave the same top four offers as 1 s for 11 of 12 packages (20 agencies, measured).
    time_limit_s: float = 0.3
    allow_moves_min: int = 0
    processes: int = 0  # 0: one per core; 1: in this process
    relax_window_min: int = RELAX_WINDOW_MIN
    suggest: bool = True
    search_top: int = SEARCH_TOP  # how many of the best greedy offers CP-SAT improves
    # The limit in CP-SAT deterministic time: the same offers on any machine, however busy.
    deterministic: bool = False

    def __post_init__(self) -> None:
        # inf (or nan) would make every agency's search run for ever.
        if not math.isfinite(self.time_limit_s) or self.time_limit_s <= 0:
            raise ValueError("time_limit_s must be a finite number of seconds > 0")
        if self.allow_moves_min < 0:
            raise ValueError("allow_moves_min must be >= 0")
        if self.processes < 0:
            raise ValueError("processes must be >= 0")
        if self.search_top < 0:
            raise ValueError("search_top must be >= 0")

    @property
    def pool_size(self) -> int:
        return self.processes or os.cpu_count() or 1


# The match output's models list every key on every offer, so their JSON Schema (in
# serialization mode: `match_json_schema`, `carematch schema --match`, and the service's
# OpenAPI document) marks every key required, defaults included.
OUTPUT_CONFIG = ConfigDict(json_schema_serialization_defaults_required=True)


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


class MatchResult(BaseModel):
    """What `carematch match --json` prints and the service returns (`to_json`)."""

    model_config = OUTPUT_CONFIG

    package_id: str
    elapsed_s: float
    offers: list[Offer] = Field(description="Feasible offers by rank, then the refusals.")
    suggestions: list[str] = Field(
        default_factory=list, description="What would make it fit, when nothing does."
    )

    def to_json(self) -> dict[str, Any]:
        """The result exactly as `carematch match --json` prints it (each offer's
        contract keys first): one definition for the CLI and the service."""
        return {
            "package_id": self.package_id,
            "elapsed_s": self.elapsed_s,
            "offers": [offer.summary() for offer in self.offers],
            "suggestions": list(self.suggestions),
        }


def match_json_schema() -> dict[str, Any]:
    """The JSON Schema of the match output (`MatchResult.to_json`, `carematch match
    --json`; printed by `carematch schema --match`): every key of every offer is
    required, feasible or not, and described."""
    schema = MatchResult.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# ------------------------------------------------------------------ one agency


@dataclass(frozen=True)
class AgencyResult:
    offer: Offer
    roster: list[Assignment] | None  # the whole new roster, when feasible
    # The agency's committed travel, when it was computed: a `Matcher` keeps it so that
    # the next package's task need not compute it again.
    committed_travel_min: int | None = None


def evaluate_agency(
    entry: MarketAgency,
    skills: list[str],
    package: CarePackage,
    params: MatchParams,
    *,
    search: bool = True,
    control: RunControl = NO_CONTROL,
    committed_travel_min: int | None = None,
    warm: WarmAgency | None = None,
) -> AgencyResult:
    """The offer of one agency for the package (see the module doc for the steps);
    without `search`, from the greedy insertion alone.

    `control`: its deadline cuts the CP-SAT search short (the greedy insertion, which
    is checked like any other, then stands), its cancel raises `Cancelled`.
    `committed_travel_min`: the agency's `committed_travel`, if the caller knows it.
    `warm`: this agency prepared for insertions (`brokerage.warm`): the same offer,
    without rebuilding the agency's week.
    """
    if warm is not None and (warm.entry is not entry or warm.skills != skills):
        raise ValueError(f"the warm agency is not {entry.id} with these skills")
    control.raise_if_cancelled()
    began = time.perf_counter()
    problem = _problem(entry, skills, package)
    visits = expand_visits(package)
    base = _offer_base(entry, package)

    def refuse(reasons: list[str], **extra: Any) -> AgencyResult:
        offer = Offer(
            feasible=False,
            reasons=reasons,
            within_budget=not any(r.startswith("budget:") for r in reasons),
            elapsed_s=round(time.perf_counter() - began, 3),
            **base,
            **extra,
        )
        return AgencyResult(offer, None, committed_travel_min)

    area = service_area_reason(entry, package)
    if area:
        return refuse([area])
    # The input-only checks and the new client's KPIs need the agency's workers and the
    # new client, nothing else.
    just_new = _problem(entry, skills, package, alone=True)
    alone = build_instance(just_new)
    reasons: list[str] = []
    if budget_reason := package_budget_reason(alone, 0):
        reasons.append(budget_reason)
    for info in alone.visits:
        for reason in precheck_reasons(alone, info):
            reasons.append(f"{info.visit.id}: {reason}")
    if reasons:
        return refuse(_dedupe(reasons))

    roster = insert_packages(
        problem,
        entry.roster,
        {package.id},
        allow_moves_min=params.allow_moves_min,
        params=SolveParams(
            time_limit_s=params.time_limit_s, num_workers=1, deterministic=params.deterministic
        ),
        search=search,
        control=control,
        start=None if warm is None else warm.start(problem, package),
    )
    violations = check(
        problem, roster, travel=None if warm is None else warm.travel_for_checker(package)
    )
    mine = [a for a in roster.assignments if a.package_id == package.id]
    status = roster.solver.status if roster.solver else None
    if violations:
        return refuse(
            [f"checker: the inserted roster breaks a rule ({violations[0]})"],
            solver_status=status,
        )
    if committed_travel_min is None:
        committed_travel_min = (
            committed_travel(entry) if warm is None else warm.committed_travel_min
        )
    unplaced = [u for u in roster.unassigned if u.package_id == package.id]
    kpis = compute_kpis(just_new, Roster(problem_id=problem.id, assignments=mine)).clients[
        package.client.id
    ]
    moves = disruption(entry.roster, roster.assignments)
    details: dict[str, Any] = {
        "visits_placed": len(mine),
        "fits": [a.visit_id for a in mine],
        "solver_status": status,
        "checked": True,
        "in_window_pct": kpis.in_window_pct,
        "mean_minutes_outside": kpis.mean_minutes_outside,
        "max_minutes_outside": kpis.max_minutes_outside,
        "distinct_carers": kpis.distinct_workers,
        "carers": sorted({w for a in mine for w in a.workers}),
        "gender_honoured": kpis.gender_honoured,
        "added_travel_min": sum(d.travel_minutes for d in roster.worker_days)
        - committed_travel_min,
        "window_adherence": window_adherence(visits, mine),
        "disruption": moves,
    }
    if not mine:  # what describes the placed visits is null when none is (`PLACED_KPIS`)
        details.update(dict.fromkeys(PLACED_KPIS), carers=[])
    base["visits_placed"] = len(mine)
    if unplaced or roster.package_reasons.get(package.id):
        reasons = list(roster.package_reasons.get(package.id, []))
        reasons += [f"{u.visit_id}: {r}" for u in unplaced for r in u.reasons]
        del details["visits_placed"]
        return refuse(_dedupe(reasons), **details)
    offer = Offer(
        feasible=True,
        within_budget=True,
        assignments=mine,
        elapsed_s=round(time.perf_counter() - began, 3),
        **{**base, **details},
    )
    return AgencyResult(offer, roster.assignments, committed_travel_min)


def _offer_base(entry: MarketAgency, package: CarePackage) -> dict[str, Any]:
    """What every offer of this agency for this package says, placed or not: the
    package's carer minutes and their cost at the agency's rate against the cap."""
    visits = expand_visits(package)
    minutes = sum(v.duration_min * v.carers for v in visits)
    rate = entry.agency.hourly_rate_pence
    weekly = cost_pence(minutes, rate)
    budget = package.budget
    return {
        "agency_id": entry.id,
        "agency_name": entry.agency.name,
        "hourly_rate_pence": rate,
        "weekly_minutes": minutes,
        "weekly_cost_pence": _round(weekly),
        "annual_cost_pence": _round(weekly * WEEKS_PER_YEAR),
        "budget_cap_pence": budget.amount_pence if budget else None,
        "budget_period": budget.period if budget else None,
        "visits": len(visits),
        "visits_placed": 0,
        "gender_preference": package.client.gender_preference.value,
    }


def not_evaluated(entry: MarketAgency, package: CarePackage) -> Offer:
    """The offer of an agency the match did not reach before the caller's deadline:
    refused, unchecked, with the reason `NOT_EVALUATED`."""
    return Offer(
        feasible=False, reasons=[NOT_EVALUATED], within_budget=True, **_offer_base(entry, package)
    )


def _problem(
    entry: MarketAgency, skills: list[str], package: CarePackage, *, alone: bool = False
) -> Problem:
    """The agency's problem plus the package (or with only the package, `alone`),
    without re-validating what was validated at load (the market and the package each
    passed their schema; ids do not clash)."""
    return Problem.model_construct(
        id=entry.agency.id,
        area_type=entry.area_type,
        agency=entry.agency,
        workers=entry.workers,
        packages=[package] if alone else [*entry.packages, package],
        skills=skills,
        weights=entry.weights,
        travel=entry.travel,
        travel_matrix=None,
    )


def service_area_reason(entry: MarketAgency, package: CarePackage) -> str | None:
    """ "outside service area (31 km from the nearest worker)", or None if inside.

    When the nearest worker lives close although the home is outside the agency's
    declared area, the area's own figures are given too, so the broker is not left
    wondering why 2 km is too far.
    """
    area = entry.agency.service_area
    home = (package.client.location.lat, package.client.location.lon)
    if area is None:
        return None
    from_centre = geodesic((area.centre.lat, area.centre.lon), home).km
    if from_centre <= area.radius_km:
        return None
    nearest = min(geodesic((w.home.lat, w.home.lon), home).km for w in entry.workers)
    if nearest >= area.radius_km:
        return f"outside service area ({nearest:.0f} km from the nearest worker)"
    return (
        f"outside service area ({from_centre:.1f} km from its centre, radius "
        f"{area.radius_km:g} km; {nearest:.1f} km from the nearest worker)"
    )


def disruption(before: Iterable[Assignment], after: Iterable[Assignment]) -> list[Move]:
    """Existing visits whose start changed."""
    now = {a.visit_id: a for a in after}
    moves = []
    for old in before:
        new = now.get(old.visit_id)
        if new is None or (new.start, new.weekday) == (old.start, old.weekday):
            continue
        moves.append(
            Move(
                visit_id=old.visit_id,
                client_id=old.client_id,
                before=f"{old.weekday.value} {old.start}",
                after=f"{new.weekday.value} {new.start}",
                minutes=abs(parse_hhmm(new.start) - parse_hhmm(old.start)),
            )
        )
    return moves


def committed_travel(entry: MarketAgency) -> int:
    """Travel minutes of the agency's committed week (home legs included): every
    package's added travel is measured against it. Not cached here (a cache in module
    state would outlive the market and mix markets between threads): `Matcher` keeps
    it per agency for the packages after the first."""
    inst = build_instance(entry.problem())
    per_shift: dict[int, list[tuple[int, int]]] = {}
    for p in placements_of(inst, entry.roster):
        for s in p.shifts:
            per_shift.setdefault(s, []).append((p.start, inst.visits[p.visit].place))
    total = 0
    for s, stops in per_shift.items():
        worker = inst.shifts[s].worker
        matrix = inst.travel(worker)
        home = inst.worker_place[worker]
        route = [home, *(place for _, place in sorted(stops)), home]
        total += sum(matrix[a][b] for a, b in itertools.pairwise(route))
    return total


def window_adherence(visits: list[Visit], assignments: list[Assignment]) -> float | None:
    """Mean over placed visits of max(0, 1 - minutes off the preferred window / 120)."""
    windows = {v.id: v.window for v in visits}
    points = []
    for a in assignments:
        window, start = windows[a.visit_id], parse_hhmm(a.start)
        off = max(0, window.start_min - start, start - window.end_min)
        points.append(max(0.0, 1 - off / PREFERENCE_ZERO_MIN))
    return round(sum(points) / len(points), 4) if points else None


def _round(value: Fraction) -> int:
    return int(value + Fraction(1, 2))


def _dedupe(reasons: list[str]) -> list[str]:
    return list(dict.fromkeys(reasons))


# ------------------------------------------------------------------ ranking


def score_offers(offers: list[Offer]) -> list[Offer]:
    """Score and rank the feasible offers; infeasible ones follow, rank None.

    Points per criterion (0-100), weighted by `SCORE_WEIGHTS` (docs/matching.md):
    - preference: per visit max(0, 1 - minutes off its window / 120), averaged, halved
      if a gender preference was not honoured;
    - continuity: the fewest carers the package could have (its largest `carers`)
      over the distinct carers offered;
    - cost: the cheapest feasible annual cost over this one's (100 for the cheapest);
    - travel: 100 / (1 + added travel per visit / 10 min).
    Ties: higher total, then lower annual cost, less added travel, agency id.
    """
    feasible = [o for o in offers if o.feasible]
    cheapest = min((o.annual_cost_pence for o in feasible), default=0)
    scored = []
    for offer in feasible:
        breakdown = _points(offer, cheapest)
        total = round(sum(SCORE_WEIGHTS[k] * v for k, v in breakdown.items()), 1)
        scored.append(offer.model_copy(update={"score": Score(total=total, breakdown=breakdown)}))
    scored.sort(
        key=lambda o: (
            -(o.score.total if o.score else 0),
            o.annual_cost_pence,
            o.added_travel_min or 0,
            o.agency_id,
        )
    )
    ranked = [o.model_copy(update={"rank": i}) for i, o in enumerate(scored, 1)]
    refused = sorted((o for o in offers if not o.feasible), key=_refusal_order)
    return ranked + refused


def _refusal_order(offer: Offer) -> tuple[int, int, str]:
    """Nearest misses first: most visits placed, then the cheapest."""
    return (-offer.visits_placed, offer.annual_cost_pence, offer.agency_id)


def _points(offer: Offer, cheapest: int) -> dict[str, float]:
    preference = 100 * (offer.window_adherence or 0.0)
    if offer.gender_honoured is False:
        preference /= 2
    fewest = max((len(a.workers) for a in offer.assignments), default=1)
    continuity = 100 * fewest / max(1, offer.distinct_carers or 1)
    cost = 100 * cheapest / offer.annual_cost_pence if offer.annual_cost_pence else 100.0
    per_visit = (offer.added_travel_min or 0) / max(1, offer.visits)
    travel = 100 / (1 + max(0.0, per_visit) / TRAVEL_HALF_MIN)
    return {
        "preference": round(preference, 1),
        "continuity": round(continuity, 1),
        "cost": round(cost, 1),
        "travel": round(travel, 1),
    }


# ------------------------------------------------------------------ the market


@dataclass(frozen=True)
class AgencyTask:
    """One agency's evaluation, with everything it needs: what an `Evaluator` gets
    (the service's Celery fan-out sends it by agency id and version). The Matcher's
    own pool sends a `brokerage.warm.WarmTask` instead, naming the agency by
    fingerprint rather than pickling it (some 4 ms each way for an agency of 30
    workers). `deadline` is the caller's (`time.monotonic()`, which is system-wide); a
    cancel cannot cross `ProcessPoolExecutor.submit`, so the caller's process watches
    it and stops waiting (see `Matcher.evaluate`).
    """

    entry: MarketAgency
    skills: list[str]
    package: CarePackage
    params: MatchParams
    search: bool
    deadline: float | None = None
    committed_travel_min: int | None = None

    def __call__(self) -> AgencyResult:
        return evaluate_agency(
            self.entry,
            self.skills,
            self.package,
            self.params,
            search=self.search,
            control=RunControl(deadline=self.deadline),
            committed_travel_min=self.committed_travel_min,
        )


# Runs agencies' tasks somewhere else (another machine's workers, say) and returns the
# results of those done, in the tasks' order; past the control's deadline, only those
# done by then; raises `Cancelled` on its cancel. `Matcher` runs them itself without one.
Evaluator = Callable[[list[AgencyTask], RunControl], list[AgencyResult]]


class Matcher:
    """A market ready to answer packages, with worker processes (as a service would).

    The agencies are kept warm (`brokerage.warm`): each prepared once for insertions,
    keyed by a fingerprint of its content, so a request adds only the package. The
    pool's processes belong to this Matcher: each is started with the market's
    agencies (`start_pool_worker`) and a task names its agency by fingerprint; what
    the Matcher keeps between packages (the warm agencies when it evaluates in its own
    process, each agency's committed travel) is on the instance. Several threads may
    call `match` at once, on one Matcher or on several. In a daemonic process (a
    multiprocessing pool's worker, which may not have children) the agencies are
    evaluated in this process. With an `evaluator` the agencies are evaluated where it
    sends them (the service's Celery fan-out) and the Matcher only ranks and suggests.
    Use as a context manager, or call `close`.
    """

    def __init__(
        self, market: Market, *, processes: int = 0, evaluator: Evaluator | None = None
    ) -> None:
        self.market = market
        self.processes = processes or os.cpu_count() or 1
        # Each agency's committed travel by id, with the agency it was computed for: it
        # serves only that same (frozen) agency, never a changed one with the same id.
        self._committed_travel: dict[str, tuple[MarketAgency, int]] = {}
        self._evaluator = evaluator
        self._pool: ProcessPoolExecutor | None = None
        # The market's agencies as the fingerprints were taken of (`_key`), and the
        # warm agencies of evaluations in this process.
        self._agencies = list(market.agencies)
        self._keys: list[str] = []
        self._warm = WarmAgencies(capacity=max(MIN_CAPACITY, len(market.agencies)))
        if evaluator is not None:
            return
        self._keys = [fingerprint(entry, market.skills) for entry in self._agencies]
        if self.processes > 1 and len(market.agencies) > 1 and not mp.current_process().daemon:
            self._pool = ProcessPoolExecutor(
                max_workers=min(self.processes, len(market.agencies)),
                initializer=start_pool_worker,
                initargs=(list(zip(self._keys, self._agencies, strict=True)), market.skills),
            )

    def __enter__(self) -> Matcher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # After a cancel (or any error) do not wait for the agencies still running.
        self.close(wait=exc_type is None)

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker processes (without `wait`, they finish their current agency
        in the background, within its time limit)."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None

    def evaluate(
        self,
        package: CarePackage,
        params: MatchParams,
        agencies: list[int] | None = None,
        *,
        search: bool = True,
        control: RunControl = NO_CONTROL,
    ) -> list[AgencyResult]:
        """Each (chosen) agency's result, in the order chosen; past the control's
        deadline, only those computed by then. A cancel raises `Cancelled`. Results
        from worker processes (or an evaluator) come without the whole roster
        (`roster` None): ranking needs the offers only."""
        chosen = list(range(len(self.market.agencies))) if agencies is None else agencies
        tasks = [self._task(i, package, params, search, control) for i in chosen]
        if self._evaluator is not None:
            results = self._evaluator(tasks, control)
        elif self._pool is None:
            results: list[AgencyResult] = []
            for task in tasks:
                control.raise_if_cancelled()
                if control.expired():
                    break
                results.append(
                    evaluate_agency(
                        task.entry,
                        task.skills,
                        task.package,
                        task.params,
                        search=task.search,
                        control=control,
                        committed_travel_min=task.committed_travel_min,
                        warm=self._warm_agency(task.entry),
                    )
                )
        else:
            results = self._in_pool(self._pool, tasks, control)
        entries = {task.entry.id: task.entry for task in tasks}
        for result in results:
            if result.committed_travel_min is not None:
                entry = entries[result.offer.agency_id]
                self._committed_travel[entry.id] = (entry, result.committed_travel_min)
        return results

    def _task(
        self,
        index: int,
        package: CarePackage,
        params: MatchParams,
        search: bool,
        control: RunControl,
    ) -> AgencyTask:
        entry = self.market.agencies[index]
        known = self._committed_travel.get(entry.id)
        return AgencyTask(
            entry,
            self.market.skills,
            package,
            params,
            search,
            deadline=control.deadline,
            committed_travel_min=known[1] if known and known[0] is entry else None,
        )

    def _key(self, entry: MarketAgency) -> str:
        """The agency's fingerprint (`brokerage.warm`): taken when the Matcher was
        made, or now for an agency that is not the one it was taken of."""
        for i, known in enumerate(self._agencies):
            if known is entry and self._keys:
                return self._keys[i]
        return fingerprint(entry, self.market.skills)

    def _warm_agency(self, entry: MarketAgency) -> WarmAgency:
        """The agency prepared for insertions in this process (kept on the Matcher)."""
        key = self._key(entry)
        if key not in self._warm:
            self._warm.add(key, entry, self.market.skills)
        warm = self._warm.get(key)
        if warm is None:  # dropped by another thread's agency in between
            return WarmAgency.prepare(entry, self.market.skills, key)
        return warm

    def _warm_task(self, task: AgencyTask, *, with_entry: bool = False) -> WarmTask:
        """The task for a pool worker: the agency by fingerprint (and itself only
        `with_entry`, after the worker answered `NotWarm`)."""
        return WarmTask(
            self._key(task.entry),
            task.package,
            task.params,
            task.search,
            deadline=task.deadline,
            committed_travel_min=task.committed_travel_min,
            entry=task.entry if with_entry else None,
            skills=task.skills if with_entry else None,
        )

    def _in_pool(
        self, pool: ProcessPoolExecutor, tasks: list[AgencyTask], control: RunControl
    ) -> list[AgencyResult]:
        """The tasks' results from the pool, in order, watching the caller's control:
        a cancel drops what is still queued and raises `Cancelled` (agencies already
        running finish in the background, each within its time limit); at the
        deadline, what is done a moment later is kept. An agency a worker does not
        know (`NotWarm`) is sent again with the agency."""
        futures = [pool.submit(self._warm_task(task)) for task in tasks]
        pending: set[Future[AgencyResult]] = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                for future in done:
                    if not future.cancelled() and isinstance(future.exception(), NotWarm):
                        i = futures.index(future)
                        futures[i] = pool.submit(self._warm_task(tasks[i], with_entry=True))
                        pending.add(futures[i])
                control.raise_if_cancelled()
                if pending and control.expired():
                    for future in pending:
                        future.cancel()
                    _, pending = wait(pending, timeout=DEADLINE_GRACE_S)
                    break
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return [f.result() for f in futures if f.done() and not f.cancelled()]

    def offers(
        self,
        package: CarePackage,
        params: MatchParams,
        agencies: list[int] | None = None,
        *,
        control: RunControl = NO_CONTROL,
    ) -> list[Offer]:
        """Every (chosen) agency's offer, ranked: greedy insertion at all of them, then
        the CP-SAT search at the `search_top` best and at every agency the greedy could
        not fit whole but a search still might (not `GREEDY_BLOCKED`). An agency not
        reached by the control's deadline is refused with `NOT_EVALUATED`."""
        chosen = list(range(len(self.market.agencies))) if agencies is None else agencies
        index = {a.id: i for i, a in enumerate(self.market.agencies)}
        greedy = {
            r.offer.agency_id: r.offer
            for r in self.evaluate(package, params, chosen, search=False, control=control)
        }
        first = score_offers(
            [
                greedy.get(entry.id) or not_evaluated(entry, package)
                for entry in (self.market.agencies[i] for i in chosen)
            ]
        )
        again = [
            index[o.agency_id]
            for o in first
            if (o.rank is not None and o.rank <= params.search_top)
            or (o.checked and not o.feasible and o.solver_status != GREEDY_BLOCKED)
        ]
        if not again or control.expired():
            return first
        searched = {
            r.offer.agency_id: r.offer
            for r in self.evaluate(package, params, again, control=control)
        }
        return score_offers([searched.get(o.agency_id, o) for o in first])

    def match(
        self,
        package: CarePackage,
        params: MatchParams | None = None,
        *,
        control: RunControl | None = None,
    ) -> MatchResult:
        """Ranked offers for the package, with reasons and, if nobody can take it whole,
        suggestions.

        `control` (see `matcher.control`): its cancel raises `Cancelled`; by its
        deadline the offers computed so far are returned (agencies not reached are
        refused with `NOT_EVALUATED`, suggestions are left out once it has passed).
        """
        params = params or MatchParams()
        control = control or NO_CONTROL
        control.raise_if_cancelled()
        began = time.perf_counter()
        for entry in self.market.agencies:
            if clash := package_clash(entry, package):
                raise PackageClash(clash)
        offers = self.offers(package, params, control=control)
        suggestions: list[str] = []
        if params.suggest and not any(o.feasible for o in offers) and not control.expired():
            suggestions = self._suggest(package, params, offers, control)
        return MatchResult(
            package_id=package.id,
            elapsed_s=round(time.perf_counter() - began, 3),
            offers=offers,
            suggestions=suggestions,
        )

    def _suggest(
        self,
        package: CarePackage,
        params: MatchParams,
        offers: list[Offer],
        control: RunControl = NO_CONTROL,
    ) -> list[str]:
        """What would make the package fit somewhere: the nearest partial fit, wider
        windows, a larger budget (each tried for real, not guessed). A relaxation the
        deadline cut short says nothing, rather than that nothing fits."""
        index = {a.id: i for i, a in enumerate(self.market.agencies)}
        lines: list[str] = []
        partial = [o for o in offers if 0 < o.visits_placed < o.visits]
        if partial:
            best = partial[0]
            missing = sorted(set(_visit_ids(package)) - set(best.fits))
            lines.append(
                f"{best.agency_name} ({best.agency_id}) can take {best.visits_placed} of "
                f"{best.visits} visits; not {', '.join(missing)}"
            )
        in_reach = [
            index[o.agency_id]
            for o in offers
            if not any(r.startswith(("outside service area", "budget:")) for r in o.reasons)
            # Nobody in the agency has the skills or gender (a pre-check): wider windows
            # cannot help. ("skills: the only worker free on ..." is about a time: they can.)
            and not any(": skills: no " in r or ": gender: no " in r for r in o.reasons)
        ]
        wider = widen_windows(package, params.relax_window_min)
        if in_reach and wider is not None:
            relaxed = self.offers(wider, replace(params, search_top=0), in_reach, control=control)
            fit = [o for o in relaxed if o.feasible]
            if fit:
                names = ", ".join(f"{o.agency_name} ({o.agency_id})" for o in fit)
                lines.append(
                    f"with every window {params.relax_window_min} minutes wider on each side, "
                    f"the whole package fits at {names}"
                )
            elif not _cut_short(relaxed):
                lines.append(
                    f"windows {params.relax_window_min} minutes wider on each side do not "
                    "make it fit anywhere"
                )
        over_budget = [
            index[o.agency_id]
            for o in offers
            if any(r.startswith("budget:") for r in o.reasons)
            and not any(r.startswith("outside service area") for r in o.reasons)
        ]
        if over_budget and package.budget is not None:
            unbounded = package.model_copy(update={"budget": None})
            relaxed = self.offers(
                unbounded, replace(params, search_top=0), over_budget, control=control
            )
            fit = sorted((o for o in relaxed if o.feasible), key=lambda o: o.annual_cost_pence)
            if fit:
                o = fit[0]
                per = "a year" if package.budget.period == "year" else "a week"
                amount = o.annual_cost_pence if per == "a year" else o.weekly_cost_pence
                lines.append(
                    f"with a budget of {format_pounds(amount)} {per}, {o.agency_name} "
                    f"({o.agency_id}, {format_pounds(o.hourly_rate_pence)}/h) could take it"
                )
        return lines


def match(
    market: Market,
    package: CarePackage,
    params: MatchParams | None = None,
    *,
    control: RunControl | None = None,
) -> MatchResult:
    """One-shot matching (starts and stops the worker processes); `control` as for
    `Matcher.match`."""
    params = params or MatchParams()
    control = control or NO_CONTROL
    matcher = Matcher(market, processes=params.processes)
    try:
        return matcher.match(package, params, control=control)
    finally:
        # Cut short (cancelled, or past the deadline), the agencies still running in the
        # worker processes finish in the background rather than hold up the answer.
        matcher.close(wait=not control.should_stop())


def _cut_short(offers: list[Offer]) -> bool:
    """Whether the deadline kept some agency from being evaluated."""
    return any(o.reasons == [NOT_EVALUATED] for o in offers)


def _visit_ids(package: CarePackage) -> list[str]:
    return [v.id for v in expand_visits(package)]


def widen_windows(package: CarePackage, minutes: int) -> CarePackage | None:
    """The package with every preferred (and explicit hard) window `minutes` wider on
    each side, within the day; None if that changes nothing."""
    lines = []
    for line in package.visits:
        window = _wider(line.window, minutes, line.duration_min)
        hard = (
            _wider(line.hard_window, minutes, line.duration_min)
            if line.hard_window is not None
            else None
        )
        lines.append(line.model_copy(update={"window": window, "hard_window": hard}))
    wider = package.model_copy(update={"visits": lines})
    return None if wider == package else wider


def _wider(window: TimeRange, minutes: int, duration: int) -> TimeRange:
    start = max(0, window.start_min - minutes)
    end = min(24 * 60 - duration, window.end_min + minutes)
    return TimeRange.of_minutes(start, max(start, end))


def accept(
    market: Market, package: CarePackage, agency_id: str, params: MatchParams | None = None
) -> tuple[Market, Offer]:
    """The market with the package placed in that agency's roster (checked).

    Raises ValueError with the agency's reasons if it cannot take the package.
    """
    params = params or MatchParams()
    entry = market.agency(agency_id)
    if clash := package_clash(entry, package):
        raise PackageClash(clash)
    result = evaluate_agency(entry, market.skills, package, params)
    if not result.offer.feasible or result.roster is None:
        raise ValueError(f"{agency_id} cannot take {package.id}: {'; '.join(result.offer.reasons)}")
    grown = entry.model_copy(
        update={"packages": [*entry.packages, package], "roster": result.roster}
    )
    agencies = [grown if a.id == agency_id else a for a in market.agencies]
    return market.model_copy(update={"agencies": agencies}), result.offer


def roster_violations(market: Market, agency_id: str) -> list[str]:
    """Checker violations of an agency's committed roster (as text); [] when valid."""
    problem = market.problem_of(agency_id)
    entry = market.agency(agency_id)
    roster = Roster(problem_id=problem.id, assignments=entry.roster)
    return [str(v) for v in check(problem, roster)]
