"""Brokers' packages: submit (stored first, matched in the background), read the
offers, accept one, withdraw."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StrictInt, ValidationInfo, field_validator
from sqlalchemy import select, update

from api import agencies, events, jobs, models
from api.db import transaction
from api.deps import Broker, FactoryDep, SettingsDep
from api.idempotency import IdempotencyKey, idempotent
from api.problems import PROBLEM_RESPONSES, RATE_LIMITED_RESPONSE, Problem, require_known
from api.ratelimit import SubmittingBroker
from api.security import Principal, Role, new_id
from matcher.brokerage.changes import Change
from matcher.brokerage.offer import Offer, SplitOffer
from matcher.brokerage.split import sub_package
from matcher.market import MarketAgency, package_clash
from matcher.schema import CarePackage

router = APIRouter(prefix="/v1/packages", tags=["packages"], responses=PROBLEM_RESPONSES)

Status = Literal["queued", "matching", "offered", "no_offer", "accepted", "withdrawn", "failed"]
OPEN = ("queued", "matching")


class PackageOut(BaseModel):
    """A broker's package: its status and, once matched, the ranked offers, reasons and
    suggestions and split offers with the keys of `carematch match --json`."""

    id: str = Field(description="The service's id for this submission (unguessable).")
    status: Status
    package_id: str = Field(description="The package's own id, as submitted.")
    package: CarePackage
    offers: list[Offer] | None = None
    suggestions: list[str] | None = None
    changes: list[Change] | None = Field(
        default=None, description="Single changes that make it fit, when nothing does."
    )
    splits: list[SplitOffer] | None = Field(
        default=None,
        description="Splits between two agencies when none takes it whole; accept one "
        'with `{"split": <rank>}`.',
    )
    elapsed_s: float | None = Field(default=None, description="Matching time, seconds.")
    accepted_agency_id: str | None = Field(
        default=None,
        description="The agency that won the package; for a split, the agency of its "
        "first part (`accepted_agency_ids` names both).",
    )
    accepted_agency_ids: list[str] | None = Field(
        default=None,
        description="Every agency that holds the package once accepted: one, or the two "
        "of the split accepted, in the order of its parts; null until accepted.",
    )
    accepted_split: int | None = Field(
        default=None,
        description="The rank of the split offer accepted (in `splits`); null when a "
        "whole offer was accepted or nothing yet.",
    )
    error: str | None = None
    created_at: datetime
    updated_at: datetime


class PackageList(BaseModel):
    packages: list[PackageOut]


def _one_of_the_two(schema: dict[str, Any]) -> None:
    """The accept body's schema as it is used: exactly one of the two keys, neither of
    them null (pydantic would show each as "this or null")."""
    for prop in schema["properties"].values():
        options = prop.pop("anyOf", None) or []
        prop.update(next((o for o in options if o.get("type") != "null"), {}))
        prop.pop("default", None)
    schema["oneOf"] = [{"required": ["agency_id"]}, {"required": ["split"]}]
    schema["examples"] = [{"agency_id": "isl-agency"}, {"split": 1}]


class AcceptIn(BaseModel):
    """What the broker accepts: exactly one of `agency_id` (that agency's offer of the
    whole package) or `split` (the rank of a split offer: each of its two agencies takes
    its part)."""

    model_config = {"extra": "forbid", "json_schema_extra": _one_of_the_two}
    # `split` comes first so that the check of `agency_id` sees it (fields are validated
    # in order): the error of a body with neither or both names `agency_id`, the field
    # every accept body had before split offers could be accepted.
    # Null is taken as left out; the schema shows only the values that mean something.
    split: StrictInt | None = Field(
        default=None,
        ge=1,
        le=100,
        description="The `rank` of one of the package's `splits`, instead of `agency_id`.",
    )
    agency_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        validate_default=True,
        description="The agency whose offer of the whole package is accepted.",
    )

    @field_validator("agency_id")
    @classmethod
    def _exactly_one(cls, agency_id: str | None, info: ValidationInfo) -> str | None:
        if "split" not in info.data:  # `split` itself was refused, and says why
            return agency_id
        split = info.data["split"]
        if agency_id is None and split is None:
            raise ValueError("give agency_id (an offer) or split (a split offer's rank)")
        if agency_id is not None and split is not None:
            raise ValueError("give agency_id or split, not both")
        return agency_id


def package_out(row: models.Package) -> dict[str, Any]:
    result = row.result or {}
    return PackageOut(
        id=row.id,
        status=row.status,
        package_id=row.reference,
        package=CarePackage.model_validate(row.document),
        offers=result.get("offers"),
        suggestions=result.get("suggestions"),
        # Results stored before single changes or split offers existed have none.
        changes=result.get("changes", []) if row.result is not None else None,
        splits=result.get("splits", []) if row.result is not None else None,
        elapsed_s=result.get("elapsed_s"),
        accepted_agency_id=row.accepted_agency_id,
        accepted_agency_ids=accepted_agencies(row),
        accepted_split=row.accepted_split,
        error=row.error,
        created_at=models.as_utc(row.created_at),
        updated_at=models.as_utc(row.updated_at),
    ).model_dump(mode="json")


def accepted_agencies(row: models.Package) -> list[str] | None:
    """The agencies holding the accepted package: the winner, or the accepted split's
    two (named by its stored offer, which an accepted package keeps)."""
    if row.status != "accepted" or row.accepted_agency_id is None:
        return None
    if row.accepted_split is None:
        return [row.accepted_agency_id]
    split = _split(row, row.accepted_split)
    return list(split["agency_ids"]) if split else [row.accepted_agency_id]


def _split(row: models.Package, rank: int) -> dict[str, Any] | None:
    """The split offer of this rank in the package's stored result, if it has one."""
    splits = (row.result or {}).get("splits") or []
    return next((s for s in splits if s["rank"] == rank), None)


