"""Agencies keep their data through the API: every change checked, the roster served
with its KPIs and the checker's verdict, slots as the CLI computes them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import MARKET_URBAN, Service, small_market
from tests.api.server import REPO

SLOT_REQUEST = REPO / "tests" / "data" / "slot_request.json"


def test_agency_changes_are_checked(service: Service) -> None:
    """A worker edit that would leave committed visits outside the worker's hours is
    refused with the checker's violations and not stored; a harmless one is stored;
    a worker with visits cannot be deleted; a new worker can be added and removed."""
    service.import_market(small_market())
    key = service.key("agency", "isl-agency")
    auth = service.auth(key)
    before = service.client.get("/v1/agencies/isl-agency", headers=auth).json()
    roster = service.client.get("/v1/agencies/isl-agency/roster", headers=auth).json()
    busy = roster["assignments"][0]["workers"][0]
    worker = service.client.get(f"/v1/agencies/isl-agency/workers/{busy}", headers=auth).json()

    broken = {**worker, "availability": {}}
    refused = service.client.put(
        f"/v1/agencies/isl-agency/workers/{busy}", json=broken, headers=auth
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    violations = refused.json()["violations"]
    assert violations and all(v["rule"] and v["message"] for v in violations)
    after = service.client.get("/v1/agencies/isl-agency", headers=auth).json()
    assert after["version"] == before["version"]  # nothing stored
    stored = service.client.get(f"/v1/agencies/isl-agency/workers/{busy}", headers=auth).json()
    assert stored == worker

    renamed = {**worker, "name": "A. N. Other"}
    ok = service.client.put(f"/v1/agencies/isl-agency/workers/{busy}", json=renamed, headers=auth)
    assert ok.status_code == 200
    assert service.client.get("/v1/agencies/isl-agency", headers=auth).json()["version"] == (
        before["version"] + 1
    )

    gone = service.client.delete(f"/v1/agencies/isl-agency/workers/{busy}", headers=auth)
    assert gone.status_code == 409

    new = {**worker, "id": "isl-w-new", "name": "New Starter"}
    added = service.client.post("/v1/agencies/isl-agency/workers", json=new, headers=auth)
    assert added.status_code == 201
    assert added.headers["Location"] == "/v1/agencies/isl-agency/workers/isl-w-new"
    twice = service.client.post("/v1/agencies/isl-agency/workers", json=new, headers=auth)
    assert twice.status_code == 409
    removed = service.client.delete("/v1/agencies/isl-agency/workers/isl-w-new", headers=auth)
    assert removed.status_code == 204
    missing = service.client.get("/v1/agencies/isl-agency/workers/isl-w-new", headers=auth)
    assert missing.status_code == 404


def test_roster_clients_and_packages(service: Service) -> None:
    """The roster comes with KPIs and the verdict; a client edit that excludes the
    client's own carer is refused; ending a package takes its visits out."""
    service.import_market(small_market())
    auth = service.auth(service.key("agency", "isl-agency"))
    roster = service.client.get("/v1/agencies/isl-agency/roster", headers=auth).json()
    assert roster["check"] == {"valid": True, "violations": []}
    assert set(roster["kpis"]) >= {"overall", "clients", "workers"}
    visit = roster["assignments"][0]
    client = service.client.get(
        f"/v1/agencies/isl-agency/clients/{visit['client_id']}", headers=auth
    ).json()
    assert client["package_id"] == visit["package_id"]
    excluded = {**client["client"], "excluded_workers": visit["workers"]}
    refused = service.client.put(
        f"/v1/agencies/isl-agency/clients/{visit['client_id']}", json=excluded, headers=auth
    )
    assert refused.status_code == 409 and refused.json()["violations"]

    ended = service.client.delete(
        f"/v1/agencies/isl-agency/packages/{visit['package_id']}", headers=auth
    )
    assert ended.status_code == 204
    left = service.client.get("/v1/agencies/isl-agency/roster", headers=auth).json()
    assert all(a["package_id"] != visit["package_id"] for a in left["assignments"])
    assert len(left["assignments"]) < len(roster["assignments"])
    assert left["version"] == roster["version"] + 1

    # the whole roster replaced by itself minus one visit is stored, checked
    fewer = {"assignments": left["assignments"][1:]}
    put = service.client.put("/v1/agencies/isl-agency/roster", json=fewer, headers=auth)
    assert put.status_code == 200, put.text
    assert len(put.json()["assignments"]) == len(fewer["assignments"])
    clash = dict(left["assignments"][1])
    clash["visit_id"], clash["start"] = left["assignments"][0]["visit_id"], "03:00"
    bad = service.client.put(
        "/v1/agencies/isl-agency/roster",
        json={"assignments": [*fewer["assignments"], clash]},
        headers=auth,
    )
    assert bad.status_code in (409, 422)


def test_slots_are_the_clis(service: Service, tmp_path: Path) -> None:
    """`POST /v1/agencies/{id}/slots` answers what `carematch slots --json` answers
    for the same roster and request."""
    service.import_market(small_market())
    auth = service.auth(service.key("agency", "isl-agency"))
    request = json.loads(SLOT_REQUEST.read_text())
    answer = service.client.post("/v1/agencies/isl-agency/slots", json=request, headers=auth)
    assert answer.status_code == 200
    cli = subprocess.run(
        [sys.executable, "-m", "matcher", "slots", str(MARKET_URBAN), "isl-agency",
         str(SLOT_REQUEST), "--json"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert answer.json() == json.loads(cli.stdout)
    assert answer.json()  # there are slots to compare
