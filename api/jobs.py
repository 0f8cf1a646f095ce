"""Durable jobs: rows in the database, claimed with a lease, bodies that store once.

The job interface has two halves, so that a second backend (Celery + Redis, next) is
a new way of *running* jobs, not a rewrite:

- `enqueue(session, kind=..., package_id=...)` adds the job row in the caller's
  transaction, so a package and its matching job are stored together or not at all;
- `run(job_id, claim, ...)` is the job body: whoever runs it (the embedded worker
  processes of `api.worker`, or later a Celery task) first `claim`s the job.

A claim is a random token with a lease (`job_lease_s`) that the running worker renews
(`renew`); a job whose worker died is claimed again once its lease lapses, which is
how a job queued or running when the service stopped finishes after the next start.
A result is stored only under the claim that computed it (`_finish` compares it), so
a job taken over from a worker that merely stalled still stores one answer.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, event, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from api import agencies, models
from api.db import transaction
from api.security import new_id
from api.settings import Settings
from matcher.brokerage.policy import DEFAULT_POLICY, RankingPolicy
from matcher.control import Cancelled, RunControl
from matcher.market import MarketAgency, package_clash
from matcher.matching import Evaluator, Matcher, MatchParams, MatchResult, PackageClash
from matcher.schema import CarePackage

log = logging.getLogger(__name__)

MATCH = "match"
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


ENQUEUED = "carematch.enqueued"  # session.info key: jobs added in this transaction


def enqueue(session: Session, *, kind: str, package_id: str | None = None) -> str:
    """Add a job in the caller's transaction; once it commits, the dispatcher (if the
    backend has one, see `install_dispatch`) is told."""
    job_id = new_id("job")
    session.info.setdefault(ENQUEUED, []).append(job_id)
    session.add(
        models.Job(
            id=job_id,
            created_seq=time.time(),
            kind=kind,
            package_id=package_id,
            status=QUEUED,
            attempts=0,
        )
    )
    return job_id


def install_dispatch(factory: sessionmaker[Session], send: Callable[[list[str]], None]) -> None:
    """Call `send(job ids)` after each commit that enqueued jobs (the Celery backend
    sends them to its broker; the embedded workers need no telling: they poll). A
    failed send loses nothing: the job row is stored, and workers' sweeps send again
    what stays claimable (`sweepable`)."""

    def after_commit(session: Session) -> None:
        enqueued = session.info.pop(ENQUEUED, None)
        if enqueued:
            try:
                send(enqueued)
            except Exception:  # the broker may be away: the sweep sends it later
                log.warning("could not send jobs %s to the broker; a sweep will", enqueued)

    def after_rollback(session: Session) -> None:
        session.info.pop(ENQUEUED, None)

    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_rollback", after_rollback)


def _claimable(now: float) -> ColumnElement[bool]:
    """Queued, or running under a lease that lapsed (its worker died or stalled)."""
    return or_(
        models.Job.status == QUEUED,
        (models.Job.status == RUNNING) & (models.Job.lease_until < now),
    )


def mark_dispatched(factory: sessionmaker[Session], job_ids: list[str]) -> None:
    with transaction(factory) as session:
        session.execute(
            update(models.Job)
            .where(models.Job.id.in_(job_ids))
            .values(dispatched_at=time.time())
            .execution_options(synchronize_session=False)
        )


def sweepable(
    factory: sessionmaker[Session], settings: Settings, *, everything: bool = False
) -> list[str]:
    """Claimable jobs not sent to the broker for `redispatch_after_s` (all claimable
    ones with `everything`, as a worker starts): the database, not the broker, is the
    record of what is still to do."""
    now = time.time()
    due = _claimable(now)
    if not everything:
        stale = now - settings.redispatch_after_s
        due = due & or_(models.Job.dispatched_at.is_(None), models.Job.dispatched_at < stale)
    with factory() as session:
        return list(
            session.scalars(select(models.Job.id).where(due).order_by(models.Job.created_seq))
        )


def claim_next(factory: sessionmaker[Session], settings: Settings) -> tuple[str, str] | None:
    """Take the oldest job that is queued, or running under a lapsed lease; returns
    (job id, claim) or None when there is nothing to do."""
    with factory() as session:
        candidates = session.scalars(
            select(models.Job.id)
            .where(_claimable(time.time()))
            .order_by(models.Job.created_seq)
            .limit(5)
        ).all()
    for job_id in candidates:
        token = claim(factory, settings, job_id)
        if token:
            return job_id, token
    return None


def claim(factory: sessionmaker[Session], settings: Settings, job_id: str) -> str | None:
    """Claim one job if it is claimable; the claim token, or None."""
    now = time.time()
    token = secrets.token_hex(8)
    with transaction(factory) as session:
        taken = session.execute(
            update(models.Job)
            .where(models.Job.id == job_id, _claimable(now))
            .values(
                status=RUNNING,
                claim=token,
                lease_until=now + settings.job_lease_s,
                attempts=models.Job.attempts + 1,
                started_at=models.utcnow(),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    return token if taken else None


def renew(factory: sessionmaker[Session], settings: Settings, job_id: str, token: str) -> bool:
    """Extend the lease; False if the claim was lost (the job was taken over)."""
    with transaction(factory) as session:
        return bool(
            session.execute(
                update(models.Job)
                .where(models.Job.id == job_id, models.Job.claim == token)
                .values(lease_until=time.time() + settings.job_lease_s)
                .execution_options(synchronize_session=False)
            ).rowcount
        )


@dataclass
class MarketCache:
    """The agencies as last loaded by this worker, reloaded only where their version
    moved, and a `Matcher` over them: a worker answers many packages against a market
    that changes one agency at a time (each accepted package moves its agency's
    roster). When a version moves, the matcher's successor (`Matcher.with_market`)
    keeps its process pool and every unchanged agency warm and its committed travel
    (computing that per package cost a third of a match, measured in
    `benchmarks/service/`); only the changed agency is prepared again.

    `fan_out`, given the agencies' versions, makes the evaluator that sends each
    agency to the Celery workers (`api.celery_app`); without it the matcher evaluates
    them in this worker's processes. Threads may share a cache (a Celery coordinator
    runs several jobs at once)."""

    fan_out: Callable[[dict[str, int]], Evaluator] | None = None
    entries: dict[str, tuple[int, MarketAgency]] = field(default_factory=dict)
    _matcher: Matcher | None = None
    _signature: tuple[tuple[str, int], ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self, session: Session) -> list[MarketAgency]:
        versions = dict(session.execute(select(models.Agency.id, models.Agency.version)).all())
        for agency_id in list(self.entries):
            if agency_id not in versions:
                del self.entries[agency_id]
        for agency_id, version in versions.items():
            cached = self.entries.get(agency_id)
            if cached is None or cached[0] != version:
                row = session.get(models.Agency, agency_id)
                self.entries[agency_id] = (row.version, agencies.entry_of(session, row))
        return [self.entries[a][1] for a in sorted(self.entries)]

    def matcher(
        self, session: Session, *, processes: int, policy: RankingPolicy = DEFAULT_POLICY
    ) -> Matcher | None:
        """A matcher over the market as it is now, ranking by the council's `policy`
        (None when there are no agencies)."""
        with self._lock:
            entries = self.current(session)
            signature = tuple((a, self.entries[a][0]) for a in sorted(self.entries))
            if (
                signature != self._signature
                or self._matcher is None
                or self._matcher.market.ranking_policy != policy
            ):
                market = agencies.market_of(entries, policy)
                if not entries:
                    self.close()
                elif self._matcher is not None and self.fan_out is None:
                    # Keep the processes and the agencies that did not change warm.
                    self._matcher = self._matcher.with_market(market)
                else:
                    self.close()
                    evaluator = self.fan_out(dict(signature)) if self.fan_out else None
                    self._matcher = Matcher(market, processes=processes, evaluator=evaluator)
                self._signature = signature
            return self._matcher

    def close(self) -> None:
        if self._matcher is not None:
            self._matcher.close(wait=False)
            self._matcher = None


@dataclass
class JobContext:
    """What a job body needs besides its row: the database, settings, a cache, and
    a cancel signal that the runner sets (a withdrawn package, a lost claim)."""

    factory: sessionmaker[Session]
    settings: Settings
    cache: MarketCache = field(default_factory=MarketCache)
    cancel: threading.Event = field(default_factory=threading.Event)


def run(context: JobContext, job_id: str, token: str) -> str:
    """Run a claimed job to its end; returns the job's final status."""
    with context.factory() as session:
        job = session.get(models.Job, job_id)
        kind, package_id, attempts = job.kind, job.package_id, job.attempts
    body = JOB_BODIES.get(kind)
    try:
        if body is None:
            raise ValueError(f"unknown job kind {kind!r}")
        outcome = body(context, job_id, token, package_id)
    except Exception as exc:  # a job must end in a stored state, whatever went wrong
        log.exception("job %s (%s) failed on attempt %d", job_id, kind, attempts)
        if attempts < context.settings.job_max_attempts:
            _release(context.factory, job_id, token, error=f"{type(exc).__name__}: {exc}")
            return QUEUED
        _finish(
            context.factory,
            job_id,
            token,
            status=FAILED,
            error=f"{type(exc).__name__}: {exc}",
            package_update={"status": "failed", "error": "matching failed; a person was told"},
        )
        return FAILED
    return outcome


