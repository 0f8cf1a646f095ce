"""API keys, made by an admin over HTTP (or `carematch keys create`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from api.db import transaction
from api.deps import Admin, FactoryDep
from api.problems import PROBLEM_RESPONSES, invalid
from api.security import Role, create_key

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=PROBLEM_RESPONSES)


class KeyIn(BaseModel):
    model_config = {"extra": "forbid"}
    role: Role
    agency_id: str | None = Field(default=None, min_length=1, max_length=100)
    label: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _agency_iff_agency_role(self) -> KeyIn:
        if (self.role == Role.AGENCY) != (self.agency_id is not None):
            raise ValueError("agency_id is given for, and only for, an agency key")
        return self


class KeyOut(BaseModel):
    key: str = Field(description="Shown once; only its hash is stored.")
    role: Role
    agency_id: str | None


@router.post("", status_code=201, response_model=KeyOut, summary="Create an API key (admin)")
def post_key(key: KeyIn, _: Admin, factory: FactoryDep) -> dict[str, Any]:
    """The one POST without `Idempotency-Key`: a replay would have to keep the new key
    in clear text to show it again, and keys are stored only hashed."""
    with transaction(factory) as session:
        try:
            token = create_key(session, role=key.role, agency_id=key.agency_id, label=key.label)
        except ValueError as exc:
            raise invalid("body.agency_id", str(exc)) from None
    return {"key": token, "role": key.role.value, "agency_id": key.agency_id}
