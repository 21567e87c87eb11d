"""A new version row: what a registration has checked and stored, and how it is numbered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aiaas.auth.principal import BUILTIN_TENANT
from aiaas.db.tables import Model, ModelAlias, ModelVersion, utcnow
from aiaas.errors import Conflict
from aiaas.formats import Detected
from aiaas.registry.records import PRODUCTION, VersionInfo
from aiaas.tasks import get_task


@dataclass(frozen=True, slots=True)
class PendingVersion:
    """A checked, stored artifact about to become a version row."""

    tenant: str
    name: str
    task: str
    detected: Detected
    digest: str
    size: int
    config: dict[str, Any]
    created_by: str
    description: str | None
    metrics: dict[str, float]
    preload: bool
    promote_first: bool = True


def insert_version(session: Session, pending: PendingVersion) -> VersionInfo:
    """Add the next version row of ``pending.name`` (creating the model on its first version).

    Two requests may pick the same number at once: the loser's flush raises ``IntegrityError``,
    which the caller retries in a fresh session.
    """
    tenant, name, task = pending.tenant, pending.name, pending.task
    model = session.scalar(select(Model).where(Model.tenant == tenant, Model.name == name))
    if model is None:
        if tenant != BUILTIN_TENANT and session.scalar(
            select(Model.id).where(Model.tenant == BUILTIN_TENANT, Model.name == name)
        ):
            raise Conflict(f"{name!r} is the name of a built-in model; choose another")
        model = Model(
            tenant=tenant, name=name, builtin=tenant == BUILTIN_TENANT, task=task,
            description=pending.description or pending.detected.manifest.description,
            created_by=pending.created_by, created_at=utcnow(),
        )
        session.add(model)
        session.flush()
    elif model.task != task:
        raise Conflict(
            f"model {name!r} serves task {model.task!r}; a new version cannot change it to "
            f"{task!r}"
        )
    number = (session.scalar(
        select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)
    ) or 0) + 1
    spec, config = get_task(task), pending.config
    row = ModelVersion(
        model_id=model.id, version=number, task=task, format=pending.detected.format,
        framework=pending.detected.framework, sha256=pending.digest,
        size_bytes=pending.size, input_schema=spec.input_schema(config),
        output_schema=spec.output_schema(config), labels=list(config.get("labels", [])),
        metrics=pending.metrics, config=config, preload=pending.preload,
        created_by=pending.created_by, created_at=utcnow(),
    )
    session.add(row)
    if number == 1 and pending.promote_first:
        session.add(ModelAlias(model_id=model.id, alias=PRODUCTION, version=1))
    if pending.description is not None:
        model.description = pending.description
    session.flush()
    session.refresh(model)
    return VersionInfo.of(row, model)
