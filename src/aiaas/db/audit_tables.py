"""Audit tables: the append-only audit log and its one-row head. Same ``Base`` as
``aiaas.db.tables``.

Each ``audit_log`` row carries the hash of the row before it (``prev_hash``) and its own
(``hash``, over its fields and ``prev_hash``), so an edited, removed or inserted row breaks the
chain (``aiaas.audit``). Ids are numbered by the head, not by the database: 1, 2, 3... with no
gaps, so a removed row is seen as missing. ``audit_head`` holds the last id and hash; appends
lock it first, which keeps the chain linear with several server processes on one database,
and a removed tail is seen as records the head knows of but the log lacks. The code never
updates or deletes an ``audit_log`` row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from aiaas.db.tables import Base

HEAD_ID = 1
GENESIS = "0" * 64
"""The ``prev_hash`` of the first record."""


class AuditRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant", "tenant", "id"),
                      Index("ix_audit_log_target_tenant", "target_tenant", "id"),
                      Index("ix_audit_log_created_at", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column()
    tenant: Mapped[str] = mapped_column(String(64))
    """The acting key's tenant."""
    key_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(300))
    target_tenant: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The tenant the changed object belongs to (``builtin`` for a built-in model's)."""
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    client: Mapped[str | None] = mapped_column(String(128), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The one row (id ``HEAD_ID``) naming the newest record; locked by every append."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
