"""The service's tables (SQLAlchemy 2, typed). Alembic migrations in `migrations/`
create them; `tests/api/test_migrations.py` checks the two agree.

An agency's data is relational down to the engine's own documents: one row per
worker, per package (with its client) and per committed visit, each holding the
engine's validated JSON for that object (`matcher.schema`), so an agency loads back
into a `matcher.market.MarketAgency` exactly as it was imported. `Agency.version`
counts every change to an agency's data; a change is written only if the version is
still the one it was computed from (optimistic concurrency), so an offer accepted
against a roster that changed meanwhile is re-checked, never double-booked.

Money is integer pence; times are weekday + "HH:MM" as at the engine's boundary.
Server-made ids (packages, jobs) are random and unguessable; agencies, workers and
clients keep the ids they were created or imported with.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Document = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: Document, list[Any]: Document}


class ApiKey(Base):
    """An API key: shown once, stored as the SHA-256 of its secret part."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    agency_id: Mapped[str | None] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Agency(Base):
    __tablename__ = "agencies"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The engine's `Agency`, `area_type`, `weights` and `travel`, as JSON.
    profile: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer, default=1)
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Worker(Base):
    __tablename__ = "workers"
    agency_id: Mapped[str] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    document: Mapped[dict[str, Any]]


class AgencyPackage(Base):
    """A package an agency has taken on (its client inside), imported or accepted."""

    __tablename__ = "agency_packages"
    __table_args__ = (UniqueConstraint("agency_id", "client_id"),)
    agency_id: Mapped[str] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    document: Mapped[dict[str, Any]]
    broker_package_id: Mapped[str | None] = mapped_column(String(40))


class Assignment(Base):
    """One visit of an agency's committed week and who does it."""

    __tablename__ = "assignments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["agency_id", "package_id"],
            ["agency_packages.agency_id", "agency_packages.id"],
            ondelete="CASCADE",
        ),
    )
    agency_id: Mapped[str] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True
    )
    visit_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    package_id: Mapped[str] = mapped_column(String(100))
    client_id: Mapped[str] = mapped_column(String(100))
    weekday: Mapped[str] = mapped_column(String(3))
    start: Mapped[str] = mapped_column(String(5))
    end: Mapped[str] = mapped_column(String(5))
    workers: Mapped[list[Any]]


class Package(Base):
    """A broker's package: stored before any matching starts, then its offers."""

    __tablename__ = "packages"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    broker_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    reference: Mapped[str] = mapped_column(String(100), index=True)  # the package's own id
    document: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), index=True)
    result: Mapped[dict[str, Any] | None]
    # The agency that won it; for a split, the agency of its first part.
    accepted_agency_id: Mapped[str | None] = mapped_column(String(100))
    # The rank of the split offer accepted (its parts name both agencies); None when a
    # whole offer was accepted, or nothing yet.
    accepted_split: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Job(Base):
    """A unit of background work. `claim` names the current run; only the run that
    still holds the claim may store its result, so a job taken over from a worker that
    stalled is never stored twice."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_created", "status", "created_seq"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_seq: Mapped[float] = mapped_column(Float)  # queue order
    kind: Mapped[str] = mapped_column(String(32))
    package_id: Mapped[str | None] = mapped_column(ForeignKey("packages.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[float | None] = mapped_column(Float)
    # When the job was last sent to the Celery broker (None: never, or the embedded
    # backend); a job still claimable long after it is sent again (a broker that lost it).
    dispatched_at: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Event(Base):
    """An agency's event; `seq` counts per agency with no gaps, and is the cursor."""

    __tablename__ = "events"
    agency_id: Mapped[str] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Delivery(Base):
    """The webhook outbox: one row per event to POST to the agency's URL."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)
    claim: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyRecord(Base):
    """The first response to a POST with an `Idempotency-Key`, replayed on retries."""

    __tablename__ = "idempotency_keys"
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WorkerHeartbeat(Base):
    """A job worker process that is alive (seen within a few seconds)."""

    __tablename__ = "worker_heartbeats"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer)
    hostname: Mapped[str] = mapped_column(String(255))
    last_seen: Mapped[float] = mapped_column(Float)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC): make them aware."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
