"""API key lifecycle. A key reads ``aiaas-<id>-<secret>``; only SHA-256 of the whole token is kept.

SHA-256 (not a slow password hash) is right here: the secret is 256 random bits, so there is
nothing to brute-force, and verification sits on every request's path.

A successful check is remembered in memory for ``cache_s`` seconds (keyed by the token's hash,
so only the exact token hits), which keeps the database off the hot path. Revoking a key through
this process drops it from the cache at once; a revocation made by another process (the CLI on
the data dir, another replica) takes effect within ``cache_s``. ``cache_s=0`` turns this off.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from aiaas.auth.principal import BUILTIN_TENANT, DEFAULT_SCOPES, Principal, Scope
from aiaas.db.engine import Database
from aiaas.db.tables import ApiKey, utcnow
from aiaas.db.tenant_tables import ensure_tenant
from aiaas.errors import Invalid, NotFound, Unauthenticated

PREFIX = "aiaas"
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_KEY_ID = re.compile(r"^[a-f0-9]{16}$")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    name: str
    tenant: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        return cls(
            id=row.id,
            name=row.name,
            tenant=row.tenant,
            scopes=list(row.scopes),
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )


@dataclass(frozen=True, slots=True)
class NewKey:
    info: KeyInfo
    secret: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_tenant(tenant: str) -> str:
    if not TENANT_PATTERN.fullmatch(tenant) or tenant == BUILTIN_TENANT:
        raise Invalid(
            f"invalid tenant {tenant!r}: use 1-64 lowercase letters, digits, '-' or '_' "
            f"(and not '{BUILTIN_TENANT}')",
            details={"field": "tenant"},
        )
    return tenant


def parse_scopes(scopes: list[str] | None, *, admin: bool = False) -> list[str]:
    chosen = list(scopes) if scopes else [str(s) for s in DEFAULT_SCOPES]
    known = {str(s) for s in Scope}
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise Invalid(
            f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            details={"field": "scopes"},
        )
    if admin and Scope.ADMIN not in chosen:
        chosen.append(str(Scope.ADMIN))
    return sorted(set(chosen))


CACHE_LIMIT = 10_000


class Recorder(Protocol):
    """What keys need of ``aiaas.audit.AuditLog`` (a layer above ``auth``): append a record of a
    change inside the change's own session."""

    def record(self, principal: Principal, action: str, target_type: str, target_id: str,
               before: dict[str, Any] | None = None, after: dict[str, Any] | None = None, *,
               target_tenant: str | None = None, session: Session | None = None) -> int: ...


