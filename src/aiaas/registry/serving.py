"""Serving options of one model version: how the runtime runs it, not what it is.

Unlike everything else on a version these may change (``PATCH .../versions/{v}``): batching
(``max_batch_size``, ``batch_wait_ms``; unset = the server's defaults), the device (``auto``,
``cpu``, ``cuda``, ``cuda:N``), the precision (``fp32``; ``fp16``/``bf16`` on a GPU; ``int8``, a
quantised ONNX build used only when its measured accuracy delta is within
``max_accuracy_delta``), the engine (``auto``: the fastest whose outputs pass the export check,
OpenVINO in bf16 included where the CPU computes bf16; ``onnxruntime``; ``pytorch``), and the
reports of compiled builds (``builds``), kept so the measured deltas are shown with the version.

On a Ray cluster (``AIAAS_RAY_ADDRESS``) three more say how the version's Ray Serve deployment
runs: ``replicas`` (a fixed count), or ``autoscaling`` (``min_replicas`` may be 0: scale to zero
when idle), and ``resources`` per replica. On one machine they are stored and shown but change
nothing, so a version can be configured before the cluster exists.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEVICE = re.compile(r"^(auto|cpu|cuda(:\d{1,2})?)$")
Precision = Literal["fp32", "fp16", "bf16", "int8"]
Engine = Literal["auto", "onnxruntime", "pytorch"]


class Autoscaling(BaseModel):
    """Ray Serve's autoscaling of one version's replicas, by requests in flight per replica."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(default=1, ge=0, le=512,
                              description="Fewest replicas; 0 = none while idle (scale to zero).")
    max_replicas: int = Field(default=2, ge=1, le=512, description="Most replicas.")
    target_ongoing_requests: float = Field(
        default=4.0, gt=0, le=10_000, description="Requests in flight per replica to aim for.")
    downscale_delay_s: float = Field(
        default=60.0, ge=0, le=86_400, description="How long load must stay low before a "
        "replica is removed (long enough that a quiet minute does not flap it to zero).")
    upscale_delay_s: float = Field(default=3.0, ge=0, le=3600,
                                   description="How long load must stay high before one is added.")

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must not exceed max_replicas")
        return self


class Resources(BaseModel):
    """What each replica reserves on its Ray node."""

    model_config = ConfigDict(extra="forbid")

    cpus: float = Field(default=1.0, gt=0, le=512, description="CPUs per replica (its torch "
                        "and ONNX threads follow this number).")
    gpus: float = Field(default=0.0, ge=0, le=16, description="GPUs per replica (fractions share one).")
    memory_mb: int | None = Field(default=None, ge=64, description="Memory reserved per replica "
                                  "(Ray schedules on it; unset = none reserved).")
    custom: dict[str, float] = Field(default_factory=dict, description="Ray custom resources "
                                     "the nodes declare (e.g. {\"trainer\": 1}): runs only "
                                     "on nodes that have them.")

    @field_validator("custom")
    @classmethod
    def _custom(cls, value: dict[str, float]) -> dict[str, float]:
        for name, amount in value.items():
            if not name or name in ("CPU", "GPU", "memory") or amount <= 0:
                raise ValueError("custom resources are named, not CPU, GPU or memory, and "
                                 "positive")
        return value


class ServingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_batch_size: int | None = Field(default=None, ge=1, le=1024,
                                       description="Most items in one batch (default: server's).")
    batch_wait_ms: float | None = Field(default=None, ge=0, le=1000,
                                        description="Extra wait for a batch to fill (default: server's).")
    device: str = Field(default="auto", description="auto, cpu, cuda or cuda:N.")
    precision: Precision = Field(default="fp32", description="fp32; fp16/bf16 on a GPU; int8 "
                                 "(quantised ONNX, only within max_accuracy_delta).")
    engine: Engine = Field(default="auto", description="auto: the fastest engine whose outputs "
                           "pass the export check (OpenVINO, in bf16 on a CPU that computes it, "
                           "then ONNX Runtime, then the framework); onnxruntime: never "
                           "OpenVINO; pytorch: the framework itself, no export.")
    max_accuracy_delta: float | None = Field(
        default=None, ge=0, le=1, description="Largest accepted loss from int8: for embeddings "
        "1 - the lowest cosine to the fp32 vectors on the check set; for text classifiers the "
        "share of check texts whose top label changes. Required with int8.")
    builds: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                              description="Reports of compiled builds (read-only).")
    replicas: int | None = Field(default=None, ge=1, le=512, description="Ray cluster only: a "
                                 "fixed number of replicas (default 1; excludes autoscaling).")
    autoscaling: Autoscaling | None = Field(default=None, description="Ray cluster only: "
                                            "replicas follow the load between two bounds.")
    resources: Resources | None = Field(default=None, description="Ray cluster only: what each "
                                        "replica reserves (default: one CPU).")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not DEVICE.match(value):
            raise ValueError("device must be auto, cpu, cuda or cuda:N")
        return value

    @model_validator(mode="after")
    def _one_scaling(self) -> ServingOptions:
        if self.replicas is not None and self.autoscaling is not None:
            raise ValueError("give replicas or autoscaling, not both")
        return self

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> ServingOptions:
        return cls.model_validate(stored or {})
