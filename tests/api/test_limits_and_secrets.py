"""Security of section 5 (issue 16): submissions are rate limited per API key (`429`
problem+json with `Retry-After`), bodies over the size limit are `413` problem+json,
and secrets (API keys, webhook signing secrets) appear nowhere after the answer that
creates them: not in any later response, not in the logs.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.db import migrate, transaction
from api.main import create_app
from api.problems import PROBLEM_JSON
from api.security import Role, create_key
from tests.api.conftest import Service, fast_settings, mary, small_market


@contextmanager
def app(tmp_path, **settings: Any) -> Iterator[TestClient]:
    """The service without a job worker (submissions stay queued: nothing here needs
    them matched), on a fresh SQLite database."""
    url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    migrate(url)
    with TestClient(
        create_app(fast_settings(url, workers=0, outbox=False, **settings)),
        raise_server_exceptions=False,
    ) as client:
        yield client


def broker_key(client: TestClient) -> str:
    with transaction(client.app.state.sessions) as session:
        return create_key(session, role=Role.BROKER)


def submit(client: TestClient, key: str, n: int, **changes: Any):
    package = mary(id=f"p-{uuid.uuid4().hex[:8]}-{n}", **changes)
    package["client"] = {**package["client"], "id": f"c-{uuid.uuid4().hex[:8]}"}
    return client.post("/v1/packages", json=package, headers={"Authorization": f"Bearer {key}"})


def test_submissions_over_the_limit_are_429_with_retry_after(tmp_path) -> None:
    """With CAREMATCH_SUBMIT_RATE_LIMIT=3/minute the fourth submission of a key is a
    429 problem+json with Retry-After, and stores nothing; another key is not held
    back by the first one's count."""
    with app(tmp_path, submit_rate_limit="3/minute") as client:
        first, second = broker_key(client), broker_key(client)
        for i in range(3):
            assert submit(client, first, i).status_code == 202
        refused = submit(client, first, 3)
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"].startswith(PROBLEM_JSON)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        problem = refused.json()
        assert problem["status"] == 429 and "3 per 1 minute" in problem["detail"]
        assert problem["type"].endswith("/rate-limited")
        assert submit(client, second, 0).status_code == 202
        listed = client.get("/v1/packages", headers={"Authorization": f"Bearer {first}"})
        assert len(listed.json()["packages"]) == 3


def test_invalid_submissions_count_too_and_unknown_keys_are_401(tmp_path) -> None:
    """A flood of invalid bodies is limited like valid ones (the count comes before
    the body is looked at); a key that is not valid is 401, never 429."""
    with app(tmp_path, submit_rate_limit="2/minute") as client:
        key = broker_key(client)
        assert submit(client, key, 0, visits=[]).status_code == 422
        assert submit(client, key, 1, visits=[]).status_code == 422
        assert submit(client, key, 2).status_code == 429
        assert submit(client, "cm_0123456789abcdef.nope", 3).status_code == 401


def test_a_key_can_have_its_own_limit(tmp_path) -> None:
    """CAREMATCH_SUBMIT_RATE_LIMIT_BY_KEY gives one key (by its id) a limit of its own."""
    url_key: dict[str, str] = {}
    with app(tmp_path, submit_rate_limit="1/minute") as client:
        key = broker_key(client)
        url_key[key.removeprefix("cm_").split(".")[0]] = "5/minute"
        client.app.state.settings = client.app.state.settings.model_copy(
            update={"submit_rate_limit_by_key": url_key}
        )
        assert [submit(client, key, i).status_code for i in range(6)] == [202] * 5 + [429]
        other = broker_key(client)
        assert [submit(client, other, i).status_code for i in range(2)] == [202, 429]


def test_an_empty_limit_switches_limiting_off(tmp_path) -> None:
    """CAREMATCH_SUBMIT_RATE_LIMIT="" : no limit at all."""
    with app(tmp_path, submit_rate_limit="") as client:
        key = broker_key(client)
        assert {submit(client, key, i).status_code for i in range(5)} == {202}


