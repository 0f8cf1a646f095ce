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
`score_offers` under the council's ranking policy (docs/matching.md). A refused offer
says where each visit it could not place would fit there (`nearest_fits`,
`matcher.brokerage.nearest`). When no agency can take the whole package, `changes`
lists each single change that makes it fit somewhere, tried for real
(`matcher.brokerage.changes`), `splits` the best splits of its visits between two
agencies (`matcher.brokerage.split`), and `suggestions` says it in a broker's words.

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

import copy
import itertools
import logging
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from typing import Any

from geopy.distance import geodesic
from pydantic import BaseModel, Field

from matcher.brokerage import OUTPUT_CONFIG
from matcher.brokerage.changes import Candidate, Change, candidates, rank_changes
from matcher.brokerage.nearest import NearestFits, visit_fits
from matcher.brokerage.offer import (
    PLACED_KPIS,
    SCORE_WEIGHTS,
    Move,
    Offer,
    Score,
    SplitOffer,
)
from matcher.brokerage.policy import DEFAULT_POLICY, RankingPolicy, agency_facts
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
    Visit,
    expand_visits,
)
from matcher.solver.insert import GREEDY_BLOCKED, insert_packages, placements_of
from matcher.solver.solve import SolveParams, roster_state
from matcher.timeutil import WEEKS_PER_YEAR, cost_pence, format_pounds, parse_hhmm

log = logging.getLogger(__name__)

# Minutes off the preferred window at which a visit's preference points reach 0.
PREFERENCE_ZERO_MIN = 120
# Added travel per visit (minutes) at which the travel points halve.
TRAVEL_HALF_MIN = 10
# How many agencies' nearest fits, and how many single changes, the suggestions say.
NEAREST_MISSES = 1
CHANGES_SAID = 5
# How many of the best greedy offers the CP-SAT search then improves (see `Matcher`).
SEARCH_TOP = 4
# The reason given for an agency the match did not reach before the caller's deadline.
NOT_EVALUATED = "not evaluated: the deadline came first"
# How often a match waiting for its worker processes looks at the caller's control,
# and how long past a deadline it waits for the agencies they are finishing.
POLL_S = 0.05
DEADLINE_GRACE_S = 0.25


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
    suggest: bool = True  # suggestions, single changes and split offers, when nothing fits whole
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


class MatchResult(BaseModel):
    """What `carematch match --json` prints and the service returns (`to_json`)."""

    model_config = OUTPUT_CONFIG

    package_id: str
    elapsed_s: float
    offers: list[Offer] = Field(description="Feasible offers by rank, then the refusals.")
    suggestions: list[str] = Field(
        default_factory=list,
        description="When nothing fits: the nearest partial fit, the nearest fits of its "
        "visits and the single changes, in a broker's words.",
    )
    changes: list[Change] = Field(
        default_factory=list,
        description="When nothing fits: each single change to the package that makes it fit "
        "whole at an agency, tried for real, smallest ask first (docs/matching.md).",
    )
    splits: list[SplitOffer] = Field(
        default_factory=list,
        description="The best splits between two agencies, best first, when no single "
        "agency can take the package; [] otherwise.",
    )

    def to_json(self) -> dict[str, Any]:
        """The result exactly as `carematch match --json` prints it (each offer's
        contract keys first): one definition for the CLI and the service."""
        return {
            "package_id": self.package_id,
            "elapsed_s": self.elapsed_s,
            "offers": [offer.summary() for offer in self.offers],
            "suggestions": list(self.suggestions),
            "changes": [change.model_dump(mode="json") for change in self.changes],
            "splits": [split.to_json() for split in self.splits],
        }


def match_json_schema() -> dict[str, Any]:
    """The JSON Schema of the match output (`MatchResult.to_json`, `carematch match
    --json`; printed by `carematch schema --match`): every key of every offer is
    required, feasible or not, and described. The output prints every field of every
    model it holds, so the input models it carries (the changed package of a single
    change) have every key required here too."""
    schema = MatchResult.model_json_schema(mode="serialization")
    for definition in schema.get("$defs", {}).values():
        if "properties" in definition:
            definition["required"] = list(definition["properties"])
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# ------------------------------------------------------------------ one agency


