"""Console sessions: a browser signs in once with an API key and then holds only a random
session token (an HttpOnly cookie); the key itself is never stored, echoed or put in a page.

A session acts with its key's tenant and scopes, checked again on every use (at most
``cache_s`` stale, at once for a revocation made in this process), so revoking the key or letting
it expire ends every session opened with it. Each session carries a CSRF token the page must send
back with any change. No HTTP here: the console's routes set the cookie and read the header.

A fresh data dir (no API key at all) gets a one-time sign-in link from ``aiaas serve``: redeeming
it makes the first admin key and signs the browser in with it, so a new user reaches the console
without another command.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from aiaas.auth.keys import KeyService
from aiaas.auth.principal import Principal, Scope
from aiaas.db.console_tables import ConsoleSession, SignInLink
from aiaas.db.engine import Database
from aiaas.db.tables import ApiKey, utcnow
from aiaas.errors import Forbidden, Unauthenticated

FIRST_ADMIN_KEY_NAME = "first admin (console)"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ConsoleSessionView:
    """What a request holding the cookie acts as."""

    principal: Principal
    csrf_token: str
    expires_at: datetime

    def check_csrf(self, sent: str | None) -> None:
        """Raise ``Forbidden`` unless ``sent`` is this session's CSRF token."""
        if not sent or not hmac.compare_digest(sent, self.csrf_token):
            raise Forbidden("missing or wrong CSRF token: reload the page and try again",
                            details={"reason": "csrf"})


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    """The cookie's value; only its hash is stored."""
    view: ConsoleSessionView


class ConsoleSessions:
    def __init__(self, db: Database, keys: KeyService, *, lifetime_s: float,
                 cache_s: float = 0.0) -> None:
        self.db = db
        self.keys = keys
        self.lifetime_s = lifetime_s
        self.cache_s = cache_s
        self._cache: dict[str, tuple[ConsoleSessionView, float]] = {}
        self._lock = threading.Lock()
        keys.on_revoke.append(self._forget_key)

    def sign_in(self, api_key: str) -> SignedIn:
        """A new session for the holder of ``api_key`` (``Unauthenticated`` naming why not)."""
        principal = self.keys.authenticate(api_key.strip())
        return self._open(principal)

    def _open(self, principal: Principal) -> SignedIn:
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires_at = utcnow() + timedelta(seconds=self.lifetime_s)
        with self.db.session() as session:
            # Sessions past their end are kept a day (for an audit of who was signed in), then go.
            session.execute(delete(ConsoleSession).where(
                ConsoleSession.expires_at < utcnow() - timedelta(days=1)))
            session.add(ConsoleSession(token_hash=_hash(token), key_id=principal.key_id,
                                       csrf_token=csrf, expires_at=expires_at))
        return SignedIn(token, ConsoleSessionView(principal, csrf, expires_at))

    def cached(self, token: str) -> ConsoleSessionView | None:
        """The session behind a cookie checked less than ``cache_s`` ago, else None (then call
        ``resolve``). Cheap enough for the event loop: one SHA-256, one dict lookup."""
        entry = self._cache.get(_hash(token))
        if entry is None:
            return None
        view, checked_at = entry
        if time.monotonic() - checked_at <= self.cache_s and view.expires_at > utcnow():
            return view
        return None

    def resolve(self, token: str) -> ConsoleSessionView:
        """The session behind a cookie, or ``Unauthenticated`` saying why it no longer holds."""
        cached = self.cached(token)
        if cached is not None:
            return cached
        digest = _hash(token)
        with self.db.session() as session:
            row = session.get(ConsoleSession, digest)
            key = session.get(ApiKey, row.key_id) if row is not None else None
            if row is None or key is None or row.ended_at is not None:
                raise Unauthenticated("not signed in")
            now = utcnow()
            if row.expires_at <= now:
                raise Unauthenticated("the console session has expired: sign in again")
            if key.revoked_at is not None:
                raise Unauthenticated("the API key of this session has been revoked")
            if key.expires_at is not None and key.expires_at <= now:
                raise Unauthenticated("the API key of this session has expired")
            principal = Principal(tenant=key.tenant, key_id=key.id, scopes=frozenset(key.scopes))
            view = ConsoleSessionView(principal, row.csrf_token, row.expires_at)
        if self.cache_s:
            with self._lock:
                self._cache[digest] = (view, time.monotonic())
        return view

    def sign_out(self, token: str) -> None:
        digest = _hash(token)
        with self.db.session() as session:
            session.execute(update(ConsoleSession).where(
                ConsoleSession.token_hash == digest, ConsoleSession.ended_at.is_(None),
            ).values(ended_at=utcnow()))
        with self._lock:
            self._cache.pop(digest, None)

    def _forget_key(self, key_id: str) -> None:
        with self._lock:
            for digest in [d for d, (view, _) in self._cache.items()
                           if view.principal.key_id == key_id]:
                del self._cache[digest]

    def first_admin_link(self, *, lifetime_s: float = 3600.0) -> str | None:
        """A one-time sign-in token for the first admin, or None when any API key exists (the
        data dir is not fresh: its admins make keys with ``aiaas keys create``)."""
        with self.db.session() as session:
            if session.scalar(select(func.count()).select_from(ApiKey)):
                return None
            token = secrets.token_urlsafe(32)
            session.add(SignInLink(token_hash=_hash(token),
                                   expires_at=utcnow() + timedelta(seconds=lifetime_s)))
        return token

    def redeem_link(self, token: str) -> SignedIn:
        """Spend a one-time link: make the first admin key and sign in with it.

        Raises ``Unauthenticated`` for an unknown, used or expired link, or once any key exists."""
        with self.db.session() as session:
            row = session.get(SignInLink, _hash(token))
            if row is None:
                raise Unauthenticated("unknown sign-in link")
            if row.used_at is not None:
                raise Unauthenticated("this sign-in link has already been used")
            if row.expires_at <= utcnow():
                raise Unauthenticated("this sign-in link has expired: restart aiaas serve for a new one")
            if session.scalar(select(func.count()).select_from(ApiKey)):
                raise Unauthenticated("an API key exists already: sign in with a key")
            row.used_at = utcnow()
        new = self.keys.create(Principal.system(), name=FIRST_ADMIN_KEY_NAME, admin=True)
        principal = Principal(tenant=new.info.tenant, key_id=new.info.id,
                              scopes=frozenset({Scope.ADMIN}))
        return self._open(principal)
