"""The pages: sign-in, the broker's packages and offers, the agency's roster, map,
slots, inbox, workers and clients.

Every page calls the same route functions the JSON API serves (`api.routes.*`) with
the signed-in key's `Principal`, so the pages follow the API's rules to the letter:
who may see what (another agency's pages answer 404, as the API does), what is
valid (the API's pydantic models; their errors come back with the API's field
paths and are shown beside the form field they name) and what may change (the
checker's refusals). Nothing is validated only in the browser.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import Field, TypeAdapter, ValidationError

from api import agencies
from api.deps import agency_scope
from api.problems import Problem, validation_errors
from api.routes import agencies as agency_routes
from api.routes import packages as package_routes
from api.security import Principal, Role
from api.web import session as web_session
from api.web import views
from matcher.schema import CarePackage, Client, GenderPreference, Worker
from matcher.slots import SlotRequest
from matcher.timeutil import WEEKDAYS, Weekday

HERE = Path(__file__).parent
MARY = Path(__file__).resolve().parents[2] / "data" / "samples" / "packages" / "mary.json"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(
    places=views.places,
    pounds=views.pounds,
    weekdays=views.WEEKDAY_NAMES,
    skills=agencies.SKILLS,
    visit_rows=views.VISIT_ROWS,
    slug=views.slug,
)

router = APIRouter(include_in_schema=False)

# Pages load scripts and styles from this origin only; vis-timeline and htmx add
# style elements of their own, hence the inline styles.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
OPEN = package_routes.OPEN
STATUSES = ("queued", "matching", "offered", "no_offer", "accepted", "withdrawn", "failed")


class PageError(Exception):
    """An error answered as a page (not problem+json): the status and what went wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignInFirst(Exception):
    """No valid session: back to the sign-in page."""


def render(
    request: Request, template: str, status_code: int = 200, /, **context: Any
) -> HTMLResponse:
    web = getattr(request.state, "web", None) or web_session.current(request)
    response = templates.TemplateResponse(
        request, template, {"web": web, **context}, status_code=status_code
    )
    response.headers.update(SECURITY_HEADERS)
    return response


def _signed_in(request: Request, *roles: Role) -> web_session.WebSession:
    web = web_session.current(request)
    if web is None:
        raise SignInFirst
    if roles and web.principal.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        raise PageError(403, f"this page needs a {allowed} key, not {web.principal.role.value}")
    request.state.web = web
    return web


def _broker(request: Request) -> Principal:
    return _signed_in(request, Role.BROKER, Role.ADMIN).principal


def _agency(request: Request, agency_id: str) -> Principal:
    """The agency key of this agency (or an admin): another agency's pages are 404,
    as the API answers (`api.deps.agency_scope`), and nothing of them is shown."""
    principal = _signed_in(request, Role.AGENCY, Role.ADMIN).principal
    try:
        agency_scope(agency_id, principal)
        with request.app.state.sessions() as session:
            agencies.get_row(session, agency_id)
    except Problem as exc:
        raise PageError(exc.status, exc.detail) from None
    return principal


def _csrf(request: Request, token: str | None) -> None:
    if not web_session.csrf_ok(request, request.state.web, token):
        raise PageError(403, "the form expired or came from another site; reload and try again")


def _json(response: Response) -> Any:
    return json.loads(bytes(response.body))


def landing(principal: Principal) -> str:
    if principal.role == Role.AGENCY:
        return f"/agency/{principal.agency_id}/roster"
    return "/broker/packages"


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ------------------------------------------------------------------ sign-in


@router.get("/", response_class=HTMLResponse)
def signin_page(request: Request) -> Response:
    web = web_session.current(request)
    if web is not None:
        return _redirect(landing(web.principal))
    return render(request, "signin.html", web=None)


@router.post("/signin", response_class=HTMLResponse)
def signin(request: Request, key: Annotated[str, Form()] = "") -> Response:
    if not web_session.same_origin(request):
        raise PageError(403, "sign in from this site's own page")
    with request.app.state.sessions() as session:
        response = RedirectResponse("/", status_code=303)
        principal = web_session.sign_in(
            session, key, response, secure=request.url.scheme == "https"
        )
    if principal is None:
        message = "that key is not valid" if key.strip() else "enter your API key"
        return render(request, "signin.html", 401, web=None, error=message)
    response.headers["Location"] = landing(principal)
    return response


