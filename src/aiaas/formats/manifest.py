"""What detection reports about a model directory (``Detected``), and the ``aiaas.json``
manifest a directory may carry for what its files cannot say themselves (task, labels, feature
names, metrics, description, sampling defaults).

``read_json`` is the one way any JSON file of an uploaded directory is read: its size and
nesting are bounded, and a bad file is ``Invalid`` (a 4xx) naming it, never a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError, field_validator

from aiaas.errors import Invalid

MANIFEST = "aiaas.json"
MAX_MANIFEST_BYTES = 1024 * 1024


class SamplingDefaults(BaseModel):
    """A generation model's recommended sampling, used when a request leaves a value out (small
    chat models are far less coherent at the API's generic temperature 1)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str | None = None
    description: str = ""
    labels: list[str | int] = Field(default_factory=list)
    feature_names: list[str] = Field(default_factory=list)
    # ONNX image models: input side (or [height, width]) and per-channel normalisation.
    image_size: int | list[int] | None = None
    image_mean: list[FiniteFloat] = Field(default_factory=list)
    image_std: list[FiniteFloat] = Field(default_factory=list)
    metrics: dict[str, FiniteFloat] = Field(default_factory=dict)
    sampling: SamplingDefaults | None = None

    @field_validator("task", "description", "labels", "feature_names", "metrics", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """A NUL character cannot be stored in a PostgreSQL text column: refuse it up front."""
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


@dataclass(slots=True)
class Detected:
    """A recognised directory: its format (a row of ``aiaas.formats.table.FORMATS``), the
    framework that wrote it, the tasks it can serve (the first is the default), its manifest,
    and what the detector read that the task's ``prepare_config`` needs (``config``)."""

    format: str
    framework: str
    tasks: tuple[str, ...]
    manifest: Manifest
    config: dict[str, Any] = field(default_factory=dict)


def read_json(path: Path, label: str) -> Any:
    """A small JSON file a loader will read, parsed defensively (size and nesting bounded)."""
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise Invalid(f"{label} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        return json.loads(path.read_text("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise Invalid(f"{label} is not valid JSON: {exc}") from exc


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    if not path.is_file():
        return Manifest()
    try:
        return Manifest.model_validate(read_json(path, MANIFEST))
    except ValidationError as exc:
        raise Invalid(f"{MANIFEST} is not valid: {exc}") from exc
