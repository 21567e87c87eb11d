"""Errors on the OpenAI surface: ``{"error": {"message", "type", "param", "code"}}``.

The status comes from ``aiaas.api.errors.status_for`` except that invalid input is a 400 here
(OpenAI's status for every invalid request), so the ``openai`` client raises its typed errors
(``BadRequestError``, ``AuthenticationError``, ``NotFoundError``, ``RateLimitError``, ...).

Two hooks give every ``/v1`` answer this shape:

- ``OpenAIRoute``, the route class of the ``/v1`` router, answers the domain, validation and
  body-parsing errors raised while a route runs (its dependencies included);
- ``OpenAIErrorShape``, an ASGI middleware placed outside ``RequestContext``, reshapes the
  native error bodies produced before a route runs (body over the limit: 413; no such route:
  404; wrong method: 405) on ``/v1`` paths. Other paths pass through untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiaas import errors
from aiaas.api.errors import body_not_json, status_for, validation_details

log = logging.getLogger("aiaas.api.openai")
PREFIX = "/v1/"

TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "invalid_request_error", 405: "invalid_request_error", 409: "invalid_request_error",
    413: "invalid_request_error", 415: "invalid_request_error", 429: "rate_limit_error",
    507: "server_error",
}
CODES = {"unauthenticated": "invalid_api_key", "not_found": "model_not_found",
         "quota_exceeded": "insufficient_quota"}
TYPES_OF_CODE = {"quota_exceeded": "insufficient_quota"}
"""Codes whose OpenAI type says more than their status's: a used-up budget is OpenAI's
``insufficient_quota`` 429, not a ``rate_limit_error`` worth retrying soon."""


def openai_status(status: int) -> int:
    return 400 if status == 422 else status


def error_content(status: int, message: str, *, param: str | None = None,
                  code: str | None = None) -> dict[str, Any]:
    kind = TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _param(details: Any) -> str | None:
    if isinstance(details, dict):
        field = details.get("field")
        if isinstance(field, str) and field:
            return field.removeprefix("body.")
        if "model" in details or "version" in details:
            return "model"
    return None


def domain_content(exc: errors.AiaasError) -> tuple[int, dict[str, Any]]:
    """The OpenAI status and body for a domain error (also used for errors sent mid-stream)."""
    status = openai_status(status_for(exc))
    param = _param(exc.details)
    if isinstance(exc, errors.NotFound):
        param = "model"
    content = error_content(status, exc.message, param=param, code=CODES.get(exc.code, exc.code))
    if exc.code in TYPES_OF_CODE:
        content["error"]["type"] = TYPES_OF_CODE[exc.code]
    return status, content


def domain_response(exc: errors.AiaasError) -> JSONResponse:
    status, content = domain_content(exc)
    headers = {}
    if isinstance(exc, errors.Overloaded):
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status >= 500 and not isinstance(exc, errors.Unavailable):
        log.error("server error: %s", exc.message)
    return JSONResponse(content, status, headers=headers)


def validation_response(request: Request, exc: RequestValidationError) -> JSONResponse:
    content_type = request.headers.get("content-type", "")
    if content_type and not any(kind in content_type for kind in ("json", "multipart", "form")):
        return JSONResponse(error_content(
            400, f"the body must be JSON sent with 'Content-Type: application/json' "
                 f"(got {content_type.split(';')[0]!r})", code="unsupported_media_type"), 400)
    message, details = validation_details(exc, body_prefix=False)
    param = _param(details[0]) if details else None
    code = "invalid_json" if body_not_json(exc) else "invalid_request"
    return JSONResponse(error_content(400, message, param=param, code=code), 400)


def unexpected_response(request: Request) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(error_content(
        500, "internal server error; the request id is in the logs", code="internal_error"), 500)


class OpenAIRoute(APIRoute):
    """Answers errors raised by a ``/v1`` route (or its dependencies) in OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except errors.AiaasError as exc:
                return domain_response(exc)
            except RequestValidationError as exc:
                return validation_response(request, exc)
            except StarletteHTTPException as exc:
                if isinstance(exc.__cause__, errors.AiaasError):
                    return domain_response(exc.__cause__)
                status = openai_status(exc.status_code)
                return JSONResponse(error_content(status, str(exc.detail)), status)
            except Exception:
                return unexpected_response(request)

        return route


class OpenAIErrorShape:
    """Reshapes native error bodies (``{"error": {"code", "message", "details"}}``) sent on
    ``/v1`` paths before any route ran. Successful responses and other paths are not touched;
    only error responses with a JSON body are buffered (they are small)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def reshaping_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if message["status"] >= 400 and b"json" in headers.get(b"content-type", b""):
                    start = message
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                status, body = _reshape(start["status"], b"".join(chunks))
                kept = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
                await send({**start, "status": status,
                            "headers": [*kept, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, reshaping_send)


def _reshape(status: int, body: bytes) -> tuple[int, bytes]:
    try:
        error = json.loads(body)["error"]
        native = isinstance(error, dict) and "details" in error and "type" not in error
    except (ValueError, KeyError, TypeError):
        native = False
    if not native:
        return status, body
    status = openai_status(status)
    content = error_content(status, str(error.get("message", "")), param=_param(error["details"]),
                            code=error.get("code"))
    return status, json.dumps(content).encode()
