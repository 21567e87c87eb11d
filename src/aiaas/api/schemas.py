"""Wire models for the native API (/api/v1) that are not a service's own record: request
bodies, list envelopes and errors. A response that is one record (a model, a version, a key, a
usage report) is that record, declared once in its service and served as is."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiaas.auth.keys import KeyInfo, NewKey
from aiaas.registry.records import ModelInfo
from aiaas.registry.serving import Autoscaling, Resources


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
    privacy: dict[str, Any] | None = Field(
        default=None, description="Under a PII policy that found something: the policy, and "
        "per input (and output) field the entity types and spans (never the values).")


class ModelList(BaseModel):
    models: list[ModelInfo]


class AliasUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1)


class VersionUpdate(BaseModel):
    """Only how a version is served changes; every field is optional."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"preload": True}, {"max_batch_size": 32, "batch_wait_ms": 2},
        {"precision": "int8", "max_accuracy_delta": 0.02}, {"device": "cuda:0", "precision": "fp16"},
        {"autoscaling": {"min_replicas": 0, "max_replicas": 4, "target_ongoing_requests": 8},
         "resources": {"cpus": 2}},
    ]})
    preload: bool | None = Field(default=None, description="Load this version when the server starts.")
    max_batch_size: int | None = Field(default=None, description="Most items per batch.")
    batch_wait_ms: float | None = Field(default=None, description="Extra wait for a batch to fill.")
    device: str | None = Field(default=None, description="auto, cpu, cuda or cuda:N.")
    precision: Literal["fp32", "fp16", "bf16", "int8"] | None = Field(
        default=None, description="int8 only within max_accuracy_delta; fp16/bf16 on a GPU.")
    max_accuracy_delta: float | None = Field(default=None, description="Bound for int8.")
    engine: Literal["auto", "onnxruntime", "pytorch"] | None = Field(
        default=None, description="auto: the fastest engine that passes the export check "
        "(OpenVINO, bf16 where native, then ONNX Runtime); onnxruntime; pytorch: no export.")
    replicas: int | None = Field(default=None, description="Ray cluster only: a fixed number of "
                                 "replicas (replaces autoscaling).")
    autoscaling: Autoscaling | None = Field(default=None, description="Ray cluster only: "
                                            "replicas between two bounds (replaces replicas).")
    resources: Resources | None = Field(default=None, description="Ray cluster only: CPUs, GPUs "
                                        "and memory each replica reserves.")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    tenant: str | None = Field(default=None, description="Defaults to the caller's tenant.")
    scopes: list[str] | None = Field(default=None, description="Defaults to models:read, "
                                     "models:write, predict.")
    admin: bool = False
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class KeyCreated(KeyInfo):
    """A key as listed plus its secret: the one answer that shows the secret."""

    secret: Annotated[str, Field(description="Shown once; only its hash is stored.")]

    @classmethod
    def with_secret(cls, new: NewKey) -> KeyCreated:
        info = {item.name: getattr(new.info, item.name) for item in fields(KeyInfo)}
        return cls(**info, secret=new.secret)


class KeyList(BaseModel):
    keys: list[KeyInfo]


class WhoAmI(BaseModel):
    tenant: str
    key_id: str
    scopes: list[str]
