"""`Idempotency-Key` on POSTs that create something, with Stripe's semantics.

The first response to a key is stored with a hash of the request (method, path and
body), in the same transaction as what the request created: a retry with the same key
and the same request replays it (status, body, `Location`), even if the first request
is still being answered elsewhere (the unique key makes the second insert fail, and the
retry then replays the winner); the same key with another request is a `422`. Keys
belong to the API key that used them, so two callers cannot collide.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api import models
from api.db import transaction
from api.problems import Problem
from api.security import Principal

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Retry safely: the same key and body replay the first response.",
    ),
]


def request_hash(request: Request, body: Any) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.url.path}\n{text}".encode()).hexdigest()


def _replay(record: models.IdempotencyRecord, digest: str) -> Response:
    if record.request_hash != digest:
        raise Problem(
            422,
            "this Idempotency-Key was already used with another request",
            kind="idempotency-key-reused",
        )
    headers = {**record.headers, "Idempotent-Replayed": "true"}
    return Response(
        record.body, status_code=record.status_code, headers=headers, media_type="application/json"
    )


def idempotent(
    factory: sessionmaker[Session],
    principal: Principal,
    key: str | None,
    request: Request,
    body: Any,
    create: Callable[[Session], tuple[int, dict[str, Any], dict[str, str]]],
) -> Response:
    """Run `create(session)` -> (status, body, headers) in one transaction, once per key."""
    if key is None:
        with transaction(factory) as session:
            status, content, headers = create(session)
        return JSONResponse(content, status_code=status, headers=headers)
    digest = request_hash(request, body)
    with factory() as session:
        record = session.get(models.IdempotencyRecord, (principal.key_id, key))
        if record is not None:
            return _replay(record, digest)
    try:
        with transaction(factory) as session:
            status, content, headers = create(session)
            session.add(
                models.IdempotencyRecord(
                    key_id=principal.key_id,
                    key=key,
                    method=request.method,
                    path=request.url.path,
                    request_hash=digest,
                    status_code=status,
                    body=json.dumps(content),
                    headers=headers,
                )
            )
    except IntegrityError:
        with factory() as session:
            record = session.get(models.IdempotencyRecord, (principal.key_id, key))
        if record is None:
            raise
        return _replay(record, digest)
    return JSONResponse(content, status_code=status, headers=headers)
