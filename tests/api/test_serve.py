"""End to end against a real `carematch serve` process (API and job worker processes),
on SQLite and PostgreSQL: the issue's acceptance, the webhook, restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from api.db import make_engine
from api.webhooks import SIGNATURE_HEADER, verify
from tests.api.conftest import MARKET_URBAN, MARY, mary, small_market
from tests.api.postgres import free_port
from tests.api.server import REPO, Server, carematch

PROBLEM = "application/problem+json"


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "CAREMATCH_DATABASE_URL": database_url,
        "CAREMATCH_POLL_INTERVAL_S": "0.05",
        "CAREMATCH_HEARTBEAT_S": "0.3",
        "CAREMATCH_JOB_LEASE_S": "3",
        "CAREMATCH_WEBHOOK_MAX_BACKOFF_S": "1",
        **extra,
    }


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_status(url: str, key: str, until: tuple[str, ...], timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = httpx.get(url, headers=bearer(key), timeout=10).json()
        if body["status"] in until:
            return body
        assert time.monotonic() < deadline, f"{url} still {body['status']}"
        time.sleep(0.2)


def test_empty_database_answers_and_publishes(tmp_path: Path) -> None:
    """`carematch serve` on an empty SQLite file: /healthz, the contract paths in its
    OpenAPI document, and problem+json for 401, 422 (malformed, not JSON) and 404."""
    env = env_for(f"sqlite:///{tmp_path / 'empty.db'}")
    with Server(env).start(ready=False) as server:
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
        paths = httpx.get(server.url + "/openapi.json").json()["paths"]
        for path in (
            "/v1/packages",
            "/v1/packages/{package_id}",
            "/v1/packages/{package_id}/accept",
            "/v1/agencies/{agency_id}/slots",
            "/v1/agencies/{agency_id}/events",
        ):
            assert path in paths
        assert httpx.get(server.url + "/docs").status_code == 200
        no_key = httpx.post(server.url + "/v1/packages", json=mary())
        assert (no_key.status_code, no_key.headers["content-type"]) == (401, PROBLEM)
        key = carematch("keys", "create", "--role", "broker", env=env).stdout.strip()
        malformed = httpx.post(server.url + "/v1/packages", json={"id": 3}, headers=bearer(key))
        assert (malformed.status_code, malformed.headers["content-type"]) == (422, PROBLEM)
        assert malformed.json()["errors"]
        not_json = httpx.post(
            server.url + "/v1/packages",
            content=b"this is not json",
            headers={**bearer(key), "Content-Type": "application/json"},
        )
        assert (not_json.status_code, not_json.headers["content-type"]) == (422, PROBLEM)
        unknown = httpx.get(server.url + "/v1/packages/pkg_nope", headers=bearer(key))
        assert (unknown.status_code, unknown.headers["content-type"]) == (404, PROBLEM)


class Receiver:
    """A local webhook receiver that records what it gets; can be told to fail."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.down = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.down:
                    self.send_response(503)
                else:
                    receiver.received.append((dict(self.headers), body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_acceptance_same_offers_as_cli_accept_event_and_webhook(database_url: str) -> None:
    """After `carematch import` of the urban market, Mary's package reaches `offered`
    with the same ranked agencies as `carematch match`; accepting the best answers
    200; that agency's key reads the event, and its webhook receiver gets it, signed."""
    env = env_for(database_url)
    imported = carematch("import", str(MARKET_URBAN), env=env)
    assert "isl-agency: created" in imported.stdout
    again = carematch("import", str(MARKET_URBAN), env=env)
    assert "isl-agency: unchanged" in again.stdout  # idempotent by ids
    broker = carematch("keys", "create", "--role", "broker", env=env).stdout.strip()
    cli = subprocess.run(
        [sys.executable, "-m", "matcher", "match", str(MARKET_URBAN), str(MARY), "--json"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    expected = [o["agency_id"] for o in json.loads(cli.stdout)["offers"] if o["feasible"]]
    receiver = Receiver()
    try:
        with Server(env) as server:
            submitted = httpx.post(
                server.url + "/v1/packages",
                content=MARY.read_bytes(),
                headers={**bearer(broker), "Content-Type": "application/json"},
            )
            assert submitted.status_code == 202
            location = server.url + submitted.headers["Location"]
            done = wait_status(location, broker, ("offered", "no_offer", "failed"))
            assert done["status"] == "offered"
            ranked = [o["agency_id"] for o in done["offers"] if o["feasible"]]
            assert ranked == expected
            best = ranked[0]
            agency_key = carematch(
                "keys", "create", "--role", "agency", "--agency", best, env=env
            ).stdout.strip()
            hook = httpx.put(
                f"{server.url}/v1/agencies/{best}/webhook",
                json={"url": receiver.url},
                headers=bearer(agency_key),
            )
            assert hook.status_code == 200
            secret = hook.json()["secret"]
            accepted = httpx.post(
                location + "/accept", json={"agency_id": best}, headers=bearer(broker)
            )
            assert accepted.status_code == 200, accepted.text
            feed = httpx.get(
                f"{server.url}/v1/agencies/{best}/events", headers=bearer(agency_key)
            ).json()
            assert [e["type"] for e in feed["events"]] == ["package.won"]
            deadline = time.monotonic() + 30
            while not receiver.received:
                assert time.monotonic() < deadline, "no webhook arrived"
                time.sleep(0.1)
            headers, body = receiver.received[0]
            assert verify(secret, body, headers[SIGNATURE_HEADER])
            assert not verify("whsec_wrong", body, headers[SIGNATURE_HEADER])
            assert json.loads(body)["seq"] == feed["events"][0]["seq"]
            roster = httpx.get(
                f"{server.url}/v1/agencies/{best}/roster", headers=bearer(agency_key)
            ).json()
            assert roster["check"]["valid"]
            assert sum(a["package_id"] == "mary" for a in roster["assignments"]) == 14
    finally:
        receiver.close()


@pytest.mark.parametrize("stop", ["crash", "graceful"])
def test_restart_finishes_queued_and_running_jobs(database_url: str, stop: str) -> None:
    """Stop the server while one job runs and others wait (a crash: SIGKILL to the
    server and its workers; or Ctrl-C), start it again: every package reaches its
    offers intact."""
    env = env_for(database_url)
    market = small_market()
    path = Path(database_url.split("///")[-1]).parent if database_url.startswith("sqlite") else None
    market_file = (path or Path("/tmp")) / f"market-{time.monotonic_ns()}.json"
    market_file.write_text(json.dumps(market))
    try:
        carematch("import", str(market_file), env=env)
    finally:
        market_file.unlink()
    broker = carematch("keys", "create", "--role", "broker", env=env).stdout.strip()
    port = free_port()
    server = Server(env, port=port).start()
    ids = []
    try:
        for n in range(3):
            package = mary(id=f"mary-{n}", budget=None)
            package["client"] = {**package["client"], "id": f"mary-client-{n}"}
            for line in package["visits"]:
                line["id"] = f"{line['id']}-{n}"
            response = httpx.post(server.url + "/v1/packages", json=package, headers=bearer(broker))
            assert response.status_code == 202
            ids.append(response.json()["id"])
        # wait until the first is being matched, then crash everything
        deadline = time.monotonic() + 30
        while (
            httpx.get(f"{server.url}/v1/packages/{ids[0]}", headers=bearer(broker)).json()["status"]
            == "queued"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        if stop == "crash":
            server.kill()
        else:
            server.stop()
    if stop == "graceful":  # the running job was handed back, the workers said goodbye
        engine = make_engine(database_url)
        with engine.connect() as connection:
            running = connection.execute(text("SELECT count(*) FROM jobs WHERE status = 'running'"))
            assert running.scalar() == 0
            beats = connection.execute(text("SELECT count(*) FROM worker_heartbeats"))
            assert beats.scalar() == 0
        engine.dispose()
    statuses = []
    with Server(env, port=port) as again:
        for package_id in ids:
            done = wait_status(f"{again.url}/v1/packages/{package_id}", broker, ("offered",))
            statuses.append(done["status"])
            assert done["package"]["client"]["name"] == "Mary"
            assert [o["agency_id"] for o in done["offers"] if o["feasible"]] == [
                "isl-agency",
                "kgx-agency",
            ]
    assert statuses == ["offered"] * 3


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite, and PostgreSQL where the test is parametrised for it."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'carematch.db'}"
    return request.getfixturevalue("postgres").new_database()


both_databases = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
test_acceptance_same_offers_as_cli_accept_event_and_webhook = both_databases(
    test_acceptance_same_offers_as_cli_accept_event_and_webhook
)
test_restart_finishes_queued_and_running_jobs = both_databases(
    test_restart_finishes_queued_and_running_jobs
)


def _children(pid: int) -> list[int]:
    """Live child processes of `pid` (from /proc; zombies count as gone)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _all_gone(pids: list[int], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_nothing_outlives_a_killed_parent(tmp_path: Path) -> None:
    """`serve` killed outright: its job workers end too; a job worker killed outright:
    its matching processes end too (nothing is left waiting for work)."""
    env = env_for(f"sqlite:///{tmp_path / 'c.db'}", CAREMATCH_MATCH_PROCESSES="2")
    market = tmp_path / "market.json"
    market.write_text(json.dumps(small_market()))
    carematch("import", str(market), env=env)
    broker = carematch("keys", "create", "--role", "broker", env=env).stdout.strip()
    server = Server(env).start()
    try:
        submitted = httpx.post(server.url + "/v1/packages", json=mary(), headers=bearer(broker))
        wait_status(server.url + submitted.headers["Location"], broker, ("offered", "no_offer"))
        [worker] = _children(server.process.pid)
        pool = _children(worker)
        assert len(pool) == 2  # the worker's matcher keeps its processes
        os.kill(worker, signal.SIGKILL)
        assert _all_gone(pool), "matching processes outlived their worker"
    finally:
        server.kill()
    server = Server(env).start()
    try:
        workers = _children(server.process.pid)
        assert workers
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        assert _all_gone(workers), "job workers outlived serve"
    finally:
        server.kill()
