"""Billing tables: versioned prices and budgets. Same ``Base`` as ``aiaas.db.tables``.

A price row is never changed: a new price is a new row with its own ``effective_from``, so the
price any usage row was charged at (``usage_records.price_id``) stays readable. A budget is a
setting of a tenant (``key_id`` empty) or of one key, per ``period``; changing it changes the
row (the audit log keeps the history).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aiaas.db.money import Money
from aiaas.db.tables import Base, utcnow


class PriceRow(Base):
    """The price of one model (``version`` None: every version without its own price)."""

    __tablename__ = "prices"
    __table_args__ = (Index("ix_prices_model", "tenant", "model", "effective_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    """The model's owner (``builtin`` for a built-in model)."""
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)
    currency: Mapped[str] = mapped_column(String(3))
    input_per_1k: Mapped[Decimal] = mapped_column(Money())
    output_per_1k: Mapped[Decimal] = mapped_column(Money())
    per_item: Mapped[Decimal] = mapped_column(Money())
    per_audio_minute: Mapped[Decimal] = mapped_column(Money())
    per_request: Mapped[Decimal] = mapped_column(Money())
    effective_from: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BudgetRow(Base):
    """A spend budget and/or unit quotas of a tenant or key per calendar day or month (UTC)."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("tenant", "key_id", "period", name="uq_budgets_subject"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str] = mapped_column(String(32), default="")
    """Empty for the tenant's own budget (NULLs would not be unique)."""
    period: Mapped[str] = mapped_column(String(8))
    amount: Mapped[Decimal | None] = mapped_column(Money(), nullable=True, default=None)
    tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True, default=None)
    items: Mapped[int | None] = mapped_column(BigInteger, nullable=True, default=None)
    audio_seconds: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    soft_threshold: Mapped[float] = mapped_column(Float, default=0.8)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
