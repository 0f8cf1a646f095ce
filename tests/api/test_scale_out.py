"""Scale-out on Celery + Redis, against real parts only: a throwaway `redis-server`
(installed by the test setup when missing), real `carematch worker` processes (each a
"machine": its own process group) and a real `carematch serve` API process, on
PostgreSQL, the database several machines share.

Each fault test is also a measurement: with CAREMATCH_FAULT_FIGURES set to a file,
it appends its figures there (benchmarks/service/faults.py runs these tests and
renders them into benchmarks/service/RESULTS.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.db import make_engine
from matcher.market import Market
from matcher.matching import MatchParams, match
from matcher.schema import CarePackage
from tests.api.conftest import MARKET_URBAN, mary, small_market
from tests.api.figures import figure
from tests.api.postgres import ThrowawayPostgres, free_port
from tests.api.redis import CeleryWorker, ThrowawayRedis
from tests.api.server import Server, carematch

PROBLEM = "application/problem+json"
OPEN = ("queued", "matching")


@pytest.fixture(scope="module")
def shared_redis() -> Iterator[ThrowawayRedis]:
    with ThrowawayRedis() as server:
        yield server


@pytest.fixture
def redis_server(shared_redis: ThrowawayRedis) -> ThrowawayRedis:
    """The module's Redis, emptied: nothing a previous test left queued is run."""
    shared_redis.wipe()
    return shared_redis


def env_for(database_url: str, broker_url: str, **extra: str) -> dict[str, str]:
    return {
        "CAREMATCH_DATABASE_URL": database_url,
        "CAREMATCH_BROKER_URL": broker_url,
        "CAREMATCH_HEARTBEAT_S": "0.3",
        "CAREMATCH_JOB_LEASE_S": "3",
        "CAREMATCH_SWEEP_INTERVAL_S": "0.5",
        "CAREMATCH_REDISPATCH_AFTER_S": "4",
        "CAREMATCH_POLL_INTERVAL_S": "0.05",
        "CAREMATCH_WEBHOOK_MAX_BACKOFF_S": "1",
        **extra,
    }


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def submit(url: str, key: str, name: str) -> httpx.Response:
    """Mary's package under `name`'s ids, without a cap, sent by the broker `key`."""
    return httpx.post(url + "/v1/packages", json=package(name, budget=None), headers=bearer(key))


def setup_market(env: dict[str, str], market: dict[str, Any], tmp_path: Path) -> str:
    """Import the market; a broker key."""
    market_file = tmp_path / f"market-{uuid.uuid4().hex}.json"
    market_file.write_text(json.dumps(market))
    carematch("import", str(market_file), env=env)
    return carematch("keys", "create", "--role", "broker", env=env).stdout.strip()


def package(n: int | str, **changes: Any) -> dict[str, Any]:
    """Mary's package under new ids (any number of them may be submitted)."""
    body = mary(id=f"mary-{n}", **changes)
    body["client"] = {**body["client"], "id": f"mary-client-{n}"}
    for line in body["visits"]:
        line["id"] = f"{line['id']}-{n}"
    return body


def wait_done(url: str, key: str, package_ids: list[str], timeout: float = 120) -> list[dict]:
    """Each package once it left queued/matching, in order."""
    deadline, done = time.monotonic() + timeout, []
    for package_id in package_ids:
        while True:
            body = httpx.get(f"{url}/v1/packages/{package_id}", headers=bearer(key), timeout=10)
            if body.status_code == 200 and body.json()["status"] not in OPEN:
                done.append(body.json())
                break
            assert time.monotonic() < deadline, f"{package_id} not done: {body.text[:300]}"
            time.sleep(0.1)
    return done


def job_rows(database_url: str) -> list[dict[str, Any]]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT package_id, status, attempts FROM jobs ORDER BY created_seq")
            )
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()


