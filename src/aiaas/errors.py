"""The domain error tree. Services raise these; each HTTP surface maps them to its own shape.

    AiaasError
    ├── Invalid                 bad input (422/400)
    │   ├── WrongTask           the model serves another task than the one asked for
    │   ├── PayloadTooLarge     body, upload or input count over a limit (413)
    │   └── UnsafeArtifact      an artifact that would need unpickling or escapes its directory
    ├── Unauthenticated         no key, unknown key, revoked or expired key (401)
    ├── Forbidden               a valid key without the scope (403)
    ├── NotFound                unknown, or owned by another tenant (404)
    ├── Conflict                the change clashes with what is stored (409)
    ├── Overloaded              a model's queue is full (429, Retry-After)
    │   ├── QuotaExceeded       a budget or unit quota is used up for its period (429)
    │   └── RateLimited         a rate or concurrency limit of the tenant, key or model (429)
    ├── Unavailable             a dependency (database, model) cannot serve now (503, Retry-After)
    ├── InsufficientStorage     the data dir's disk (or the database's) is full (507)
    ├── StoredDataCorrupt       a sealed file failed its integrity check (500, never served)
    ├── NotStarting             a setting the server cannot start with (it says what to fix)
    │   └── KeyProblem          the master key is missing or wrong
    └── BackendError            the model failed on valid input (500: always a bug to report)
"""

from __future__ import annotations

from typing import Any, Literal, Self


class AiaasError(Exception):
    """Base of every error the service layer raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


Naming = Literal["prefix", "subject", "quoted"]
"""How a message names its field: ``inputs[2]: empty string`` (prefix), ``parameters.top_k must
be a positive integer`` (subject), ``'inputs' is empty: ...`` (quoted)."""

_LAYOUT: dict[Naming, str] = {
    "prefix": "{field}: {reason}", "subject": "{field} {reason}", "quoted": "'{field}' {reason}",
}


class Invalid(AiaasError):
    """Bad input, with what is wrong carried as data: a surface that spells the request its own
    way (``/v1`` says ``input`` for ``inputs[0]``), or that reports the error against something
    else (an evaluation names the dataset row), reads these rather than parsing the message.

    - ``field``: the request field at fault, as the native API spells it (``inputs[2].audio``,
      ``parameters.top_k``); it is also ``details["field"]``, what clients see.
    - ``index``: the item of ``inputs`` at fault, when one is (never sent: the field says it).
    - ``reason``: what is wrong, without the field's name (the whole message when the message
      does not start by naming its field).

    ``Invalid.at`` writes a message that names its field, so ``renamed`` can restate it for
    another spelling of the field; ``Invalid(message, ...)`` keeps the message as written (a
    field found in ``details`` is still read into ``field``).
    """

    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None, index: int | None = None,
                 details: Any = None, code: str | None = None) -> None:
        if field is not None:
            details = {"field": field, **(details or {})}
        elif isinstance(details, dict) and isinstance(details.get("field"), str):
            field = details["field"]
        super().__init__(message, details=details, code=code)
        self.field = field
        self.index = index
        self.reason = message
        self.naming: Naming | None = None

    @classmethod
    def at(cls, field: str, reason: str, *, index: int | None = None,
           naming: Naming = "prefix", **details: Any) -> Self:
        """The error ``reason`` about ``field``, its message naming the field as ``naming``
        says; ``details`` are sent after the field."""
        error = cls(_LAYOUT[naming].format(field=field, reason=reason), field=field, index=index,
                    details=details)
        error.reason, error.naming = reason, naming
        return error

    def renamed(self, field: str | None) -> Self:
        """The same error said of ``field`` (None: of no field), for a surface that spells the
        request differently. A message that names the field names the new one; without a field
        it is the bare reason, except a quoted name, which is then kept as it was."""
        message, naming = self.message, self.naming
        if naming is not None and (field or naming != "quoted"):
            message = _LAYOUT[naming].format(field=field, reason=self.reason) if field else self.reason
        clone = type(self).__new__(type(self), message)
        clone.__dict__.update(self.__dict__)
        clone.message, clone.field = message, field
        clone.naming = naming if field else None
        if isinstance(self.details, dict):
            clone.details = {**self.details, "field": field}
        return clone


class WrongTask(Invalid):
    """The model exists but does not serve the task the call asked for."""

    def __init__(self, model: str, *, served: str, asked: str) -> None:
        super().__init__(f"model {model!r} serves task {served!r}, not {asked!r}",
                         details={"field": "model"})
        self.model, self.served, self.asked = model, served, asked


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


class QuotaExceeded(Overloaded):
    """A spend budget or unit quota of the tenant or key is used up for its period: nothing ran,
    and the same call is admitted once the period ends (``retry_after_s``)."""

    code = "quota_exceeded"


class RateLimited(Overloaded):
    """A rate limit (requests, tokens, items or audio seconds per minute) or the concurrency
    limit of the caller's tenant, key or model is reached: nothing ran, and the same call is
    admitted after ``retry_after_s``. ``details`` names the limit (``limit``, ``scope``)."""

    code = "rate_limited"


class InsufficientStorage(AiaasError):
    """The disk the data dir (or the database) lives on is full: nothing partial was kept, and
    the same request succeeds once an operator frees space, so it is neither the client's fault
    nor a bug."""

    code = "insufficient_storage"


class BackendError(AiaasError):
    code = "backend_error"


class StoredDataCorrupt(AiaasError):
    """A stored file failed its integrity check (modified, truncated, or not sealed for this
    tenant): refused, never served. Not the caller's fault; an operator restores the file."""

    code = "integrity_check_failed"


class NotStarting(AiaasError):
    """A setting the server cannot start with (Ray asked for but not installed, say): nothing is
    half-started, and the message says what to fix."""

    code = "not_starting"


class KeyProblem(NotStarting):
    """The master key is missing, unreadable or not the one the data was sealed with: the
    server must not start (nothing is half-started), and the message says what to fix."""

    code = "master_key_problem"
