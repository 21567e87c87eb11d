"""Tenant data keys, stored wrapped: each row is a tenant's Tink keyset encrypted by the master
key (``aiaas.crypto.keyring``). The master key itself never touches the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from aiaas.db.tables import Base, utcnow


class TenantKey(Base):
    __tablename__ = "tenant_keys"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    keyset: Mapped[bytes] = mapped_column(LargeBinary)
    """The tenant's streaming-AEAD keyset, encrypted by the master key with the tenant's name as
    associated data (a row copied to another tenant does not decrypt)."""
    master_id: Mapped[str] = mapped_column(String(16))
    """Which master key wrapped ``keyset`` (its Tink primary key id): a start with another key
    is refused by name, and ``rotate-master`` skips rows already re-wrapped."""
    primary_key_id: Mapped[int] = mapped_column(BigInteger)
    """The key new files are sealed with; older keys stay in the keyset until ``rotate-tenant``
    has re-sealed every file that used them."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class VaultState(Base):
    """One row: whether this data dir may hold plain tenant files (it ran with encryption off,
    or held data before encryption existed, and ``aiaas crypto migrate`` has not sealed them
    since). While False, a plain file where a sealed one belongs is refused, not read."""

    __tablename__ = "vault_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plain_allowed: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
