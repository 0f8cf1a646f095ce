"""Errors as RFC 9457 problem details (`application/problem+json`), everywhere.

Every error the service returns goes through `problem_response`: raised `Problem`s,
FastAPI's validation errors (each bad field listed with a message a person
understands and its location), Starlette's HTTP errors (404 for an unknown path, 405)
and, as a last resort, anything unexpected (logged, answered 500 without a traceback;
the tests assert it never happens).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://carematch.example/problems/"

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Service unavailable",
}


class FieldError(BaseModel):
    """One bad field of a request."""

    field: str = Field(description="Where: 'body.visits[1].duration_min', 'query.after'.")
    message: str
    type: str = ""


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, with the extensions this service uses."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = Field(default=None, description="Each bad field.")
    violations: list[dict[str, Any]] | None = Field(
        default=None, description="The checker's violations, when a change would break a roster."
    )


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ProblemDetails, "content": {PROBLEM_JSON: {}}, "description": title}
    for status, title in TITLES.items()
    if status not in (405, 415, 500)
}


class Problem(Exception):
    """An error to answer as problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.title = title or TITLES.get(status, "Error")
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str | None,
    *,
    kind: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + kind if kind else "about:blank",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extensions.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'visits', 1, 'duration_min') -> 'body.visits[1].duration_min'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's errors as `FieldError`s; pydantic's own wording, which names the rule
    ("Input should be greater than 0"), with the input's location as a path."""
    listed = []
    for error in errors:
        loc = [p for p in error.get("loc", ()) if not str(p).startswith("function-after")]
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            message = "the body is not valid JSON: " + str(
                (error.get("ctx") or {}).get("error", message)
            )
        listed.append({"field": field_name(loc), "message": message, "type": error.get("type", "")})
    return listed


def install(app: FastAPI) -> None:
    """Answer every error of `app` as problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.detail,
            kind=exc.kind,
            title=exc.title,
            instance=request.url.path,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(list(exc.errors()))
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return problem_response(
            422,
            f"{first['field']}: {first['message']}{more}",
            kind="validation",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.url.path}"
        return problem_response(
            exc.status_code,
            detail,
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(
            500, "an unexpected error; it has been logged", instance=request.url.path
        )