class KeyService:
    def __init__(self, db: Database, *, cache_s: float = 0.0,
                 audit: Recorder | None = None) -> None:
        self.db = db
        self.audit = audit
        """Told of every key created or revoked (the secret and its hash never)."""
        self.cache_s = cache_s
        self.on_revoke: list[Callable[[str], None]] = []
        """Told the key id of each key revoked through this service (console sessions drop it)."""
        self._cache: dict[str, tuple[Principal, float, datetime | None]] = {}
        self._cache_lock = threading.Lock()

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified less than ``cache_s`` ago, else None (then call
        ``authenticate``). Cheap enough for the event loop: one SHA-256, one dict lookup."""
        if not self.cache_s:
            return None
        digest = _hash(token)
        entry = self._cache.get(digest)
        if entry is None:
            return None
        principal, checked_at, expires_at = entry
        if time.monotonic() - checked_at > self.cache_s or (
                expires_at is not None and expires_at <= utcnow()):
            with self._cache_lock:
                self._cache.pop(digest, None)
            return None
        return principal

    def _remember(self, digest: str, principal: Principal, expires_at: datetime | None) -> None:
        if not self.cache_s:
            return
        with self._cache_lock:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[digest] = (principal, time.monotonic(), expires_at)

    def _forget(self, key_id: str) -> None:
        with self._cache_lock:
            for digest in [d for d, (p, _, _) in self._cache.items() if p.key_id == key_id]:
                del self._cache[digest]

    def create(
        self,
        principal: Principal,
        *,
        name: str,
        tenant: str | None = None,
        scopes: list[str] | None = None,
        admin: bool = False,
        expires_at: datetime | None = None,
    ) -> NewKey:
        """A new key for ``tenant`` (default: the caller's own); the secret is in ``NewKey`` only.

        Raises:
            Forbidden: the caller is not an admin.
            Invalid: a bad name, tenant, scope or expiry (naming the field).
        """
        principal.require(Scope.ADMIN)
        tenant = principal.tenant if tenant is None else tenant
        if not name.strip() or len(name) > 200:
            raise Invalid("key name must be 1-200 characters", details={"field": "name"})
        validate_tenant(tenant)
        chosen = parse_scopes(scopes, admin=admin)
        if expires_at is not None and expires_at <= utcnow():
            raise Invalid("expires_at is in the past", details={"field": "expires_at"})
        key_id = secrets.token_hex(8)
        token = f"{PREFIX}-{key_id}-{secrets.token_urlsafe(32)}"
        row = ApiKey(
            id=key_id,
            name=name,
            tenant=tenant,
            scopes=chosen,
            secret_hash=_hash(token),
            created_at=utcnow(),
            expires_at=expires_at,
        )
        with self.db.session() as session:
            ensure_tenant(session, tenant)  # a key's tenant is a record (aiaas.tenants)
            session.add(row)
            if self.audit is not None:
                self.audit.record(principal, "key.create", "key", key_id, after={
                    "name": name, "tenant": tenant, "scopes": chosen, "expires_at": expires_at},
                    target_tenant=tenant, session=session)
        return NewKey(info=KeyInfo.of(row), secret=token)

    def authenticate(self, token: str) -> Principal:
        """Turn a bearer token into a Principal, or raise ``Unauthenticated`` saying why."""
        parts = token.split("-", 2)
        if len(parts) != 3 or parts[0] != PREFIX or not _KEY_ID.fullmatch(parts[1]):
            raise Unauthenticated("malformed API key")
        digest = _hash(token)
        with self.db.session() as session:
            row = session.get(ApiKey, parts[1])
            if row is None or not hmac.compare_digest(row.secret_hash, digest):
                raise Unauthenticated("unknown API key")
            if row.revoked_at is not None:
                raise Unauthenticated("this API key has been revoked")
            if row.expires_at is not None and row.expires_at <= utcnow():
                raise Unauthenticated("this API key has expired")
            principal = Principal(tenant=row.tenant, key_id=row.id, scopes=frozenset(row.scopes))
            self._remember(digest, principal, row.expires_at)
            return principal

    def list(self, principal: Principal, *, tenant: str | None = None,
             include_revoked: bool = False) -> list[KeyInfo]:
        """Every tenant's keys, or ``tenant``'s (admin only); never their secrets."""
        principal.require(Scope.ADMIN)
        query = select(ApiKey).order_by(ApiKey.created_at)
        if tenant is not None:
            query = query.where(ApiKey.tenant == tenant)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        with self.db.session() as session:
            return [KeyInfo.of(row) for row in session.scalars(query)]

    def revoke(self, principal: Principal, key_id: str) -> KeyInfo:
        """Revoke at once in this process, within ``cache_s`` elsewhere (admin only)."""
        principal.require(Scope.ADMIN)
        with self.db.session() as session:
            row = session.get(ApiKey, key_id) if _KEY_ID.fullmatch(key_id) else None
            if row is None:
                raise NotFound(f"no API key with id {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                if self.audit is not None:
                    self.audit.record(principal, "key.revoke", "key", key_id,
                                      before={"revoked_at": None},
                                      after={"revoked_at": row.revoked_at},
                                      target_tenant=row.tenant, session=session)
            info = KeyInfo.of(row)
        self._forget(key_id)
        for listener in self.on_revoke:
            listener(key_id)
        return info
