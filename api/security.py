"""API keys: `cm_<key id>.<secret>`, shown once, stored as the SHA-256 of the secret.

The key id is public (it names the key in the database and in logs); the secret is
32 random bytes, so a fast hash is enough (there is nothing to brute-force), and the
comparison is constant-time. Roles: `broker`, `agency` (bound to one agency), `admin`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from api import models


class Role(StrEnum):
    BROKER = "broker"
    AGENCY = "agency"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, its role and, for an agency key, its agency."""

    key_id: str
    role: Role
    agency_id: str | None = None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    session: Session, *, role: Role, agency_id: str | None = None, label: str = ""
) -> str:
    """A new key (added to the session, not committed); the caller shows it once."""
    if role == Role.AGENCY and not agency_id:
        raise ValueError("an agency key needs --agency")
    if role != Role.AGENCY and agency_id:
        raise ValueError("only an agency key is bound to an agency")
    if agency_id is not None and session.get(models.Agency, agency_id) is None:
        raise ValueError(f"no agency {agency_id!r}")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    session.add(
        models.ApiKey(
            id=key_id, secret_hash=_hash(secret), role=role.value, agency_id=agency_id, label=label
        )
    )
    return f"cm_{key_id}.{secret}"


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal of a presented key, or None if it is not a valid key."""
    if not token.startswith("cm_") or "." not in token:
        return None
    key_id, secret = token[3:].split(".", 1)
    row = session.get(models.ApiKey, key_id) if key_id.isalnum() else None
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
        return None
    return Principal(key_id=row.id, role=Role(row.role), agency_id=row.agency_id)


def new_id(prefix: str) -> str:
    """An id nobody can guess or count: `pkg_` + 22 random URL-safe characters."""
    return f"{prefix}_{secrets.token_urlsafe(16)}"