@router.post("/signout")
def signout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    _signed_in(request)
    _csrf(request, csrf)
    response = _redirect("/")
    web_session.sign_out(response)
    return response


# ------------------------------------------------------------------ broker


@router.get("/broker/packages", response_class=HTMLResponse)
def broker_packages(request: Request, status: str = "") -> Response:
    principal = _broker(request)
    chosen = status if status in STATUSES else None
    listed = package_routes.list_packages(
        principal, request.app.state.sessions, status=chosen, limit=200
    )
    return render(
        request,
        "broker/packages.html",
        packages=listed["packages"],
        status=chosen or "",
        statuses=STATUSES,
    )


@router.get("/broker/packages/new", response_class=HTMLResponse)
def new_package_page(request: Request, example: str = "") -> Response:
    _broker(request)
    values: dict[str, Any] = {"budget.period": "year", "client.gender_preference_strict": "hard"}
    if example == "mary" and MARY.is_file():  # the sample ships with the repository only
        values = views.package_form_values(json.loads(MARY.read_text()))
    return render(
        request, "broker/new.html", values=values, errors={}, detail=None, example=MARY.is_file()
    )


@router.post("/broker/packages", response_class=HTMLResponse)
async def submit_package(request: Request) -> Response:
    principal = _broker(request)
    form = await request.form()
    _csrf(request, str(form.get("csrf") or ""))
    typed = views.read_package_form(form)
    errors = list(typed.errors)
    detail = None
    package = None
    if not errors:
        try:
            package = CarePackage.model_validate(typed.document)
        except ValidationError as exc:
            errors = validation_errors([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
    if package is not None:
        try:
            answer = package_routes.submit_package(
                request,
                package,
                principal,
                request.app.state.sessions,
                request.app.state.settings,
                None,
            )
            return _redirect(f"/broker/packages/{_json(answer)['id']}")
        except Problem as exc:
            detail = exc.detail
            errors = exc.extensions.get("errors") or []
    shown: dict[str, list[str]] = {}
    for error in errors:
        shown.setdefault(typed.field_of(error["field"]), []).append(error["message"])
    return render(
        request,
        "broker/new.html",
        422 if errors else 409,
        values=typed.values,
        errors=shown,
        detail=detail,
        example=MARY.is_file(),
    )


def _package(request: Request, principal: Principal, package_id: str) -> dict[str, Any]:
    try:
        answer = package_routes.get_package(
            package_id, principal, request.app.state.sessions, request.app.state.settings
        )
    except Problem as exc:
        raise PageError(exc.status, exc.detail) from None
    return _json(answer)


@router.get("/broker/packages/{package_id}", response_class=HTMLResponse)
def package_page(request: Request, package_id: str) -> Response:
    principal = _broker(request)
    package = _package(request, principal, package_id)
    return render(request, "broker/package.html", p=package, open=package["status"] in OPEN)


@router.get("/broker/packages/{package_id}/offers", response_class=HTMLResponse)
def offers_fragment(request: Request, package_id: str) -> Response:
    """The offers part of the package page, which polls it while matching runs."""
    principal = _broker(request)
    package = _package(request, principal, package_id)
    return render(request, "broker/_offers.html", p=package, open=package["status"] in OPEN)


@router.get("/broker/packages/{package_id}/accept", response_class=HTMLResponse)
def accept_page(
    request: Request, package_id: str, agency_id: str = "", split: str = ""
) -> Response:
    """The confirmation page of an accept: of an agency's offer (`agency_id`), or of a
    split offer (`split`, its rank)."""
    principal = _broker(request)
    package = _package(request, principal, package_id)
    if split:
        chosen = next((s for s in package.get("splits") or [] if str(s["rank"]) == split), None)
        if chosen is None:
            raise PageError(404, f"there is no split offer {split!r} for this package")
        return render(request, "broker/accept.html", p=package, offer=None, split=chosen)
    offer = next((o for o in package.get("offers") or [] if o["agency_id"] == agency_id), None)
    if offer is None or not offer["feasible"]:
        raise PageError(404, f"agency {agency_id!r} made no offer for this package")
    return render(request, "broker/accept.html", p=package, offer=offer, split=None)


@router.post("/broker/packages/{package_id}/accept", response_class=HTMLResponse)
def accept(
    request: Request,
    package_id: str,
    agency_id: Annotated[str, Form()] = "",
    split: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """The confirmation's form: the API's accept with the same body (`agency_id` or
    `split`, exactly one), its refusal shown on the package's page."""
    principal = _broker(request)
    _csrf(request, csrf)
    try:
        body: dict[str, Any] = {"agency_id": agency_id or None}
        if split:  # a rank typed as text; anything else is the API's 422
            body = {"split": int(split) if split.isdigit() else split, **body}
        choice = package_routes.AcceptIn.model_validate(body)
        package_routes.accept_offer(package_id, choice, principal, request.app.state.sessions)
    except (Problem, ValidationError) as exc:
        package = _package(request, principal, package_id)
        message = exc.detail if isinstance(exc, Problem) else "choose an offer"
        status = exc.status if isinstance(exc, Problem) else 422
        return render(request, "broker/package.html", status, p=package, open=False, error=message)
    return _redirect(f"/broker/packages/{package_id}")


def _change(request: Request, principal: Principal, package_id: str, rank: int) -> tuple:
    """The package and its single change of this rank (404 if it has none)."""
    package = _package(request, principal, package_id)
    change = next((c for c in package.get("changes") or [] if c["rank"] == rank), None)
    if change is None:
        raise PageError(404, f"there is no change {rank} for this package")
    return package, change


@router.get("/broker/packages/{package_id}/resubmit", response_class=HTMLResponse)
def resubmit_page(
    request: Request, package_id: str, change: Annotated[int, Query(ge=1, le=100)]
) -> Response:
    """The confirmation page of submitting a package again with one of the single
    changes its match found (`change`: its rank)."""
    principal = _broker(request)
    package, chosen = _change(request, principal, package_id, change)
    return render(request, "broker/resubmit.html", p=package, change=chosen)


@router.post("/broker/packages/{package_id}/resubmit", response_class=HTMLResponse)
def resubmit(
    request: Request,
    package_id: str,
    change: Annotated[int, Form(ge=1, le=100)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Submit the changed package as the match stored it (not as a form typed it: the
    change may widen a visit's hard start range, which the form does not show), as a
    new package matched against every agency, and withdraw the earlier one."""
    principal = _broker(request)
    _csrf(request, csrf)
    package, chosen = _change(request, principal, package_id, change)
    sessions, settings = request.app.state.sessions, request.app.state.settings
    changed = CarePackage.model_validate(chosen["package"])
    try:
        answer = package_routes.submit_package(request, changed, principal, sessions, settings)
    except Problem as exc:
        return render(
            request, "broker/package.html", exc.status, p=package, open=False, error=exc.detail
        )
    if package["status"] not in ("accepted", "withdrawn"):
        # Accepted or withdrawn meanwhile: nothing to withdraw.
        with contextlib.suppress(Problem):
            package_routes.withdraw_package(package_id, principal, sessions)
    return _redirect(f"/broker/packages/{_json(answer)['id']}")


# ------------------------------------------------------------------ agency


def _loaded(request: Request, agency_id: str) -> agencies.Loaded:
    with request.app.state.sessions() as session:
        return agencies.load(session, agency_id)


@router.get("/agency/{agency_id}/roster", response_class=HTMLResponse)
def roster_page(request: Request, agency_id: str, day: str = "", client: str = "") -> Response:
    """The committed week as a Gantt; `client` keeps only the rows of the carers who
    visit that client (her week at a glance), `day` opens on one day."""
    principal = _agency(request, agency_id)
    loaded = _loaded(request, agency_id)
    roster = agency_routes.get_roster(agency_id, principal, request.app.state.sessions)
    kpis = agency_routes.Kpis.model_validate(roster["kpis"])
    focus = client if any(p.client.id == client for p in loaded.entry.packages) else ""
    data = views.gantt(loaded.entry, kpis, client=focus or None)
    chosen = day if day in {d.value for d in WEEKDAYS} else ""
    return render(
        request,
        "agency/roster.html",
        agency=loaded.entry.agency,
        roster=roster,
        gantt=data,
        day=chosen,
        focus=focus,
        clients={p.client.id: p.client.name for p in loaded.entry.packages},
    )


@router.get("/agency/{agency_id}/map", response_class=HTMLResponse)
def map_page(request: Request, agency_id: str, day: str = "Mon", carer: str = "") -> Response:
    _agency(request, agency_id)
    entry = _loaded(request, agency_id).entry
    weekday = Weekday(day) if day in {d.value for d in WEEKDAYS} else Weekday.MON
    chosen = carer if any(w.id == carer for w in entry.workers) else ""
    drawing = views.draw_map(entry, weekday, chosen or None)
    return render(
        request,
        "agency/map.html",
        agency=entry.agency,
        drawing=drawing,
        day=weekday.value,
        carer=chosen,
        workers=entry.workers,
    )


GRANULARITY = TypeAdapter(Annotated[int, Field(ge=1, le=240)])


@router.get("/agency/{agency_id}/slots", response_class=HTMLResponse)
def slots_page(request: Request, agency_id: str) -> Response:
    _agency(request, agency_id)
    entry = _loaded(request, agency_id).entry
    centre = entry.agency.service_area.centre if entry.agency.service_area else None
    values = {
        "duration_min": "30",
        "carers": "1",
        "granularity": "15",
        "location.lat": str(centre.lat) if centre else "",
        "location.lon": str(centre.lon) if centre else "",
        "weekdays": ["Mon"],
        "skills": [],
    }
    return render(
        request, "agency/slots.html", agency=entry.agency, values=values, errors={}, slots=None
    )


@router.post("/agency/{agency_id}/slots", response_class=HTMLResponse)
async def slots_search(request: Request, agency_id: str) -> Response:
    principal = _agency(request, agency_id)
    form = await request.form()
    _csrf(request, str(form.get("csrf") or ""))
    loaded = _loaded(request, agency_id)
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in form}
    values["weekdays"] = form.getlist("weekdays")
    values["skills"] = form.getlist("skills")
    document: dict[str, Any] = {
        "weekdays": values["weekdays"],
        "carers": views.number(values.get("carers") or "1"),
        "skills": values["skills"],
        "gender_preference": values.get("gender_preference") or GenderPreference.NONE.value,
        "location": {
            k: views.number(values[f"location.{k}"])
            for k in ("lat", "lon")
            if values.get(f"location.{k}")
        },
    }
    if values.get("duration_min"):
        document["duration_min"] = views.number(values["duration_min"])
    if values.get("between.start") or values.get("between.end"):
        document["between"] = {
            "start": values.get("between.start", ""),
            "end": values.get("between.end", ""),
        }
    errors: list[dict[str, str]] = []
    slots: list[dict[str, Any]] | None = None
    try:
        granularity = GRANULARITY.validate_python(views.number(values.get("granularity") or "15"))
    except ValidationError as exc:
        errors += validation_errors([{**e, "loc": ("query", "granularity")} for e in exc.errors()])
    try:
        slot_request = SlotRequest.model_validate(document)
    except ValidationError as exc:
        errors += validation_errors([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
    if not errors:
        try:
            slots = agency_routes.post_slots(
                agency_id, slot_request, principal, request.app.state.sessions, granularity
            )
        except Problem as exc:
            errors = exc.extensions.get("errors") or [{"field": "", "message": exc.detail}]
    shown: dict[str, list[str]] = {}
    for error in errors:
        path = error["field"].removeprefix("body.").removeprefix("query.")
        shown.setdefault(path, []).append(error["message"])
    extra = []
    for rank, slot in enumerate((slots or [])[:20], start=1):
        start = slot["start"]
        end_min = views.parse_hhmm(start) + int(document["duration_min"])
        for worker in slot["workers"]:
            extra.append(
                {
                    "id": f"slot|{rank}|{worker}",
                    "group": worker,
                    "start": views.moment(slot["weekday"], start),
                    "end": views.moment(slot["weekday"], end_min),
                    "content": f"slot {rank}",
                    "title": f"slot {rank}: {slot['weekday']} {start}, "
                    f"+{slot['added_travel_min']} min travel",
                    "className": "slot",
                }
            )
    data = None
    if slots:
        kpis = agency_routes.Kpis.model_validate(agency_routes.roster_out(loaded)["kpis"])
        rows = {item["group"] for item in extra}
        data = views.gantt(loaded.entry, kpis, only=rows, extra=extra)
    return render(
        request,
        "agency/slots.html",
        422 if errors else 200,
        agency=loaded.entry.agency,
        values=values,
        errors=shown,
        slots=slots,
        gantt=data,
        first_day=slots[0]["weekday"] if slots else "",
    )


def _events(request: Request, principal: Principal, agency_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:  # every event, oldest first, a page at a time
        page = _json(
            agency_routes.get_events(
                agency_id, principal, request.app.state.sessions, after=after, limit=1000
            )
        )
        events += page["events"]
        if not page["events"]:
            return list(reversed(events))
        after = page["next_cursor"]


@router.get("/agency/{agency_id}/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, agency_id: str) -> Response:
    principal = _agency(request, agency_id)
    entry = _loaded(request, agency_id).entry
    return render(
        request,
        "agency/inbox.html",
        agency=entry.agency,
        events=_events(request, principal, agency_id),
    )


@router.get("/agency/{agency_id}/inbox/events", response_class=HTMLResponse)
def inbox_fragment(request: Request, agency_id: str) -> Response:
    principal = _agency(request, agency_id)
    return render(
        request,
        "agency/_events.html",
        agency={"id": agency_id},
        events=_events(request, principal, agency_id),
    )


@router.get("/agency/{agency_id}/workers", response_class=HTMLResponse)
def workers_page(request: Request, agency_id: str) -> Response:
    _agency(request, agency_id)
    entry = _loaded(request, agency_id).entry
    return render(request, "agency/workers.html", agency=entry.agency, workers=entry.workers)


@router.get("/agency/{agency_id}/clients", response_class=HTMLResponse)
def clients_page(request: Request, agency_id: str) -> Response:
    _agency(request, agency_id)
    entry = _loaded(request, agency_id).entry
    return render(request, "agency/clients.html", agency=entry.agency, packages=entry.packages)


def _client_of(entry: Any, client_id: str) -> Client:
    client = next((p.client for p in entry.packages if p.client.id == client_id), None)
    if client is None:
        raise PageError(404, f"no client {client_id!r}")
    return client


def _client_values(client: Client) -> dict[str, Any]:
    return {
        "name": client.name,
        "location.lat": str(client.location.lat),
        "location.lon": str(client.location.lon),
        "gender_preference": client.gender_preference.value,
        "gender_preference_strict": "hard" if client.gender_preference_strict else "soft",
        "preferred_workers": ", ".join(client.preferred_workers),
        "excluded_workers": ", ".join(client.excluded_workers),
    }


def _save_or_refuse(
    request: Request,
    save: Callable[[], object],
    *,
    what: str,
    saved_at: str,
    template: str,
    **context: Any,
) -> Response:
    """Save an edit through the API's own function and go to `saved_at`; or show the
    form again with the API's refusal: its field errors beside their fields (422), or
    the checker's violations when the committed roster would break (409)."""
    errors: list[dict[str, str]] = []
    violations: list[dict[str, Any]] = []
    try:
        save()
        return _redirect(saved_at)
    except ValidationError as exc:
        errors = validation_errors([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
        detail = f"the {what} was not saved: " + errors[0]["message"]
    except Problem as exc:
        errors = exc.extensions.get("errors") or []
        violations = exc.extensions.get("violations") or []
        detail = exc.detail
    shown: dict[str, list[str]] = {}
    for error in errors:
        shown.setdefault(error["field"].removeprefix("body."), []).append(error["message"])
    return render(
        request,
        template,
        409 if violations else 422,
        errors=shown,
        detail=detail,
        violations=violations,
        saved=False,
        **context,
    )


@router.get("/agency/{agency_id}/clients/{client_id}", response_class=HTMLResponse)
def client_page(request: Request, agency_id: str, client_id: str) -> Response:
    _agency(request, agency_id)
    entry = _loaded(request, agency_id).entry
    client = _client_of(entry, client_id)
    return render(
        request,
        "agency/client.html",
        agency=entry.agency,
        client=client,
        values=_client_values(client),
        errors={},
        detail=None,
        violations=[],
        saved=request.query_params.get("saved") == "1",
    )


@router.post("/agency/{agency_id}/clients/{client_id}", response_class=HTMLResponse)
async def client_save(request: Request, agency_id: str, client_id: str) -> Response:
    """A client changed through `PUT /v1/agencies/{id}/clients/{client_id}`'s function:
    refused, with the checker's violations, if the committed roster would break (an
    excluded carer who still visits, a gender preference made a must that a carer
    does not meet)."""
    principal = _agency(request, agency_id)
    form = await request.form()
    _csrf(request, str(form.get("csrf") or ""))
    entry = _loaded(request, agency_id).entry
    client = _client_of(entry, client_id)
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in form}
    document = {
        **client.model_dump(mode="json"),
        "name": values.get("name", ""),
        "location": {k: views.number(values.get(f"location.{k}", "")) for k in ("lat", "lon")},
        "gender_preference": values.get("gender_preference", ""),
        "gender_preference_strict": values.get("gender_preference_strict") != "soft",
        "preferred_workers": views.split_list(values.get("preferred_workers")),
        "excluded_workers": views.split_list(values.get("excluded_workers")),
    }
    return _save_or_refuse(
        request,
        lambda: agency_routes.put_client(
            agency_id,
            client_id,
            Client.model_validate(document),
            principal,
            request.app.state.sessions,
        ),
        what="client",
        saved_at=f"/agency/{agency_id}/clients/{client_id}?saved=1",
        template="agency/client.html",
        agency=entry.agency,
        client=client,
        values=values,
    )


def _worker_values(worker: Worker) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": worker.name,
        "gender": worker.gender.value,
        "skills": list(worker.skills),
        "max_minutes_per_day": str(worker.max_minutes_per_day),
        "max_minutes_per_week": str(worker.max_minutes_per_week),
    }
    for day in WEEKDAYS:
        for i, shift in enumerate(worker.availability.get(day, [])[:2]):
            values[f"availability.{day.value}.{i}.start"] = shift.start
            values[f"availability.{day.value}.{i}.end"] = shift.end
    return values


@router.get("/agency/{agency_id}/workers/{worker_id}", response_class=HTMLResponse)
def worker_page(request: Request, agency_id: str, worker_id: str) -> Response:
    _agency(request, agency_id)
    entry = _loaded(request, agency_id).entry
    worker = next((w for w in entry.workers if w.id == worker_id), None)
    if worker is None:
        raise PageError(404, f"no worker {worker_id!r}")
    return render(
        request,
        "agency/worker.html",
        agency=entry.agency,
        worker=worker,
        values=_worker_values(worker),
        errors={},
        detail=None,
        violations=[],
        saved=request.query_params.get("saved") == "1",
    )


@router.post("/agency/{agency_id}/workers/{worker_id}", response_class=HTMLResponse)
async def worker_save(request: Request, agency_id: str, worker_id: str) -> Response:
    """A worker changed through `PUT /v1/agencies/{id}/workers/{worker_id}`'s function:
    refused, with the checker's violations, if the committed roster would break."""
    principal = _agency(request, agency_id)
    form = await request.form()
    _csrf(request, str(form.get("csrf") or ""))
    entry = _loaded(request, agency_id).entry
    worker = next((w for w in entry.workers if w.id == worker_id), None)
    if worker is None:
        raise PageError(404, f"no worker {worker_id!r}")
    values: dict[str, Any] = {k: str(form.get(k) or "").strip() for k in form}
    values["skills"] = form.getlist("skills")
    availability: dict[str, list[dict[str, str]]] = {}
    for day in WEEKDAYS:
        for i in range(2):
            start = values.get(f"availability.{day.value}.{i}.start", "")
            end = values.get(f"availability.{day.value}.{i}.end", "")
            if start or end:
                availability.setdefault(day.value, []).append({"start": start, "end": end})
    document = {
        **worker.model_dump(mode="json"),
        "name": values.get("name", ""),
        "gender": values.get("gender", ""),
        "skills": values["skills"],
        "availability": availability,
        "max_minutes_per_day": views.number(values.get("max_minutes_per_day", "")),
        "max_minutes_per_week": views.number(values.get("max_minutes_per_week", "")),
    }
    return _save_or_refuse(
        request,
        lambda: agency_routes.put_worker(
            agency_id,
            worker_id,
            Worker.model_validate(document),
            principal,
            request.app.state.sessions,
        ),
        what="worker",
        saved_at=f"/agency/{agency_id}/workers/{worker_id}?saved=1",
        template="agency/worker.html",
        agency=entry.agency,
        worker=worker,
        values=values,
    )


# ------------------------------------------------------------------ installing


def install(app: Any) -> None:
    """Add the pages, their static files and their error pages to the app."""
    from fastapi.staticfiles import StaticFiles

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return render(request, "error.html", exc.status, code=exc.status, message=exc.message)

    @app.exception_handler(SignInFirst)
    async def _sign_in_first(request: Request, exc: SignInFirst) -> Response:
        return _redirect("/")
