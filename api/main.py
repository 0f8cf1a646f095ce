"""The FastAPI application: `create_app(settings)`.

The app holds its database engine and settings on `app.state` (no module-level
state), answers every error as problem+json (`api.problems`), refuses bodies over
`max_body_bytes` with 413 before reading them, and, with `settings.outbox`, sends
webhooks from the outbox in a background thread. Matching runs in the job workers
(`api.worker`, or with `broker_url` the Celery workers of `api.celery_app`), never here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api import jobs, problems, web, webhooks
from api.db import make_engine, make_sessionmaker
from api.guard import BodyLimit
from api.routes import agencies, health, keys, living, packages
from api.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = """
Brokers submit care packages and get ranked, feasible offers from agencies; agencies
keep their workers, clients and committed rosters here, ask where a visit still fits,
and hear at once when they win a package.

Authenticate with `Authorization: Bearer <key>` (`carematch keys create`). Every error
is `application/problem+json` (RFC 9457). POSTs that create something accept an
`Idempotency-Key`.
"""


def _outbox_loop(app: FastAPI, stop: threading.Event) -> None:
    settings: Settings = app.state.settings
    while not stop.is_set():
        try:
            sent = webhooks.deliver_due(app.state.sessions, settings)
        except Exception:  # the loop must outlive a database that is briefly away
            log.exception("webhook delivery round failed")
            sent = 0
        if not sent:
            stop.wait(settings.poll_interval_s)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if settings.outbox:
            thread = threading.Thread(
                target=_outbox_loop, args=(app, stop), name="outbox", daemon=True
            )
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=10)
            if app.state.dispatcher is not None:
                app.state.dispatcher.close()
            engine.dispose()

    app = FastAPI(
        title="carematch",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.dispatcher = None
    if settings.broker_url:  # the Celery backend: tell the broker of each job stored
        from api.celery_app import Dispatcher, make_app

        app.state.dispatcher = Dispatcher(make_app(settings), app.state.sessions)
        jobs.install_dispatch(app.state.sessions, app.state.dispatcher)
    problems.install(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = problems.document(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    for module in (health, packages, agencies, keys, living):
        app.include_router(module.router)
    web.install(app)  # the pages for brokers and agencies (api/web/, docs/web.md)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app