@dataclass(frozen=True)
class AgencyResult:
    offer: Offer
    # The whole new roster, when the insertion's roster passed the checker (feasible or
    # not: a refusal's nearest fits are on it); None for a refusal before insertion,
    # whose nearest fits are on the committed week (`entry.roster`).
    roster: list[Assignment] | None
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

    def refuse(
        reasons: list[str], roster: list[Assignment] | None = None, **extra: Any
    ) -> AgencyResult:
        offer = Offer(
            feasible=False,
            reasons=reasons,
            within_budget=not any(r.startswith("budget:") for r in reasons),
            elapsed_s=round(time.perf_counter() - began, 3),
            **base,
            **extra,
        )
        return AgencyResult(offer, roster, committed_travel_min)

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
    blocked: list[str] = []
    for info in alone.visits:
        for reason in precheck_reasons(alone, info):
            reasons.append(f"{info.visit.id}: {reason}")
            if alone.eligibility[info.index]:  # nobody may ever do it: no time can help
                blocked.append(info.visit.id)
    if reasons:
        fits = _nearest_fits(entry, problem, package, _dedupe(blocked), warm)
        return refuse(_dedupe(reasons), nearest_fits=fits)

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
        unplaced_ids = [u.visit_id for u in unplaced]
        fits = _nearest_fits(entry, problem, package, unplaced_ids, warm, roster.assignments)
        return refuse(_dedupe(reasons), roster.assignments, nearest_fits=fits, **details)
    offer = Offer(
        feasible=True,
        within_budget=True,
        assignments=mine,
        elapsed_s=round(time.perf_counter() - began, 3),
        **{**base, **details},
    )
    return AgencyResult(offer, roster.assignments, committed_travel_min)


def _nearest_fits(
    entry: MarketAgency,
    problem: Problem,
    package: CarePackage,
    visit_ids: list[str],
    warm: WarmAgency | None,
    placed: list[Assignment] | None = None,
) -> list[NearestFits]:
    """The nearest fits of these visits of the package in the agency's committed week,
    or in the roster `placed` (that week with whatever of the package it placed); from
    the warm agency when there is one, rather than building its week again."""
    if not visit_ids:
        return []
    if warm is not None:
        start = warm.start(problem, package)
        inst = start.instance
        if placed is None:  # the committed week, as the warm agency holds it
            return visit_fits(inst, start.state, package, visit_ids)
    else:
        inst = build_instance(problem)
    state = roster_state(inst, placements_of(inst, entry.roster if placed is None else placed))
    return visit_fits(inst, state, package, visit_ids)


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
        "placement": agency_facts(entry.contract, entry.quality),
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
    """The agency's problem plus the package (or with only the package, `alone`)."""
    return entry.trusted_problem([package] if alone else [*entry.packages, package], skills)


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


