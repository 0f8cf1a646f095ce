"""Signing in to the pages with an API key: a session cookie and CSRF tokens.

The cookie holds `<key id>.<expiry>.<mac>`, never the key itself: the MAC is an
HMAC-SHA256 keyed with the key's stored hash (`api_keys.secret_hash`), so the
service needs no secret of its own, a session lasts no longer than its key (a
deleted or replaced key ends every session made with it at once), and one process or
many verify it alike. The cookie is HttpOnly (scripts cannot read it) and
SameSite=Strict (another site's form posts arrive without it); on top of that every
form carries a CSRF token derived the same way, checked on each POST, and a POST
whose `Origin` is another site is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api import models
from api.security import Principal, Role, authenticate

COOKIE = "carematch_session"
LIFETIME_S = 12 * 3600


@dataclass(frozen=True)
class WebSession:
    """Who is signed in, and the CSRF token their forms must carry."""

    principal: Principal
    csrf: str


def _mac(secret_hash: str, purpose: str, key_id: str, expires: int) -> str:
    message = f"{purpose}.{key_id}.{expires}".encode()
    return hmac.new(secret_hash.encode(), message, hashlib.sha256).hexdigest()


def sign_in(session: Session, key: str, response: Response, *, secure: bool) -> Principal | None:
    """Set the session cookie for a valid key; None (and no cookie) otherwise."""
    principal = authenticate(session, key.strip())
    if principal is None:
        return None
    row = session.get(models.ApiKey, principal.key_id)
    assert row is not None
    expires = int(time.time()) + LIFETIME_S
    value = f"{principal.key_id}.{expires}.{_mac(row.secret_hash, 'session', row.id, expires)}"
    response.set_cookie(
        COOKIE,
        value,
        max_age=LIFETIME_S,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return principal


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def current(request: Request) -> WebSession | None:
    """The signed-in session of the request, or None (no cookie, expired, forged, or
    its key gone)."""
    value = request.cookies.get(COOKIE, "")
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isalnum() or not parts[1].isdigit():
        return None
    key_id, expires_text, mac = parts
    expires = int(expires_text)
    if expires < time.time():
        return None
    with request.app.state.sessions() as session:
        row = session.get(models.ApiKey, key_id)
    if row is None or not hmac.compare_digest(
        mac, _mac(row.secret_hash, "session", key_id, expires)
    ):
        return None
    principal = Principal(key_id=row.id, role=Role(row.role), agency_id=row.agency_id)
    return WebSession(principal=principal, csrf=_mac(row.secret_hash, "csrf", key_id, expires))


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def csrf_ok(request: Request, web: WebSession, token: str | None) -> bool:
    """The form's (or htmx's `X-CSRF-Token` header's) token is this session's."""
    given = token or request.headers.get("x-csrf-token") or ""
    return same_origin(request) and hmac.compare_digest(given, web.csrf)
