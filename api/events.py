"""Events an agency is told about, and the webhook outbox behind them.

Each agency's events are numbered 1, 2, 3, ... with no gaps (`Agency.event_seq`,
bumped by an UPDATE that holds the agency's row until the transaction commits), so
two events of one agency commit in the order of their numbers and a client reading
`after=N` never misses one that commits later with a smaller number. When the agency
registered a webhook URL, the same transaction adds a `Delivery` row (the outbox):
the event is sent after it is committed, by `webhooks.deliver_due`, with retries,
and survives a receiver that is down and a restart of the service.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api import models

PACKAGE_WON = "package.won"
OFFER_NOT_TAKEN = "offer.not_taken"


class EventOut(BaseModel):
    seq: int
    type: str
    agency_id: str
    created_at: str
    data: dict[str, Any]


class EventPage(BaseModel):
    events: list[EventOut]
    next_cursor: int  # pass as `after` next time


def emit(session: Session, agency_id: str, type_: str, data: dict[str, Any]) -> int | None:
    """Add an event for the agency (and its webhook delivery); returns its number, or
    None if the agency no longer exists (deleted since it made its offer).

    Callers emitting to several agencies in one transaction lock them in agency id
    order first (`agencies.lock`), so two such transactions cannot deadlock."""
    counted = session.execute(
        update(models.Agency)
        .where(models.Agency.id == agency_id)
        .values(event_seq=models.Agency.event_seq + 1)
        .returning(models.Agency.event_seq, models.Agency.webhook_url)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if counted is None:
        return None
    number, url = counted
    session.add(models.Event(agency_id=agency_id, seq=number, type=type_, data=data))
    if url:
        session.add(
            models.Delivery(
                agency_id=agency_id, seq=number, status="pending", next_attempt_at=time.time()
            )
        )
    session.flush()
    return number


def as_json(event: models.Event) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "type": event.type,
        "agency_id": event.agency_id,
        "created_at": models.as_utc(event.created_at).isoformat(),
        "data": event.data,
    }


def page(session: Session, agency_id: str, after: int, limit: int) -> EventPage:
    rows = session.scalars(
        select(models.Event)
        .where(models.Event.agency_id == agency_id, models.Event.seq > after)
        .order_by(models.Event.seq)
        .limit(limit)
    ).all()
    events = [EventOut(**as_json(e)) for e in rows]
    return EventPage(events=events, next_cursor=events[-1].seq if events else after)
