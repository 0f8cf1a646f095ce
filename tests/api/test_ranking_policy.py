"""The council's ranking policy in the service: agencies' contract type and quality
rating are stored and changed through the API (by the council, not the agency), the
policy is the setting `CAREMATCH_RANKING_POLICY`, and the service's offers are ranked
by it, placement included (docs/matching.md, "The council's ranking policy")."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api import agencies
from api.db import migrate, transaction
from api.main import create_app
from api.settings import Settings
from matcher.brokerage.policy import ContractType, CqcRating, RankingPolicy
from matcher.market import Market
from tests.api.conftest import (
    MARKET_URBAN,
    Service,
    fast_settings,
    mary,
    running_service,
    small_market,
)
from tests.api.server import carematch

PROBLEM_JSON = "application/problem+json"
CONTRACT_FIRST = {"order_by_contract": True}


def service_with(
    database_url: str, policy: dict[str, Any] | None
) -> AbstractContextManager[Service]:
    """The service (app and a job worker) with this ranking policy."""
    overrides = {} if policy is None else {"ranking_policy": policy}
    return running_service(database_url, **overrides)


def _agency(service: Service, key: str, agency_id: str) -> dict[str, Any]:
    response = service.client.get(f"/v1/agencies/{agency_id}", headers=service.auth(key))
    assert response.status_code == 200, response.text
    return response.json()


def test_contract_and_quality_are_stored_and_changed_by_the_council(service: Service) -> None:
    """Created with the market's contract and rating; an admin changes them (stored,
    versioned) or clears them with null; the agency itself may not (403); a bad value
    is a 422 problem+json and changes nothing."""
    service.import_market(small_market())
    admin = service.key("admin")
    kgx = _agency(service, admin, "kgx-agency")
    assert kgx["contract"] == "framework"
    assert kgx["quality"] == {"cqc": "Outstanding", "points": None}

    changed = service.client.patch(
        "/v1/agencies/kgx-agency",
        json={"contract": "block", "quality": {"cqc": "Good", "points": 82}},
        headers=service.auth(admin),
    )
    assert changed.status_code == 200, changed.text
    again = _agency(service, admin, "kgx-agency")
    assert again["contract"] == "block"
    assert again["quality"] == {"cqc": "Good", "points": 82.0}
    assert again["version"] == kgx["version"] + 1
    with service.client.app.state.sessions() as session:  # as the matcher loads it
        entry = agencies.load(session, "kgx-agency").entry
    assert entry.contract == ContractType.BLOCK and entry.quality.value == 82

    own = service.key("agency", "kgx-agency")
    for body in ({"contract": "spot"}, {"quality": None}):
        refused = service.client.patch(
            "/v1/agencies/kgx-agency", json=body, headers=service.auth(own)
        )
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith(PROBLEM_JSON)
    for bad in (
        {"contract": "blocked"},
        {"quality": {}},
        {"quality": {"points": 101}},
        {"quality": {"cqc": "good"}},
        {"contract": 1},
    ):
        refused = service.client.patch(
            "/v1/agencies/kgx-agency", json=bad, headers=service.auth(admin)
        )
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.headers["content-type"].startswith(PROBLEM_JSON)
    assert _agency(service, admin, "kgx-agency")["contract"] == "block"

    cleared = service.client.patch(
        "/v1/agencies/kgx-agency",
        json={"contract": None, "quality": None},
        headers=service.auth(admin),
    )
    assert cleared.status_code == 200, cleared.text
    assert _agency(service, admin, "kgx-agency")["contract"] is None
    assert _agency(service, admin, "kgx-agency")["quality"] is None


@pytest.mark.parametrize("policy", [None, CONTRACT_FIRST], ids=["default", "contract-first"])
def test_the_service_ranks_by_the_councils_policy(
    database_url: str, policy: dict[str, Any] | None
) -> None:
    """Mary without a cap fits at isl-agency (the better care score) and kgx-agency.
    Once kgx-agency holds the block contract, a council that orders by contract gets
    kgx-agency first, with the placement saying why; with the default policy (the
    paired case) isl-agency stays first and every placement is the care score's."""
    with service_with(database_url, policy) as service:
        service.import_market(small_market())
        admin = service.key("admin")
        patched = service.client.patch(
            "/v1/agencies/kgx-agency", json={"contract": "block"}, headers=service.auth(admin)
        )
        assert patched.status_code == 200, patched.text
        broker = service.key("broker")
        submitted = service.client.post(
            "/v1/packages", json=mary(budget=None), headers=service.auth(broker)
        )
        assert submitted.status_code == 202, submitted.text
        done = service.wait_for(submitted.headers["Location"], broker, ("offered", "no_offer"))
    offers = {o["agency_id"]: o for o in done["offers"] if o["feasible"]}
    assert set(offers) == {"isl-agency", "kgx-agency"}
    isl, kgx = offers["isl-agency"], offers["kgx-agency"]
    assert isl["score"]["total"] > kgx["score"]["total"]
    assert kgx["placement"]["contract"] == "block"
    assert isl["placement"]["quality_rating"] == "Good"
    if policy is None:
        assert (isl["rank"], kgx["rank"]) == (1, 2)
        assert kgx["placement"]["points"] == kgx["score"]["total"]
        assert not kgx["placement"]["contract_first"]
    else:
        assert (kgx["rank"], isl["rank"]) == (1, 2)
        assert kgx["placement"]["contract_first"]
        assert kgx["placement"]["explanation"].startswith(
            "block contract: offered before framework and spot agencies"
        )
    refused = [o for o in done["offers"] if not o["feasible"]]
    assert refused and all(o["placement"]["points"] is None for o in refused)