def _own(session, package_id: str, principal: Principal, *, lock: bool = False) -> models.Package:
    """The package if this broker may see it (admins see all); 404 otherwise."""
    query = select(models.Package).where(models.Package.id == package_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None or (principal.role != Role.ADMIN and row.broker_key_id != principal.key_id):
        raise Problem(404, f"no package {package_id!r}", kind="not-found")
    return row


def _check_ids(session, package: CarePackage) -> None:
    """409 if the package's ids clash with a package an agency already holds: accepted,
    they would be ambiguous in that agency's roster."""
    clash = session.scalars(
        select(models.AgencyPackage.agency_id).where(
            (models.AgencyPackage.id == package.id)
            | (models.AgencyPackage.client_id == package.client.id)
        )
    ).first()
    if clash is not None:
        raise Problem(
            409,
            f"package id {package.id!r} or client id {package.client.id!r} is already in use "
            "at an agency; submit it under new ids",
            kind="id-in-use",
        )


@router.post(
    "",
    status_code=202,
    response_model=PackageOut,
    summary="Submit a package for matching",
    responses={
        202: {"description": "Stored and queued; poll `Location`."},
        429: RATE_LIMITED_RESPONSE,
    },
)
def submit_package(
    request: Request,
    package: CarePackage,
    principal: SubmittingBroker,
    factory: FactoryDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Store the package (in the database before any matching starts) and queue its
    matching; answers `202` with the package's `id`, `status`, a `Location` and
    `Retry-After`. The body is the JSON `carematch match` reads."""
    for i, visit in enumerate(package.visits):
        require_known(visit.skills, agencies.SKILLS, f"body.visits[{i}].skills", "skill")
    body = package.model_dump(mode="json", exclude_none=True)

    def create(session) -> tuple[int, dict[str, Any], dict[str, str]]:
        _check_ids(session, package)
        row = models.Package(
            id=new_id("pkg"),
            broker_key_id=principal.key_id,
            reference=package.id,
            document=body,
            status="queued",
        )
        session.add(row)
        session.flush()
        jobs.enqueue(session, kind=jobs.MATCH, package_id=row.id)
        session.flush()
        headers = {
            "Location": f"/v1/packages/{row.id}",
            "Retry-After": str(settings.retry_after_s),
        }
        return 202, package_out(row), headers

    return idempotent(factory, principal, idempotency_key, request, body, create)


@router.get("", response_model=PackageList, summary="The broker's packages")
def list_packages(
    principal: Broker,
    factory: FactoryDep,
    status: Status | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    with factory() as session:
        query = select(models.Package).order_by(models.Package.created_at.desc()).limit(limit)
        if principal.role != Role.ADMIN:
            query = query.where(models.Package.broker_key_id == principal.key_id)
        if status:
            query = query.where(models.Package.status == status)
        return {"packages": [package_out(r) for r in session.scalars(query)]}


@router.get("/{package_id}", response_model=PackageOut, summary="A package, its offers")
def get_package(
    package_id: str, principal: Broker, factory: FactoryDep, settings: SettingsDep
) -> Response:
    with factory() as session:
        row = _own(session, package_id, principal)
        content = package_out(row)
    headers = {"Retry-After": str(settings.retry_after_s)} if row.status in OPEN else {}
    return JSONResponse(content, headers=headers)


@dataclass(frozen=True)
class Share:
    """What one agency takes on when a package is accepted: the package document it
    holds (the whole package, or a split's part as a sub-package) and the offer placed
    (its assignments, cost and carers, as stored with the match result)."""

    agency_id: str
    document: dict[str, Any]
    offer: dict[str, Any]
    visit_ids: list[str] | None = None  # a split's part: the visits it takes


def _whole(row: models.Package, agency_id: str) -> tuple[list[Share], list[str]]:
    """The agency's offer of the whole package, and the agencies that offered (told
    the outcome); 409 unless the package is offered and that agency offered."""
    if row.status != "offered":
        raise Problem(409, f"package {row.id!r} is {row.status}, not offered", kind="not-offered")
    offers = {o["agency_id"]: o for o in (row.result or {}).get("offers", [])}
    offer = offers.get(agency_id)
    if offer is None or not offer["feasible"]:
        raise Problem(
            409, f"agency {agency_id!r} made no offer for {row.id!r}", kind="no-such-offer"
        )
    told = sorted(o["agency_id"] for o in offers.values() if o["feasible"])
    return [Share(agency_id, row.document, offer)], told


def _split_shares(
    row: models.Package, package: CarePackage, rank: int
) -> tuple[list[Share], list[str]]:
    """The two parts of the split of this rank, each as the sub-package its agency
    evaluated (`split.sub_package`: same package, client and visit ids, only its
    visits, no cap), and the agencies told the outcome: those of every split offered
    (and of any feasible offer); 409 unless the stored result has that split."""
    if row.status not in ("offered", "no_offer"):
        raise Problem(409, f"package {row.id!r} is {row.status}, not offered", kind="not-offered")
    split = _split(row, rank)
    if split is None:
        raise Problem(
            409, f"package {row.id!r} has no split offer of rank {rank}", kind="no-such-offer"
        )
    shares = [
        Share(
            part["agency_id"],
            sub_package(package, frozenset(part["visit_ids"])).model_dump(
                mode="json", exclude_none=True
            ),
            part["offer"],
            part["visit_ids"],
        )
        for part in split["parts"]
    ]
    result = row.result or {}
    told = {o["agency_id"] for o in result.get("offers", []) if o["feasible"]}
    told |= {a for s in result.get("splits", []) for a in s["agency_ids"]}
    return shares, sorted(told)


def _grown(session, share: Share) -> tuple[agencies.Loaded, MarketAgency]:
    """The share's agency as loaded now, and with the share added (validated as a
    whole; `agencies.save` then runs the checker and compares the version)."""
    loaded = agencies.load(session, share.agency_id)
    if clash := package_clash(loaded.entry, CarePackage.model_validate(share.document)):
        raise Problem(409, clash, kind="id-in-use")
    grown = agencies.compose(
        loaded.entry,
        packages=[*(p.model_dump(mode="json") for p in loaded.entry.packages), share.document],
        roster=[
            *(a.model_dump(mode="json") for a in loaded.entry.roster),
            *share.offer["assignments"],
        ],
    )
    return loaded, grown


@router.post(
    "/{package_id}/accept",
    response_model=PackageOut,
    summary="Accept an agency's offer, or a split offer",
    responses={409: PROBLEM_RESPONSES[409]},
)
def accept_offer(
    package_id: str,
    choice: AcceptIn,
    principal: Broker,
    factory: FactoryDep,
) -> dict[str, Any]:
    """Place the package in the agency's roster as offered (`{"agency_id"}`), or each
    part of a split offer in its agency's roster (`{"split": <rank>}`; the package is
    `no_offer` then), re-checked by the checker against each roster as it is *now*. A
    split is placed in one transaction: both parts or neither. If a roster changed since
    the offer and its part no longer fits (or it changed at this very moment), answer
    `409` and match the package again; never a double booking."""
    rematch = False
    try:
        with transaction(factory) as session:
            row = _own(session, package_id, principal, lock=True)
            package = CarePackage.model_validate(row.document)
            if choice.split is not None:
                shares, told = _split_shares(row, package, choice.split)
            else:
                assert choice.agency_id is not None  # AcceptIn: exactly one of the two
                shares, told = _whole(row, choice.agency_id)
            winners = [s.agency_id for s in shares]
            # Lock every agency this accept will write to (the winners' rosters, each
            # told agency's event counter) in id order before touching any: two
            # accepts at once then queue up instead of deadlocking on each other's rows.
            agencies.lock(session, sorted({*told, *winners}))
            for share in shares:
                loaded, grown = _grown(session, share)
                try:
                    agencies.save(session, loaded, grown, broker_package_id=row.id)
                except Problem as exc:
                    if exc.status == 409:
                        rematch = True
                        what = (
                            f"the part of split {choice.split} at {share.agency_id!r}"
                            if choice.split is not None
                            else f"the offer of {share.agency_id!r}"
                        )
                        exc.detail = (
                            f"{what} no longer fits its roster as it is now ({exc.detail}); "
                            "the package is being matched again"
                        )
                    raise
            row.status, row.accepted_agency_id = "accepted", winners[0]
            row.accepted_split = choice.split
            row.updated_at = models.utcnow()
            summary = {
                "package_id": row.id,
                "reference": row.reference,
                "client_id": package.client.id,
                "client_name": package.client.name,
            }
            won = {s.agency_id: s for s in shares}
            for agency_id in sorted({*told, *winners}):
                share = won.get(agency_id)
                if share is None:
                    events.emit(session, agency_id, events.OFFER_NOT_TAKEN, summary)
                    continue
                data = {
                    **summary,
                    "annual_cost_pence": share.offer["annual_cost_pence"],
                    "carers": share.offer["carers"],
                    "assignments": share.offer["assignments"],
                    "split": choice.split is not None,
                }
                if share.visit_ids is not None:
                    data |= {
                        "split_rank": choice.split,
                        "split_agency_ids": winners,
                        "visit_ids": share.visit_ids,
                    }
                events.emit(session, agency_id, events.PACKAGE_WON, data)
            return package_out(row)
    except Problem:
        if rematch:
            _rematch(factory, package_id)
        raise


def _rematch(factory, package_id: str) -> None:
    """Match the package again, if it is still offered (or, a split refused, still
    `no_offer`): nobody accepted or withdrew it meanwhile."""
    with transaction(factory) as session:
        moved = session.execute(
            update(models.Package)
            .where(
                models.Package.id == package_id,
                models.Package.status.in_(("offered", "no_offer")),
            )
            .values(status="queued", result=None, updated_at=models.utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved:
            jobs.enqueue(session, kind=jobs.MATCH, package_id=package_id)


@router.post("/{package_id}/withdraw", response_model=PackageOut, summary="Withdraw a package")
def withdraw_package(
    package_id: str,
    principal: Broker,
    factory: FactoryDep,
) -> dict[str, Any]:
    """Withdraw a package not yet accepted (matching in progress is stopped)."""
    with transaction(factory) as session:
        row = _own(session, package_id, principal, lock=True)
        if row.status in ("accepted", "withdrawn"):
            raise Problem(409, f"package {package_id!r} is already {row.status}", kind="final")
        row.status = "withdrawn"
        row.updated_at = models.utcnow()
        return package_out(row)
