"""Fixtures of the service tests: every database test runs on SQLite and on a real
PostgreSQL server that the tests start themselves (`tests/api/postgres.py`).

`service` is the app in this process (`TestClient`, lifespan and webhook outbox
running) with a real job worker (`api.worker.Worker`, the same loop `carematch serve`
runs in its worker processes) in a thread beside it, on a fresh database per test.
End-to-end tests that need a real server process start `carematch serve` themselves
(`tests/api/test_serve.py`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.db import migrate, transaction
from api.main import create_app
from api.security import Role, create_key
from api.settings import Settings
from api.worker import Worker
from tests.api.figures import scaled
from tests.api.postgres import ThrowawayPostgres

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"
MARKET_URBAN = SAMPLES / "market_urban.json"
MARY = SAMPLES / "packages" / "mary.json"
# A small market for most tests: Mary fits at isl-agency only (kgx-agency is over her
# budget, har-agency out of its area); without a budget cap, at both isl and kgx.
SMALL_MARKET_AGENCIES = ("isl-agency", "kgx-agency", "har-agency")


def small_market() -> dict[str, Any]:
    market = json.loads(MARKET_URBAN.read_text())
    market["agencies"] = [
        a for a in market["agencies"] if a["agency"]["id"] in SMALL_MARKET_AGENCIES
    ]
    return market


def mary(**changes: Any) -> dict[str, Any]:
    package = json.loads(MARY.read_text())
    package.update(changes)
    return package


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'carematch.db'}"
    return request.getfixturevalue("postgres").new_database()


def fast_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for fast tests: one process per match, short polls, leases and
    backoffs (the mechanisms are the production ones, only quicker)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "workers": 1,
        "match_processes": 1,
        "poll_interval_s": 0.05,
        "heartbeat_s": 0.3,
        "job_lease_s": 3.0,
        # longer in benchmarks/service/faults.py, where a receiver is down for minutes
        "webhook_max_backoff_s": scaled("CAREMATCH_FAULT_WEBHOOK_MAX_BACKOFF_S", 1.0),
        "webhook_timeout_s": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Service:
    """The app under test, its worker, and helpers to make keys and wait for jobs."""

    client: TestClient
    settings: Settings
    keys: dict[str, str] = field(default_factory=dict)

    def key(self, role: Role | str, agency_id: str | None = None, label: str = "") -> str:
        with transaction(self.client.app.state.sessions) as session:
            return create_key(session, role=Role(role), agency_id=agency_id, label=label)

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def import_market(self, market: dict[str, Any]) -> None:
        admin = self.key("admin")
        for entry in market["agencies"]:
            response = self.client.post("/v1/agencies", json=entry, headers=self.auth(admin))
            assert response.status_code == 201, response.text

    def wait_for(self, path: str, key: str, until: tuple[str, ...], timeout: float = 60) -> dict:
        """Poll a package until its status is one of `until`."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.client.get(path, headers=self.auth(key))
            assert response.status_code == 200, response.text
            body = response.json()
            if body["status"] in until:
                return body
            assert time.monotonic() < deadline, f"{path} still {body['status']}"
            time.sleep(0.1)


@pytest.fixture
def service(database_url: str) -> Iterator[Service]:
    with running_service(database_url) as running:
        yield running


@contextlib.contextmanager
def running_service(database_url: str, **overrides: Any) -> Iterator[Service]:
    """The app and one in-process job worker on a migrated database, with these
    settings changed from `fast_settings`."""
    settings = fast_settings(database_url, **overrides)
    migrate(database_url)
    worker = Worker(settings)
    thread = threading.Thread(target=worker.run, name="job-worker", daemon=True)
    thread.start()
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield Service(client=client, settings=settings)
    finally:
        worker.stop()
        thread.join(timeout=30)


@dataclass
class KeyedClient:
    """The app with no job worker (nothing is matched: for tests of what the API
    refuses), an admin's and a broker's Authorization headers."""

    client: TestClient
    admin: dict[str, str]
    broker: dict[str, str]


@contextlib.contextmanager
def keyed_client(folder: Path) -> Iterator[KeyedClient]:
    """`KeyedClient` on a fresh SQLite database in `folder`."""
    url = f"sqlite:///{folder / 'carematch.db'}"
    migrate(url)
    settings = fast_settings(url, workers=0, outbox=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        with transaction(client.app.state.sessions) as session:
            admin = create_key(session, role=Role.ADMIN)
            broker = create_key(session, role=Role.BROKER)
        yield KeyedClient(
            client, {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {broker}"}
        )