def offers_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The offers without their timings (the one thing that differs run to run)."""
    return [{k: v for k, v in o.items() if k != "elapsed_s"} for o in result["offers"]]


def _timeless(value: Any) -> Any:
    """`value` without its timings (`elapsed_s`, at any depth)."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k != "elapsed_s"}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def test_fan_out_gives_the_offers_of_the_in_process_match(
    postgres: ThrowawayPostgres, redis_server: ThrowawayRedis, tmp_path: Path
) -> None:
    """The urban market's 8 agencies spread over two workers' agency processes (one
    task per agency): the ranked offers, every key of every offer, are those of the
    in-process `match` for the same inputs (deterministic search time)."""
    database_url = postgres.new_database()
    env = env_for(database_url, redis_server.url, CAREMATCH_MATCH_DETERMINISTIC="true")
    market = json.loads(MARKET_URBAN.read_text())
    broker = setup_market(env, market, tmp_path)
    body = package("fan")
    # Nobody takes the early riser as it is: the single changes and the nearest fits
    # are tried through the fan-out too (a package of its own per agency).
    nobody = json.loads((MARKET_URBAN.parent / "packages" / "early_riser.json").read_text())
    with CeleryWorker(env), CeleryWorker(env), Server(env) as server:
        ids = []
        for sent in (body, nobody):
            submitted = httpx.post(server.url + "/v1/packages", json=sent, headers=bearer(broker))
            assert submitted.status_code == 202, submitted.text
            ids.append(submitted.json()["id"])
        done, refused = wait_done(server.url, broker, ids)
    for got, sent, status in ((done, body, "offered"), (refused, nobody, "no_offer")):
        # the defaults the service matches with (api.jobs.match_job), here in this process
        expected = match(
            Market.model_validate(market),
            CarePackage.model_validate(sent),
            MatchParams(time_limit_s=0.3, processes=1, deterministic=True),
        ).to_json()
        assert got["status"] == status
        assert offers_of(got) == offers_of(expected)
        for key in ("suggestions", "changes", "splits"):
            assert _timeless(got[key]) == _timeless(expected[key]), key
    assert refused["changes"], "the early riser fits somewhere once it may start after 7"


def test_kill_9_of_a_worker_mid_solve_finishes_on_another(
    postgres: ThrowawayPostgres, redis_server: ThrowawayRedis, tmp_path: Path
) -> None:
    """`kill -9` of a whole worker (every process of it) while it solves: the jobs it
    was running finish on the other worker, and each package gets exactly one set of
    offers."""
    database_url = postgres.new_database()
    # long searches, so that the kill lands in the middle of one
    env = env_for(database_url, redis_server.url, CAREMATCH_MATCH_TIME_LIMIT_S="4")
    broker = setup_market(env, small_market(), tmp_path)
    doomed = CeleryWorker(env).start()
    with Server(env) as server:
        ids = [submit(server.url, broker, f"kill-{n}").json()["id"] for n in range(4)]
        assert doomed.process is not None
        deadline = time.monotonic() + 60
        _solving_process(doomed.process.pid, deadline)
        running = {j["package_id"] for j in job_rows(database_url) if j["status"] == "running"}
        killed_at = time.monotonic()
        doomed.kill()
        with CeleryWorker(env):  # the other machine
            done = wait_done(server.url, broker, ids)
            recovered_s = time.monotonic() - killed_at
    assert running  # the kill landed in the middle of a job
    assert [d["status"] for d in done] == ["offered"] * 4
    for d in done:
        assert [o["agency_id"] for o in d["offers"] if o["feasible"]] == [
            "isl-agency",
            "kgx-agency",
        ]
    jobs = job_rows(database_url)
    assert len(jobs) == 4 and {j["status"] for j in jobs} == {"done"}
    # run twice (the second time on the other worker), stored once
    assert all(j["attempts"] == 2 for j in jobs if j["package_id"] in running)
    figure(
        "kill -9 of a worker mid-solve",
        jobs_running_at_kill=len(running),
        all_4_offered_after_s=round(recovered_s, 2),
        lease_s=3,
    )


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in found.stdout.split()]


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1
    return int(fields[11]) + int(fields[12])  # utime + stime


def _solving_process(worker_pid: int, deadline: float) -> int:
    """The pid of the worker's agency pool process once it is computing (its CPU time
    rising by half of 0.2 s on a core), so that a kill lands in a solve, not between
    tasks."""
    while True:
        assert time.monotonic() < deadline, "never caught the worker solving"
        nodes = _children(worker_pid)
        pool = _children(nodes[0]) if nodes else []
        if pool:
            before = _cpu_ticks(pool[0])
            time.sleep(0.2)
            if _cpu_ticks(pool[0]) - before >= 10:
                return pool[0]
        time.sleep(0.05)


