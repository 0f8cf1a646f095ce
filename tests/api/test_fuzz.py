"""Schemathesis against the app's own OpenAPI document: every operation, fuzzed with
bounded, seeded examples (valid and invalid data), with an admin, a broker and an
agency key and with schemathesis's own (bogus) credentials, on a database holding the
small market, a broker's matched package and a live job worker; on SQLite and
PostgreSQL.

Every answer must be no 5xx, a documented status code, a documented content type,
documented headers and a body that conforms to the documented schema (errors
included: problem+json, `ProblemDetails`).

The requests go through the `service` fixture's own TestClient (schemathesis only
generates and checks them), so the app runs once, with its lifespan, its outbox and
the job worker, as in the other tests. Path parameters are real ids half of the time
(agencies, workers, clients, held packages, the broker's package), so the fuzzing
reaches past the 404s into the routes' bodies.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Service, mary, small_market

# Per operation, per database; seeded. A longer, unseeded hunt:
# CAREMATCH_FUZZ_EXAMPLES=300 CAREMATCH_FUZZ_RANDOM=1 pytest tests/api/test_fuzz.py
EXAMPLES = int(os.environ.get("CAREMATCH_FUZZ_EXAMPLES", "25"))
SEEDED = not os.environ.get("CAREMATCH_FUZZ_RANDOM")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ROLES = ("admin", "broker", "agency", "theirs")  # theirs: what schemathesis generated


def real_ids(service: Service, broker_key: str) -> dict[str, list[str]]:
    """Ids that exist, per path parameter, so the fuzzing reaches past the 404s."""
    market = small_market()
    isl = next(a for a in market["agencies"] if a["agency"]["id"] == "isl-agency")
    submitted = service.client.post(
        "/v1/packages", json=mary(budget=None), headers=service.auth(broker_key)
    )
    assert submitted.status_code == 202, submitted.text
    broker_package = submitted.json()["id"]
    service.wait_for(f"/v1/packages/{broker_package}", broker_key, ("offered", "no_offer"))
    return {
        "agency_id": [a["agency"]["id"] for a in market["agencies"]],
        "worker_id": [w["id"] for w in isl["workers"][:3]],
        "client_id": [p["client"]["id"] for p in isl["packages"][:3]],
        "package_id": [broker_package, *(p["id"] for p in isl["packages"][:2])],
    }


def as_httpx(kwargs: dict[str, Any], key: str | None) -> dict[str, Any]:
    """Schemathesis's `requests` arguments as the TestClient's (httpx) ones, sent the
    way `requests` would send them, with `key` as the bearer key if given (in place of
    whatever credentials, or none, schemathesis chose)."""
    url = kwargs["url"]
    if kwargs.get("params"):
        url += ("&" if "?" in url else "?") + urlencode(kwargs["params"], doseq=True)
    headers = []
    sent = dict(kwargs.get("headers") or {})
    if key is not None:
        sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
        sent["Authorization"] = f"Bearer {key}"
    for name, value in sent.items():
        value = str(value)
        try:
            encoded = value.encode("latin-1")
        except UnicodeEncodeError:
            encoded = value.encode("utf-8")
        headers.append((str(name).encode("latin-1", "replace"), encoded))
    out: dict[str, Any] = {"method": kwargs["method"], "url": url, "headers": headers}
    if "json" in kwargs:
        out["content"] = json.dumps(kwargs["json"]).encode()
        if not any(name.lower() == b"content-type" for name, _ in headers):
            headers.append((b"content-type", b"application/json"))
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        out["content"] = data if isinstance(data, bytes) else str(data).encode()
    return out


def operations(schema: schemathesis.schemas.BaseSchema) -> list[Any]:
    """Every operation; the ones that delete last, deleting an agency very last (the
    others still find the market in place)."""
    found = [result.ok() for result in schema.get_all_operations()]

    def order(op: Any) -> tuple[int, str]:
        if op.label == "DELETE /v1/agencies/{agency_id}":
            return 2, op.label
        return (1 if op.method.upper() == "DELETE" else 0), op.label

    return sorted(found, key=order)


def fuzz(
    service: Service,
    op: Any,
    keys: dict[str, str],
    ids: dict[str, list[str]],
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
) -> Counter[int]:
    """Run the operation's examples; returns the statuses answered."""
    strategy = st.one_of(*(op.as_strategy(generation_mode=mode) for mode in modes))
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=SEEDED,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=["explicit", "generate"],  # a failure is reported as found, not shrunk
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(strategy, label="case")
        for name in case.path_parameters or {}:
            if name in ids and data.draw(st.booleans(), label=f"real {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(ids[name]), label=name)
        role = data.draw(st.sampled_from(ROLES), label="role")
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        response = service.client.request(**as_httpx(kwargs, keys.get(role)))
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    run()
    return statuses


@pytest.fixture
def fuzzed(service: Service) -> tuple[Service, dict[str, str], dict[str, list[str]]]:
    service.import_market(small_market())
    keys = {
        "admin": service.key("admin"),
        "broker": service.key("broker"),
        "agency": service.key("agency", "isl-agency"),
    }
    return service, keys, real_ids(service, keys["broker"])


def test_every_operation_keeps_its_contract(fuzzed) -> None:
    service, keys, ids = fuzzed
    schema = schemathesis.openapi.from_dict(service.client.app.openapi())
    ops = operations(schema)
    assert len(ops) >= 30  # every route of the app is in the document
    failures: list[str] = []
    answered: dict[str, Counter[int]] = {}
    for op in ops:
        started = time.monotonic()
        try:
            try:
                answered[op.label] = fuzz(service, op, keys, ids)
            except Exception as exc:
                # Schemathesis sometimes cannot build a negative example of a body with
                # a list of `oneOf` items ("Cannot generate an array with 1 demanded
                # elements", depending on what ran before in the process): that is the
                # generator's limit, not the service's. Valid examples still run.
                if type(exc).__name__ != "InvalidSchema" or "Cannot generate" not in str(exc):
                    raise
                answered[op.label] = fuzz(service, op, keys, ids, (GenerationMode.POSITIVE,))
        except Exception as exc:  # collect, so one run reports every operation's failure
            failures.append(f"{op.label}: {type(exc).__name__}: {str(exc)[:3000]}")
        print(f"{op.label}: {time.monotonic() - started:.1f}s {dict(answered.get(op.label, {}))}")
    assert not failures, "\n\n".join(failures)
    # The fuzzing got past authentication and validation into the routes' work.
    succeeded = [label for label, statuses in answered.items() if any(s < 300 for s in statuses)]
    assert len(succeeded) >= len(ops) // 2, succeeded