def score_offers(offers: list[Offer], policy: RankingPolicy = DEFAULT_POLICY) -> list[Offer]:
    """Score the feasible offers and rank them by the council's `policy`
    (`matcher.brokerage.policy`; the default ranks on the score alone); infeasible
    ones follow, rank None. Every offer's `placement` says how the policy placed it.

    Points per criterion (0-100), weighted by `SCORE_WEIGHTS` (docs/matching.md):
    - preference: per visit max(0, 1 - minutes off its window / 120), averaged, halved
      if a gender preference was not honoured;
    - continuity: the fewest carers the package could have (its largest `carers`)
      over the distinct carers offered;
    - cost: the cheapest feasible annual cost over this one's (100 for the cheapest);
    - travel: 100 / (1 + added travel per visit / 10 min).
    Ties: more policy points (the default's are the total), then lower annual cost,
    less added travel, agency id.
    """
    feasible = [o for o in offers if o.feasible]
    cheapest = min((o.annual_cost_pence for o in feasible), default=0)
    scored = []
    for offer in feasible:
        breakdown = _points(offer, cheapest)
        total = round(sum(SCORE_WEIGHTS[k] * v for k, v in breakdown.items()), 1)
        placement = policy.place(offer.placement, care=total, price=breakdown["cost"])
        score = Score(total=total, breakdown=breakdown)
        scored.append(offer.model_copy(update={"score": score, "placement": placement}))
    scored.sort(
        key=lambda o: (
            *policy.sort_key(o.placement),
            o.annual_cost_pence,
            o.added_travel_min or 0,
            o.agency_id,
        )
    )
    ranked = [o.model_copy(update={"rank": i}) for i, o in enumerate(scored, 1)]
    refused = sorted(
        (
            o.model_copy(update={"placement": policy.unplaced(o.placement)})
            for o in offers
            if not o.feasible
        ),
        key=_refusal_order,
    )
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
        self._owns_pool = True  # until handed over (`with_market`)
        # The market's agencies as the fingerprints were taken of (`_key`), and the
        # warm agencies of evaluations in this process.
        self._agencies = list(market.agencies)
        self._keys: list[str] = []
        self._warm = WarmAgencies(capacity=max(MIN_CAPACITY, len(market.agencies)))
        if evaluator is not None:
            return
        self._keys = [fingerprint(entry, market.skills) for entry in self._agencies]
        self._start_pool()

    def _start_pool(self) -> None:
        """Start the worker processes, each holding the market's agencies prepared,
        when there is more than one agency and processes may have children."""
        market = self.market
        if self.processes > 1 and len(market.agencies) > 1 and not mp.current_process().daemon:
            self._pool = ProcessPoolExecutor(
                max_workers=min(self.processes, len(market.agencies)),
                initializer=start_pool_worker,
                initargs=(list(zip(self._keys, self._agencies, strict=True)), market.skills),
            )

    def with_market(self, market: Market) -> Matcher:
        """A Matcher for a new version of the market that keeps this one's worker
        processes and warm agencies, so that an agency that did not change is not
        prepared again: only a changed (or new) agency is, on first use, since its new
        fingerprint is unknown to the workers (`NotWarm`) and to the warm store. The
        service asks for this whenever an agency's roster moves (an accepted package),
        which would otherwise restart the processes and re-prepare every agency.

        This Matcher hands its processes over: closing it no longer stops them (close
        the new one). Matches already running on it finish normally. With an
        `evaluator` there are no processes to keep: a Matcher as `Matcher(market)`."""
        if self._evaluator is not None:
            return Matcher(market, processes=self.processes, evaluator=self._evaluator)
        successor = copy.copy(self)
        successor.market = market
        successor._agencies = list(market.agencies)
        same_skills = market.skills == self.market.skills  # a fingerprint covers them
        successor._keys = [
            (same_skills and self._known_key(entry)) or fingerprint(entry, market.skills)
            for entry in successor._agencies
        ]
        successor._committed_travel = dict(self._committed_travel)
        self._warm.capacity = max(self._warm.capacity, len(market.agencies))
        self._owns_pool = False
        if successor._pool is None:
            successor._start_pool()
        return successor

    def __enter__(self) -> Matcher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # After a cancel (or any error) do not wait for the agencies still running.
        self.close(wait=exc_type is None)

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker processes (without `wait`, they finish their current agency
        in the background, within its time limit)."""
        if self._pool is not None and self._owns_pool:
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
        return self.evaluate_each(
            [(i, package) for i in chosen], params, search=search, control=control
        )

    def evaluate_each(
        self,
        pairs: list[tuple[int, CarePackage]],
        params: MatchParams,
        *,
        search: bool = True,
        control: RunControl = NO_CONTROL,
    ) -> list[AgencyResult]:
        """`evaluate` for a package of its own per agency (index, package): the single
        changes try a different package at each agency."""
        tasks = [self._task(i, package, params, search, control) for i, package in pairs]
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
        return self._known_key(entry) or fingerprint(entry, self.market.skills)

    def _known_key(self, entry: MarketAgency) -> str | None:
        """The fingerprint taken of this very agency object, if one was."""
        for i, known in enumerate(self._agencies):
            if known is entry and self._keys:
                return self._keys[i]
        return None

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
        policy = self.market.ranking_policy
        first = score_offers(
            [
                greedy.get(entry.id) or not_evaluated(entry, package)
                for entry in (self.market.agencies[i] for i in chosen)
            ],
            policy,
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
        return score_offers([searched.get(o.agency_id, o) for o in first], policy)

    def match(
        self,
        package: CarePackage,
        params: MatchParams | None = None,
        *,
        control: RunControl | None = None,
    ) -> MatchResult:
        """Ranked offers for the package, with reasons and, if nobody can take it whole,
        suggestions and split offers (`matcher.brokerage.split`).

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
        changes: list[Change] = []
        suggestions: list[str] = []
        splits: list[SplitOffer] = []
        if params.suggest and not any(o.feasible for o in offers) and not control.expired():
            changes = self._changes(package, params, offers, control)
            suggestions = _suggestions(package, offers, changes)
            # Imported here: the split search is built on this module's Matcher.
            from matcher.brokerage.split import split_offers

            splits = split_offers(self, package, params, offers, control=control)
        return MatchResult(
            package_id=package.id,
            elapsed_s=round(time.perf_counter() - began, 3),
            offers=offers,
            suggestions=suggestions,
            changes=changes,
            splits=splits,
        )

    def _changes(
        self,
        package: CarePackage,
        params: MatchParams,
        offers: list[Offer],
        control: RunControl = NO_CONTROL,
    ) -> list[Change]:
        """Every single change that makes the package fit whole somewhere, each tried at
        its agency with the greedy insertion and the checker
        (`matcher.brokerage.changes`); none if the deadline cut the trying short."""
        index = {a.id: i for i, a in enumerate(self.market.agencies)}
        tried: list[Candidate] = [
            candidate
            for offer in offers
            for candidate in candidates(
                package, offer, self.market.agencies[index[offer.agency_id]].weights.max_shift_min
            )
        ]
        if not tried:
            return []
        results = self.evaluate_each(
            [(index[c.agency_id], c.package) for c in tried], params, search=False, control=control
        )
        if len(results) != len(tried):
            return []
        return rank_changes(
            [(c, r.offer) for c, r in zip(tried, results, strict=True)],
            partial(score_offers, policy=self.market.ranking_policy),
        )


def _suggestions(package: CarePackage, offers: list[Offer], changes: list[Change]) -> list[str]:
    """The broker's lines when nothing fits: the nearest partial fit, where the visits of
    the nearest misses would fit (exactly), and the smallest single changes."""
    lines: list[str] = []
    partial = [o for o in offers if 0 < o.visits_placed < o.visits]
    if partial:
        best = partial[0]
        missing = sorted(set(_visit_ids(package)) - set(best.fits))
        lines.append(
            f"{best.agency_name} ({best.agency_id}) can take {best.visits_placed} of "
            f"{best.visits} visits; not {', '.join(missing)}"
        )
    near = [o for o in offers if any(n.fits for n in o.nearest_fits)][:NEAREST_MISSES]
    for offer in near:
        lines += [f"{n.summary} at {offer.agency_name}" for n in offer.nearest_fits if n.fits]
    for change in changes[:CHANGES_SAID]:
        lines.append(
            f"{change.description} at {change.agency_name} ({change.agency_id}): the whole "
            f"package then fits, {format_pounds(change.offer.annual_cost_pence)} a year"
        )
    if not changes:
        lines.append(
            "no single change (a window, another day, the gender preference or the budget) "
            "makes the whole package fit at any agency"
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
