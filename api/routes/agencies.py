"""Agencies and what they keep here: workers, clients, packages, the committed roster,
slots, events and the webhook.

Every change goes through `api.agencies.save`: the agency's data with the change is
validated as a whole and checked by the independent checker, and written only if
the roster still keeps every hard rule (409 with the violations otherwise) and nobody
changed the agency meanwhile. An admin creates and deletes agencies; an agency key
reads and writes only its own (another agency's resources answer 404).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api import agencies, events, models
from api.db import transaction
from api.deps import Admin, AgencyOrAdmin, AgencyScope, FactoryDep
from api.idempotency import IdempotencyKey, idempotent
from api.problems import PROBLEM_RESPONSES, Problem, invalid, require_known
from api.security import Role
from api.webhooks import new_secret
from matcher.brokerage.policy import ContractType, QualityRating
from matcher.kpis import compute_kpis
from matcher.market import MarketAgency
from matcher.schema import (
    Agency,
    AreaType,
    Assignment,
    CarePackage,
    Client,
    Kpis,
    TravelSettings,
    Unassigned,
    Weights,
    Worker,
)
from matcher.slots import Slot, SlotRequest, find_slots

router = APIRouter(prefix="/v1/agencies", tags=["agencies"], responses=PROBLEM_RESPONSES)


class AgencyOut(BaseModel):
    id: str
    name: str
    version: int = Field(description="Counts every change to the agency's data.")
    agency: Agency
    area_type: AreaType
    weights: Weights
    travel: TravelSettings
    contract: ContractType | None = Field(
        description="How the council buys from it (block, framework, spot); null: not stated."
    )
    quality: QualityRating | None = Field(description="Its quality rating; null: unrated.")
    workers: int
    packages: int
    committed_visits: int
    webhook_url: str | None = None


class AgencyList(BaseModel):
    agencies: list[AgencyOut]


class AgencyPatch(BaseModel):
    """Fields to change; the agency's id cannot change. `contract` or `quality` given
    as null clears it (not stated, unrated)."""

    model_config = {"extra": "forbid"}
    agency: Agency | None = None
    area_type: AreaType | None = None
    weights: Weights | None = None
    travel: TravelSettings | None = None
    contract: ContractType | None = None
    quality: QualityRating | None = None


# What the council says about an agency, which the agency may not change itself.
COUNCIL_FIELDS = frozenset({"contract", "quality"})


class WebhookIn(BaseModel):
    model_config = {"extra": "forbid"}
    url: str = Field(pattern=r"^https?://\S+$", max_length=2000)


class WebhookOut(BaseModel):
    url: str
    secret: str = Field(description="Verify `Carematch-Signature` with it (HMAC-SHA256).")


class WorkerList(BaseModel):
    workers: list[Worker]


class AgencyPackageList(BaseModel):
    packages: list[CarePackage]


class ClientOut(BaseModel):
    package_id: str
    client: Client


class ClientList(BaseModel):
    clients: list[ClientOut]


class Violation(BaseModel):
    """A hard rule the roster breaks (`matcher.checker.Violation.to_json`)."""

    rule: str
    message: str
    visit_id: str | None = None
    worker_id: str | None = None


class Verdict(BaseModel):
    valid: bool
    violations: list[Violation]


class RosterOut(BaseModel):
    agency_id: str
    version: int
    assignments: list[Assignment]
    unassigned: list[Unassigned] = Field(description="Visits no assignment covers yet.")
    kpis: Kpis
    check: Verdict


class AssignmentIn(Assignment):
    """A committed visit as written: the engine's `Assignment`, no other keys."""

    model_config = ConfigDict(extra="forbid")


class RosterIn(BaseModel):
    model_config = {"extra": "forbid"}
    assignments: list[AssignmentIn]


# ------------------------------------------------------------------ helpers


def agency_out(row: models.Agency, entry: MarketAgency) -> dict[str, Any]:
    return AgencyOut(
        id=row.id,
        name=row.name,
        version=row.version,
        agency=entry.agency,
        area_type=entry.area_type,
        weights=entry.weights,
        travel=entry.travel,
        contract=entry.contract,
        quality=entry.quality,
        workers=len(entry.workers),
        packages=len(entry.packages),
        committed_visits=len(entry.roster),
        webhook_url=row.webhook_url,
    ).model_dump(mode="json")


