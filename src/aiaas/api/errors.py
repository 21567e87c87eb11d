"""Domain and framework errors to HTTP responses, in one place: ``{"error": {code, message, details}}``.

The handler walks the exception's class hierarchy (as Starlette does) to pick the status, so a
new subclass of ``Invalid`` is a 4xx without touching this file.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from aiaas import errors

log = logging.getLogger("aiaas.api")

STATUS: dict[type[errors.AiaasError], int] = {
    errors.PayloadTooLarge: 413,
    errors.Invalid: 422,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Unavailable: 503,
    errors.InsufficientStorage: 507,
    errors.Overloaded: 429,
    errors.BackendError: 500,
    errors.StoredDataCorrupt: 500,
    errors.NotStarting: 503,
}

HTTP_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "invalid_request", 429: "overloaded",
    507: "insufficient_storage",
}


def status_for(exc: errors.AiaasError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _headers(exc: errors.AiaasError, status: int) -> dict[str, str]:
    headers = {}
    if isinstance(exc, errors.Overloaded):
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return headers


def domain_response(exc: errors.AiaasError) -> JSONResponse:
    status = status_for(exc)
    if status >= 500 and not isinstance(exc, errors.Unavailable):
        log.error("server error: %s", exc.message)
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details), status, headers=_headers(exc, status)
    )


def body_not_json(exc: RequestValidationError) -> bool:
    """True when the body could not be read as JSON at all (rather than a field failing)."""
    return any(item.get("type") in {"json_invalid", "json_type"}
               or str(item.get("msg", "")).startswith("JSON decode error") for item in exc.errors())


def validation_details(exc: RequestValidationError, *, body_prefix: bool = True
                       ) -> tuple[str, list[dict[str, Any]]]:
    """Name each failing field the way a user wrote it (``body.inputs[3]``); the message names
    the first one, without ``body.`` when ``body_prefix`` is false (a surface whose fields are
    the body's)."""
    details = []
    for item in exc.errors():
        location = ".".join(str(part) for part in item.get("loc", ()))
        details.append({"field": location, "problem": item.get("msg", "invalid")})
    if body_not_json(exc):
        return "the request body is not valid JSON", details
    first = details[0] if details else {"field": "body", "problem": "invalid"}
    field = first["field"] if body_prefix else first["field"].removeprefix("body.")
    return f"{field}: {first['problem']}", details


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.AiaasError)
    async def _domain(request: Request, exc: errors.AiaasError) -> JSONResponse:
        return domain_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        content_type = request.headers.get("content-type", "")
        if request.method in {"POST", "PUT", "PATCH"} and content_type and "json" not in content_type:
            return JSONResponse(error_body(
                "unsupported_media_type",
                f"the body must be JSON sent with 'Content-Type: application/json' "
                f"(got {content_type.split(';')[0]!r})",
            ), 415)
        message, details = validation_details(exc)
        code = "invalid_json" if body_not_json(exc) else "invalid_request"
        return JSONResponse(error_body(code, message, details), 400 if code == "invalid_json" else 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, errors.AiaasError):
            return domain_response(exc.__cause__)
        code = HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        return JSONResponse(error_body(code, message), exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        """A backstop: services turn the unique-constraint races they know into ``Conflict``
        or an idempotent success; one they missed is still a clash, not a server fault."""
        log.warning("integrity error on %s %s: %s", request.method, request.url.path,
                    type(exc.orig).__name__)
        return domain_response(errors.Conflict(
            "the change clashes with one made at the same time; try again"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal_error", "internal server error; the request id is in the logs"),
            500,
        )
