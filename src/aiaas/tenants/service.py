"""``TenantService``: tenants as records (create, list, show, update, disable/enable).

Every method takes the caller's ``Principal``: changes and listings need the admin scope; a key
may read its own tenant, and another tenant is a 404 to it (as if missing). A tenant is named by
the same string keys, models and usage rows carry; creating a key for a tenant with no record
records it (``aiaas.db.tenant_tables.ensure_tenant``), so existing flows keep working. Disabling
a tenant refuses its keys (403 ``tenant_disabled``, checked at authentication through the
``Directory``) and deletes nothing; enabling it again restores everything as it was.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aiaas.audit import AuditLog, changed
from aiaas.auth.keys import validate_tenant
from aiaas.auth.principal import SYSTEM_KEY_ID, Principal, Scope
from aiaas.db.engine import Database
from aiaas.db.tables import utcnow
from aiaas.db.tenant_tables import TenantRow
from aiaas.errors import Conflict, Invalid, NotFound
from aiaas.tenants.directory import Directory
from aiaas.tenants.limits import LimitService, visible
from aiaas.tenants.records import TenantInfo

MAX_DISPLAY_NAME = 200
NOT_GIVEN: Any = object()


class TenantService:
    def __init__(self, db: Database, *, cache_s: float = 2.0, audit: AuditLog | None = None) -> None:
        self.db = db
        self.audit = audit
        self.directory = Directory(db, cache_s=cache_s)
        """What authentication and the rate-limit check read (no database per request)."""
        self.limits = LimitService(db, self.directory, audit=audit)

    def create(self, principal: Principal, *, name: str, display_name: str = "") -> TenantInfo:
        """Record a new tenant (admin only); ``Conflict`` when it is already recorded."""
        principal.require(Scope.ADMIN)
        try:
            validate_tenant(name)
        except Invalid as exc:
            raise exc.renamed("name") from None
        now = utcnow()
        with self.db.session() as session:
            if session.get(TenantRow, name) is not None:
                raise Conflict(f"tenant {name!r} already exists", details={"field": "name"})
            row = TenantRow(name=name, display_name=_display_name(display_name), disabled=False,
                            created_at=now, updated_at=now)
            session.add(row)
            session.flush()
            if self.audit is not None:
                self.audit.record(principal, "tenant.create", "tenant", name, after={
                    "display_name": row.display_name, "disabled": False}, target_tenant=name,
                    session=session)
            return TenantInfo.of(row)

    def list(self, principal: Principal, *, include_disabled: bool = True) -> list[TenantInfo]:
        """Every tenant (admin only), by name."""
        principal.require(Scope.ADMIN)
        query = select(TenantRow).order_by(TenantRow.name)
        if not include_disabled:
            query = query.where(TenantRow.disabled.is_(False))
        with self.db.session() as session:
            return [TenantInfo.of(row) for row in session.scalars(query)]

    def get(self, principal: Principal, name: str) -> TenantInfo:
        """One tenant: any for an admin, the key's own for others (else a 404)."""
        visible(principal, name)
        with self.db.session() as session:
            return TenantInfo.of(_row(session, name))

    def update(self, principal: Principal, name: str, *, display_name: Any = NOT_GIVEN,
               disabled: Any = NOT_GIVEN) -> TenantInfo:
        """Change the display name and/or disable or enable (admin only). A key cannot disable
        its own tenant (it would lock itself out); the server acting for itself can."""
        principal.require(Scope.ADMIN)
        if disabled is not NOT_GIVEN and not isinstance(disabled, bool):
            raise Invalid.at("disabled", "must be true or false", naming="subject")
        if disabled is True and name == principal.tenant and principal.key_id != SYSTEM_KEY_ID:
            raise Conflict(f"this key belongs to tenant {name!r}: disabling it would lock the "
                           "key out; use an admin key of another tenant",
                           details={"field": "disabled"})
        with self.db.session() as session:
            row = _row(session, name)
            old = {"display_name": row.display_name, "disabled": row.disabled}
            if display_name is not NOT_GIVEN:
                row.display_name = _display_name(display_name)
            if disabled is not NOT_GIVEN:
                row.disabled = disabled
            row.updated_at = utcnow()
            session.flush()
            before, after = changed(old, {"display_name": row.display_name,
                                          "disabled": row.disabled})
            if self.audit is not None and after:
                self.audit.record(principal, "tenant.update", "tenant", name, before, after,
                                  target_tenant=name, session=session)
            info = TenantInfo.of(row)
        self.directory.reload()
        return info


def _row(session: Session, name: str) -> TenantRow:
    row = session.get(TenantRow, name) if isinstance(name, str) else None
    if row is None:
        raise NotFound(f"no tenant {name!r}", details={"field": "tenant"})
    return row


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_DISPLAY_NAME:
        raise Invalid.at("display_name", f"must be a string of at most {MAX_DISPLAY_NAME} "
                                         "characters", naming="subject")
    return value.strip()