def _read(factory, agency_id: str) -> agencies.Loaded:
    with factory() as session:
        return agencies.load(session, agency_id)


def _change(
    factory, agency_id: str, changes: Callable[[MarketAgency], dict[str, Any]]
) -> tuple[models.Agency, MarketAgency]:
    """Apply `changes(entry)` (parts to replace, as JSON) to the agency, checked."""
    with transaction(factory) as session:
        loaded = agencies.load(session, agency_id)
        after = agencies.compose(loaded.entry, **changes(loaded.entry))
        agencies.save(session, loaded, after)
        session.refresh(loaded.row)
        return loaded.row, after


def _dump(items: list[BaseModel]) -> list[dict[str, Any]]:
    return [i.model_dump(mode="json") for i in items]


def _find(items: list[Any], key: Callable[[Any], str], wanted: str, what: str) -> int:
    for i, item in enumerate(items):
        if key(item) == wanted:
            return i
    raise Problem(404, f"no {what} {wanted!r}", kind="not-found")


def _url(*segments: str) -> str:
    """A `Location` under /v1/agencies: ids percent-encoded (a header is ASCII)."""
    return "/v1/agencies/" + "/".join(quote(s, safe="") for s in segments)


def _same_id(path_id: str, body_id: str, what: str, field: str = "body.id") -> None:
    if path_id != body_id:
        raise invalid(field, f"{body_id!r} is not the {what} of the path ({path_id!r})")


def _package_skills(package: CarePackage, field: str) -> None:
    """422 naming the visit whose skill the engine does not know (it would fail deep
    inside the checker otherwise)."""
    for i, visit in enumerate(package.visits):
        require_known(visit.skills, agencies.SKILLS, f"{field}.visits[{i}].skills", "skill")


# ------------------------------------------------------------------ agencies


