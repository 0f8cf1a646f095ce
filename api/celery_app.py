"""Scale-out: carematch's jobs on Celery workers, with Redis as broker and result store.

With `CAREMATCH_BROKER_URL=redis://...` the API sends each job it stores to the broker
(`api.jobs.install_dispatch`) and `carematch worker` processes run them; the embedded
workers (`api.worker`) are not started. Both backends run the same job code
(`api.jobs.run_claimed`): only where a package's agencies are evaluated differs.

A `carematch worker` is two Celery nodes (docs/scale-out.md):

- the **job** node, in the worker's own process, a pool of threads consuming
  `carematch.jobs`: each thread claims a job in the database and coordinates its match,
  which mostly waits;
- the **agency** node, a child process with a prefork pool of `--concurrency`
  processes consuming `carematch.agencies`: one task per agency in reach (the fan-out
  `FanOut`, a Celery group whose results are gathered), so one package's agencies are
  spread over every agency process of every worker machine.

Coordinators never hold the processes that solve: a coordinator waiting for its group
cannot starve the agencies it waits for, however many packages arrive at once.

Durability: tasks are acknowledged late and rejected back to the queue when the
process running them dies (`acks_late`, `reject_on_worker_lost`), Redis hands an
unacknowledged task to another worker after `visibility_timeout_s`, and the database
stays the record of truth: a job is claimed there under a lease (`api.jobs.claim`),
its result stored once under that claim, and each worker sweeps the jobs table every
`sweep_interval_s` and sends again what is still claimable but was sent long ago or
whose lease lapsed (`api.jobs.sweepable`): a broker that lost its data, a worker killed
outright. A duplicate task finds the job claimed or done and ends.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from celery import Celery, group
from celery.result import GroupResult
from sqlalchemy.orm import Session, sessionmaker

from api import agencies, jobs, models
from api.db import make_engine, make_sessionmaker
from api.security import new_id
from api.settings import Settings, get_settings
from api.worker import beat, forget
from matcher.control import RunControl
from matcher.market import MarketAgency
from matcher.matching import (
    AgencyResult,
    AgencyTask,
    MatchParams,
    Offer,
    service_area_reason,
)
from matcher.schema import CarePackage

log = logging.getLogger(__name__)

JOB_QUEUE, AGENCY_QUEUE = "carematch.jobs", "carematch.agencies"
JOB_TASK, AGENCY_TASK = "carematch.job", "carematch.agency"
POLL_S = 0.05  # how often a coordinator looks at its group's results
DEADLINE_GRACE_S = 0.5  # as the in-process pool: what is done a moment later is kept


@dataclass
class _ProcessState:
    """What tasks need in one worker process: a database engine (made after the
    prefork pool forks: connections must not cross a fork), the job context with its
    market cache, and the agencies this process last loaded, by version."""

    settings: Settings
    app: Celery
    pid: int = -1
    factory: sessionmaker[Session] | None = None
    context: jobs.JobContext | None = None
    agencies: dict[str, tuple[int, MarketAgency]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ready(self) -> _ProcessState:
        with self.lock:
            if self.pid != os.getpid():
                self.pid = os.getpid()
                self.factory = make_sessionmaker(make_engine(self.settings.database_url))
                cache = jobs.MarketCache(fan_out=lambda versions: FanOut(self.app, versions))
                self.context = jobs.JobContext(self.factory, self.settings, cache)
                self.agencies = {}
        return self

    def agency(self, agency_id: str) -> MarketAgency:
        """The agency as stored now (reloaded only when its version moved)."""
        assert self.factory is not None
        with self.factory() as session:
            row = session.get(models.Agency, agency_id)
            if row is None:
                raise LookupError(f"agency {agency_id} is not stored")
            cached = self.agencies.get(agency_id)
            if cached is None or cached[0] != row.version:
                cached = (row.version, agencies.entry_of(session, row))
                self.agencies[agency_id] = cached
        return cached[1]


def make_app(settings: Settings) -> Celery:
    """A Celery app for these settings, with carematch's two tasks registered."""
    if not settings.broker_url:
        raise ValueError("CAREMATCH_BROKER_URL is not set")
    app = Celery("carematch", broker=settings.broker_url, backend=settings.broker_url)
    transport = {"visibility_timeout": settings.visibility_timeout_s}
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=3600,
        task_default_queue=JOB_QUEUE,
        task_routes={JOB_TASK: {"queue": JOB_QUEUE}, AGENCY_TASK: {"queue": AGENCY_QUEUE}},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    state = _ProcessState(settings, app)

    @app.task(name=JOB_TASK)
    def run_job(job_id: str) -> str:
        """Claim the job in the database and run it; a job already claimed or done (a
        duplicate, a redelivery) ends here."""
        ready = state.ready()
        assert ready.factory is not None and ready.context is not None
        token = jobs.claim(ready.factory, settings, job_id)
        if token is None:
            log.info("job %s: not claimable (done, or another worker holds it)", job_id)
            return "skipped"
        context = replace(ready.context, cancel=threading.Event())
        status = jobs.run_claimed(context, job_id, token)
        log.info("job %s: %s", job_id, status)
        if status == jobs.QUEUED:  # handed back (an error to retry, a shutdown)
            send_jobs(app, ready.factory, [job_id])
        return status

    @app.task(name=AGENCY_TASK)
    def evaluate_agency(payload: dict[str, Any]) -> dict[str, Any]:
        """One agency's offer for a package (`AgencyTask` as `FanOut` sent it)."""
        ready = state.ready()
        entry = ready.agency(payload["agency_id"])
        if (now := ready.agencies[entry.id][0]) != payload["version"]:
            log.info("agency %s changed since the match began (now version %s)", entry.id, now)
        deadline = payload["deadline_epoch"]
        task = AgencyTask(
            entry,
            payload["skills"],
            CarePackage.model_validate(payload["package"]),
            MatchParams(**payload["params"]),
            payload["search"],
            deadline=None if deadline is None else time.monotonic() + deadline - time.time(),
            committed_travel_min=payload["committed_travel_min"],
        )
        result = task()
        return {
            "offer": result.offer.model_dump(mode="json"),
            "committed_travel_min": result.committed_travel_min,
        }

    return app


