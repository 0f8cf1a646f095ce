"""Who may do what: the role-by-resource matrix over every route of the app, on SQLite
and PostgreSQL.

Keys: an admin, two brokers (A and B), an agency key for isl-agency and one for
kgx-agency, and three that are not keys: none at all, a malformed one and a
well-formed key that does not exist. Admins reach everything; a broker only
/v1/packages and only its own packages (another broker's answer 404, as if they did not
exist); an agency key only its own agency (another agency's resources answer 404, the
same as ids that exist nowhere) and nothing of brokers' packages, agencies or keys
(403); no key or a bad key 401 with a Bearer challenge.

The matrix has one row per (method, path) and the routes are read from `app.routes`:
a route added without a row fails `test_every_route_has_a_row`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from api import models
from api.problems import PROBLEM_JSON
from tests.api.conftest import Service, mary, small_market

SLOT_REQUEST = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "slot_request.json").read_text()
)
ISL, KGX = "isl-agency", "kgx-agency"
ADMIN, BROKER_A, BROKER_B = "admin", "broker A", "broker B"
AGENCY_ISL, AGENCY_KGX = "agency isl", "agency kgx"
NO_KEY, MALFORMED, UNKNOWN = "no key", "malformed key", "unknown key"
ROLES = (NO_KEY, MALFORMED, UNKNOWN, BROKER_B, AGENCY_KGX, BROKER_A, AGENCY_ISL, ADMIN)
ANONYMOUS = (NO_KEY, MALFORMED, UNKNOWN)
HEADERS = {
    MALFORMED: "Bearer not-a-carematch-key",
    UNKNOWN: "Bearer cm_0123456789abcdef." + "A" * 43,
}


def expect(
    *,
    admin: int,
    a: int = 403,
    b: int = 403,
    isl: int = 403,
    kgx: int = 403,
    anonymous: int = 401,
) -> dict[str, int]:
    return {
        ADMIN: admin,
        BROKER_A: a,
        BROKER_B: b,
        AGENCY_ISL: isl,
        AGENCY_KGX: kgx,
        **dict.fromkeys(ANONYMOUS, anonymous),
    }


def public(status: int = 200) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def admin_only(ok: int) -> dict[str, int]:
    return expect(admin=ok)


def brokers_own(ok: int) -> dict[str, int]:
    """Broker A's package: A and admins; B 404; agencies 403."""
    return expect(admin=ok, a=ok, b=404)


def agency_own(ok: int) -> dict[str, int]:
    """isl-agency's resource: its key and admins; kgx's key 404; brokers 403."""
    return expect(admin=ok, isl=ok, kgx=404)


Request = tuple[str, Any]  # path, JSON body (None: no body)


