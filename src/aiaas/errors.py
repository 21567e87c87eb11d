"""The domain error tree. Services raise these; each HTTP surface maps them to its own shape.

    AiaasError
    ├── Invalid                 bad input (422/400)
    │   ├── PayloadTooLarge     body, upload or input count over a limit (413)
    │   └── UnsafeArtifact      an artifact that would need unpickling or escapes its directory
    ├── Unauthenticated         no key, unknown key, revoked or expired key (401)
    ├── Forbidden               a valid key without the scope (403)
    ├── NotFound                unknown, or owned by another tenant (404)
    ├── Conflict                the change clashes with what is stored (409)
    ├── Overloaded              a model's queue is full (429, Retry-After)
    ├── Unavailable             a dependency (database, model) cannot serve now (503, Retry-After)
    └── BackendError            the model failed on valid input (500: always a bug to report)
"""

from __future__ import annotations

from typing import Any


class AiaasError(Exception):
    """Base of every error the service layer raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class Invalid(AiaasError):
    code = "invalid_request"


class PayloadTooLarge(Invalid):
    code = "payload_too_large"


class UnsafeArtifact(Invalid):
    code = "unsafe_artifact"


class Unauthenticated(AiaasError):
    code = "unauthenticated"


class Forbidden(AiaasError):
    code = "forbidden"


class NotFound(AiaasError):
    code = "not_found"


class Conflict(AiaasError):
    code = "conflict"


class Overloaded(AiaasError):
    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: float = 1.0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s


class Unavailable(Overloaded):
    code = "unavailable"


class BackendError(AiaasError):
    code = "backend_error"