def send_jobs(app: Celery, factory: sessionmaker[Session], job_ids: list[str]) -> None:
    """Send jobs to the broker and note when (a failure raises: the caller logs it and
    the sweep sends them later)."""
    for job_id in job_ids:
        app.send_task(JOB_TASK, args=[job_id], queue=JOB_QUEUE)
    jobs.mark_dispatched(factory, job_ids)


class Dispatcher:
    """Sends jobs to the broker from a thread of the API process, so that a request
    never waits on Redis (a broker that is away costs redis-py seconds of reconnect
    back-off per call): the package and its job are committed, the answer is `202`,
    and the job id is sent a moment later. A send that fails is logged and left to
    the workers' sweep, which finds the job still claimable (`api.jobs.sweepable`)."""

    def __init__(self, app: Celery, factory: sessionmaker[Session]) -> None:
        self.app, self.factory = app, factory
        self._queue: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="dispatch", daemon=True)
        self._thread.start()

    def __call__(self, job_ids: list[str]) -> None:
        self._queue.put(job_ids)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is waiting (within `timeout`), then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (job_ids := self._queue.get()) is not None:
            try:
                send_jobs(self.app, self.factory, job_ids)
            except Exception as exc:  # the broker or the database away: the sweep sends
                log.warning("could not send jobs %s (%s); a sweep will", job_ids, exc)


@dataclass
class FanOut:
    """A `matcher.matching.Evaluator` that sends each agency's task to the agency
    queue as one Celery group and gathers the results in the tasks' order. The agency
    travels by id and version (each worker loads it from the database, the record of
    truth), the package and parameters as JSON, the deadline as a wall-clock time."""

    app: Celery
    versions: dict[str, int]

    def __call__(self, tasks: list[AgencyTask], control: RunControl) -> list[AgencyResult]:
        # One task per agency in reach: an agency whose service area does not reach
        # the client is refused here, by the same function, in microseconds.
        local = {
            i: task()
            for i, task in enumerate(tasks)
            if service_area_reason(task.entry, task.package)
        }
        remote = [(i, task) for i, task in enumerate(tasks) if i not in local]
        if not remote:
            return [local[i] for i in sorted(local)]
        deadline_epoch = None if control.deadline is None else time.time() + control.seconds_left()
        signatures = [
            self.app.signature(
                AGENCY_TASK, args=[self._payload(task, deadline_epoch)], queue=AGENCY_QUEUE
            )
            for _, task in remote
        ]
        results: GroupResult = group(signatures).apply_async()
        try:
            done = self._gather([r.id for r in results.results], control)
        except BaseException:
            with contextlib.suppress(Exception):
                results.revoke()
            raise
        finally:
            with contextlib.suppress(Exception):
                results.forget()
        for (i, _), result in zip(remote, results.results, strict=True):
            if result.id in done:
                local[i] = done[result.id]
        return [local[i] for i in sorted(local)]

    def _payload(self, task: AgencyTask, deadline_epoch: float | None) -> dict[str, Any]:
        return {
            "agency_id": task.entry.id,
            "version": self.versions.get(task.entry.id),
            "skills": task.skills,
            "package": task.package.model_dump(mode="json"),
            "params": asdict(task.params),
            "search": task.search,
            "deadline_epoch": deadline_epoch,
            "committed_travel_min": task.committed_travel_min,
        }

    def _gather(self, task_ids: list[str], control: RunControl) -> dict[str, AgencyResult]:
        """Results by task id as they come in (one MGET of the pending ones each
        interval); a cancel raises `Cancelled`; past the deadline, what is done a
        moment later is kept. A failed agency fails the job (which is retried), as an
        exception in the in-process pool would."""
        done: dict[str, AgencyResult] = {}
        grace_until: list[float] = []

        def between_polls() -> None:
            control.raise_if_cancelled()
            if control.expired():
                if not grace_until:
                    grace_until.append(time.monotonic() + DEADLINE_GRACE_S)
                if time.monotonic() > grace_until[0]:
                    raise _PastDeadline

        try:
            for task_id, meta in self.app.backend.get_many(
                task_ids, interval=POLL_S, on_interval=between_polls
            ):
                if meta["status"] != "SUCCESS":
                    raise RuntimeError(f"agency task {task_id}: {meta['status']} {meta['result']}")
                value = meta["result"]
                done[task_id] = AgencyResult(
                    offer=Offer.model_validate(value["offer"]),
                    roster=None,
                    committed_travel_min=value["committed_travel_min"],
                )
        except _PastDeadline:
            for task_id in set(task_ids) - set(done):
                self.app.control.revoke(task_id)
        return done