def test_the_default_limit_admits_the_load_benchmark() -> None:
    """The default admits 50 submissions a second for a minute from one key (the
    target of the service benchmark's load generator, which uses one key)."""
    from limits import parse_many

    from api.settings import Settings

    (item,) = parse_many(Settings().submit_rate_limit)
    assert item.amount / item.get_expiry() >= 50


def test_oversized_body_is_413_problem(tmp_path) -> None:
    """A body over CAREMATCH_MAX_BODY_BYTES is 413 problem+json, by its length, before
    it is read."""
    with app(tmp_path, max_body_bytes=2_000) as client:
        key = broker_key(client)
        response = submit(client, key, 0, tasks_note="x" * 5_000)
        assert response.status_code == 413
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert "2,000 bytes" in response.json()["detail"]


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_secrets_never_in_logs_or_later_responses(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    """Over a whole flow (keys made over HTTP, a webhook registered and failing to
    deliver, a package submitted, matched and accepted, events read), neither an API
    key's secret nor the webhook signing secret appears in any log record, nor in any
    answer but the one that created it."""
    client = service.client
    caplog.set_level(logging.DEBUG)
    admin = service.auth(service.key("admin"))
    service.import_market(small_market())

    def new_key(body: dict[str, Any]) -> str:
        response = client.post("/v1/keys", json=body, headers=admin)
        assert response.status_code == 201, response.text
        return response.json()["key"]

    broker = new_key({"role": "broker", "label": "secrets test"})
    agency = new_key({"role": "agency", "agency_id": "isl-agency"})
    hook = client.put(
        "/v1/agencies/isl-agency/webhook",
        json={"url": "http://127.0.0.1:9/hook"},  # nobody listens: delivery fails, logged
        headers=service.auth(agency),
    )
    assert hook.status_code == 200, hook.text
    signing = hook.json()["secret"]
    secrets = {
        "broker key secret": broker.split(".", 1)[1],
        "agency key secret": agency.split(".", 1)[1],
        "webhook signing secret": signing,
    }

    created = client.post("/v1/packages", json=mary(), headers=service.auth(broker))
    assert created.status_code == 202
    package = service.wait_for(
        created.headers["Location"], broker, ("offered", "no_offer"), timeout=120
    )
    assert package["status"] == "offered"
    best = package["offers"][0]["agency_id"]
    accepted = client.post(
        f"{created.headers['Location']}/accept",
        json={"agency_id": best},
        headers=service.auth(broker),
    )
    assert accepted.status_code == 200, accepted.text

    deadline = time.monotonic() + 30  # the outbox tries the dead receiver, and says so
    while not any(r.name == "api.webhooks" for r in caplog.records):
        assert time.monotonic() < deadline, "no webhook delivery was attempted"
        time.sleep(0.1)

    as_agency, as_broker = service.auth(agency), service.auth(broker)
    answers = [
        client.get("/v1/agencies/isl-agency", headers=as_agency),
        client.get("/v1/agencies", headers=admin),
        client.get("/v1/agencies/isl-agency/events", headers=as_agency),
        client.get("/v1/agencies/isl-agency/workers", headers=as_agency),
        client.get("/v1/agencies/isl-agency/roster", headers=as_agency),
        client.get("/v1/packages", headers=as_broker),
        client.get(created.headers["Location"], headers=as_broker),
        client.get("/openapi.json"),
        client.get("/readyz"),
        # a failed authentication must not echo the key it was given
        client.get("/v1/packages", headers={"Authorization": f"Bearer {broker}x"}),
    ]
    for response in answers:
        for what, secret in secrets.items():
            assert secret not in response.text, f"{what} in {response.request.url}"
    assert answers[0].json().get("webhook_url") == "http://127.0.0.1:9/hook"

    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    assert caplog.records, "the flow logged nothing: the test would prove nothing"
    for what, secret in secrets.items():
        assert secret not in logged, f"{what} in the logs"