def run_claimed(context: JobContext, job_id: str, token: str) -> str:
    """Run a claimed job as every backend does: its lease renewed each heartbeat while
    it runs, and stopped (`context.cancel`) when its package is withdrawn or the claim
    is lost to another worker; returns the job's final status."""
    settings, stopped = context.settings, threading.Event()
    with context.factory() as session:
        package_id = session.get(models.Job, job_id).package_id

    def keep_lease() -> None:
        while not stopped.wait(settings.heartbeat_s):
            try:
                if not renew(context.factory, settings, job_id, token):
                    log.warning("job %s: claim lost; stopping it", job_id)
                    context.cancel.set()
                    return
                if package_id is not None and not _package_open(context.factory, package_id):
                    log.info("job %s: package %s closed; cancelling", job_id, package_id)
                    context.cancel.set()
            except Exception:  # the database may be away for a while: try again
                log.exception("job %s: renewing its lease failed", job_id)

    keeper = threading.Thread(target=keep_lease, name=f"lease-{job_id}", daemon=True)
    keeper.start()
    try:
        return run(context, job_id, token)
    finally:
        stopped.set()
        keeper.join()


def _package_open(factory: sessionmaker[Session], package_id: str) -> bool:
    with factory() as session:
        status = session.scalar(
            select(models.Package.status).where(models.Package.id == package_id)
        )
    return status in ("queued", "matching")


