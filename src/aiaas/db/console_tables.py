"""Console sign-in state: browser sessions bound to an API key, and one-time sign-in links.

Only hashes of the cookie and link tokens are stored: a copy of the database signs no one in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from aiaas.db.tables import Base, utcnow


class ConsoleSession(Base):
    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), ForeignKey("api_keys.id"), index=True)
    """The key the browser signed in with: the session acts with its tenant and scopes, and ends
    when the key is revoked or expires."""
    csrf_token: Mapped[str] = mapped_column(String(64))
    """Sent back by the page with every change (form field or ``X-CSRF-Token`` header)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(default=None)


class SignInLink(Base):
    """A one-time link that makes the first admin of a fresh data dir (``aiaas serve`` prints it)."""

    __tablename__ = "sign_in_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