def test_kill_9_of_one_solving_process_requeues_only_its_agency(
    postgres: ThrowawayPostgres, redis_server: ThrowawayRedis, tmp_path: Path
) -> None:
    """`kill -9` of the pool process while it evaluates an agency: its task goes back
    to the queue (`acks_late`, `reject_on_worker_lost`) and runs again in a new
    process, while every job runs on, once: offers stored, one attempt each."""
    database_url = postgres.new_database()
    env = env_for(database_url, redis_server.url, CAREMATCH_MATCH_TIME_LIMIT_S="4")
    broker = setup_market(env, small_market(), tmp_path)
    log = tmp_path / "worker.log"
    with CeleryWorker(env, concurrency=1, log=log) as worker, Server(env) as server:
        ids = [submit(server.url, broker, f"child-{n}").json()["id"] for n in range(4)]
        assert worker.process is not None
        deadline = time.monotonic() + 60
        killed = False
        while not killed:  # kill the pool process while it computes, not between tasks
            os.kill(_solving_process(worker.process.pid, deadline), signal.SIGKILL)
            time.sleep(1.0)
            killed = "WorkerLostError" in log.read_text(errors="replace")
        done = wait_done(server.url, broker, ids)
    assert [d["status"] for d in done] == ["offered"] * 4
    for d in done:
        assert [o["agency_id"] for o in d["offers"] if o["feasible"]] == [
            "isl-agency",
            "kgx-agency",
        ]
    jobs = job_rows(database_url)
    assert [(j["status"], j["attempts"]) for j in jobs] == [("done", 1)] * 4
    figure(
        "kill -9 of one solving pool process",
        requeued="its agency task only",
        jobs_attempts=[j["attempts"] for j in jobs],
        offers="as without the kill",
    )


@pytest.mark.parametrize("fault", ["restart", "wipe"])
def test_redis_restarted_or_wiped_with_jobs_queued(
    postgres: ThrowawayPostgres, tmp_path: Path, fault: str
) -> None:
    """Packages queued while no worker runs; then Redis restarts (keeping its data) or
    is wiped (losing every queued task): every job still finishes, once."""
    database_url = postgres.new_database()
    with ThrowawayRedis() as redis_server:
        env = env_for(database_url, redis_server.url)
        broker = setup_market(env, small_market(), tmp_path)
        with Server(env).start(ready=False) as server:  # no worker yet: not ready
            ids = []
            for n in range(4):
                response = submit(server.url, broker, f"{fault}-{n}")
                assert response.status_code == 202
                ids.append(response.json()["id"])
            # The API's dispatcher sends the job ids a moment after the 202s
            # (`api.celery_app.Dispatcher`): wait for all four in the queue.
            deadline = time.monotonic() + 10
            while redis_server.client().llen("carematch.jobs") < 4:
                assert time.monotonic() < deadline, "the jobs never reached the queue"
                time.sleep(0.05)
            assert redis_server.client().llen("carematch.jobs") == 4
            if fault == "restart":
                redis_server.restart()
                assert redis_server.client().llen("carematch.jobs") == 4
            else:
                redis_server.wipe()
                assert redis_server.client().llen("carematch.jobs") == 0
            began = time.monotonic()
            with CeleryWorker(env):
                done = wait_done(server.url, broker, ids)
                finished_s = time.monotonic() - began
                # and a package submitted while Redis is away under a running worker:
                # stored and answered at once, sent when Redis is back (the sweep)
                redis_server.stop()
                sent = time.monotonic()
                late = submit(server.url, broker, f"{fault}-late")
                answered_s = time.monotonic() - sent
                assert late.status_code == 202
                assert answered_s < 2.0  # nobody waits on a broker that is away
                redis_server.start()
                done += wait_done(server.url, broker, [late.json()["id"]])
    assert [d["status"] for d in done] == ["offered"] * 5
    assert [j["status"] for j in job_rows(database_url)] == ["done"] * 5
    figure(
        f"Redis {'restarted' if fault == 'restart' else 'wiped'} with 4 jobs queued",
        all_done_s=round(finished_s, 2),
        submit_while_redis_away_s=round(answered_s, 3),
    )


