"""What the audit log hands out: one record, a page of them, and what ``verify`` found. Also the
API's response models. And the names: every action and target type a record may carry.

Target ids name the object the way a user does: a key's id, a tenant's name, a model's name,
``model/version`` for a version, ``model:alias`` for an alias, a price's or budget's id, a
dataset's, job's or evaluation's id, and ``tenant``, ``key:<id>`` or ``tenant/model`` for a
limit's subject.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field

from aiaas.db.audit_tables import AuditRow

ACTIONS = frozenset({
    "key.create", "key.revoke",
    "tenant.create", "tenant.update",
    "limit.set", "limit.clear", "limit.cap",
    "price.set", "budget.set", "budget.delete",
    "model.register", "model.delete", "version.delete", "alias.move", "serving.update",
    "dataset.upload", "dataset.delete",
    "job.create", "job.cancel",
    "evaluation.run",
    "privacy.set", "privacy.clear",
})
TARGET_TYPES = frozenset({"key", "tenant", "limit", "price", "budget", "model", "version", "alias",
                          "dataset", "job", "evaluation", "privacy"})


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One change: who (key and tenant, from where, in which request), what (action), on what
    (target), and the changed fields before and after (never a secret)."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    id: Annotated[int, Field(description="1, 2, 3... in the order the changes were made")]
    created_at: datetime
    tenant: Annotated[str, Field(description="The acting key's tenant")]
    key_id: Annotated[str, Field(description="The acting key (system: the server itself or the "
                                             "offline CLI)")]
    action: str
    target_type: str
    target_id: str
    target_tenant: Annotated[str | None, Field(description="The tenant the object belongs to")]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    client: Annotated[str | None, Field(description="The caller's address, or cli")]
    prev_hash: Annotated[str, Field(description="The previous record's hash (64 zeros first)")]
    hash: Annotated[str, Field(description="SHA-256 of this record's fields and prev_hash")]

    @classmethod
    def of(cls, row: AuditRow) -> AuditRecord:
        return cls(id=row.id, created_at=row.created_at, tenant=row.tenant, key_id=row.key_id,
                   action=row.action, target_type=row.target_type, target_id=row.target_id,
                   target_tenant=row.target_tenant, before=row.before, after=row.after,
                   request_id=row.request_id, client=row.client, prev_hash=row.prev_hash,
                   hash=row.hash)


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Records newest first; ``next`` is the cursor of the following page (None: no more)."""

    data: list[AuditRecord]
    next: str | None


@dataclass(frozen=True, slots=True)
class Verification:
    """What ``verify`` found: ``ok``, how many records it re-hashed, and the first broken one
    (its id and why) when not ok. ``head_hash`` is the newest record's hash: kept somewhere
    else, it also shows a log rewritten from the start."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None
    head_hash: str | None = None
