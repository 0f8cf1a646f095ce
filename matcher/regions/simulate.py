"""The period simulated day by day, once per method, on the same region.

Both methods see the same market on day 0, the same packages arriving on the same days
and the same existing clients leaving on the same days; only who places the packages,
and how, differs.

A day
    1. Departures first: an existing client who leaves that day (hospital, a care home,
       death; drawn in `matcher.regions.generate`) is taken out of their agency's roster
       and caseload. Taking visits out of routes only shortens them, so the roster stays
       valid; it frees capacity, and the agency's *version* goes up.
    2. Then every package that is due is tried, in the order the packages arrived
       (waiting ones first, since they arrived earlier).

When a package is due
    email_round (`matcher.regions.email_round`): a new package is decided the day after
    it arrives (the agencies' replies take a day); a package nobody took waits and is
    re-sent every Monday, decided on the Tuesday.
    carematch: a new package is matched the day it arrives (ranked offers in seconds);
    a waiting one is matched again on any later day on which an agency in its reach has
    lost a client since the last try (daily re-matching; with nothing freed in reach the
    answer could not change, so it is not asked).

How carematch places a package
    Every agency whose service area covers the home is evaluated with
    `matcher.matching.evaluate_agency` (budget and structure pre-checks, the package
    inserted into the agency's committed roster by the CP-SAT insertion model, the result
    run through the independent checker), the offers ranked by
    `matcher.matching.score_offers` (docs/matching.md), and the best-ranked offer's
    roster is committed as the agency's new roster: exactly what `matching.accept` would
    commit, without solving twice. Existing clients keep their carers; their visits may
    move up to ``allow_moves_min`` = 30 minutes (`MatchParams.allow_moves_min`, the
    CLI's ``--allow-moves``) but only within their own preferred window, or no further
    from it than they already were, so nobody already served is worse off on time. This
    small re-optimisation is part of what carematch offers and the email round does not
    (``existing_visits_moved`` counts it; ``allow_moves_min=0`` pins everyone).

    The agencies of one package are evaluated in parallel processes (``processes``,
    default one per core): decomposition by agency. Within an
    agency the insertion model only releases the shifts, on the package's days, of the
    carers who could do one of its visits (decomposition by day and carer); the rest of
    the roster is fixed context. Decomposition by area is the service-area filter: an
    agency out of reach costs one distance. That is why a 20-agency region with 1,500
    clients costs per package about what a small one does.

Determinism: the region, the arrival order, the departures and the email round's reply
order depend only on the seed. CP-SAT runs single-threaded with a fixed seed and its
time limit counted in deterministic time (`SimulationParams.deterministic`), so
carematch's answers repeat too, on any machine; only `solve_s` varies.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from matcher.market import Market, MarketAgency
from matcher.matching import AgencyResult, MatchParams, evaluate_agency, score_offers
from matcher.matching import service_area_reason as area_reason
from matcher.regions.email_round import REPLY_DAYS, RESEND_WEEKDAY, Scan, email_reply
from matcher.regions.generate import Region
from matcher.schema import Assignment, CarePackage

MethodName = Literal["carematch", "email_round"]
METHODS: tuple[MethodName, ...] = ("carematch", "email_round")
DEFAULT_TIME_LIMIT_S = 0.5
DEFAULT_ALLOW_MOVES_MIN = 30


@dataclass
class Record:
    """What happened to one arriving package."""

    package_id: str
    arrived: int
    double_up: bool
    placed_day: int | None = None
    agency_id: str | None = None
    attempts: int = 0
    moved: int = 0  # existing visits that moved (within their own window) to make room
    next_try: int = 0
    tried: dict[str, int] = field(default_factory=dict)  # agency id -> version at last try
    reach: list[str] = field(default_factory=list)

    @property
    def waited_days(self) -> int | None:
        return None if self.placed_day is None else self.placed_day - self.arrived


@dataclass
class SimulationResult:
    region: str
    size: str
    method: str
    seed: int
    market: Market  # at the end of the period
    records: list[Record]
    solve_s: float  # wall time spent deciding packages
    decision_s: list[float]  # per try
    departures_done: int


@dataclass(frozen=True)
class SimulationParams:
    time_limit_s: float = DEFAULT_TIME_LIMIT_S  # carematch: CP-SAT per agency
    processes: int = 0  # carematch: 0 one per core, 1 in this process
    allow_moves_min: int = DEFAULT_ALLOW_MOVES_MIN  # carematch: within their own window
    scan: Scan = "board"  # email round: how a coordinator finds a carer
    # carematch: time limits in CP-SAT deterministic time, so a seed gives the same
    # table on any machine (a busy one only takes longer).
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0:
            raise ValueError("time_limit_s must be positive")
        if self.processes < 0:
            raise ValueError("processes must be >= 0")
        if self.allow_moves_min < 0:
            raise ValueError("allow_moves_min must be >= 0")


Progress = Callable[[int], None]


def simulate(
    region: Region,
    method: MethodName,
    *,
    params: SimulationParams | None = None,
    on_day: Progress | None = None,
) -> SimulationResult:
    """Run the period for one method (module doc); the region is not modified."""
    params = params or SimulationParams()
    agencies: dict[str, MarketAgency] = {a.id: a for a in region.market.agencies}
    skills = list(region.market.skills)
    version = dict.fromkeys(agencies, 0)
    home_of = {p.id: e.id for e in agencies.values() for p in e.packages}
    leaving: dict[int, list[str]] = {}
    for package_id, day in sorted(region.departures.items()):
        leaving.setdefault(day, []).append(package_id)
    packages = {a.package.id: a.package for a in region.arrivals}
    records = []
    for arrival in region.arrivals:
        package = arrival.package
        record = Record(
            package.id,
            arrival.day,
            any(line.carers == 2 for line in package.visits),
            reach=[e.id for e in agencies.values() if area_reason(e, package) is None],
        )
        record.next_try = arrival.day + (REPLY_DAYS if method == "email_round" else 0)
        records.append(record)
    decision_s: list[float] = []
    departures_done = 0
    pool: Executor | None = None
    workers = params.processes or os.cpu_count() or 1
    if method == "carematch" and workers > 1 and len(agencies) > 1:
        pool = ProcessPoolExecutor(max_workers=workers)
    try:
        for day in range(region.period_days):
            for package_id in leaving.get(day, []):
                agency_id = home_of.pop(package_id)
                agencies[agency_id] = _without(agencies[agency_id], package_id)
                version[agency_id] += 1
                departures_done += 1
            for record in records:
                if record.placed_day is not None or record.arrived > day:
                    continue
                if not _due(method, record, day, version):
                    continue
                package = packages[record.package_id]
                record.attempts += 1
                began = time.perf_counter()
                if method == "email_round":
                    rng = random.Random(f"{region.seed}-{record.package_id}-{record.attempts}")
                    chosen = _email_round(agencies, skills, package, record.reach, rng, params)
                else:
                    chosen = _carematch(agencies, skills, package, record.reach, params, pool)
                decision_s.append(time.perf_counter() - began)
                record.tried = {a: version[a] for a in record.reach}
                if chosen is None:
                    record.next_try = _next_resend(day)
                    continue
                agency_id, roster, record.moved = chosen
                entry = agencies[agency_id]
                agencies[agency_id] = entry.model_copy(
                    update={"packages": [*entry.packages, package], "roster": roster}
                )
                record.placed_day, record.agency_id = day, agency_id
            if on_day is not None:
                on_day(day)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    final = region.market.model_copy(update={"agencies": list(agencies.values())})
    return SimulationResult(
        region=region.name,
        size=region.size,
        method=method,
        seed=region.seed,
        market=final,
        records=records,
        solve_s=sum(decision_s),
        decision_s=decision_s,
        departures_done=departures_done,
    )


def _due(method: MethodName, record: Record, day: int, version: dict[str, int]) -> bool:
    if record.attempts == 0 or method == "email_round":
        return day >= record.next_try
    return any(version[a] > record.tried.get(a, -1) for a in record.reach)


def _next_resend(day: int) -> int:
    """The Tuesday after the next Monday's re-send (email round)."""
    ahead = (RESEND_WEEKDAY - day) % 7 or 7
    return day + ahead + REPLY_DAYS


