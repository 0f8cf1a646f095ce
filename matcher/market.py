"""The market a broker matches against: several agencies, each with its live roster.

A `MarketAgency` is one agency's `Problem` (agency, workers, current packages) plus the
roster it has committed to (`roster`: who visits whom, when, as `Assignment`s), and
what the council says about it (`contract`, `quality`); the `Market` also carries the
council's `ranking_policy` (`matcher.brokerage.policy`). The broker's new package is a
plain `CarePackage`. Validation happens here, at the JSON
boundary, so matching and slots can trust what they get: agency ids are unique, and
every committed assignment names a known visit and known workers. Whether the roster
also keeps every hard rule is the checker's business (`validate_rosters`), not the
schema's: it needs travel times, which are too slow to compute on every load.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from pydantic import Field, model_validator

from matcher import limits
from matcher.brokerage.policy import ContractType, QualityRating, RankingPolicy
from matcher.schema import (
    DEFAULT_SKILLS,
    Agency,
    AreaType,
    Assignment,
    CarePackage,
    Id,
    Problem,
    Skills,
    Strict,
    TravelSettings,
    Weights,
    Worker,
    check_week_size,
    expand_visits,
)


class MarketAgency(Strict):
    """One agency of the market, as it stands this week."""

    agency: Agency
    area_type: AreaType = AreaType.URBAN
    # The council's view of the agency, for its ranking policy (docs/matching.md, "The
    # council's ranking policy"). Here, not on `Agency`: neither changes a roster, so
    # the scheduling `Problem` (which carries `Agency`) has no use for them.
    contract: ContractType | None = Field(
        default=None,
        description="How the council buys from it: block, framework or spot; absent: not "
        "stated (after spot when the policy orders by contract).",
    )
    quality: QualityRating | None = Field(
        default=None, description="Its CQC rating and/or quality points 0-100; absent: unrated."
    )
    workers: list[Worker] = Field(min_length=1, max_length=limits.MAX_WORKERS)
    packages: list[CarePackage] = Field(
        default_factory=list,
        max_length=limits.MAX_PACKAGES,
        description=f"At most {limits.MAX_PROBLEM_VISITS:,} visits a week in all.",
    )
    roster: list[Assignment] = Field(
        default_factory=list,
        max_length=limits.MAX_ROSTER_ASSIGNMENTS,
        description="The committed week: existing visits and who does them.",
    )
    weights: Weights = Field(default_factory=Weights)
    travel: TravelSettings = Field(default_factory=TravelSettings)

    @model_validator(mode="after")
    def _roster_resolves(self) -> Self:
        check_week_size(self.packages, "an agency")
        visits = {v.id for p in self.packages for v in expand_visits(p)}
        workers = {w.id for w in self.workers}
        seen: set[str] = set()
        for i, a in enumerate(self.roster):
            if a.visit_id not in visits:
                raise ValueError(f"roster[{i}]: unknown visit {a.visit_id!r}")
            if a.visit_id in seen:
                raise ValueError(f"roster[{i}]: visit {a.visit_id!r} is assigned twice")
            seen.add(a.visit_id)
            for worker in a.workers:
                if worker not in workers:
                    raise ValueError(f"roster[{i}]: unknown worker {worker!r}")
        return self

    @property
    def id(self) -> str:
        return self.agency.id

    def problem(
        self, extra: Iterable[CarePackage] = (), *, skills: list[str] | None = None
    ) -> Problem:
        """This agency's week as a `Problem`, with `extra` packages added (validated)."""
        return Problem(
            id=self.agency.id,
            area_type=self.area_type,
            agency=self.agency,
            workers=self.workers,
            packages=[*self.packages, *extra],
            skills=skills if skills is not None else list(DEFAULT_SKILLS),
            weights=self.weights,
            travel=self.travel,
        )

    def trusted_problem(self, packages: Iterable[CarePackage], skills: list[str]) -> Problem:
        """This agency's workers with these `packages`, without validating again what
        was validated at load (the market and each package passed their schema, and
        the caller has made sure ids do not clash): broker matching builds several of
        these per agency per request."""
        return Problem.model_construct(
            id=self.agency.id,
            area_type=self.area_type,
            agency=self.agency,
            workers=self.workers,
            packages=list(packages),
            skills=skills,
            weights=self.weights,
            travel=self.travel,
            travel_matrix=None,
        )


class Market(Strict):
    """Every agency a broker can place a package with."""

    id: Id = "market"
    skills: Skills = Field(default_factory=lambda: list(DEFAULT_SKILLS))
    agencies: list[MarketAgency] = Field(min_length=1, max_length=limits.MAX_AGENCIES)
    ranking_policy: RankingPolicy = Field(
        default_factory=RankingPolicy,
        description="How the council ranks feasible offers; the default is the care score.",
    )

    @model_validator(mode="after")
    def _unique_agencies(self) -> Self:
        seen: set[str] = set()
        known = set(self.skills)
        for i, entry in enumerate(self.agencies):
            if entry.id in seen:
                raise ValueError(f"agencies[{i}]: agency id {entry.id!r} repeats")
            seen.add(entry.id)
            for j, worker in enumerate(entry.workers):
                unknown = sorted(set(worker.skills) - known)
                if unknown:
                    raise ValueError(f"agencies[{i}].workers[{j}]: unknown skill {unknown[0]!r}")
        return self

    def agency(self, agency_id: str) -> MarketAgency:
        """The agency with this id; KeyError naming the known ids otherwise."""
        for entry in self.agencies:
            if entry.id == agency_id:
                return entry
        known = ", ".join(a.id for a in self.agencies)
        raise KeyError(f"no agency {agency_id!r} in the market (known: {known})")

    def problem_of(self, agency_id: str, extra: Iterable[CarePackage] = ()) -> Problem:
        return self.agency(agency_id).problem(extra, skills=self.skills)


def package_clash(entry: MarketAgency, package: CarePackage) -> str | None:
    """Why the package cannot be added to this agency's problem as given, if it cannot."""
    if any(p.id == package.id for p in entry.packages):
        return f"package id {package.id!r} is already a package of agency {entry.id!r}"
    taken = {p.client.id for p in entry.packages} | {w.id for w in entry.workers}
    if package.client.id in taken:
        return f"client id {package.client.id!r} is already used at agency {entry.id!r}"
    visits = {v.id for p in entry.packages for v in expand_visits(p)}
    clash = next((v.id for v in expand_visits(package) if v.id in visits), None)
    if clash is not None:
        return f"visit id {clash!r} is already used at agency {entry.id!r}"
    return None
