"""FastAPI dependencies, as `Annotated` aliases the routes declare."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.problems import Problem
from api.security import Principal, Role, authenticate
from api.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_factory(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def get_session(request: Request) -> Iterator[Session]:
    """A session for the request; routes commit what they change."""
    with request.app.state.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
FactoryDep = Annotated[sessionmaker[Session], Depends(get_factory)]
SessionDep = Annotated[Session, Depends(get_session)]

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer cm_...`")


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    challenge = {"WWW-Authenticate": 'Bearer realm="carematch"'}
    if credentials is None:
        raise Problem(401, "an API key is needed: Authorization: Bearer <key>", headers=challenge)
    with request.app.state.sessions() as session:
        principal = authenticate(session, credentials.credentials)
    if principal is None:
        raise Problem(401, "the API key is not valid", headers=challenge)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role):
    """A dependency admitting only these roles (403 for the others)."""

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise Problem(403, f"this needs a {allowed} key, not {principal.role.value}")
        return principal

    return check


Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Broker = Annotated[Principal, Depends(require(Role.BROKER, Role.ADMIN))]
AgencyOrAdmin = Annotated[Principal, Depends(require(Role.AGENCY, Role.ADMIN))]


def agency_scope(agency_id: str, principal: AgencyOrAdmin) -> Principal:
    """Admins reach every agency; an agency key only its own. Another agency's
    resources answer 404, as if they did not exist (their ids tell nothing)."""
    if principal.role == Role.AGENCY and principal.agency_id != agency_id:
        raise Problem(404, f"no agency {agency_id!r}", kind="not-found")
    return principal


AgencyScope = Annotated[Principal, Depends(agency_scope)]