@dataclass
class World:
    service: Service
    keys: dict[str, str]
    market: dict[str, Any]
    matching: list[str]  # broker A's two packages without a budget cap
    offered: list[dict[str, Any]] = field(default_factory=list)  # the same, once matched
    queued: list[str] = field(default_factory=list)  # broker A's packages to withdraw
    b_package: str = ""

    def headers(self, role: str) -> dict[str, str]:
        if role in self.keys:
            return {"Authorization": f"Bearer {self.keys[role]}"}
        return {"Authorization": HEADERS[role]} if role in HEADERS else {}

    def call(self, role: str, method: str, path: str, body: Any = None):
        kwargs = {"json": body} if body is not None else {}
        return self.service.client.request(method, path, headers=self.headers(role), **kwargs)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = self.call(ADMIN, method, path, body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def agency(self, agency_id: str) -> dict[str, Any]:
        return next(a for a in self.market["agencies"] if a["agency"]["id"] == agency_id)

    def submit(self, tag: str, key_role: str = BROKER_A, **changes: Any) -> str:
        package = fresh_mary(f"mary-{tag}", **changes)
        response = self.call(key_role, "POST", "/v1/packages", package)
        assert response.status_code == 202, response.text
        return response.json()["id"]


def fresh_mary(package_id: str, **changes: Any) -> dict[str, Any]:
    """Mary under new ids (package, client, visits), so that she can join an agency
    that holds another Mary."""
    package = mary(id=package_id, client=dict(mary()["client"], id=f"{package_id}-client"))
    for visit in package["visits"]:
        visit["id"] = f"{package_id}-{visit['id']}"
    package.update(changes)
    return package


def small_agency(agency_id: str, world: World) -> dict[str, Any]:
    """A valid agency of one worker and no clients (cheap to create)."""
    har = copy.deepcopy(world.agency("har-agency"))
    return dict(
        har,
        agency=dict(har["agency"], id=agency_id),
        workers=har["workers"][:1],
        packages=[],
        roster=[],
    )


def new_worker(world: World, worker_id: str) -> dict[str, Any]:
    return dict(copy.deepcopy(world.agency(ISL)["workers"][0]), id=worker_id)


def held(world: World, index: int) -> dict[str, Any]:
    return world.agency(ISL)["packages"][index]


def shorter_visit(package: dict[str, Any]) -> dict[str, Any]:
    """A change to a held package (its first visit 5 minutes shorter): asked, not made."""
    line = package["visits"][0]
    base = line.get("id") or f"{package['id']}-v1"
    visit_id = f"{base}-{line['weekdays'][0]}"
    return {"changes": [{"action": "shorten", "visit_id": visit_id, "minutes": 5}]}


def tag(role: str) -> str:
    return re.sub(r"\W+", "-", role)


@dataclass
class Row:
    """What each role gets from one route, and the request each role sends: `victim`
    (the resource the roles that must be refused try), `own` (for the roles allowed
    to: a fresh resource where the request consumes one; the victim otherwise)."""

    expected: dict[str, int]
    victim: Callable[[World], Request]
    own: Callable[[World, str], Request] | None = None
    intact: Callable[[World], None] | None = None  # the victim survived the refusals

    def request(self, world: World, role: str) -> Request:
        allowed = self.expected[role] < 300
        if allowed and self.own is not None:
            return self.own(world, role)
        return self.victim(world)


def _accept(world: World, role: str) -> Request:
    """Broker A accepts its first package at its best agency, an admin the second at
    the other agency that can take it."""
    first, second = world.offered
    best = next(o["agency_id"] for o in first["offers"] if o["feasible"])
    if role == BROKER_A:
        return f"/v1/packages/{first['id']}/accept", {"agency_id": best}
    other = next(
        o["agency_id"] for o in second["offers"] if o["feasible"] and o["agency_id"] != best
    )
    return f"/v1/packages/{second['id']}/accept", {"agency_id": other}


def _new_worker_to_delete(world: World, role: str) -> Request:
    worker = new_worker(world, f"authz-del-{tag(role)}")
    world.admin("POST", f"/v1/agencies/{ISL}/workers", worker)
    return f"/v1/agencies/{ISL}/workers/{worker['id']}", None


def _own_withdraw(world: World, role: str) -> Request:
    return f"/v1/packages/{world.queued.pop()}/withdraw", None


def _doomed_agency(world: World, role: str) -> Request:
    world.admin("POST", "/v1/agencies", small_agency("authz-doomed", world))
    return "/v1/agencies/authz-doomed", None


def _roster(world: World) -> Request:
    current = world.admin("GET", f"/v1/agencies/{ISL}/roster")
    return f"/v1/agencies/{ISL}/roster", {"assignments": current["assignments"]}


def _not_there(world: World, path: str) -> None:
    assert world.call(ADMIN, "GET", path).status_code == 404, path


def matrix() -> dict[tuple[str, str], Row]:
    ag = f"/v1/agencies/{ISL}"
    worker0 = lambda w: w.agency(ISL)["workers"][0]  # noqa: E731
    return {
        # ------------------------------------------------------------ public
        ("GET", "/healthz"): Row(public(), lambda w: ("/healthz", None)),
        ("GET", "/readyz"): Row(public(), lambda w: ("/readyz", None)),
        ("GET", "/openapi.json"): Row(public(), lambda w: ("/openapi.json", None)),
        ("GET", "/docs"): Row(public(), lambda w: ("/docs", None)),
        ("GET", "/docs/oauth2-redirect"): Row(public(), lambda w: ("/docs/oauth2-redirect", None)),
        ("GET", "/redoc"): Row(public(), lambda w: ("/redoc", None)),
        # ------------------------------------------------------------ brokers' packages
        ("POST", "/v1/packages"): Row(
            expect(admin=202, a=202, b=202),
            lambda w: ("/v1/packages", fresh_mary("mary-refused")),
            own=lambda w, role: ("/v1/packages", fresh_mary(f"mary-{tag(role)}")),
        ),
        ("GET", "/v1/packages"): Row(
            expect(admin=200, a=200, b=200), lambda w: ("/v1/packages", None)
        ),
        ("GET", "/v1/packages/{package_id}"): Row(
            brokers_own(200), lambda w: (f"/v1/packages/{w.offered[0]['id']}", None)
        ),
        ("POST", "/v1/packages/{package_id}/accept"): Row(
            brokers_own(200),
            lambda w: (f"/v1/packages/{w.offered[0]['id']}/accept", {"agency_id": ISL}),
            own=_accept,
        ),
        ("POST", "/v1/packages/{package_id}/withdraw"): Row(
            brokers_own(200),
            lambda w: (f"/v1/packages/{w.queued[0]}/withdraw", None),
            own=_own_withdraw,
        ),
        # ------------------------------------------------------------ agencies (admin)
        ("POST", "/v1/agencies"): Row(
            admin_only(201),
            lambda w: ("/v1/agencies", small_agency("authz-refused", w)),
            own=lambda w, role: ("/v1/agencies", small_agency("authz-created", w)),
            intact=lambda w: _not_there(w, "/v1/agencies/authz-refused"),
        ),
        ("GET", "/v1/agencies"): Row(
            expect(admin=200, isl=200, kgx=200), lambda w: ("/v1/agencies", None)
        ),
        ("GET", "/v1/agencies/{agency_id}"): Row(agency_own(200), lambda w: (ag, None)),
        ("PATCH", "/v1/agencies/{agency_id}"): Row(
            agency_own(200), lambda w: (ag, {"area_type": w.agency(ISL).get("area_type", "urban")})
        ),
        ("DELETE", "/v1/agencies/{agency_id}"): Row(
            expect(admin=204),  # not even an agency's own key
            lambda w: (ag, None),
            own=_doomed_agency,
            intact=lambda w: w.admin("GET", ag),
        ),
        ("PUT", "/v1/agencies/{agency_id}/webhook"): Row(
            agency_own(200), lambda w: (ag + "/webhook", {"url": "http://127.0.0.1:9/hook"})
        ),
        ("DELETE", "/v1/agencies/{agency_id}/webhook"): Row(
            agency_own(204), lambda w: (ag + "/webhook", None)
        ),
        # ------------------------------------------------------------ an agency's own
        ("GET", "/v1/agencies/{agency_id}/workers"): Row(
            agency_own(200), lambda w: (ag + "/workers", None)
        ),
        ("POST", "/v1/agencies/{agency_id}/workers"): Row(
            agency_own(201),
            lambda w: (ag + "/workers", new_worker(w, "authz-refused")),
            own=lambda w, role: (ag + "/workers", new_worker(w, f"authz-{tag(role)}")),
            intact=lambda w: _not_there(w, ag + "/workers/authz-refused"),
        ),
        ("GET", "/v1/agencies/{agency_id}/workers/{worker_id}"): Row(
            agency_own(200), lambda w: (f"{ag}/workers/{worker0(w)['id']}", None)
        ),
        ("PUT", "/v1/agencies/{agency_id}/workers/{worker_id}"): Row(
            agency_own(200), lambda w: (f"{ag}/workers/{worker0(w)['id']}", worker0(w))
        ),
        ("DELETE", "/v1/agencies/{agency_id}/workers/{worker_id}"): Row(
            agency_own(204),
            lambda w: (f"{ag}/workers/{worker0(w)['id']}", None),
            own=_new_worker_to_delete,
        ),
        ("GET", "/v1/agencies/{agency_id}/packages"): Row(
            agency_own(200), lambda w: (ag + "/packages", None)
        ),
        ("POST", "/v1/agencies/{agency_id}/packages"): Row(
            agency_own(201),
            lambda w: (ag + "/packages", fresh_mary("held-refused")),
            own=lambda w, role: (ag + "/packages", fresh_mary(f"held-{tag(role)}")),
            intact=lambda w: _not_there(w, ag + "/packages/held-refused"),
        ),
        ("GET", "/v1/agencies/{agency_id}/packages/{package_id}"): Row(
            agency_own(200), lambda w: (f"{ag}/packages/{held(w, 5)['id']}", None)
        ),
        ("PUT", "/v1/agencies/{agency_id}/packages/{package_id}"): Row(
            agency_own(200), lambda w: (f"{ag}/packages/{held(w, 5)['id']}", held(w, 5))
        ),
        ("DELETE", "/v1/agencies/{agency_id}/packages/{package_id}"): Row(
            agency_own(204),
            lambda w: (f"{ag}/packages/{held(w, 3)['id']}", None),
            own=lambda w, role: (f"{ag}/packages/{held(w, 1 if role == ADMIN else 2)['id']}", None),
        ),
        ("GET", "/v1/agencies/{agency_id}/clients"): Row(
            agency_own(200), lambda w: (ag + "/clients", None)
        ),
        ("GET", "/v1/agencies/{agency_id}/clients/{client_id}"): Row(
            agency_own(200), lambda w: (f"{ag}/clients/{held(w, 5)['client']['id']}", None)
        ),
        ("PUT", "/v1/agencies/{agency_id}/clients/{client_id}"): Row(
            agency_own(200),
            lambda w: (f"{ag}/clients/{held(w, 5)['client']['id']}", held(w, 5)["client"]),
        ),
        ("GET", "/v1/agencies/{agency_id}/roster"): Row(
            agency_own(200), lambda w: (ag + "/roster", None)
        ),
        ("PUT", "/v1/agencies/{agency_id}/roster"): Row(agency_own(200), _roster),
        ("POST", "/v1/agencies/{agency_id}/slots"): Row(
            agency_own(200), lambda w: (ag + "/slots", SLOT_REQUEST)
        ),
        ("GET", "/v1/agencies/{agency_id}/events"): Row(
            agency_own(200), lambda w: (ag + "/events", None)
        ),
        ("POST", "/v1/agencies/{agency_id}/packages/{package_id}/change"): Row(
            agency_own(200),
            lambda w: (f"{ag}/packages/{held(w, 5)['id']}/change", shorter_visit(held(w, 5))),
        ),
        ("POST", "/v1/agencies/{agency_id}/packages/{package_id}/budget"): Row(
            agency_own(200),
            lambda w: (
                f"{ag}/packages/{held(w, 5)['id']}/budget",
                {"year_start": "2026-11-02", "as_of": "2026-12-01"},
            ),
        ),
        # ------------------------------------------------------------ keys (admin)
        ("POST", "/v1/keys"): Row(admin_only(201), lambda w: ("/v1/keys", {"role": "broker"})),
    }


def app_routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route of the JSON API, through included routers; HEAD
    goes with GET."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from app_routes(inner.routes)
        elif hasattr(route, "routes") and not hasattr(route, "methods"):
            yield from app_routes(route.routes)
        elif getattr(getattr(route, "endpoint", None), "__module__", "").startswith("api.web"):
            continue  # the pages: their access rules are tested in a browser (tests/web)
        else:
            for method in sorted(getattr(route, "methods", None) or ()):
                if method != "HEAD":
                    yield method, route.path


@pytest.fixture
def world(service: Service) -> World:
    market = small_market()
    service.import_market(market)
    keys = {
        ADMIN: service.key("admin"),
        BROKER_A: service.key("broker", label="A"),
        BROKER_B: service.key("broker", label="B"),
        AGENCY_ISL: service.key("agency", ISL),
        AGENCY_KGX: service.key("agency", KGX),
    }
    world = World(service, keys, market, matching=[])
    world.matching = [world.submit("a1", budget=None), world.submit("a2", budget=None)]
    world.queued = [world.submit("a3"), world.submit("a4"), world.submit("a5")]
    world.b_package = world.submit("b1", key_role=BROKER_B)
    return world


@pytest.fixture
def matched(world: World) -> World:
    """The world once broker A's two packages are offered (both at isl and kgx)."""
    for package_id in world.matching:
        path = f"/v1/packages/{package_id}"
        world.offered.append(world.service.wait_for(path, world.keys[BROKER_A], ("offered",)))
    return world


def test_every_route_has_a_row(service: Service) -> None:
    """A route without a row in the matrix (or a row without a route) fails here."""
    routes = set(app_routes(service.client.app.routes))
    rows = set(matrix())
    assert routes - rows == set(), "routes without a row in the authz matrix"
    assert rows - routes == set(), "rows of the authz matrix for routes that do not exist"


def test_role_by_resource_matrix(matched: World) -> None:
    """Every route, every role: the expected status; refusals are problem+json, 401s
    carry the Bearer challenge, and a refused request changes nothing."""
    world = matched
    failures: list[str] = []
    for (method, template), row in matrix().items():
        refused = [r for r in ROLES if row.expected[r] >= 400]
        allowed = [r for r in ROLES if row.expected[r] < 400]
        before = snapshot(world)
        for role in refused:
            failures += _check(world, row, method, template, role)
        if snapshot(world) != before:
            failures.append(f"{method} {template}: a refused request changed {before}")
        if row.intact is not None:
            try:
                row.intact(world)
            except AssertionError as exc:
                failures.append(f"{method} {template}: a refused request changed something: {exc}")
        for role in allowed:
            failures += _check(world, row, method, template, role)
    assert not failures, "\n".join(failures)


def snapshot(world: World) -> tuple[Any, ...]:
    """What a refused request must leave as it was, read from the database: the
    agencies and their versions, the packages and which of them are accepted or
    withdrawn (the job worker moves the others along meanwhile)."""
    with world.service.client.app.state.sessions() as session:
        agencies = session.execute(select(models.Agency.id, models.Agency.version)).all()
        packages = session.execute(select(models.Package.id, models.Package.status)).all()
    final = ("accepted", "withdrawn")
    return (
        sorted(tuple(a) for a in agencies),
        sorted(tuple(p) for p in packages if p.status in final),
        len(packages),
    )


def _check(world: World, row: Row, method: str, template: str, role: str) -> list[str]:
    path, body = row.request(world, role)
    response = world.call(role, method, path, body)
    want = row.expected[role]
    label = f"{method} {template} as {role} ({path})"
    if response.status_code != want:
        return [f"{label}: {response.status_code}, expected {want}: {response.text[:200]}"]
    wrong = []
    if want >= 400:
        if response.headers.get("content-type") != PROBLEM_JSON:
            wrong.append(f"{label}: {response.headers.get('content-type')}")
        elif response.json()["status"] != want:
            wrong.append(f"{label}: status member {response.json()['status']}")
    if want == 401 and not response.headers.get("www-authenticate", "").startswith("Bearer"):
        wrong.append(f"{label}: 401 without a Bearer challenge")
    return wrong


def test_lists_show_only_what_is_yours(world: World) -> None:
    """Listing packages shows a broker only its own (an admin all); listing agencies
    shows an agency key only its own."""
    listed = {
        role: {p["id"] for p in world.call(role, "GET", "/v1/packages").json()["packages"]}
        for role in (ADMIN, BROKER_A, BROKER_B)
    }
    a_packages = set(world.matching) | set(world.queued)
    assert a_packages <= listed[BROKER_A]
    assert listed[BROKER_B] == {world.b_package}
    assert listed[ADMIN] == listed[BROKER_A] | listed[BROKER_B]
    agencies = {
        role: [a["id"] for a in world.call(role, "GET", "/v1/agencies").json()["agencies"]]
        for role in (ADMIN, AGENCY_ISL, AGENCY_KGX)
    }
    assert agencies == {
        ADMIN: sorted(a["agency"]["id"] for a in world.market["agencies"]),
        AGENCY_ISL: [ISL],
        AGENCY_KGX: [KGX],
    }


def test_another_agency_is_indistinguishable_from_none(world: World) -> None:
    """kgx-agency's key guessing ids: isl-agency (which exists), near and sequential
    names and ids that exist nowhere all answer the same 404, for the agency and every
    resource under it."""
    guesses = [ISL, "har-agency", "isl-agency-2", "ISL-AGENCY", "agency-1", "1", "0", "nobody"]
    subpaths = [
        "",
        "/workers",
        "/workers/isl-w01",
        "/clients",
        "/packages",
        "/roster",
        "/events",
        "/events?after=1",
    ]
    shapes = set()
    for guess in guesses:
        for sub in subpaths:
            response = world.call(AGENCY_KGX, "GET", f"/v1/agencies/{guess}{sub}")
            assert response.status_code == 404, (guess, sub, response.text)
            body = response.json()
            shapes.add((body["type"], body["title"], body["detail"].replace(guess, "<id>")))
    assert len(shapes) == 1, shapes


def test_events_cannot_be_read_across_agencies(matched: World) -> None:
    """Broker A accepts at isl-agency: isl reads `package.won`; kgx-agency reads only its
    own feed (an `offer.not_taken` at most) whatever `after` cursor it guesses, and
    isl's feed answers it 404 at every cursor."""
    world = matched
    first = world.offered[0]
    feasible = {o["agency_id"] for o in first["offers"] if o["feasible"]}
    assert ISL in feasible
    accepted = world.call(
        BROKER_A, "POST", f"/v1/packages/{first['id']}/accept", {"agency_id": ISL}
    )
    assert accepted.status_code == 200, accepted.text
    won = world.call(AGENCY_ISL, "GET", f"/v1/agencies/{ISL}/events").json()["events"]
    assert [e["type"] for e in won] == ["package.won"]
    for after in (*range(0, 6), 2**31 - 1):
        theirs = world.call(AGENCY_KGX, "GET", f"/v1/agencies/{ISL}/events?after={after}")
        assert theirs.status_code == 404
        mine = world.call(AGENCY_KGX, "GET", f"/v1/agencies/{KGX}/events?after={after}")
        assert mine.status_code == 200
        for event in mine.json()["events"]:
            assert event["agency_id"] == KGX
            assert event["type"] != "package.won"
            assert "assignments" not in event["data"]


def _random_part(identifier: str, prefix: str) -> str:
    assert identifier.startswith(prefix), identifier
    return identifier[len(prefix) :]


def test_server_made_ids_are_not_guessable(world: World) -> None:
    """Package and job ids: a prefix and at least 16 random URL-safe characters; no two
    share a counter (no long common prefix, no neighbouring numbers)."""
    packages = world.matching + world.queued + [world.submit(f"id{i}") for i in range(5)]
    with world.service.client.app.state.sessions() as session:
        jobs = list(session.scalars(select(models.Job.id)))
    for ids, prefix in ((packages, "pkg_"), (jobs, "job_")):
        assert len(ids) >= 5
        parts = [_random_part(i, prefix) for i in ids]
        assert len(set(parts)) == len(parts)
        for part in parts:
            assert len(part) >= 16 and re.fullmatch(r"[A-Za-z0-9_-]+", part), part
        for i, a in enumerate(parts):
            for b in parts[i + 1 :]:
                common = len(_common_prefix(a, b))
                assert common < 6, (a, b)
                if a.isdigit() and b.isdigit():
                    assert abs(int(a) - int(b)) > 1000, (a, b)
        # random characters: many distinct ones across the ids
        assert len(set("".join(parts))) >= 30


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]
