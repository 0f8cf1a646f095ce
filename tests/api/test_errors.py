"""The bad-input catalogue: every malformed, oversized, unauthenticated or misdirected
request is a 4xx `application/problem+json` (RFC 9457: `type`, `title`, `status` equal
to the HTTP status, a `detail` naming the field where there is one), never a 500 or a
traceback; on SQLite and PostgreSQL.

The catalogue is one list of `Case`s played against one service per database (a case
is one request; every failure is reported, not only the first).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from api.guard import json_error
from api.problems import PROBLEM_JSON
from tests.api.conftest import Service, mary, small_market

SLOT_REQUEST = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "slot_request.json").read_text()
)
AGENCY = "isl-agency"
UNKNOWN_KEY = "cm_0123456789abcdef.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
MISSING = object()


def without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != key}


def edited(data: Any, edit: Callable[[Any], None]) -> Any:
    """A deep copy of `data` after `edit(copy)`."""
    data = copy.deepcopy(data)
    edit(data)
    return data


def raw(data: Any) -> bytes:
    return json.dumps(data).encode()


@dataclass
class Case:
    """One bad request and what it must be answered with."""

    name: str
    method: str
    path: str
    status: int | tuple[int, ...]
    json: Any = MISSING
    content: bytes | Callable[[], Iterator[bytes]] | None = None
    content_type: str | None = "application/json"
    key: str = "admin"  # admin, broker, agency (of isl-agency), none, or the header
    headers: dict[str, str] = field(default_factory=dict)
    field: str | None = None  # the field the detail and `errors` must name
    mentions: str | None = None  # a text the detail must hold


@dataclass
class World:
    """The service with the small market and a key per role."""

    service: Service
    market: dict[str, Any]
    keys: dict[str, str]

    def agency(self, agency_id: str = AGENCY) -> dict[str, Any]:
        return next(a for a in self.market["agencies"] if a["agency"]["id"] == agency_id)


@pytest.fixture
def world(service: Service) -> World:
    market = small_market()
    service.import_market(market)
    keys = {
        "admin": service.key("admin"),
        "broker": service.key("broker"),
        "agency": service.key("agency", AGENCY),
    }
    return World(service, market, keys)


def play(world: World, case: Case):
    headers = {**case.headers}
    if case.key in world.keys:
        headers["Authorization"] = f"Bearer {world.keys[case.key]}"
    elif case.key != "none":
        headers["Authorization"] = case.key
    kwargs: dict[str, Any] = {}
    if case.json is not MISSING:
        kwargs["content"] = raw(case.json)
    elif case.content is not None:
        kwargs["content"] = case.content() if callable(case.content) else case.content
    if case.content_type is not None and "content" in kwargs:
        headers.setdefault("Content-Type", case.content_type)
    return world.service.client.request(case.method, case.path, headers=headers, **kwargs)


def problems_in(case: Case, response) -> list[str]:
    """What is wrong with the answer to `case`, as sentences (empty: nothing)."""
    wrong: list[str] = []
    expected = case.status if isinstance(case.status, tuple) else (case.status,)
    if response.status_code not in expected:
        wrong.append(f"status {response.status_code}, expected {expected}: {response.text[:300]}")
    if not 400 <= response.status_code < 500:
        wrong.append(f"status {response.status_code} is not a 4xx")
    if response.headers.get("content-type", "").split(";")[0] != PROBLEM_JSON:
        wrong.append(f"content-type {response.headers.get('content-type')!r}")
    if "Traceback" in response.text or 'File "' in response.text:
        wrong.append("a traceback in the body")
    try:
        body = response.json()
    except ValueError:
        return [*wrong, f"body is not JSON: {response.text[:200]!r}"]
    if not isinstance(body, dict):
        return [*wrong, f"body is not an object: {body!r}"]
    for name in ("type", "title", "detail"):
        if not isinstance(body.get(name), str) or not body[name]:
            wrong.append(f"no {name}: {str(body)[:200]}")
    if body.get("status") != response.status_code:
        wrong.append(f"status member {body.get('status')!r} != {response.status_code}")
    detail = str(body.get("detail", ""))
    if case.field is not None:
        if case.field not in detail:
            wrong.append(f"detail {detail!r} does not name {case.field!r}")
        listed = [e.get("field") for e in body.get("errors") or []]
        if case.field not in listed:
            wrong.append(f"errors {body.get('errors')!r} do not list {case.field!r}")
        for error in body.get("errors") or []:
            if not error.get("message"):
                wrong.append(f"an error without a message: {error}")
    if case.mentions is not None and case.mentions not in detail:
        wrong.append(f"detail {detail!r} does not mention {case.mentions!r}")
    if response.status_code == 401:
        challenge = response.headers.get("www-authenticate", "")
        if not challenge.startswith("Bearer"):
            wrong.append(f"401 without a Bearer challenge: {challenge!r}")
    if response.status_code == 405 and not response.headers.get("allow"):
        wrong.append("405 without Allow")
    return wrong


def catalogue(world: World) -> list[Case]:
    limit = world.service.settings.max_body_bytes
    isl = world.agency()
    worker = isl["workers"][0]
    held = isl["packages"][0]
    roster = isl["roster"]
    new_agency = edited(isl, lambda a: a["agency"].update(id="new-agency"))

    def set_visit(key: str, value: Any) -> Callable[[dict], None]:
        return lambda p: p["visits"][0].__setitem__(key, value)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        piece = b"[" + b"0," * 32_767
        for _ in range(limit // len(piece) + 2):
            yield piece

    def one_assignment(**changes: Any) -> list[dict[str, Any]]:
        return [dict(roster[0], **changes), *roster[1:]]

    pkg = "/v1/packages"
    ag = f"/v1/agencies/{AGENCY}"
    b = "broker"
    return [
        # ----------------------------------------------------- POST /v1/packages
        Case(
            "package: field missing",
            "POST",
            pkg,
            422,
            without(mary(), "visits"),
            key=b,
            field="body.visits",
        ),
        Case(
            "package: nested field missing",
            "POST",
            pkg,
            422,
            edited(mary(), lambda p: p["visits"][0].pop("duration_min")),
            key=b,
            field="body.visits[0].duration_min",
        ),
        Case(
            "package: wrong type",
            "POST",
            pkg,
            422,
            edited(mary(), set_visit("duration_min", "an hour")),
            key=b,
            field="body.visits[0].duration_min",
        ),
        Case(
            "package: weekdays not a list",
            "POST",
            pkg,
            422,
            edited(mary(), set_visit("weekdays", "Mon")),
            key=b,
            field="body.visits[0].weekdays",
        ),
        Case(
            "package: window ends before it starts",
            "POST",
            pkg,
            422,
            edited(mary(), set_visit("window", {"start": "09:00", "end": "08:00"})),
            key=b,
            field="body.visits[0].window",
            mentions="before",
        ),
        Case(
            "package: time that is not a time",
            "POST",
            pkg,
            422,
            edited(mary(), set_visit("window", {"start": "8 am", "end": "08:30"})),
            key=b,
            field="body.visits[0].window.start",
        ),
        Case(
            "package: budget as text",
            "POST",
            pkg,
            422,
            mary(budget={"amount_pence": "lots"}),
            key=b,
            field="body.budget.amount_pence",
        ),
        Case(
            "package: negative duration",
            "POST",
            pkg,
            422,
            edited(mary(), set_visit("duration_min", -15)),
            key=b,
            field="body.visits[0].duration_min",
        ),
        Case(
            "package: unknown key", "POST", pkg, 422, mary(colour="red"), key=b, field="body.colour"
        ),
        Case(
            "package: unknown nested key",
            "POST",
            pkg,
            422,
            edited(mary(), lambda p: p["client"].update(shoe_size=7)),
            key=b,
            field="body.client.shoe_size",
        ),
        Case(
            "package: unknown skill",
            "POST",
            pkg,
            422,
            edited(mary(), set_visit("skills", ["juggling"])),
            key=b,
            field="body.visits[0].skills",
            mentions="juggling",
        ),
        Case(
            "package: latitude out of range",
            "POST",
            pkg,
            422,
            edited(mary(), lambda p: p["client"]["location"].update(lat=123)),
            key=b,
            field="body.client.location.lat",
        ),
        Case(
            "package: over the limit, with Content-Length",
            "POST",
            pkg,
            413,
            content=b"[" + b"0," * (limit // 2) + b"0]",
            key=b,
            mentions=f"{limit:,}",
        ),
        Case(
            "package: over the limit, chunked",
            "POST",
            pkg,
            413,
            content=chunks,
            key=b,
            mentions=f"{limit:,}",
        ),
        Case(
            "package: Content-Length not a number",
            "POST",
            pkg,
            400,
            content=raw(mary()),
            key=b,
            headers={"Content-Length": "lots"},
        ),
        Case(
            "package: 100000 levels of [",
            "POST",
            pkg,
            422,
            content=b"[" * 100_000,
            key=b,
            field="body",
            mentions="nested",
        ),
        Case(
            "package: 100000 levels of {",
            "POST",
            pkg,
            422,
            content=b'{"a":' * 100_000,
            key=b,
            field="body",
            mentions="nested",
        ),
        Case(
            "package: not UTF-8",
            "POST",
            pkg,
            422,
            content=b'{"id": "m\xe4ry"}',
            key=b,
            field="body",
            mentions="UTF-8",
        ),
        Case(
            "package: Latin-1 charset declared",
            "POST",
            pkg,
            422,
            content=b'{"id": "\xff"}',
            key=b,
            content_type="application/json; charset=latin-1",
            field="body",
        ),
        Case("package: empty body", "POST", pkg, 422, content=b"", key=b, field="body"),
        Case("package: no body at all", "POST", pkg, 422, key=b, field="body"),
        Case("package: whitespace body", "POST", pkg, 422, content=b"  \n ", key=b, field="body"),
        Case(
            "package: a JSON array",
            "POST",
            pkg,
            422,
            [mary()],
            key=b,
            field="body",
            mentions="array",
        ),
        Case("package: null", "POST", pkg, 422, None, key=b, field="body", mentions="null"),
        Case("package: a string", "POST", pkg, 422, "mary", key=b, field="body"),
        Case("package: a number", "POST", pkg, 422, 42, key=b, field="body"),
        Case(
            "package: NaN",
            "POST",
            pkg,
            422,
            content=raw(mary()).replace(b"438750", b"NaN"),
            key=b,
            field="body",
            mentions="NaN",
        ),
        Case(
            "package: Infinity",
            "POST",
            pkg,
            422,
            content=raw(mary()).replace(b"51.5465", b"Infinity"),
            key=b,
            field="body",
            mentions="Infinity",
        ),
        Case(
            "package: -Infinity",
            "POST",
            pkg,
            422,
            content=raw(mary()).replace(b"-0.1035", b"-Infinity"),
            key=b,
            field="body",
        ),
        Case(
            "package: a float beyond double",
            "POST",
            pkg,
            422,
            content=raw(mary()).replace(b"51.5465", b"1e999"),
            key=b,
            field="body",
        ),
        Case(
            "package: an integer of 5000 digits",
            "POST",
            pkg,
            422,
            content=raw(mary()).replace(b"438750", b"9" * 5000),
            key=b,
            field="body",
        ),
        Case(
            "package: broken JSON", "POST", pkg, 422, content=raw(mary())[:-20], key=b, field="body"
        ),
        Case(
            "package: trailing garbage",
            "POST",
            pkg,
            422,
            content=raw(mary()) + b"}",
            key=b,
            field="body",
        ),
        Case(
            "package: single quotes",
            "POST",
            pkg,
            422,
            content=b"{'id': 'mary'}",
            key=b,
            field="body",
        ),
        Case(
            "package: NUL in a string",
            "POST",
            pkg,
            422,
            mary(id="ma\x00ry"),
            key=b,
            field="body.id",
            mentions="NUL",
        ),
        Case(
            "package: NUL in a nested key",
            "POST",
            pkg,
            422,
            edited(mary(), lambda p: p["client"].update({"na\x00me": "x"})),
            key=b,
            field="body.client",
        ),
        Case(
            "package: lone surrogate",
            "POST",
            pkg,
            422,
            content=raw(mary()).replace(b'"mary"', b'"\\ud800"'),
            key=b,
            field="body.id",
        ),
        Case(
            "package: text/plain",
            "POST",
            pkg,
            415,
            content=raw(mary()),
            content_type="text/plain",
            key=b,
            mentions="application/json",
        ),
        Case(
            "package: no Content-Type",
            "POST",
            pkg,
            415,
            content=raw(mary()),
            content_type=None,
            key=b,
            mentions="application/json",
        ),
        Case(
            "package: form",
            "POST",
            pkg,
            415,
            content=b"id=mary",
            content_type="application/x-www-form-urlencoded",
            key=b,
        ),
        Case(
            "package: XML",
            "POST",
            pkg,
            415,
            content=b"<package id='mary'/>",
            content_type="application/xml",
            key=b,
        ),
        Case("package: no key", "POST", pkg, 401, mary(), key="none"),
        Case("package: not a bearer key", "POST", pkg, 401, mary(), key="Basic bWFyeTpwdw=="),
        Case("package: malformed key", "POST", pkg, 401, mary(), key="Bearer let-me-in"),
        Case("package: empty bearer", "POST", pkg, 401, mary(), key="Bearer "),
        Case("package: unknown key", "POST", pkg, 401, mary(), key=f"Bearer {UNKNOWN_KEY}"),
        Case("package: key with a NUL", "POST", pkg, 401, mary(), key="Bearer cm_ab\x00.cd"),
        Case(
            "package: Idempotency-Key too long",
            "POST",
            pkg,
            422,
            mary(id="m2"),
            key=b,
            headers={"Idempotency-Key": "k" * 300},
            field="header.Idempotency-Key",
        ),
        Case(
            "package: NUL in Idempotency-Key",
            "POST",
            pkg,
            400,
            mary(id="m3"),
            key=b,
            headers={"Idempotency-Key": "k\x00k"},
        ),
        # ----------------------------------------------------- the broker's other routes
        Case("packages: limit 0", "GET", pkg + "?limit=0", 422, key=b, field="query.limit"),
        Case(
            "packages: limit not a number",
            "GET",
            pkg + "?limit=all",
            422,
            key=b,
            field="query.limit",
        ),
        Case(
            "packages: unknown status",
            "GET",
            pkg + "?status=lost",
            422,
            key=b,
            field="query.status",
        ),
        Case("packages: NUL in the query", "GET", pkg + "?status=%00", 422, key=b, field="query"),
        Case(
            "package: unknown id",
            "GET",
            pkg + "/pkg_doesnotexist0000000",
            404,
            key=b,
            mentions="pkg_doesnotexist",
        ),
        Case("package: NUL in the id", "GET", pkg + "/pkg_%00", 404, key=b),
        Case(
            "package: unknown id, accept",
            "POST",
            pkg + "/pkg_nope/accept",
            404,
            {"agency_id": AGENCY},
            key=b,
        ),
        Case("package: unknown id, withdraw", "POST", pkg + "/pkg_nope/withdraw", 404, key=b),
        Case(
            "accept: agency_id missing",
            "POST",
            pkg + "/pkg_nope/accept",
            422,
            {},
            key=b,
            field="body.agency_id",
        ),
        Case(
            "accept: agency_id a number",
            "POST",
            pkg + "/pkg_nope/accept",
            422,
            {"agency_id": 7},
            key=b,
            field="body.agency_id",
        ),
        Case(
            "accept: unknown key",
            "POST",
            pkg + "/pkg_nope/accept",
            422,
            {"agency_id": AGENCY, "price": 1},
            key=b,
            field="body.price",
        ),
        # ----------------------------------------------------- POST /v1/agencies (admin)
        Case(
            "agency: field missing",
            "POST",
            "/v1/agencies",
            422,
            without(new_agency, "agency"),
            field="body.agency",
        ),
        Case(
            "agency: no workers",
            "POST",
            "/v1/agencies",
            422,
            dict(new_agency, workers=[]),
            field="body.workers",
        ),
        Case(
            "agency: rate as text",
            "POST",
            "/v1/agencies",
            422,
            edited(new_agency, lambda a: a["agency"].update(hourly_rate_pence="cheap")),
            field="body.agency.hourly_rate_pence",
        ),
        Case(
            "agency: shift ends before it starts",
            "POST",
            "/v1/agencies",
            422,
            edited(
                new_agency,
                lambda a: a["workers"][0].update(
                    availability={"Mon": [{"start": "18:00", "end": "08:00"}]}
                ),
            ),
            field="body.workers[0].availability.Mon[0]",
            mentions="before",
        ),
        Case(
            "agency: unknown key",
            "POST",
            "/v1/agencies",
            422,
            dict(new_agency, motto="care"),
            field="body.motto",
        ),
        Case(
            "agency: roster names an unknown worker",
            "POST",
            "/v1/agencies",
            (409, 422),
            edited(new_agency, lambda a: a["roster"][0].update(workers=["ghost-w99"])),
            mentions="ghost-w99",
        ),
        Case(
            "agency: a worker with an unknown skill",
            "POST",
            "/v1/agencies",
            422,
            edited(new_agency, lambda a: a["workers"][1].update(skills=["juggling"])),
            field="body.workers[1].skills",
            mentions="juggling",
        ),
        Case(
            "agency: a held visit with an unknown skill (was a 500)",
            "POST",
            "/v1/agencies",
            422,
            edited(new_agency, lambda a: a["packages"][0]["visits"][0].update(skills=["juggling"])),
            field="body.packages[0].visits[0].skills",
            mentions="juggling",
        ),
        Case(
            "held package: a visit with an unknown skill (was a 500)",
            "POST",
            f"{ag}/packages",
            422,
            edited(
                mary(id="new-p", client=dict(mary()["client"], id="new-c")),
                set_visit("skills", ["juggling"]),
            ),
            key="agency",
            field="body.visits[0].skills",
            mentions="juggling",
        ),
        Case(
            "agency: a visit id twice (was a 500)",
            "POST",
            "/v1/agencies",
            422,
            edited(
                new_agency,
                lambda a: a["packages"].append(
                    dict(held, id="copy", client=dict(held["client"], id="copy-client"))
                ),
            ),
            field="body",
            mentions="repeats",
        ),
        Case(
            "held package: its visit ids already used (was a 500)",
            "POST",
            f"{ag}/packages",
            409,
            dict(held, id="copy", client=dict(held["client"], id="copy-client")),
            key="agency",
            mentions=held["id"],
        ),
        Case(
            "worker: the id of a client (was a 500)",
            "POST",
            f"{ag}/workers",
            409,
            dict(worker, id=held["client"]["id"]),
            key="agency",
            mentions=held["client"]["id"],
        ),
        Case("agency: id taken", "POST", "/v1/agencies", 409, isl, mentions=AGENCY),
        Case("agency: a list of agencies", "POST", "/v1/agencies", 422, [new_agency], field="body"),
        Case(
            "agency: weekday that is no day",
            "POST",
            "/v1/agencies",
            422,
            edited(
                new_agency,
                lambda a: a["workers"][0].update(
                    availability={"Caturday": [{"start": "08:00", "end": "18:00"}]}
                ),
            ),
            field="body.workers[0].availability.Caturday",
        ),
        # ----------------------------------------------------- POST .../slots (agency)
        Case(
            "slots: field missing",
            "POST",
            ag + "/slots",
            422,
            without(SLOT_REQUEST, "duration_min"),
            key="agency",
            field="body.duration_min",
        ),
        Case(
            "slots: wrong type",
            "POST",
            ag + "/slots",
            422,
            dict(SLOT_REQUEST, carers="two"),
            key="agency",
            field="body.carers",
        ),
        Case(
            "slots: three carers",
            "POST",
            ag + "/slots",
            422,
            dict(SLOT_REQUEST, carers=3),
            key="agency",
            field="body.carers",
        ),
        Case(
            "slots: between ends before it starts",
            "POST",
            ag + "/slots",
            422,
            dict(SLOT_REQUEST, between={"start": "10:00", "end": "09:00"}),
            key="agency",
            field="body.between",
            mentions="before",
        ),
        Case(
            "slots: a day of 25 hours",
            "POST",
            ag + "/slots",
            422,
            dict(SLOT_REQUEST, duration_min=1500),
            key="agency",
            field="body.duration_min",
        ),
        Case(
            "slots: unknown key",
            "POST",
            ag + "/slots",
            422,
            dict(SLOT_REQUEST, urgent=True),
            key="agency",
            field="body.urgent",
        ),
        Case(
            "slots: unknown skill",
            "POST",
            ag + "/slots",
            422,
            dict(SLOT_REQUEST, skills=["juggling"]),
            key="agency",
            field="body.skills",
            mentions="juggling",
        ),
        Case(
            "slots: granularity 0",
            "POST",
            ag + "/slots?granularity=0",
            422,
            SLOT_REQUEST,
            key="agency",
            field="query.granularity",
        ),
        Case(
            "slots: granularity text",
            "POST",
            ag + "/slots?granularity=often",
            422,
            SLOT_REQUEST,
            key="agency",
            field="query.granularity",
        ),
        Case(
            "slots: unknown agency",
            "POST",
            "/v1/agencies/no-such-agency/slots",
            404,
            SLOT_REQUEST,
            mentions="no-such-agency",
        ),
        Case(
            "slots: repeated weekdays",
            "POST",
            ag + "/slots",
            422,
            dict(SLOT_REQUEST, weekdays=["Tue", "Tue"]),
            key="agency",
            field="body",
            mentions="repeat",
        ),
        # ----------------------------------------------------- workers (agency)
        Case(
            "worker: field missing",
            "PUT",
            f"{ag}/workers/{worker['id']}",
            422,
            without(worker, "gender"),
            key="agency",
            field="body.gender",
        ),
        Case(
            "worker: wrong type",
            "PUT",
            f"{ag}/workers/{worker['id']}",
            422,
            dict(worker, max_minutes_per_day="all day"),
            key="agency",
            field="body.max_minutes_per_day",
        ),
        Case(
            "worker: shift ends before it starts",
            "PUT",
            f"{ag}/workers/{worker['id']}",
            422,
            dict(worker, availability={"Mon": [{"start": "18:00", "end": "08:00"}]}),
            key="agency",
            field="body.availability.Mon[0]",
            mentions="before",
        ),
        Case(
            "worker: unknown key",
            "PUT",
            f"{ag}/workers/{worker['id']}",
            422,
            dict(worker, shoe_size=9),
            key="agency",
            field="body.shoe_size",
        ),
        Case(
            "worker: id differs from the path",
            "PUT",
            f"{ag}/workers/{worker['id']}",
            422,
            dict(worker, id="someone-else"),
            key="agency",
            field="body.id",
        ),
        Case(
            "worker: unknown skill",
            "POST",
            f"{ag}/workers",
            422,
            dict(worker, id="new-w", skills=["juggling"]),
            key="agency",
            field="body.skills",
            mentions="juggling",
        ),
        Case(
            "worker: unknown id",
            "PUT",
            f"{ag}/workers/nobody",
            404,
            dict(worker, id="nobody"),
            key="agency",
            mentions="nobody",
        ),
        Case("worker: unknown id, read", "GET", f"{ag}/workers/nobody", 404, key="agency"),
        Case("worker: unknown id, delete", "DELETE", f"{ag}/workers/nobody", 404, key="agency"),
        Case(
            "worker: exists already",
            "POST",
            f"{ag}/workers",
            409,
            worker,
            key="agency",
            mentions=worker["id"],
        ),
        Case(
            "worker: still has visits",
            "DELETE",
            f"{ag}/workers/{roster[0]['workers'][0]}",
            409,
            key="agency",
            mentions=roster[0]["workers"][0],
        ),
        # ----------------------------------------------------- roster, packages, clients
        Case(
            "roster: an unknown worker",
            "PUT",
            ag + "/roster",
            (409, 422),
            {"assignments": one_assignment(workers=["ghost-w99"])},
            key="agency",
            mentions="ghost-w99",
        ),
        Case(
            "roster: an unknown visit",
            "PUT",
            ag + "/roster",
            (409, 422),
            {"assignments": one_assignment(visit_id="ghost-visit")},
            key="agency",
            mentions="ghost-visit",
        ),
        Case(
            "roster: assignments missing",
            "PUT",
            ag + "/roster",
            422,
            {},
            key="agency",
            field="body.assignments",
        ),
        Case(
            "roster: weekday that is no day",
            "PUT",
            ag + "/roster",
            422,
            {"assignments": one_assignment(weekday="Funday")},
            key="agency",
            field="body.assignments[0].weekday",
        ),
        Case(
            "roster: unknown key",
            "PUT",
            ag + "/roster",
            422,
            {"assignments": roster, "note": "x"},
            key="agency",
            field="body.note",
        ),
        Case(
            "roster: unknown key in an assignment",
            "PUT",
            ag + "/roster",
            422,
            {"assignments": one_assignment(colour="red")},
            key="agency",
            field="body.assignments[0].colour",
        ),
        Case(
            "roster: breaks a rule",
            "PUT",
            ag + "/roster",
            409,
            {"assignments": one_assignment(start="03:00", end="04:00")},
            key="agency",
        ),
        Case("held package: unknown id", "GET", f"{ag}/packages/nope", 404, key="agency"),
        Case(
            "held package: no visits",
            "PUT",
            f"{ag}/packages/{held['id']}",
            422,
            dict(held, visits=[]),
            key="agency",
            field="body.visits",
        ),
        Case("client: unknown id", "GET", f"{ag}/clients/nope", 404, key="agency"),
        Case(
            "client: unknown key",
            "PUT",
            f"{ag}/clients/{held['client']['id']}",
            422,
            dict(held["client"], age=90),
            key="agency",
            field="body.age",
        ),
        Case(
            "agency: patch with an unknown key",
            "PATCH",
            ag,
            422,
            {"colour": "red"},
            key="agency",
            field="body.colour",
        ),
        Case(
            "agency: patch weights as text",
            "PATCH",
            ag,
            422,
            {"weights": "heavy"},
            key="agency",
            field="body.weights",
        ),
        Case(
            "webhook: not a URL",
            "PUT",
            ag + "/webhook",
            422,
            {"url": "ftp://x"},
            key="agency",
            field="body.url",
        ),
        Case(
            "events: negative cursor",
            "GET",
            ag + "/events?after=-1",
            422,
            key="agency",
            field="query.after",
        ),
        Case(
            "events: cursor as text",
            "GET",
            ag + "/events?after=last",
            422,
            key="agency",
            field="query.after",
        ),
        Case(
            "events: cursor beyond 32 bits (a 500 on PostgreSQL)",
            "GET",
            ag + f"/events?after={2**31}",
            422,
            key="agency",
            field="query.after",
        ),
        Case(
            "events: cursor beyond 64 bits",
            "GET",
            ag + "/events?after=" + "9" * 30,
            422,
            key="agency",
            field="query.after",
        ),
        Case(
            "agency: unknown id",
            "GET",
            "/v1/agencies/no-such-agency",
            404,
            mentions="no-such-agency",
        ),
        Case("agency: unknown id, workers", "GET", "/v1/agencies/no-such-agency/workers", 404),
        Case("agency: unknown id, events", "GET", "/v1/agencies/no-such-agency/events", 404),
        Case("agency: unknown id, delete", "DELETE", "/v1/agencies/no-such-agency", 404),
        # ----------------------------------------------------- keys (admin)
        Case("key: unknown role", "POST", "/v1/keys", 422, {"role": "wizard"}, field="body.role"),
        Case(
            "key: agency key without agency",
            "POST",
            "/v1/keys",
            422,
            {"role": "agency"},
            field="body",
        ),
        Case(
            "key: agency key of an unknown agency",
            "POST",
            "/v1/keys",
            422,
            {"role": "agency", "agency_id": "no-such-agency"},
            field="body.agency_id",
            mentions="no-such-agency",
        ),
        # ----------------------------------------------------- paths and methods
        Case("unknown path", "GET", "/v1/nothing-here", 404, mentions="/v1/nothing-here"),
        Case("unknown path, no key", "GET", "/v2/packages", 404, key="none"),
        Case("unknown top-level path", "GET", "/nothing-here", 404, key="none"),
        Case("unknown sub-resource", "GET", ag + "/payroll", 404, key="agency"),
        Case("wrong method: DELETE packages", "DELETE", pkg, 405, key=b, mentions="DELETE"),
        Case("wrong method: PUT agencies", "PUT", "/v1/agencies", 405, new_agency),
        Case("wrong method: GET keys", "GET", "/v1/keys", 405),
        Case(
            "wrong method: POST roster",
            "POST",
            ag + "/roster",
            405,
            {"assignments": []},
            key="agency",
        ),
        Case("wrong method: GET slots", "GET", ag + "/slots", 405, key="agency"),
    ]


def test_catalogue_of_bad_requests(world: World) -> None:
    """Every case answers its 4xx as problem+json naming what is wrong, and leaves no
    trace: no package stored, the agency unchanged (version 1)."""
    failures = []
    for case in catalogue(world):
        response = play(world, case)
        for wrong in problems_in(case, response):
            failures.append(f"{case.name} ({case.method} {case.path[:60]}): {wrong}")
    assert not failures, "\n".join(failures)
    admin = world.service.auth(world.keys["admin"])
    assert world.service.client.get("/v1/packages", headers=admin).json() == {"packages": []}
    agency = world.service.client.get(f"/v1/agencies/{AGENCY}", headers=admin).json()
    assert agency["version"] == 1
    assert agency["workers"] == len(world.agency()["workers"])


def test_every_bad_field_is_listed(world: World) -> None:
    """Two bad fields: both in `errors`, each with a message; the detail names the
    first and counts the rest."""
    package = edited(
        mary(budget={"amount_pence": "lots"}), lambda p: p["visits"][1].update(duration_min=0)
    )
    response = world.service.client.post(
        "/v1/packages", json=package, headers=world.service.auth(world.keys["broker"])
    )
    assert response.status_code == 422
    body = response.json()
    listed = {e["field"]: e for e in body["errors"]}
    assert set(listed) == {"body.budget.amount_pence", "body.visits[1].duration_min"}
    assert listed["body.visits[1].duration_min"]["message"] == "Input should be greater than 0"
    assert body["detail"].endswith("(and 1 more)")
    assert body["type"].startswith("https://")


def test_errors_are_documented_as_problem_json(service: Service) -> None:
    """The OpenAPI document says what the service sends: every 4xx and 5xx of every
    operation is application/problem+json with the ProblemDetails schema (and nothing
    else); every operation documents the 400, 413 and 422 BodyLimit may answer, and
    every operation with a body 415."""
    document = service.client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    assert list(response["content"]) == [PROBLEM_JSON], (path, method, status)
                    schema = response["content"][PROBLEM_JSON]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ProblemDetails"}
            expected = {"400", "413", "422"} | ({"415"} if "requestBody" in operation else set())
            assert expected <= set(operation["responses"]), (path, method)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 5000, "nested too deeply"),
        (b'"\xc3\x28"', "not UTF-8"),
        (b"[NaN]", "NaN is not JSON"),
        (b"[1e400]", "out of range"),
        (b'{"a": "\\u0000"}', "NUL"),
    ],
)
def test_json_error_names_the_reason(body: bytes, reason: str) -> None:
    error = json_error(body)
    assert error is not None and reason in error.message


def test_json_error_accepts_json() -> None:
    assert json_error(raw(mary())) is None
    assert json_error(b'{"a": "\\\\u0000", "b": [1.5e300, -0.0]}') is None  # a backslash, a u


def test_database_away_is_503_not_500() -> None:
    """With the database unreachable, requests that need it answer 503 problem+json
    (with Retry-After), `/readyz` 503 and `/healthz` still 200."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import Settings
    from tests.api.postgres import free_port

    url = f"postgresql://nobody@127.0.0.1:{free_port()}/gone"
    with TestClient(create_app(Settings(database_url=url, outbox=False))) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        away = client.get("/v1/packages", headers={"Authorization": "Bearer cm_abc.def"})
        assert away.status_code == 503, away.text
        assert away.headers["content-type"] == "application/problem+json"
        assert away.headers["Retry-After"]
