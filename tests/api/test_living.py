"""The living week over HTTP: `POST .../packages/{id}/change` and `.../budget` answer
what `carematch change --json` and `carematch budget --json` print, on the agency's
stored data, with problem+json for what is wrong."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import SAMPLES, Service

LIVING = SAMPLES / "living"
PATH = "/v1/agencies/ken-agency/packages/mary"


def _mary_agency() -> dict[str, Any]:
    """Mary's sample (one agency, four workers) with its committed roster."""
    problem = json.loads((SAMPLES / "mary.json").read_text())
    roster = json.loads((LIVING / "mary_roster.json").read_text())
    return {
        "agency": problem["agency"],
        "area_type": problem["area_type"],
        "workers": problem["workers"],
        "packages": problem["packages"],
        "roster": roster["assignments"],
    }


def _setup(service: Service) -> dict[str, str]:
    admin = service.auth(service.key("admin"))
    created = service.client.post("/v1/agencies", json=_mary_agency(), headers=admin)
    assert created.status_code == 201, created.text
    return service.auth(service.key("agency", "ken-agency"))


def _body(name: str) -> dict[str, Any]:
    body = json.loads((LIVING / name).read_text())
    body.pop("package_id")
    return body


def test_change_verdicts_as_the_cli_gives_them(service: Service) -> None:
    """Sunday +30 and Monday -30 fits with no approval; Sunday +30 alone is over by
    625 pence a week and 32,500 a year (30 minutes at £12.50 an hour, 52 weeks);
    nothing is stored either way."""
    auth = _setup(service)
    before = service.client.get("/v1/agencies/ken-agency", headers=auth).json()["version"]
    fits = service.client.post(f"{PATH}/change", json=_body("mary_change.json"), headers=auth)
    assert fits.status_code == 200, fits.text
    assert fits.json()["verdict"] == "fits"
    assert fits.json()["approval_needed"] is False
    over = service.client.post(
        f"{PATH}/change", json=_body("mary_change_over.json"), headers=auth
    ).json()
    assert over["verdict"] == "over_budget"
    assert over["budget"]["over_per_week_pence"] == str(30 * 1250 // 60)
    assert over["budget"]["over_per_year_pence"] == str(30 * 1250 * 52 // 60)
    after = service.client.get("/v1/agencies/ken-agency", headers=auth).json()["version"]
    assert after == before


def test_budget_statement_as_the_cli_gives_it(service: Service) -> None:
    """The sample ledger's statement: her week in hospital banked 405 x 1250 / 60 =
    8,437.5 pence; the next review six weeks after care started."""
    auth = _setup(service)
    response = service.client.post(f"{PATH}/budget", json=_body("mary_ledger.json"), headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["not_delivered"]["by_reason"]["hospital"]["pence"] == "8437.5"
    assert body["next_review"] == "2026-12-14"
    assert body["within_cap"] is True


def test_budget_reads_delivered_from_the_posted_dated_rosters(service: Service) -> None:
    """The ledger's `rosters` (inline dated rosters of weeks gone by) are accepted:
    Wednesday 11 November's 60-minute shower left uncovered is banked as not covered
    by the agency, 60 x 1250 / 60 = 1,250 pence, with 44 visits delivered instead of
    45, as `carematch budget --json` says; a roster without its week is a 422 naming
    `body.rosters[0].week_start`."""
    auth = _setup(service)
    ledger = _body("mary_ledger_rosters.json")
    response = service.client.post(f"{PATH}/budget", json=ledger, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["not_delivered"]["by_reason"]["not covered by the agency"] == {
        "visits": 1,
        "minutes": 60,
        "pence": "1250",
    }
    assert body["spent"]["delivered"]["visits"] == 44
    del ledger["rosters"][0]["week_start"]
    undated = service.client.post(f"{PATH}/budget", json=ledger, headers=auth)
    assert undated.status_code == 422
    assert undated.json()["errors"][0]["field"] == "body.rosters[0].week_start"


def test_bad_requests_are_problems_naming_the_field(service: Service) -> None:
    """An unknown visit and a date outside the budget year are 422s naming the body's
    field; an unknown package is 404; another agency's key sees nothing (404)."""
    auth = _setup(service)
    unknown = {"changes": [{"action": "drop", "visit_id": "nope"}]}
    refused = service.client.post(f"{PATH}/change", json=unknown, headers=auth)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "body.changes[0].visit_id"

    ledger = _body("mary_ledger.json")
    ledger["entries"].append({"kind": "use_bank", "date": "2028-01-01", "minutes": 10})
    late = service.client.post(f"{PATH}/budget", json=ledger, headers=auth)
    assert late.status_code == 422
    assert late.json()["errors"][0]["field"] == "body.entries[3].date"

    missing = service.client.post(
        "/v1/agencies/ken-agency/packages/nobody/change",
        json=_body("mary_change.json"),
        headers=auth,
    )
    assert missing.status_code == 404
    admin = service.auth(service.key("admin"))
    another = _mary_agency()
    another["agency"] = {**another["agency"], "id": "another-agency"}
    created = service.client.post("/v1/agencies", json=another, headers=admin)
    assert created.status_code == 201, created.text
    other = service.auth(service.key("agency", "another-agency"))
    hidden = service.client.post(f"{PATH}/change", json=_body("mary_change.json"), headers=other)
    assert hidden.status_code == 404
