"""The in-memory view of tenants and limits that every request reads: which tenants are
disabled, and which limits apply to a call. No database on the hot path.

Reloaded in the background when older than ``cache_s`` (``AIAAS_CACHE_TTL_S``) and at once after
a change made through this process, so a change made elsewhere (another server, the CLI on the
data dir) applies within ``cache_s``. A tenant or key with no limits costs three dict lookups.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from aiaas.db.engine import Database
from aiaas.db.snapshot import Snapshot
from aiaas.db.tenant_tables import RateLimitRow, TenantRow
from aiaas.errors import Forbidden
from aiaas.tenants.records import RateLimits


@dataclass(frozen=True, slots=True)
class Subject:
    """One set of limits a call counts against. ``scope`` is ``tenant``, ``key`` or ``model``;
    ``id`` names the counter (unique across scopes)."""

    scope: str
    id: str
    limits: RateLimits


class Directory:
    def __init__(self, db: Database, *, cache_s: float = 2.0) -> None:
        self.db = db
        self._disabled: frozenset[str] = frozenset()
        self._limits: dict[tuple[str, str, str], RateLimits] = {}
        self._snapshot = Snapshot(self._load, cache_s=cache_s, what="tenants and limits")

    def reload(self) -> None:
        """Read the disabled tenants and every limit now (after a change)."""
        self._snapshot.reload()

    async def fresh(self) -> None:
        """Make sure the view is there and not older than ``cache_s`` (``db.snapshot``)."""
        await self._snapshot.fresh()

    def _load(self) -> None:
        with self.db.session() as session:
            disabled = frozenset(session.scalars(
                select(TenantRow.name).where(TenantRow.disabled.is_(True))))
            limits = {(row.tenant, row.key_id, row.model): RateLimits.of(row)
                      for row in session.scalars(select(RateLimitRow))}
        self._disabled, self._limits = disabled, {k: v for k, v in limits.items() if v}

    async def check_enabled(self, tenant: str) -> None:
        """Raise ``Forbidden`` (``tenant_disabled``) when ``tenant`` is disabled."""
        await self.fresh()
        if tenant in self._disabled:
            raise Forbidden(f"tenant {tenant!r} is disabled; an administrator can enable it "
                            "again", code="tenant_disabled", details={"tenant": tenant})

    def applicable(self, tenant: str, key_id: str, model: str) -> list[Subject]:
        """The limits a call of ``key_id`` (of ``tenant``) to ``model`` counts against: the
        key's, the tenant's calls to that model, the tenant's; empty when none is set."""
        if not self._limits:
            return []
        subjects = []
        for scope, subject, ident in (("key", (tenant, key_id, ""), f"k:{key_id}"),
                                      ("model", (tenant, "", model), f"m:{tenant}:{model}"),
                                      ("tenant", (tenant, "", ""), f"t:{tenant}")):
            limits = self._limits.get(subject)
            if limits is not None:
                subjects.append(Subject(scope, ident, limits))
        return subjects

