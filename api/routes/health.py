"""Liveness and readiness."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from api import models
from api.deps import FactoryDep, SettingsDep
from api.problems import problem_response

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    database: str
    job_workers: int


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Ready,
    summary="The database answers and job workers are alive",
    responses={503: {"description": "Not ready", "content": {"application/problem+json": {}}}},
)
def readyz(factory: FactoryDep, settings: SettingsDep) -> JSONResponse:
    try:
        with factory() as session:
            session.execute(text("SELECT 1"))
            alive = session.scalar(
                select(func.count())
                .select_from(models.WorkerHeartbeat)
                .where(models.WorkerHeartbeat.last_seen > time.time() - 3 * settings.heartbeat_s)
            )
    except SQLAlchemyError as exc:
        return problem_response(503, f"database unreachable: {type(exc).__name__}")
    if not alive:
        return problem_response(503, "no job worker is alive", database="ok", job_workers=0)
    return JSONResponse({"status": "ready", "database": "ok", "job_workers": alive})