def match_job(context: JobContext, job_id: str, token: str, package_id: str | None) -> str:
    """Match a broker's package against every agency and store the offers once."""
    with transaction(context.factory) as session:
        package = session.get(models.Package, package_id)
        if package is None or package.status not in ("queued", "matching"):
            status = package.status if package else "missing"
            log.info("job %s: package %s is %s; nothing to do", job_id, package_id, status)
            session.execute(
                update(models.Job)
                .where(models.Job.id == job_id, models.Job.claim == token)
                .values(status=CANCELLED, finished_at=models.utcnow(), claim=None)
            )
            return CANCELLED
        package.status = "matching"
        document = package.document
        settings = context.settings
        matcher = context.cache.matcher(
            session, processes=settings.match_processes, policy=settings.ranking_policy
        )
    care_package = CarePackage.model_validate(document)
    params = MatchParams(
        time_limit_s=settings.match_time_limit_s,
        processes=settings.match_processes,
        deterministic=settings.match_deterministic,
    )
    entries = matcher.market.agencies if matcher else []
    clashes = [c for e in entries if (c := package_clash(e, care_package))]
    if clashes:
        return _finish(
            context.factory,
            job_id,
            token,
            status=DONE,
            package_update={"status": "failed", "error": str(PackageClash(clashes[0]))},
        )
    result = _match(context, matcher, care_package, params)
    if result is None:  # cancelled: withdrawn (the end of it) or shutting down (again later)
        with context.factory() as session:
            still_open = session.get(models.Package, package_id).status in ("queued", "matching")
        if still_open:
            _release(context.factory, job_id, token, error=None, refund=True)
            return QUEUED
        return _finish(context.factory, job_id, token, status=CANCELLED)
    offered = any(o["feasible"] for o in result["offers"])
    return _finish(
        context.factory,
        job_id,
        token,
        status=DONE,
        package_update={"status": "offered" if offered else "no_offer", "result": result},
    )


def _match(
    context: JobContext, matcher: Matcher | None, package: CarePackage, params: MatchParams
) -> dict[str, Any] | None:
    """The match as `carematch match --json` shows it (`MatchResult.to_json`, one
    definition for both); None if cancelled."""
    if matcher is None:
        return MatchResult(package_id=package.id, elapsed_s=0.0, offers=[]).to_json()
    try:
        outcome = matcher.match(package, params, control=RunControl(cancel=context.cancel))
    except Cancelled:
        return None
    return outcome.to_json()


JOB_BODIES: dict[str, Callable[[JobContext, str, str, str | None], str]] = {MATCH: match_job}


def _finish(
    factory: sessionmaker[Session],
    job_id: str,
    token: str,
    *,
    status: str,
    error: str | None = None,
    package_update: dict[str, Any] | None = None,
) -> str:
    """Store the job's end (and its package's) if this run still holds the claim."""
    with transaction(factory) as session:
        owned = session.execute(
            update(models.Job)
            .where(models.Job.id == job_id, models.Job.claim == token)
            .values(status=status, error=error, finished_at=models.utcnow(), claim=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not owned:
            log.warning("job %s: claim lost, result dropped (another run stores it)", job_id)
            return "lost"
        if package_update:
            job = session.get(models.Job, job_id)
            session.execute(
                update(models.Package)
                .where(
                    models.Package.id == job.package_id,
                    models.Package.status.in_(("queued", "matching")),
                )
                .values(**package_update, updated_at=models.utcnow())
                .execution_options(synchronize_session=False)
            )
    return status


def _release(
    factory: sessionmaker[Session],
    job_id: str,
    token: str,
    *,
    error: str | None,
    refund: bool = False,
) -> None:
    """Hand a claimed job back to the queue: a retry after an error, or (`refund`, the
    attempt not counted) a worker shutting down."""
    with transaction(factory) as session:
        session.execute(
            update(models.Job)
            .where(models.Job.id == job_id, models.Job.claim == token)
            .values(
                status=QUEUED,
                claim=None,
                lease_until=None,
                error=error,
                attempts=models.Job.attempts - (1 if refund else 0),
            )
            .execution_options(synchronize_session=False)
        )


def run_pending(context: JobContext, *, limit: int | None = None) -> int:
    """Run queued jobs here, one after another, until none is left (or `limit`);
    the same claim and body as the worker processes, for tests and one-off tools."""
    done = 0
    while limit is None or done < limit:
        claimed = claim_next(context.factory, context.settings)
        if claimed is None:
            break
        run(context, *claimed)
        done += 1
    return done