def _without(entry: MarketAgency, package_id: str) -> MarketAgency:
    return entry.model_copy(
        update={
            "packages": [p for p in entry.packages if p.id != package_id],
            "roster": [a for a in entry.roster if a.package_id != package_id],
        }
    )


def _email_round(
    agencies: dict[str, MarketAgency],
    skills: list[str],
    package: CarePackage,
    reach: list[str],
    rng: random.Random,
    params: SimulationParams,
) -> tuple[str, list[Assignment], int] | None:
    """The first agency (in reply order) that says yes, with its new roster."""
    order = list(reach)
    rng.shuffle(order)
    for agency_id in order:
        reply = email_reply(agencies[agency_id], skills, package, scan=params.scan)
        if reply.accepted and reply.roster is not None:
            return agency_id, reply.roster, 0
    return None


def _carematch(
    agencies: dict[str, MarketAgency],
    skills: list[str],
    package: CarePackage,
    reach: list[str],
    params: SimulationParams,
    pool: Executor | None,
) -> tuple[str, list[Assignment], int] | None:
    """The best-ranked feasible offer among the agencies in reach, with its roster and
    the number of existing visits it moves."""
    if not reach:
        return None
    match_params = MatchParams(
        time_limit_s=params.time_limit_s,
        allow_moves_min=params.allow_moves_min,
        processes=1,
        suggest=False,
        deterministic=params.deterministic,
    )
    entries = [agencies[a] for a in reach]
    results: list[AgencyResult]
    if pool is None or len(entries) == 1:
        results = [evaluate_agency(e, skills, package, match_params) for e in entries]
    else:
        futures = [pool.submit(evaluate_agency, e, skills, package, match_params) for e in entries]
        results = [f.result() for f in futures]
    ranked = score_offers([r.offer for r in results])
    best = ranked[0] if ranked and ranked[0].feasible else None
    if best is None:
        return None
    roster = next(r.roster for r in results if r.offer.agency_id == best.agency_id)
    if roster is None:
        return None
    return best.agency_id, roster, len(best.disruption)
