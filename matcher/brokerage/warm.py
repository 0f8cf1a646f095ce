"""Agencies prepared once for many broker requests ("warm"), and the pool worker that
keeps them.

Matching a package at an agency inserts it into the agency's committed week. Before
this module, every request rebuilt that week from scratch at every agency: the
instance (shifts, visits, who may do what), the travel matrix, the committed roster's
routes and minutes, its worker days and assignments; and each task pickled the whole
agency to a worker process and back. None of that depends on the package. A
`WarmAgency` holds it, built once, and adds only the package: one new home in the
travel matrix, the package's visits, a copy of the committed routes
(`RosterState.onto`), and the unchanged worker days reused in the new roster
(`KnownRoster`). The offer is the same, field for field (tests/test_warm.py).

A warm agency is keyed by a content fingerprint of the agency (and the market's
skills): a changed agency is a different key, so it can never be served from another
version's state, whatever its id.

Worker processes: a `Matcher`'s pool starts each worker with `start_pool_worker`,
which creates the one process-local object of `matcher/` (`POOL_WORKER_AGENCIES`,
docs/architecture.md) holding that market's agencies by fingerprint, prepared on
first use and bounded in number. A task then carries the fingerprint, the package and
the parameters, not the agency; an agency the worker does not know (the Matcher's
market was replaced, or it was dropped from the bound) comes back as `NotWarm` and
the Matcher sends it again with the agency (`WarmTask.entry`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from matcher.construct import Placement
from matcher.control import RunControl
from matcher.insertion import RosterState
from matcher.instance import Instance, build_instance, extend_instance
from matcher.market import MarketAgency
from matcher.schema import CarePackage, Problem
from matcher.solver.insert import InsertionStart
from matcher.solver.placements import placements_of
from matcher.solver.solve import KnownRoster, roster_state
from matcher.travel import TravelModel, travel_model_for

if TYPE_CHECKING:  # matching imports this module; these are for the types only
    from matcher.matching import AgencyResult, MatchParams

# Prepared agencies a store keeps at least (a `Matcher` asks for its market's size if
# larger): one is about 5 MB (an agency of 30 workers and 700 committed visits: its
# roster's worker days and assignments, mostly) and takes about 60 ms to prepare.
MIN_CAPACITY = 64


def fingerprint(entry: MarketAgency, skills: list[str]) -> str:
    """A digest of everything about the agency a match reads (its whole JSON) and of
    the market's skills: equal exactly when the content is."""
    digest = hashlib.sha256(entry.model_dump_json().encode())
    digest.update(json.dumps(skills).encode())
    return digest.hexdigest()


def base_problem(entry: MarketAgency, skills: list[str]) -> Problem:
    """The agency's week as a problem, as `matching._problem` builds it with a package."""
    return entry.trusted_problem(entry.packages, skills)


@dataclass(frozen=True)
class WarmAgency:
    """One agency's committed week, prepared for inserting packages into it.

    Nothing here is modified after `prepare`: each request extends a copy
    (`start`), so threads may share a warm agency.
    """

    entry: MarketAgency
    skills: list[str]
    fingerprint: str
    instance: Instance  # the agency's own week, no new package
    fixed: list[Placement]  # its committed roster on that instance
    state: RosterState  # the committed routes (copied per request, never changed)
    known: KnownRoster  # the committed roster's worker days and assignments
    committed_travel_min: int  # as `matching.committed_travel` (tests/test_warm.py)
    # The checker's own travel model of the agency's places: computed apart from the
    # instance's (the solver's), so the checker never reads the solver's figures.
    checker_travel: TravelModel

    @classmethod
    def prepare(cls, entry: MarketAgency, skills: list[str], key: str | None = None) -> WarmAgency:
        """Build everything about the agency that no package changes."""
        instance = build_instance(base_problem(entry, skills))
        fixed = placements_of(instance, entry.roster)
        state = roster_state(instance, fixed)
        known = KnownRoster.of(instance, state, fixed)
        checker_travel = travel_model_for(instance.problem)
        checker_travel.kilometres()  # computed now, once
        return cls(
            entry=entry,
            skills=list(skills),
            fingerprint=key or fingerprint(entry, skills),
            instance=instance,
            fixed=fixed,
            state=state,
            known=known,
            committed_travel_min=sum(day.travel_minutes for day in known.days.values()),
            checker_travel=checker_travel,
        )

    def start(self, problem: Problem, package: CarePackage) -> InsertionStart:
        """What `insert_packages` needs for `problem` (this agency's week with
        `package` added, as `matching._problem` makes it), ready in a millisecond."""
        travel = self.instance.travel_model.with_places(
            {package.client.id: package.client.location}
        )
        instance = extend_instance(self.instance, problem, travel)
        return InsertionStart(instance, list(self.fixed), self.state.onto(instance), self.known)

    def travel_for_checker(self, package: CarePackage) -> TravelModel:
        """The checker's travel model of this agency's week with `package` added (it
        `fits` that problem; the checker makes sure)."""
        return self.checker_travel.with_places({package.client.id: package.client.location})


