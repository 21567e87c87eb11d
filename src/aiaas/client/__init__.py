"""The Python SDK for an aiaas server: ``Client``, ``AsyncClient``, typed results and errors.

    from aiaas import Client

    with Client("http://127.0.0.1:8000", api_key="aiaas-...") as client:
        vectors = client.embed(["hello", "world"])
        prediction = client.predict("breast-cancer-diagnosis", [record])

This package talks HTTP only: it never imports the server.
"""

from aiaas.client._calls import ProgressCallback
from aiaas.client._client import AsyncClient, Client
from aiaas.client._errors import (
    AiaasAPIError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
)
from aiaas.client._models import (
    ApiKey,
    Classification,
    CreatedKey,
    Health,
    Model,
    ModelVersion,
    Prediction,
    PredictionUsage,
    UsageRecord,
    UsageReport,
    UsageTotals,
    UsageUnits,
    Whoami,
)

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AiaasAPIError",
    "ApiKey",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Classification",
    "Client",
    "ConflictError",
    "CreatedKey",
    "Health",
    "InternalServerError",
    "Model",
    "ModelVersion",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Prediction",
    "PredictionUsage",
    "ProgressCallback",
    "RateLimitError",
    "ServiceUnavailableError",
    "UsageRecord",
    "UsageReport",
    "UsageTotals",
    "UsageUnits",
    "Whoami",
]