def test_ranking_policy_setting_reads_json_and_refuses_bad_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`CAREMATCH_RANKING_POLICY` is the policy as JSON; unset, the default; a bad one
    is refused when the settings are read, and by the commands as one line, exit 2."""
    monkeypatch.delenv("CAREMATCH_RANKING_POLICY", raising=False)
    assert Settings().ranking_policy == RankingPolicy()
    policy = {"order_by_contract": True, "weights": {"care": 0, "quality": 60, "price": 40}}
    monkeypatch.setenv("CAREMATCH_RANKING_POLICY", json.dumps(policy))
    assert Settings().ranking_policy == RankingPolicy.model_validate(policy)
    database = {"CAREMATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"}
    for bad, named in (
        ({"weights": {"care": 0}}, "the weights must not all be 0"),
        ({"weights": {"price": -40}}, "weights.price"),
        ({"order_by_contract": "yes"}, "order_by_contract"),
    ):
        monkeypatch.setenv("CAREMATCH_RANKING_POLICY", json.dumps(bad))
        with pytest.raises(ValidationError):
            Settings()
        env = {**database, "CAREMATCH_RANKING_POLICY": json.dumps(bad)}
        done = carematch("import", str(MARKET_URBAN), env=env, check=False)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [done.stderr.strip()]
        assert done.stderr.startswith("error: CAREMATCH_RANKING_POLICY: ") and named in done.stderr
    env = {**database, "CAREMATCH_RANKING_POLICY": '{"weights":'}
    done = carematch("import", str(MARKET_URBAN), env=env, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: CAREMATCH_RANKING_POLICY: not valid JSON")


def test_import_keeps_contract_and_quality(tmp_path: Path) -> None:
    """`carematch import` stores each agency's contract and rating; a market's own
    ranking policy is not the service's (it says so rather than drop it silently)."""
    market = json.loads(MARKET_URBAN.read_text())
    market["ranking_policy"] = CONTRACT_FIRST
    path = tmp_path / "market.json"
    path.write_text(json.dumps(market))
    url = f"sqlite:///{tmp_path / 'c.db'}"
    done = carematch("import", str(path), env={"CAREMATCH_DATABASE_URL": url})
    assert "ranking_policy: not imported" in done.stdout
    migrate(url)
    settings = fast_settings(url, workers=0, outbox=False)
    with (
        TestClient(create_app(settings)) as client,
        transaction(client.app.state.sessions) as session,
    ):
        stored = {a: agencies.load(session, a).entry for a in ("hol-agency", "shd-agency")}
    expected = Market.model_validate(market)
    assert stored["hol-agency"].contract == ContractType.BLOCK
    assert stored["hol-agency"].quality.cqc == CqcRating.GOOD
    assert stored["shd-agency"].quality is None
    for agency_id, entry in stored.items():
        assert agencies.same_data(entry, expected.agency(agency_id))