@router.post("", status_code=201, response_model=AgencyOut, summary="Create an agency (admin)")
def create_agency(
    request: Request,
    entry: MarketAgency,
    principal: Admin,
    factory: FactoryDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """An agency with its workers, packages and committed roster (the format of one
    agency of a market file); refused with the checker's violations if the roster
    breaks a hard rule."""

    for i, worker in enumerate(entry.workers):
        require_known(worker.skills, agencies.SKILLS, f"body.workers[{i}].skills", "skill")
    for i, package in enumerate(entry.packages):
        _package_skills(package, f"body.packages[{i}]")

    agencies.whole(entry, status=422)

    def create(session) -> tuple[int, dict[str, Any], dict[str, str]]:
        agencies.create(session, entry)
        row = session.get(models.Agency, entry.id)
        return 201, agency_out(row, entry), {"Location": _url(entry.id)}

    body = entry.model_dump(mode="json")
    return idempotent(factory, principal, idempotency_key, request, body, create)


@router.get("", response_model=AgencyList, summary="Agencies you may see")
def list_agencies(principal: AgencyOrAdmin, factory: FactoryDep) -> dict[str, Any]:
    with factory() as session:
        query = select(models.Agency).order_by(models.Agency.id)
        if principal.role == Role.AGENCY:
            query = query.where(models.Agency.id == principal.agency_id)
        rows = session.scalars(query).all()
        return {"agencies": [agency_out(r, agencies.entry_of(session, r)) for r in rows]}


@router.get("/{agency_id}", response_model=AgencyOut, summary="An agency")
def get_agency(agency_id: str, _: AgencyScope, factory: FactoryDep) -> dict[str, Any]:
    loaded = _read(factory, agency_id)
    return agency_out(loaded.row, loaded.entry)


@router.patch("/{agency_id}", response_model=AgencyOut, summary="Change an agency's profile")
def patch_agency(
    agency_id: str, patch: AgencyPatch, principal: AgencyScope, factory: FactoryDep
) -> dict[str, Any]:
    """`contract` and `quality` are the council's view of the agency and rank its
    offers (docs/matching.md): only an admin may set them, not the agency itself."""
    council_only = sorted(patch.model_fields_set & COUNCIL_FIELDS)
    if council_only and principal.role != Role.ADMIN:
        raise Problem(403, f"{council_only[0]} is set by the council: this needs an admin key")
    if patch.agency is not None:
        _same_id(agency_id, patch.agency.id, "agency", "body.agency.id")
    changes = patch.model_dump(mode="json", exclude_unset=True)
    row, entry = _change(factory, agency_id, lambda _: changes)
    return agency_out(row, entry)


@router.delete("/{agency_id}", status_code=204, summary="Delete an agency (admin)")
def delete_agency(agency_id: str, _: Admin, factory: FactoryDep) -> Response:
    with transaction(factory) as session:
        row = agencies.get_row(session, agency_id)
        session.delete(row)
    return Response(status_code=204)


@router.put("/{agency_id}/webhook", response_model=WebhookOut, summary="Register a webhook")
def put_webhook(
    agency_id: str, hook: WebhookIn, _: AgencyScope, factory: FactoryDep
) -> dict[str, Any]:
    """Events are POSTed to `url`, signed; a new secret is made each time."""
    with transaction(factory) as session:
        row = agencies.get_row(session, agency_id)
        row.webhook_url, row.webhook_secret = hook.url, new_secret()
        return {"url": row.webhook_url, "secret": row.webhook_secret}


@router.delete("/{agency_id}/webhook", status_code=204, summary="Remove the webhook")
def delete_webhook(agency_id: str, _: AgencyScope, factory: FactoryDep) -> Response:
    with transaction(factory) as session:
        row = agencies.get_row(session, agency_id)
        row.webhook_url, row.webhook_secret = None, None
    return Response(status_code=204)


def _add(
    request: Request,
    factory,
    principal,
    idempotency_key: str | None,
    agency_id: str,
    part: str,
    item: Worker | CarePackage,
) -> Response:
    """Add a worker or a held package (`part`) to the agency, checked, idempotently:
    201 with its `Location`, 409 if its id is taken or the roster would break."""
    body = item.model_dump(mode="json")

    def create(session) -> tuple[int, dict[str, Any], dict[str, str]]:
        loaded = agencies.load(session, agency_id)
        existing = getattr(loaded.entry, part)
        if any(x.id == item.id for x in existing):
            raise Problem(409, f"{part[:-1]} {item.id!r} already exists", kind="exists")
        grown = agencies.compose(loaded.entry, **{part: [*_dump(existing), body]})
        agencies.save(session, loaded, grown)
        return 201, body, {"Location": _url(agency_id, part, item.id)}

    return idempotent(factory, principal, idempotency_key, request, body, create)


# ------------------------------------------------------------------ workers


@router.get("/{agency_id}/workers", response_model=WorkerList, summary="Workers")
def list_workers(agency_id: str, _: AgencyScope, factory: FactoryDep) -> dict[str, Any]:
    return {"workers": _dump(_read(factory, agency_id).entry.workers)}


@router.post("/{agency_id}/workers", status_code=201, response_model=Worker, summary="Add a worker")
def add_worker(
    request: Request,
    agency_id: str,
    worker: Worker,
    principal: AgencyScope,
    factory: FactoryDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    require_known(worker.skills, agencies.SKILLS, "body.skills", "skill")

    return _add(request, factory, principal, idempotency_key, agency_id, "workers", worker)


@router.get("/{agency_id}/workers/{worker_id}", response_model=Worker, summary="A worker")
def get_worker(
    agency_id: str, worker_id: str, _: AgencyScope, factory: FactoryDep
) -> dict[str, Any]:
    workers = _read(factory, agency_id).entry.workers
    return workers[_find(workers, lambda w: w.id, worker_id, "worker")].model_dump(mode="json")


@router.put("/{agency_id}/workers/{worker_id}", response_model=Worker, summary="Change a worker")
def put_worker(
    agency_id: str, worker_id: str, worker: Worker, _: AgencyScope, factory: FactoryDep
) -> dict[str, Any]:
    """Refused (409, the checker's violations) if the roster would break a rule, for
    example availability that no longer covers a committed visit."""
    _same_id(worker_id, worker.id, "worker")
    require_known(worker.skills, agencies.SKILLS, "body.skills", "skill")

    def changes(entry: MarketAgency) -> dict[str, Any]:
        workers = _dump(entry.workers)
        workers[_find(entry.workers, lambda w: w.id, worker_id, "worker")] = worker.model_dump(
            mode="json"
        )
        return {"workers": workers}

    _change(factory, agency_id, changes)
    return worker.model_dump(mode="json")


@router.delete("/{agency_id}/workers/{worker_id}", status_code=204, summary="Remove a worker")
def delete_worker(agency_id: str, worker_id: str, _: AgencyScope, factory: FactoryDep) -> Response:
    """Refused (409) while the committed roster still gives the worker visits."""

    def changes(entry: MarketAgency) -> dict[str, Any]:
        index = _find(entry.workers, lambda w: w.id, worker_id, "worker")
        return {"workers": [w for i, w in enumerate(_dump(entry.workers)) if i != index]}

    _change(factory, agency_id, changes)
    return Response(status_code=204)


# ------------------------------------------------------------------ packages and clients


@router.get("/{agency_id}/packages", response_model=AgencyPackageList, summary="Packages held")
def list_agency_packages(agency_id: str, _: AgencyScope, factory: FactoryDep) -> dict[str, Any]:
    return {"packages": _dump(_read(factory, agency_id).entry.packages)}


@router.post(
    "/{agency_id}/packages",
    status_code=201,
    response_model=CarePackage,
    summary="Add a package the agency holds",
)
def add_agency_package(
    request: Request,
    agency_id: str,
    package: CarePackage,
    principal: AgencyScope,
    factory: FactoryDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A package taken on outside carematch; its visits join the roster when the roster
    is next written (`PUT .../roster`)."""
    _package_skills(package, "body")

    return _add(request, factory, principal, idempotency_key, agency_id, "packages", package)


@router.get(
    "/{agency_id}/packages/{package_id}", response_model=CarePackage, summary="A package held"
)
def get_agency_package(
    agency_id: str, package_id: str, _: AgencyScope, factory: FactoryDep
) -> dict[str, Any]:
    packages = _read(factory, agency_id).entry.packages
    index = _find(packages, lambda p: p.id, package_id, "package")
    return packages[index].model_dump(mode="json")


@router.put(
    "/{agency_id}/packages/{package_id}", response_model=CarePackage, summary="Change a package"
)
def put_agency_package(
    agency_id: str, package_id: str, package: CarePackage, _: AgencyScope, factory: FactoryDep
) -> dict[str, Any]:
    _same_id(package_id, package.id, "package")
    _package_skills(package, "body")

    def changes(entry: MarketAgency) -> dict[str, Any]:
        packages = _dump(entry.packages)
        index = _find(entry.packages, lambda p: p.id, package_id, "package")
        packages[index] = package.model_dump(mode="json")
        return {"packages": packages}

    _change(factory, agency_id, changes)
    return package.model_dump(mode="json")


@router.delete("/{agency_id}/packages/{package_id}", status_code=204, summary="End a package")
def delete_agency_package(
    agency_id: str, package_id: str, _: AgencyScope, factory: FactoryDep
) -> Response:
    """The package ends: it and its committed visits leave the roster."""

    def changes(entry: MarketAgency) -> dict[str, Any]:
        _find(entry.packages, lambda p: p.id, package_id, "package")
        return {
            "packages": [p for p in _dump(entry.packages) if p["id"] != package_id],
            "roster": [a for a in _dump(entry.roster) if a["package_id"] != package_id],
        }

    _change(factory, agency_id, changes)
    return Response(status_code=204)


@router.get("/{agency_id}/clients", response_model=ClientList, summary="Clients")
def list_clients(agency_id: str, _: AgencyScope, factory: FactoryDep) -> dict[str, Any]:
    packages = _read(factory, agency_id).entry.packages
    return {
        "clients": [
            {"package_id": p.id, "client": p.client.model_dump(mode="json")} for p in packages
        ]
    }


@router.get("/{agency_id}/clients/{client_id}", response_model=ClientOut, summary="A client")
def get_client(
    agency_id: str, client_id: str, _: AgencyScope, factory: FactoryDep
) -> dict[str, Any]:
    packages = _read(factory, agency_id).entry.packages
    package = packages[_find(packages, lambda p: p.client.id, client_id, "client")]
    return {"package_id": package.id, "client": package.client.model_dump(mode="json")}


@router.put("/{agency_id}/clients/{client_id}", response_model=ClientOut, summary="Change a client")
def put_client(
    agency_id: str, client_id: str, client: Client, _: AgencyScope, factory: FactoryDep
) -> dict[str, Any]:
    """Refused (409) if the roster would break a rule, for example an excluded worker
    who still visits, or a strict gender preference the carers do not meet."""
    _same_id(client_id, client.id, "client")
    holder: dict[str, str] = {}

    def changes(entry: MarketAgency) -> dict[str, Any]:
        index = _find(entry.packages, lambda p: p.client.id, client_id, "client")
        packages = _dump(entry.packages)
        packages[index]["client"] = client.model_dump(mode="json")
        holder["package_id"] = packages[index]["id"]
        return {"packages": packages}

    _change(factory, agency_id, changes)
    return {"package_id": holder["package_id"], "client": client.model_dump(mode="json")}


# ------------------------------------------------------------------ roster, slots, events


def roster_out(loaded: agencies.Loaded) -> dict[str, Any]:
    entry = loaded.entry
    roster = agencies.committed_roster(entry)
    kpis = compute_kpis(entry.problem(skills=agencies.SKILLS), roster)
    found = agencies.violations(entry)
    return {
        "agency_id": entry.id,
        "version": loaded.version,
        "assignments": _dump(entry.roster),
        "unassigned": _dump(roster.unassigned),
        "kpis": kpis.model_dump(mode="json"),
        "check": {"valid": not found, "violations": found},
    }


@router.get("/{agency_id}/roster", response_model=RosterOut, summary="The committed week")
def get_roster(agency_id: str, _: AgencyScope, factory: FactoryDep) -> dict[str, Any]:
    """The committed roster with its KPIs and the independent checker's verdict."""
    return roster_out(_read(factory, agency_id))


@router.put("/{agency_id}/roster", response_model=RosterOut, summary="Replace the committed week")
def put_roster(
    agency_id: str, roster: RosterIn, _: AgencyScope, factory: FactoryDep
) -> dict[str, Any]:
    """Stored only if the checker finds no violation (409 with them otherwise)."""
    assignments = _dump(roster.assignments)
    _change(factory, agency_id, lambda _: {"roster": assignments})
    return roster_out(_read(factory, agency_id))


@router.post("/{agency_id}/slots", response_model=list[Slot], summary="Where a visit still fits")
def post_slots(
    agency_id: str,
    request: SlotRequest,
    _: AgencyScope,
    factory: FactoryDep,
    granularity: int = Query(default=15, ge=1, le=240, description="Minutes between starts."),
) -> list[dict[str, Any]]:
    """What `carematch slots --json` returns, on the stored roster: every start where
    the visit fits without moving anyone, least added travel first."""
    require_known(request.skills, agencies.SKILLS, "body.skills", "skill")
    entry = _read(factory, agency_id).entry
    found = find_slots(entry, request, granularity_min=granularity, skills=agencies.SKILLS)
    return [s.model_dump(mode="json") for s in found]


@router.get("/{agency_id}/events", response_model=events.EventPage, summary="Events")
def get_events(
    agency_id: str,
    _: AgencyScope,
    factory: FactoryDep,
    after: int = Query(
        default=0,
        ge=0,
        le=2**31 - 1,  # events are numbered in a 32-bit column
        description="The cursor: events after it.",
    ),
    limit: int = Query(default=100, ge=1, le=1000),
) -> Response:
    """The agency's events after the cursor, oldest first; pass `next_cursor` back as
    `after`. Events are numbered per agency without gaps, so nothing is missed between
    two polls."""
    with factory() as session:
        agencies.get_row(session, agency_id)
        page = events.page(session, agency_id, after, limit)
    return JSONResponse(page.model_dump(mode="json"))