def test_api_killed_while_submitting_loses_nothing_and_retries_create_nothing_twice(
    postgres: ThrowawayPostgres, redis_server: ThrowawayRedis, tmp_path: Path
) -> None:
    """The API is killed (SIGKILL) while brokers submit: every `202` answered is a stored
    package that reaches offers, and retrying with the same Idempotency-Key after the
    restart creates nothing twice."""
    database_url = postgres.new_database()
    env = env_for(database_url, redis_server.url)
    broker = setup_market(env, small_market(), tmp_path)
    port = free_port()
    answered: dict[str, str] = {}  # idempotency key -> package id, for each 202
    failed: list[str] = []
    attempts = [f"idem-{n}" for n in range(24)]
    stop = threading.Event()

    def submit(keys: list[str]) -> None:
        for key in keys:
            n = key.split("-")[1]
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/v1/packages",
                    json=package(f"api-{n}", budget=None),
                    headers={**bearer(broker), "Idempotency-Key": key},
                    timeout=10,
                )
            except httpx.HTTPError:
                failed.append(key)
                continue
            if response.status_code == 202:
                answered[key] = response.json()["id"]
            else:
                failed.append(key)
            if stop.is_set():
                failed.extend(k for k in keys[keys.index(key) + 1 :])
                return

    with CeleryWorker(env):
        server = Server(env, port=port).start()
        senders = [threading.Thread(target=submit, args=(attempts[i::4],)) for i in range(4)]
        for sender in senders:
            sender.start()
        deadline = time.monotonic() + 60
        while len(answered) < 6:
            assert time.monotonic() < deadline, f"only {len(answered)} answered, {failed}"
            time.sleep(0.01)
        server.kill()
        stop.set()
        for sender in senders:
            sender.join()
        with Server(env, port=port) as again:
            # every 202 reaches offers
            done = wait_done(again.url, broker, list(answered.values()))
            assert {d["status"] for d in done} == {"offered"}
            # the brokers retry everything they did not see answered, and some they did
            retried: dict[str, str] = {}
            for key in [*failed, *list(answered)[:5]]:
                n = key.split("-")[1]
                response = httpx.post(
                    again.url + "/v1/packages",
                    json=package(f"api-{n}", budget=None),
                    headers={**bearer(broker), "Idempotency-Key": key},
                )
                assert response.status_code in (200, 202), response.text
                retried[key] = response.json()["id"]
            for key, package_id in answered.items():
                if key in retried:
                    assert retried[key] == package_id  # the same package, not a new one
            wait_done(again.url, broker, list(retried.values()))
    rows = job_rows(database_url)
    packages = {r["package_id"] for r in rows}
    assert len(packages) == len(rows) == len(set(answered) | set(retried))
    figure(
        "API killed while 4 brokers submit",
        answered_before_kill=len(answered),
        failed_or_cut=len(failed),
        stored_packages=len(packages),
        lost=0,
    )


def test_postgresql_stopped_for_a_while(redis_server: ThrowawayRedis, tmp_path: Path) -> None:
    """PostgreSQL stopped under a running service: the API answers 503 problem+json
    (never 500) and recovers by itself when it is back; a package stored before the
    outage and one submitted after it both reach offers."""
    with ThrowawayPostgres() as own:
        database_url = own.new_database()
        env = env_for(database_url, redis_server.url)
        broker = setup_market(env, small_market(), tmp_path)
        with CeleryWorker(env), Server(env) as server:
            before = submit(server.url, broker, "pg-1")
            assert before.status_code == 202
            own.stop_server()
            down_at = time.monotonic()
            statuses = set()
            for _ in range(5):
                answer = submit(server.url, broker, "pg-2")
                statuses.add((answer.status_code, answer.headers["content-type"]))
                assert "Traceback" not in answer.text
                ready = httpx.get(server.url + "/readyz")
                statuses.add((ready.status_code, ready.headers["content-type"]))
            assert statuses == {(503, PROBLEM)}
            time.sleep(3)  # down for a while: leases lapse, sweeps fail
            own.start_again()
            outage_s = time.monotonic() - down_at
            deadline = time.monotonic() + 60
            while True:
                after = submit(server.url, broker, "pg-2")
                if after.status_code == 202:
                    break
                assert after.status_code == 503, after.text
                assert time.monotonic() < deadline, "the API did not recover"
                time.sleep(0.2)
            recovered_s = time.monotonic() - down_at - outage_s
            done = wait_done(server.url, broker, [before.json()["id"], after.json()["id"]])
    assert [d["status"] for d in done] == ["offered", "offered"]
    figure(
        "PostgreSQL stopped",
        outage_s=round(outage_s, 1),
        api_recovered_after_restart_s=round(recovered_s, 2),
        answers_while_down="503 problem+json",
        lost=0,
    )
