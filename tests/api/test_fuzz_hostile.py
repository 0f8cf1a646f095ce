"""Fuzzing the HTTP edge (issue 16, section 4): real bodies (Mary's package, an agency
of the urban market, one of its workers) mutated by `tests.mutations` (types, bounds,
unicode, nesting, sizes, bytes that are not UTF-8) and sent as they are. Every answer
is a success or a 4xx `application/problem+json` whose `status` is the HTTP status;
never a 500. Seeded (`derandomize`) and bounded, on one SQLite service without a job
worker (nothing is matched: `test_fuzz.py` covers the documented API with
schemathesis; this covers what the engine's schema must refuse).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from api.problems import PROBLEM_JSON
from tests.api.conftest import KeyedClient, keyed_client, mary, small_market
from tests.mutations import hostile_bytes

AGENCY = small_market()["agencies"][0]
WORKER = AGENCY["workers"][0]

FUZZ = settings(
    derandomize=True,
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)  # fmt: skip


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedClient]:
    """The keyed app with one agency; requests send JSON."""
    with keyed_client(tmp_path_factory.mktemp("fuzz")) as api:
        for headers in (api.admin, api.broker):
            headers["Content-Type"] = "application/json"
        created = api.client.post("/v1/agencies", json=AGENCY, headers=api.admin)
        assert created.status_code == 201, created.text
        yield api


def answered_well(response: httpx.Response, ok: tuple[int, ...]) -> None:
    """A success, or a 4xx problem+json naming its status; never a 5xx."""
    assert response.status_code < 500, response.text[:2000]
    if response.status_code in ok:
        return
    assert 400 <= response.status_code < 500, response.status_code
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    problem = response.json()
    assert problem["status"] == response.status_code
    assert problem.get("detail"), problem


@FUZZ
@given(body=hostile_bytes(mary()))
def test_fuzz_submit_package(api: KeyedClient, body: bytes) -> None:
    """`POST /v1/packages` with a mutated package."""
    response = api.client.post("/v1/packages", content=body, headers=api.broker)
    answered_well(response, (202,))


@FUZZ
@given(body=hostile_bytes(AGENCY))
def test_fuzz_create_agency(api: KeyedClient, body: bytes) -> None:
    """`POST /v1/agencies` with a mutated agency (workers, packages, roster, travel)."""
    response = api.client.post("/v1/agencies", content=body, headers=api.admin)
    answered_well(response, (201,))


@FUZZ
@given(body=hostile_bytes(WORKER))
def test_fuzz_replace_worker(api: KeyedClient, body: bytes) -> None:
    """`PUT /v1/agencies/{id}/workers/{id}` with a mutated worker: the whole agency is
    re-validated and re-checked with it."""
    path = f"/v1/agencies/{AGENCY['agency']['id']}/workers/{WORKER['id']}"
    response = api.client.put(path, content=body, headers=api.admin)
    answered_well(response, (200,))
