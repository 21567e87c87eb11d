"""The tables. Every row that belongs to someone carries its tenant."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from aiaas.db.money import Money


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    scopes: Mapped[list[Any]] = mapped_column(JSON)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_models_tenant_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    task: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ModelVersion]] = relationship(
        back_populates="model", cascade="all, delete-orphan", order_by="ModelVersion.version"
    )
    aliases: Mapped[list[ModelAlias]] = relationship(cascade="all, delete-orphan")


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_versions_model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(64))
    framework: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    input_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    output_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    labels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    preload: Mapped[bool] = mapped_column(Boolean, default=False)
    serving: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    """``aiaas.registry.serving.ServingOptions``: the only part of a version that may change."""
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    model: Mapped[Model] = relationship(back_populates="versions")


class ModelAlias(Base):
    __tablename__ = "model_aliases"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class UsageRecord(Base):
    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_tenant_model_time", "tenant", "model", "created_at"),
                      Index("ux_usage_call_id", "call_id", unique=True))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    tenant: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    surface: Mapped[str] = mapped_column(String(32))
    items: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """Unique per call: a journal replayed twice inserts the call once (NULL on older rows)."""
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    cost: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    """What the call cost at the price in force when it ran (0 when the model has no price)."""
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True, default=None)
    price_id: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)
    """The ``prices`` row charged; NULL: the model had no price (free)."""


from aiaas.db import audit_tables as _audit_tables  # noqa: E402, F401  (one metadata)
from aiaas.db import billing_tables as _billing_tables  # noqa: E402, F401  (one metadata)
from aiaas.db import console_tables as _console_tables  # noqa: E402, F401  (one metadata)
from aiaas.db import crypto_tables as _crypto_tables  # noqa: E402, F401  (one metadata)
from aiaas.db import tenant_tables as _tenant_tables  # noqa: E402, F401  (one metadata)
from aiaas.db import training_tables as _training_tables  # noqa: E402, F401  (one metadata)
