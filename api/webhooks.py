"""Webhook delivery from the outbox (`models.Delivery`), signed with HMAC-SHA256.

A delivery POSTs the event's JSON to the agency's URL with

    Carematch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
    Carematch-Event: <agency id>:<seq>

(Stripe's scheme: the timestamp inside the signed text stops replays; receivers
compare in constant time, see `verify`). Per agency, events go out in order: the
earliest undelivered one is retried (with exponential backoff up to
`webhook_max_backoff_s`) until the receiver answers 2xx, and no later one is sent
before it. Deliveries are claimed with a lease, so several worker processes may run
this loop without sending an event twice at once; a receiver may still see an event
again after a crash mid-delivery (at-least-once), and should use `Carematch-Event`
to drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from api import events, models
from api.db import transaction
from api.settings import Settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Carematch-Signature"
EVENT_HEADER = "Carematch-Event"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = 300) -> bool:
    """Whether `header` is a valid signature of `body` made within `tolerance_s`."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def deliver_due(factory: sessionmaker[Session], settings: Settings) -> int:
    """Send every delivery that is due now and first in its agency's line; returns how
    many were attempted."""
    attempted = 0
    with factory() as session:
        heads = session.execute(
            select(models.Delivery.agency_id, func.min(models.Delivery.seq))
            .where(models.Delivery.status == "pending")
            .group_by(models.Delivery.agency_id)
        ).all()
    for agency_id, seq in heads:
        claim = secrets.token_hex(8)
        now = time.time()
        with transaction(factory) as session:
            taken = session.execute(
                update(models.Delivery)
                .where(
                    models.Delivery.agency_id == agency_id,
                    models.Delivery.seq == seq,
                    models.Delivery.status == "pending",
                    models.Delivery.next_attempt_at <= now,
                    (models.Delivery.lease_until.is_(None)) | (models.Delivery.lease_until < now),
                )
                .values(claim=claim, lease_until=now + 2 * settings.webhook_timeout_s + 5)
                .execution_options(synchronize_session=False)
            ).rowcount
            if not taken:
                continue
            agency = session.get(models.Agency, agency_id)
            event = session.get(models.Event, (agency_id, seq))
            url, secret = agency.webhook_url, agency.webhook_secret or ""
            body = json.dumps(events.as_json(event), separators=(",", ":")).encode()
        attempted += 1
        error = _post(url, secret, body, f"{agency_id}:{seq}", settings) if url else None
        with transaction(factory) as session:
            row = session.scalars(
                select(models.Delivery).where(
                    models.Delivery.agency_id == agency_id,
                    models.Delivery.seq == seq,
                    models.Delivery.claim == claim,
                )
            ).one_or_none()
            if row is None:
                continue
            row.claim, row.lease_until = None, None
            if error is None:
                row.status, row.delivered_at = "delivered", models.utcnow()
            else:
                row.attempts += 1
                row.last_error = error
                backoff = min(settings.webhook_max_backoff_s, 2.0 ** min(row.attempts, 20))
                row.next_attempt_at = time.time() + backoff
                log.info(
                    "webhook %s:%s failed (%s); retry in %.0f s", agency_id, seq, error, backoff
                )
    return attempted


def _post(url: str, secret: str, body: bytes, event_id: str, settings: Settings) -> str | None:
    """None when the receiver took it (2xx), else what went wrong."""
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, body, int(time.time())),
        EVENT_HEADER: event_id,
        "User-Agent": "carematch-webhooks/1",
    }
    try:
        response = httpx.post(
            url, content=body, headers=headers, timeout=settings.webhook_timeout_s
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"
