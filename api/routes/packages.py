"""Brokers' packages: submit (stored first, matched in the background), read the
offers, accept one, withdraw."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
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
from matcher.market import package_clash
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
        description="Splits between two agencies when none takes it whole; accepting "
        "a split through the service is not supported yet.",
    )
    elapsed_s: float | None = Field(default=None, description="Matching time, seconds.")
    accepted_agency_id: str | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime


class PackageList(BaseModel):
    packages: list[PackageOut]


class AcceptIn(BaseModel):
    model_config = {"extra": "forbid"}
    agency_id: str = Field(min_length=1, max_length=100)


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
        error=row.error,
        created_at=models.as_utc(row.created_at),
        updated_at=models.as_utc(row.updated_at),
    ).model_dump(mode="json")


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


@router.post(
    "/{package_id}/accept",
    response_model=PackageOut,
    summary="Accept an agency's offer",
    responses={409: PROBLEM_RESPONSES[409]},
)
def accept_offer(
    package_id: str,
    choice: AcceptIn,
    principal: Broker,
    factory: FactoryDep,
) -> dict[str, Any]:
    """Place the package in the agency's roster as offered, re-checked by the checker
    against the roster as it is *now*. If the roster changed since the offer and the
    package no longer fits (or it changed at this very moment), answer `409` and match
    the package again; never a double booking."""
    rematch = False
    try:
        with transaction(factory) as session:
            row = _own(session, package_id, principal, lock=True)
            if row.status != "offered":
                raise Problem(
                    409, f"package {package_id!r} is {row.status}, not offered", kind="not-offered"
                )
            offers = {o["agency_id"]: o for o in (row.result or {}).get("offers", [])}
            offer = offers.get(choice.agency_id)
            if offer is None or not offer["feasible"]:
                raise Problem(
                    409,
                    f"agency {choice.agency_id!r} made no offer for {package_id!r}",
                    kind="no-such-offer",
                )
            package = CarePackage.model_validate(row.document)
            told = sorted(o["agency_id"] for o in offers.values() if o["feasible"])
            # Lock every agency this accept will write to (the winner's roster, each
            # offering agency's event counter) in id order before touching any: two
            # accepts at once then queue up instead of deadlocking on each other's rows.
            agencies.lock(session, told)
            loaded = agencies.load(session, choice.agency_id)
            if clash := package_clash(loaded.entry, package):
                raise Problem(409, clash, kind="id-in-use")
            grown = agencies.compose(
                loaded.entry,
                packages=[
                    *(p.model_dump(mode="json") for p in loaded.entry.packages),
                    row.document,
                ],
                roster=[
                    *(a.model_dump(mode="json") for a in loaded.entry.roster),
                    *offer["assignments"],
                ],
            )
            try:
                agencies.save(session, loaded, grown, broker_package_id=row.id)
            except Problem as exc:
                if exc.status == 409:
                    rematch = True
                    exc.detail = (
                        f"the offer of {choice.agency_id!r} no longer fits its roster as it is "
                        f"now ({exc.detail}); the package is being matched again"
                    )
                raise
            row.status, row.accepted_agency_id = "accepted", choice.agency_id
            row.updated_at = models.utcnow()
            summary = {
                "package_id": row.id,
                "reference": row.reference,
                "client_id": package.client.id,
                "client_name": package.client.name,
            }
            for agency_id in told:
                if agency_id == choice.agency_id:
                    events.emit(
                        session,
                        agency_id,
                        events.PACKAGE_WON,
                        {
                            **summary,
                            "annual_cost_pence": offer["annual_cost_pence"],
                            "carers": offer["carers"],
                            "assignments": offer["assignments"],
                        },
                    )
                else:
                    events.emit(session, agency_id, events.OFFER_NOT_TAKEN, summary)
            return package_out(row)
    except Problem:
        if rematch:
            _rematch(factory, package_id)
        raise


def _rematch(factory, package_id: str) -> None:
    with transaction(factory) as session:
        moved = session.execute(
            update(models.Package)
            .where(models.Package.id == package_id, models.Package.status == "offered")
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