class _PastDeadline(Exception):
    """The control's deadline (and its grace) passed while agencies were still out."""


def _sweep_forever(app: Celery, settings: Settings, worker_id: str, stop: threading.Event) -> None:
    """The worker's heartbeat (`/readyz` counts Celery workers too) and its sweep of
    the jobs table: every claimable job at start, then those sent long ago or whose
    lease lapsed (see the module doc)."""
    factory = make_sessionmaker(make_engine(settings.database_url))
    last_sweep: float | None = None
    while True:
        try:
            beat(factory, worker_id)
            if last_sweep is None or time.monotonic() - last_sweep >= settings.sweep_interval_s:
                due = jobs.sweepable(factory, settings, everything=last_sweep is None)
                if due:
                    log.info("sending %d job(s) to the broker again: %s", len(due), due)
                    send_jobs(app, factory, due)
                last_sweep = time.monotonic()
        except Exception:  # the database or the broker may be away for a while
            log.exception("heartbeat or sweep failed")
        if stop.wait(settings.heartbeat_s):
            break
    forget(factory, worker_id)


def _node_argv(queue: str, pool: str, concurrency: int, name: str) -> list[str]:
    return [
        "worker",
        "--queues",
        queue,
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}@%h",
        "--loglevel",
        os.environ.get("CAREMATCH_LOG_LEVEL", "INFO"),
        "--without-gossip",
        "--without-mingle",
    ]


def run_worker(settings: Settings, *, concurrency: int) -> int:
    """`carematch worker`: the agency node as a child process, the sweep in a thread,
    and the job node here until SIGTERM or SIGINT; returns the exit status."""
    processes = concurrency or os.cpu_count() or 1
    worker_id = new_id("wrk")
    agency_node = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.celery_app",
            "--concurrency",
            str(processes),
            "--name",
            f"agencies-{worker_id}",
            "--parent",
            str(os.getpid()),
        ]
    )
    stop = threading.Event()
    app = make_app(settings)  # one app per process: task names are registered once
    sweeper = threading.Thread(
        target=_sweep_forever, args=(app, settings, worker_id, stop), daemon=True
    )
    sweeper.start()
    try:
        # Coordinators mostly wait on their groups: two per agency process keeps
        # the agency queue fed while each waits for its slowest agency.
        app.worker_main(_node_argv(JOB_QUEUE, "threads", 2 * processes, f"jobs-{worker_id}"))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        stop.set()
        sweeper.join(timeout=10)
        agency_node.terminate()
        try:
            agency_node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agency_node.kill()
    return 0


def _agency_node(argv: list[str] | None = None) -> None:
    """The agency node (`python -m api.celery_app`), a child of `carematch worker`:
    ends with its parent (the kernel sends SIGTERM when the parent dies)."""
    parser = argparse.ArgumentParser(description="carematch's agency Celery node")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--parent", type=int, default=None)
    args = parser.parse_args(argv)
    if args.parent is not None:
        from api.worker import _end_with_parent

        _end_with_parent()
        if os.getppid() != args.parent:
            return
    app = make_app(get_settings())
    app.worker_main(_node_argv(AGENCY_QUEUE, "prefork", args.concurrency, args.name))


if __name__ == "__main__":
    _agency_node()
