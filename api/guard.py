"""The request guard: what the app and the database must never see is refused,
as problem+json, before routing (`BodyLimit`, installed by `api.main.create_app`)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems


class BodyLimit:
    """Reads the body before the app does and refuses, as problem+json, what the app
    and the database must never see:

    - a body over the limit: 413, by its Content-Length or as it streams in (chunked);
    - a JSON body that is not JSON: 422 (not UTF-8, nested too deep for the parser,
      NaN or Infinity, a number out of range, broken syntax);
    - a NUL character, which PostgreSQL cannot store: in the path 404 (no id holds
      one), in the query or a JSON string 422 naming the field, in a header 400 (but
      a key with one is answered 401 by the app, as any key that is not valid).

    The app then gets the body in one piece. Reading it here, rather than counting as
    the app reads, keeps FastAPI from turning the limit or a parser's error into its
    generic 400."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _refuse_head(scope, self.limit)
        if refusal is not None:
            await _answer(scope, send, refusal)
            return
        chunks: list[bytes] = []
        seen = 0
        last: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                last = message
                break
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await _answer(scope, send, _too_large(self.limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and last is None and _is_json(Headers(scope=scope).get("content-type")):
            error = json_error(body)
            if error is not None:
                await _answer(scope, send, (422, f"{error.field}: {error.message}", error))
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                if last is not None:
                    return last
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@dataclass(frozen=True)
class BadField:
    field: str
    message: str
    type: str


Refusal = tuple[int, str, BadField | None]


def _too_large(limit: int) -> Refusal:
    return 413, f"the body is larger than {limit:,} bytes", None


def _refuse_head(scope: Scope, limit: int) -> Refusal | None:
    """What is wrong with the request line and headers, before any body is read."""
    if "\x00" in scope.get("path", ""):
        return 404, f"no such resource: {scope['path']!r}", None
    query = scope.get("query_string", b"")
    if b"\x00" in query or b"%00" in query:
        error = BadField("query", "contains a NUL character (%00)", "nul")
        return 422, f"{error.field}: {error.message}", error
    for name, value in scope.get("headers") or []:
        # A key with a NUL is just not a key (401, from the app); no other header
        # reaches the database, but none may carry one.
        if b"\x00" in value and name != b"authorization":
            return 400, f"header {name.decode('latin-1')} contains a NUL character", None
    length = Headers(scope=scope).get("content-length")
    if length is not None and not length.strip().isdigit():
        return 400, "Content-Length is not a number", None
    if length is not None and int(length) > limit:
        return _too_large(limit)
    return None


async def _answer(scope: Scope, send: Send, refusal: Refusal) -> None:
    status, detail, error = refusal
    extra: dict[str, Any] = {}
    if error is not None:
        extra = {"kind": "validation", "errors": [asdict(error)]}
    response = problems.problem_response(status, detail, instance=scope.get("path"), **extra)
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _is_json(content_type: str | None) -> bool:
    """As FastAPI decides to parse a body as JSON: application/json or .../*+json."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def json_error(body: bytes) -> BadField | None:
    """Why `body` is not JSON the service takes, or None."""
    try:
        value = json.loads(body, parse_float=_finite, parse_constant=_constant)
    except RecursionError:
        reason = "nested too deeply"
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 (byte {exc.start})"
    except ValueError as exc:  # JSONDecodeError, the constants, too many digits
        reason = str(exc)
    else:
        reason = None
    if reason is not None:
        return BadField("body", f"not valid JSON: {reason}", "json_invalid")
    if b"\\u0000" in body:
        field = _nul_field(value)
        if field is not None:
            return BadField(field, "contains a NUL character (\\u0000)", "nul")
    return None


def _nul_field(value: Any) -> str | None:
    """The path of the first string (key or value) holding a NUL character."""
    stack: list[tuple[str, Any]] = [("body", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    return path
                stack.append((f"{path}.{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
    return None
