"""Errors as RFC 9457 problem details (`application/problem+json`), everywhere.

Every error the service returns goes through `problem_response`: raised `Problem`s,
FastAPI's validation errors (each bad field listed with a message a person
understands and its location), Starlette's HTTP errors (404 for an unknown path, 405)
and, as a last resort, anything unexpected (logged, answered 500 without a traceback;
the tests assert it never happens).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
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
    429: "Too many requests",
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
    if status not in (405, 415, 429, 500)
}
# Only package submissions are rate limited (api/ratelimit.py): their route adds it.
RATE_LIMITED_RESPONSE: dict[str, Any] = {
    "model": ProblemDetails,
    "content": {PROBLEM_JSON: {}},
    "description": "Too many submissions with this API key; see Retry-After.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
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


def invalid(field: str, message: str, kind: str = "value_error") -> Problem:
    """A 422 naming one bad field, as FastAPI's own validation errors do."""
    return Problem(
        422,
        f"{field}: {message}",
        kind="validation",
        errors=[{"field": field, "message": message, "type": kind}],
    )


def require_known(values: Iterable[str], known: Iterable[str], field: str, what: str) -> None:
    """422 naming `field` if one of `values` is not `known` (skills the engine does not
    know would otherwise fail deep inside it)."""
    allowed = sorted(known)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise invalid(field, f"unknown {what} {unknown[0]!r} (known: {', '.join(allowed)})")


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
        if part == "[key]":  # pydantic's marker for an error in a dict's key
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}
_PREFIXES = ("Value error, ", "Assertion failed, ")


def _message(error: dict[str, Any], loc: list[Any]) -> str:
    kind = error.get("type", "")
    message = str(error.get("msg", "invalid"))
    if kind == "json_invalid":
        return "the body is not valid JSON: " + str((error.get("ctx") or {}).get("error", message))
    if kind == "missing" and loc == ["body"]:
        return "a JSON body is needed"
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        given = _JSON_TYPES.get(type(error.get("input")), "something else")
        return f"should be a JSON object, not {given}"
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's errors as `FieldError`s; pydantic's own wording, which names the rule
    ("Input should be greater than 0"), with the input's location as a path."""
    listed = []
    for error in errors:
        loc = [p for p in error.get("loc", ()) if not str(p).startswith("function-after")]
        if error.get("type") == "json_invalid":
            loc = loc[:1]  # FastAPI puts the character position after "body"
        listed.append(
            {
                "field": field_name(loc),
                "message": _message(error, loc),
                "type": str(error.get("type", "")),
            }
        )
    return listed


def _not_json(errors: list[dict[str, Any]]) -> bool:
    """FastAPI hands the endpoint raw bytes when the Content-Type is not JSON."""
    return any(
        e.get("loc", ())[:1] == ("body",) and isinstance(e.get("input"), bytes | bytearray)
        for e in errors
    )


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document as the service answers: FastAPI files every response model
    under application/json, but errors are application/problem+json only; and every
    operation may meet BodyLimit's 400, 413 and 422 (and 415 where it takes a body)."""
    ref = {"$ref": "#/components/schemas/ProblemDetails"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                content = response.get("content") or {}
                if PROBLEM_JSON not in content or not str(status).startswith(("4", "5")):
                    continue
                model = content.pop("application/json", {}).get("schema", ref)
                content[PROBLEM_JSON] = {"schema": content[PROBLEM_JSON].get("schema", model)}
            # BodyLimit (api.main) answers these before any route, whatever the route.
            statuses = ["400", "413", "422"] + (["415"] if "requestBody" in operation else [])
            for status in statuses:
                operation["responses"].setdefault(
                    status,
                    {
                        "description": TITLES[int(status)],
                        "content": {PROBLEM_JSON: {"schema": ref}},
                    },
                )
    return schema


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
        raw = list(exc.errors())
        if _not_json(raw):
            given = request.headers.get("content-type") or "no Content-Type"
            return problem_response(
                415,
                f"the body must be JSON, sent as Content-Type: application/json (not {given})",
                kind="media-type",
                instance=request.url.path,
                headers={"Accept": "application/json"},
            )
        errors = validation_errors(raw)
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
        headers = dict(exc.headers or {})
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "There was an error parsing the body": BodyLimit answers these
            # first, this is the net under it.
            reason = type(exc.__cause__).__name__
            return problem_response(
                422,
                f"body: the body could not be read ({reason})",
                kind="validation",
                instance=request.url.path,
                errors=[{"field": "body", "message": "not readable JSON", "type": "json_invalid"}],
            )
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.url.path}"
        if exc.status_code == 405:
            allowed = headers.get("Allow") or headers.get("allow")
            detail = f"{request.method} is not allowed on {request.url.path}" + (
                f"; use {allowed}" if allowed else ""
            )
        return problem_response(exc.status_code, detail, instance=request.url.path, headers=headers)

    @app.exception_handler(OperationalError)
    async def _database_away(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(
            503,
            "the database is not answering; try again shortly",
            kind="database-unavailable",
            instance=request.url.path,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(
            500, "an unexpected error; it has been logged", instance=request.url.path
        )
