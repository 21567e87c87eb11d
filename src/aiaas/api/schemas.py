"""Wire models for the native API (/api/v1). Services return dataclasses; these shape the JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

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
    serving: dict[str, Any] = Field(default_factory=dict, description="Serving options and the "
                                    "measured reports of compiled builds (e.g. builds.int8.delta).")


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
    """Only how a version is served changes; every field is optional."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"preload": True}, {"max_batch_size": 32, "batch_wait_ms": 2},
        {"precision": "int8", "max_accuracy_delta": 0.02}, {"device": "cuda:0", "precision": "fp16"},
    ]})
    preload: bool | None = Field(default=None, description="Load this version when the server starts.")
    max_batch_size: int | None = Field(default=None, description="Most items per batch.")
    batch_wait_ms: float | None = Field(default=None, description="Extra wait for a batch to fill.")
    device: str | None = Field(default=None, description="auto, cpu, cuda or cuda:N.")
    precision: Literal["fp32", "fp16", "bf16", "int8"] | None = Field(
        default=None, description="int8 only within max_accuracy_delta; fp16/bf16 on a GPU.")
    max_accuracy_delta: float | None = Field(default=None, description="Bound for int8.")


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
