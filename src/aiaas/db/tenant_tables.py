"""Tenant tables: tenants as records, and the rate limits set on a tenant, a key or a tenant's
use of one model. Same ``Base`` as ``aiaas.db.tables``.

A tenant is still named by a string everywhere (keys, models, usage rows): this table adds what
an operator sets about it (display name, disabled) without a foreign key, so existing rows and
every query stay as they are. ``ensure_tenant`` records a tenant the first time a key names it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from aiaas.db.tables import Base, utcnow

LIMIT_FIELDS = ("requests_per_minute", "tokens_per_minute", "items_per_minute",
                "audio_seconds_per_minute", "concurrent_requests")
"""The columns of ``RateLimitRow`` that hold a limit (NULL: none)."""


class TenantRow(Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RateLimitRow(Base):
    """Limits of a tenant (``key_id`` and ``model`` empty), of one key (``key_id``), or of a
    tenant's calls to one model (``model``). Empty strings, not NULLs, so the subject is unique."""

    __tablename__ = "rate_limits"
    __table_args__ = (UniqueConstraint("tenant", "key_id", "model", name="uq_rate_limits_subject"),
                      Index("ix_rate_limits_tenant", "tenant"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32), default="")
    model: Mapped[str] = mapped_column(String(128), default="")
    requests_per_minute: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tokens_per_minute: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    items_per_minute: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    audio_seconds_per_minute: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    concurrent_requests: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)



class PrivacyPolicyRow(Base):
    """The PII policy of a tenant (``key_id`` and ``model`` empty), of one key, or of a
    tenant's calls to one model; the most specific one applies (key, then model, then tenant).
    ``entities`` lists the entity types it acts on (NULL: all)."""

    __tablename__ = "privacy_policies"
    __table_args__ = (UniqueConstraint("tenant", "key_id", "model",
                                       name="uq_privacy_policies_subject"),
                      Index("ix_privacy_policies_tenant", "tenant"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32), default="")
    model: Mapped[str] = mapped_column(String(128), default="")
    mode: Mapped[str] = mapped_column(String(16))
    entities: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

def ensure_tenant(session: Session, name: str) -> None:
    """Record tenant ``name`` unless it is recorded (no error when another session records it
    at the same time: the insert does nothing on a conflict)."""
    dialect = session.get_bind().dialect.name
    values = {"name": name, "display_name": "", "disabled": False, "created_at": utcnow(),
              "updated_at": utcnow()}
    if dialect == "postgresql":
        session.execute(pg_insert(TenantRow).values(**values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite_insert(TenantRow).values(**values).on_conflict_do_nothing())
    elif session.get(TenantRow, name) is None:
        session.add(TenantRow(**values))
