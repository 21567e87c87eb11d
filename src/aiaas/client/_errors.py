"""The SDK's error tree: one exception per kind of failure, carrying what the server said.

    AiaasAPIError                 base; ``code``, ``message``, ``details``, ``status``, ``request_id``
    ├── BadRequestError           400, 415, 422 (invalid_request, invalid_json, unsafe_artifact, ...)
    ├── AuthenticationError       401: missing, unknown, revoked or expired key
    ├── PermissionDeniedError     403: the key lacks a scope
    ├── NotFoundError             404 (also another tenant's model)
    ├── ConflictError             409
    ├── PayloadTooLargeError      413
    ├── RateLimitError            429; ``retry_after`` in seconds
    ├── ServiceUnavailableError   503; ``retry_after`` in seconds
    ├── InternalServerError       other 5xx
    └── APIConnectionError        no HTTP answer at all (refused, reset, DNS, ...)
        └── APITimeoutError       the request timed out
"""

from __future__ import annotations

from typing import Any

import httpx


class AiaasAPIError(Exception):
    """Any failed call. ``status`` is the HTTP status (None when no response came back)."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        status: int | None = None,
        details: Any = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = [f"HTTP {self.status}"] if self.status is not None else []
        if self.request_id:
            where.append(f"request id {self.request_id}")
        suffix = f" ({', '.join(where)})" if where else ""
        return f"{self.code}: {self.message}{suffix}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
                f"status={self.status!r}, request_id={self.request_id!r})")


class BadRequestError(AiaasAPIError):
    """The request was refused as invalid (400, 415 or 422); ``details`` names the field."""


class AuthenticationError(AiaasAPIError):
    """401: the API key is missing, malformed, unknown, revoked or expired."""


class PermissionDeniedError(AiaasAPIError):
    """403: the key is valid but lacks the scope (``details['scope']``)."""


class NotFoundError(AiaasAPIError):
    """404: no such model, version, alias or key (for this tenant)."""


class ConflictError(AiaasAPIError):
    """409: the change clashes with what is stored (e.g. deleting a version an alias points at)."""


class PayloadTooLargeError(AiaasAPIError):
    """413: the body, the upload or the number of inputs is over the server's limit."""


class RateLimitError(AiaasAPIError):
    """429: the model's queue is full; wait ``retry_after`` seconds before trying again."""


class ServiceUnavailableError(AiaasAPIError):
    """503: the server (or a model, or its database) cannot serve now; see ``retry_after``."""


class InternalServerError(AiaasAPIError):
    """A 5xx other than 503: a server-side bug; quote ``request_id`` when reporting it."""


class APIConnectionError(AiaasAPIError):
    """No HTTP response: the server could not be reached or the connection broke."""

    def __init__(self, message: str, *, code: str = "connection_error") -> None:
        super().__init__(message, code=code)


class APITimeoutError(APIConnectionError):
    """The request did not complete within the client's timeout."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="timeout")


_BY_STATUS: dict[int, type[AiaasAPIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: BadRequestError,
    422: BadRequestError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (only the delta-seconds form is understood)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds)


def _read_error(error: dict[str, Any], code: str, message: str) -> tuple[str, str, Any]:
    """Code, message and details of an error object, native (``{"code", "message", "details"}``)
    or OpenAI-shaped (``{"message", "type", "param", "code"}``, the ``/v1`` routes): there the
    code is ``code``, else ``type``, and ``details`` holds ``type`` and ``field`` (the param)."""
    code = str(error.get("code") or error.get("type") or code)
    message = str(error.get("message") or message)
    if "details" in error or "type" not in error:
        return code, message, error.get("details")
    details = {"type": error.get("type"), "field": error.get("param")}
    return code, message, {key: value for key, value in details.items() if value is not None}


def error_from_response(response: httpx.Response) -> AiaasAPIError:
    """Build the typed error for a 4xx/5xx response, whatever its body looks like."""
    status = response.status_code
    code, message, details = f"http_{status}", response.reason_phrase or "error", None
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, message, details = _read_error(error, code, message)
    elif isinstance(body, dict) and "status" in body:
        message, details = f"server says {body['status']!r}", body
    elif response.text:
        message = response.text.strip()[:300]
    cls = _BY_STATUS.get(status) or (InternalServerError if status >= 500 else AiaasAPIError)
    return cls(
        message, code=code, status=status, details=details,
        request_id=response.headers.get("x-request-id"),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


_BY_OPENAI_TYPE: dict[str, type[AiaasAPIError]] = {
    "invalid_request_error": BadRequestError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "rate_limit_error": RateLimitError,
    "server_error": InternalServerError,
}


def error_from_event(error: dict[str, Any], request_id: str | None) -> AiaasAPIError:
    """The typed error for an ``{"error": {...}}`` event sent in the middle of a stream (after
    the 200 status went out, so ``status`` is None and the class follows the error's type)."""
    code, message, details = _read_error(error, "stream_error", "the stream failed")
    cls = _BY_OPENAI_TYPE.get(str(error.get("type")), AiaasAPIError)
    if code == "unavailable":
        cls = ServiceUnavailableError
    return cls(message, code=code, details=details, request_id=request_id)


def error_from_transport(exc: httpx.TransportError, url: str) -> APIConnectionError:
    """Wrap an httpx transport failure, naming the server it could not talk to."""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"timed out talking to {url}: {type(exc).__name__}")
    reason = str(exc) or type(exc).__name__
    return APIConnectionError(f"cannot reach the aiaas server at {url}: {reason}")
