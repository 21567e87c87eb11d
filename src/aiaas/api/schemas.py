"""Wire models for the native API (/api/v1). Services return dataclasses; these shape the JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_request"])
    message: str = Field(examples=["inputs[0]: expected a string, got int"])
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "Malformed JSON", 401: "Missing, unknown, revoked or expired API key",
        403: "The key lacks the scope", 404: "Not found (or another tenant's)",
        409: "Conflicts with what is stored", 413: "Body, upload or inputs over a limit",
        422: "Invalid input, named by field", 429: "Queue full: retry after Retry-After",
        503: "Temporarily unavailable: retry after Retry-After",
    }.items()
}


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"inputs": ["The weather is lovely today."], "parameters": {}}]
    })

    inputs: list[Any] = Field(description="One entry per item; the task defines each item.")
    parameters: dict[str, Any] = Field(default_factory=dict)


class PredictResponse(BaseModel):
    model: str
    version: int
    outputs: list[Any]
    usage: dict[str, Any]


class VersionOut(BaseModel):
    model: str
    tenant: str
    version: int
    task: str
    format: str
    framework: str
    sha256: str
    size_bytes: int
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    labels: list[Any]
    metrics: dict[str, Any]
    preload: bool
    created_by: str
    created_at: datetime
    aliases: list[str]


class ModelOut(BaseModel):
    name: str
    tenant: str
    builtin: bool
    task: str
    description: str
    created_by: str
    created_at: datetime
    aliases: dict[str, int]
    latest_version: int | None
    versions: list[VersionOut]


class ModelList(BaseModel):
    models: list[ModelOut]


class AliasUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)


class VersionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preload: bool = Field(description="Load this version when the server starts.")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    tenant: str | None = Field(default=None, description="Defaults to the caller's tenant.")
    scopes: list[str] | None = Field(default=None, description="Defaults to models:read, "
                                     "models:write, predict.")
    admin: bool = False
    expires_at: datetime | None = None


class KeyOut(BaseModel):
    id: str
    name: str
    tenant: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    secret: str = Field(description="Shown once; only its hash is stored.")


class KeyList(BaseModel):
    keys: list[KeyOut]


class UsageRecordOut(BaseModel):
    id: int
    created_at: datetime
    tenant: str
    key_id: str
    model: str
    version: int | None
    surface: str
    units: dict[str, int | float]
    latency_ms: float
    status: str


class UsageOut(BaseModel):
    records: list[UsageRecordOut]
    totals: dict[str, int | float]


class WhoAmI(BaseModel):
    tenant: str
    key_id: str
    scopes: list[str]