@dataclass
class WarmAgencies:
    """Warm agencies by fingerprint, at most `capacity` (the least recently used is
    dropped first), each prepared when first asked for. Safe to share between
    threads (a `Matcher` evaluating in its own process keeps one)."""

    capacity: int = MIN_CAPACITY
    _agencies: OrderedDict[str, WarmAgency | MarketAgency] = field(
        default_factory=OrderedDict, repr=False
    )
    _skills: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("capacity must be >= 1")

    def add(self, key: str, entry: MarketAgency, skills: list[str]) -> None:
        """Know the agency by `key` (its fingerprint), to prepare when first used."""
        with self._lock:
            if key not in self._agencies:
                self._agencies[key] = entry
                self._skills[key] = list(skills)
            self._agencies.move_to_end(key)
            self._trim()

    def get(self, key: str) -> WarmAgency | None:
        """The prepared agency of this fingerprint; None if it is not known here."""
        with self._lock:
            held = self._agencies.get(key)
            if held is None:
                return None
            self._agencies.move_to_end(key)
            if isinstance(held, WarmAgency):
                return held
            skills = self._skills[key]
        # Prepared outside the lock (tens of milliseconds); two threads may both
        # prepare the same agency once, and either result is the same.
        warm = WarmAgency.prepare(held, skills, key)
        with self._lock:
            if key in self._agencies:
                self._agencies[key] = warm
        return warm

    def __len__(self) -> int:
        return len(self._agencies)

    def __contains__(self, key: object) -> bool:
        return key in self._agencies

    def _trim(self) -> None:
        while len(self._agencies) > self.capacity:
            dropped, _ = self._agencies.popitem(last=False)
            del self._skills[dropped]


# The one process-local object of `matcher/` (docs/architecture.md): in a worker
# process of a `Matcher`'s pool, its market's agencies by fingerprint, created by the
# pool's initializer (`start_pool_worker`); None in every other process. The pool
# belongs to one Matcher and its successors (`Matcher.with_market`: versions of one
# market), so that market's agencies (and those tasks bring) live here, the least
# recently used dropped first.
POOL_WORKER_AGENCIES: WarmAgencies | None = None


def start_pool_worker(agencies: list[tuple[str, MarketAgency]], skills: list[str]) -> None:
    """A pool worker's initializer: the market's agencies, prepared now (about 60 ms
    each), so that every match the worker serves finds them warm; the workers start
    at the Matcher's first match, which waits for this."""
    global POOL_WORKER_AGENCIES
    store = WarmAgencies(capacity=max(MIN_CAPACITY, len(agencies)))
    for key, entry in agencies:
        store.add(key, entry, skills)
    for key, _ in agencies[-store.capacity :]:
        store.get(key)
    POOL_WORKER_AGENCIES = store


class NotWarm(LookupError):
    """The worker does not know the task's agency: send it again with the agency."""


@dataclass(frozen=True)
class WarmTask:
    """One agency's evaluation in a pool worker, naming the agency by fingerprint;
    `entry` travels only when the worker may not know it (after `NotWarm`)."""

    fingerprint: str
    package: CarePackage
    params: MatchParams
    search: bool
    deadline: float | None = None
    committed_travel_min: int | None = None
    entry: MarketAgency | None = None
    skills: list[str] | None = None

    def __call__(self) -> AgencyResult:
        """The agency's `AgencyResult`, without the whole roster (the Matcher ranks
        offers; only `accept` needs a roster, and it evaluates in its own process)."""
        from matcher.matching import evaluate_agency

        store = POOL_WORKER_AGENCIES
        if store is None:
            raise RuntimeError("WarmTask runs in a worker started by start_pool_worker")
        if self.entry is not None and self.skills is not None:
            store.add(self.fingerprint, self.entry, self.skills)
        warm = store.get(self.fingerprint)
        if warm is None:
            raise NotWarm(self.fingerprint)
        result = evaluate_agency(
            warm.entry,
            warm.skills,
            self.package,
            self.params,
            search=self.search,
            control=RunControl(deadline=self.deadline),
            committed_travel_min=self.committed_travel_min,
            warm=warm,
        )
        return replace(result, roster=None)
