"""What the registry hands out: plain snapshots of models and versions, and name rules.

The snapshots are also the API's response models (FastAPI serialises the dataclasses through
pydantic), so a field is declared once, here: what the wire must not show is marked
``exclude=True``. A field with a default is still always sent, so ``/openapi.json`` lists it as
required (the SDK's models are checked against that schema).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from aiaas.db.tables import Model, ModelVersion
from aiaas.errors import Invalid

# \Z, not $: ``$`` also matches before a trailing newline ("name\n" must not pass).
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}\Z")
ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}\Z")
PRODUCTION = "production"
MAX_VERSION_DIGITS = 9


@dataclass(frozen=True, slots=True)
class VersionInfo:
    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

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
    config: Annotated[dict[str, Any], Field(exclude=True)]
    """The manifest's runtime settings: for the server only, never on the wire."""
    preload: bool
    created_by: str
    created_at: datetime
    aliases: list[str] = field(default_factory=list)
    serving: Annotated[dict[str, Any], Field(description=(
        "Serving options and the measured reports of compiled builds (e.g. builds.int8.delta)."
    ))] = field(default_factory=dict)
    """The version's ``ServingOptions`` as stored (batching, device, precision, builds)."""

    def serves(self, task: str) -> bool:
        """The version's own task, or another its artifact also serves (a chat GGUF also serves
        raw completion)."""
        return task == self.task or task in self.config.get("tasks", ())

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.tenant, self.model, self.version)

    @property
    def ref(self) -> str:
        """``model/version``: how the audit log names a version."""
        return f"{self.model}/{self.version}"

    def audited(self) -> dict[str, Any]:
        """What the audit log keeps of a version registered or deleted."""
        return {"task": self.task, "format": self.format, "sha256": self.sha256,
                "size_bytes": self.size_bytes, "aliases": self.aliases,
                "created_by": self.created_by}

    @classmethod
    def of(cls, row: ModelVersion, model: Model) -> VersionInfo:
        return cls(
            model=model.name,
            tenant=model.tenant,
            version=row.version,
            task=row.task,
            format=row.format,
            framework=row.framework,
            sha256=row.sha256,
            size_bytes=row.size_bytes,
            input_schema=row.input_schema,
            output_schema=row.output_schema,
            labels=row.labels,
            metrics=row.metrics,
            config=row.config,
            preload=row.preload,
            created_by=row.created_by,
            created_at=row.created_at,
            aliases=sorted(a.alias for a in model.aliases if a.version == row.version),
            serving=dict(row.serving or {}),
        )


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    tenant: str
    builtin: bool
    task: str
    description: str
    created_by: str
    created_at: datetime
    aliases: dict[str, int]
    latest_version: int | None
    """The newest version's number (None without versions): a field, not a property, so the
    JSON keeps it before ``versions``."""
    versions: list[VersionInfo]

    @classmethod
    def of(cls, model: Model) -> ModelInfo:
        versions = [VersionInfo.of(v, model) for v in model.versions]
        return cls(
            name=model.name,
            tenant=model.tenant,
            builtin=model.builtin,
            task=model.task,
            description=model.description,
            created_by=model.created_by,
            created_at=model.created_at,
            aliases={a.alias: a.version for a in model.aliases},
            latest_version=versions[-1].version if versions else None,
            versions=versions,
        )


def validate_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise Invalid(
            f"invalid model name {name!r}: use 1-128 lowercase letters, digits, '.', '-' or '_', "
            "starting with a letter or digit",
            details={"field": "name"},
        )
    return name
