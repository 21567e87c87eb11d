"""Serving options of one model version: how the runtime runs it, not what it is.

Unlike everything else on a version these may change (``PATCH .../versions/{v}``): batching
(``max_batch_size``, ``batch_wait_ms``; unset = the server's defaults), the device (``auto``,
``cpu``, ``cuda``, ``cuda:N``), the precision (``fp32``; ``fp16``/``bf16`` on a GPU; ``int8``, a
quantised ONNX build used only when its measured accuracy delta is within
``max_accuracy_delta``), and the reports of compiled builds (``builds``), kept so the measured
deltas are shown with the version.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEVICE = re.compile(r"^(auto|cpu|cuda(:\d{1,2})?)$")
Precision = Literal["fp32", "fp16", "bf16", "int8"]


class ServingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_batch_size: int | None = Field(default=None, ge=1, le=1024,
                                       description="Most items in one batch (default: server's).")
    batch_wait_ms: float | None = Field(default=None, ge=0, le=1000,
                                        description="Extra wait for a batch to fill (default: server's).")
    device: str = Field(default="auto", description="auto, cpu, cuda or cuda:N.")
    precision: Precision = Field(default="fp32", description="fp32; fp16/bf16 on a GPU; int8 "
                                 "(quantised ONNX, only within max_accuracy_delta).")
    max_accuracy_delta: float | None = Field(
        default=None, ge=0, le=1, description="Largest accepted loss from int8: for embeddings "
        "1 - the lowest cosine to the fp32 vectors on the check set; for text classifiers the "
        "share of check texts whose top label changes. Required with int8.")
    builds: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                              description="Reports of compiled builds (read-only).")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not DEVICE.match(value):
            raise ValueError("device must be auto, cpu, cuda or cuda:N")
        return value

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> ServingOptions:
        return cls.model_validate(stored or {})
