"""``LimitService``: the rate limits an admin sets on a tenant, on one of its keys, or on its
calls to one model; what ``aiaas.limits`` enforces at the front door.

A key's or model's limit never exceeds its tenant's: setting one higher is a 422 naming the
field, and lowering a tenant's limit lowers its keys' and models' limits above it in the same
transaction. Setting every field to null removes the subject's limits. Reading needs the admin
scope or a key of the same tenant (another tenant's limits, or key, are a 404).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aiaas.audit import AuditLog, changed
from aiaas.auth.principal import BUILTIN_TENANT, Principal, Scope
from aiaas.db.engine import Database
from aiaas.db.tables import ApiKey, Model, utcnow
from aiaas.db.tenant_tables import RateLimitRow, TenantRow
from aiaas.errors import Invalid, NotFound
from aiaas.tenants.directory import Directory
from aiaas.tenants.records import LimitsInfo, RateLimits

KEY_ID_LENGTH = 16


class LimitService:
    def __init__(self, db: Database, directory: Directory, *, audit: AuditLog | None = None) -> None:
        self.db = db
        self.directory = directory
        self.audit = audit

    def set(self, principal: Principal, *, tenant: str | None = None, key_id: str | None = None,
            model: str | None = None, **values: Any) -> LimitsInfo:
        """Set the limits of a tenant, of its calls to ``model``, or of the key ``key_id``
        (admin only); fields not given are no limit. Raises ``NotFound`` for an unknown tenant
        or key, ``Invalid`` naming the field for a bad value, an unknown model or a limit above
        the tenant's."""
        principal.require(Scope.ADMIN)
        limits = RateLimits.checked(values)
        with self.db.session() as session:
            tenant, key_id, model = resolve_subject(session, tenant, key_id, model)
            if key_id or model:
                ceiling = _limits_of(session, tenant, "", "")
                above = limits.first_above(ceiling)
                if above is not None:
                    raise Invalid.at(above, f"exceeds the tenant's limit ({getattr(ceiling, above)}"
                                            f"); raise tenant {tenant!r}'s first",
                                     naming="subject", tenant=tenant)
                capped = []
            else:
                capped = _cap_below(session, tenant, limits, principal)
            row = session.scalars(select(RateLimitRow).where(
                RateLimitRow.tenant == tenant, RateLimitRow.key_id == key_id,
                RateLimitRow.model == model)).one_or_none()
            old = (RateLimits.of(row) if row is not None else RateLimits()).values()
            if not limits:
                if row is not None:
                    session.delete(row)
                info = LimitsInfo.unset(tenant, key_id=key_id or None, model=model or None)
            else:
                if row is None:
                    row = RateLimitRow(tenant=tenant, key_id=key_id, model=model)
                    session.add(row)
                for name, value in limits.values().items():
                    setattr(row, name, value)
                row.updated_by, row.updated_at = principal.key_id, utcnow()
                session.flush()
                info = LimitsInfo.of(row)
            if self.audit is not None:
                self._audit(principal, tenant, _target(tenant, key_id, model),
                            old, limits.values(), capped, session)
        self.directory.reload()
        return info

    def _audit(self, principal: Principal, tenant: str, target: str, old: dict[str, Any],
               new: dict[str, Any], capped: list[tuple[RateLimitRow, RateLimits]],
               session: Session) -> None:
        """One record for the subject set (none when nothing changed) and one ``limit.cap``
        per key or model limit that a lowered tenant limit lowered with it."""
        assert self.audit is not None
        before, after = changed(old, new)
        if after:
            self.audit.record(principal, "limit.set" if any(
                v is not None for v in new.values()) else "limit.clear", "limit", target,
                              before, after, target_tenant=tenant, session=session)
        for row, was in capped:
            before, after = changed(was.values(), RateLimits.of(row).values())
            self.audit.record(principal, "limit.cap", "limit",
                              _target(tenant, row.key_id, row.model), before, after,
                              target_tenant=tenant, session=session)

    def clear(self, principal: Principal, *, tenant: str | None = None,
              key_id: str | None = None, model: str | None = None) -> None:
        """Remove the limits of one subject (admin only); a subject without limits is fine."""
        self.set(principal, tenant=tenant, key_id=key_id, model=model)

    def of_tenant(self, principal: Principal, tenant: str) -> list[LimitsInfo]:
        """Every limit of ``tenant``: its own (first, also when unset), then per model and per
        key. Admins read any tenant's, other keys their own (else a 404)."""
        visible(principal, tenant)
        with self.db.session() as session:
            _tenant_row(session, tenant)
            rows = session.scalars(select(RateLimitRow).where(RateLimitRow.tenant == tenant)
                                   .order_by(RateLimitRow.key_id, RateLimitRow.model)).all()
            infos = [LimitsInfo.of(row) for row in rows]
        own = [info for info in infos if info.key_id is None and info.model is None]
        rest = [info for info in infos if info.key_id is not None or info.model is not None]
        return (own or [LimitsInfo.unset(tenant)]) + rest

    def of_key(self, principal: Principal, key_id: str) -> LimitsInfo:
        """The limits of one key (all null when none are set); a key of another tenant is a
        404 to a non-admin."""
        with self.db.session() as session:
            key = _key_row(session, key_id)
            visible(principal, key.tenant, what=f"API key with id {key_id!r}")
            row = session.scalars(select(RateLimitRow).where(
                RateLimitRow.tenant == key.tenant, RateLimitRow.key_id == key_id,
                RateLimitRow.model == "")).one_or_none()
            return LimitsInfo.of(row) if row else LimitsInfo.unset(key.tenant, key_id=key_id)


def resolve_subject(session: Session, tenant: str | None, key_id: str | None,
             model: str | None) -> tuple[str, str, str]:
    """(tenant, key id or "", model or "") of a limit, each checked to exist."""
    if key_id is not None:
        if model is not None:
            raise Invalid.at("model", "a limit is per key or per model of a tenant, not both")
        key = _key_row(session, key_id)
        if tenant is not None and tenant != key.tenant:
            raise NotFound(f"no API key with id {key_id!r} in tenant {tenant!r}",
                           details={"field": "key_id"})
        _tenant_row(session, key.tenant)
        return key.tenant, key_id, ""
    if tenant is None:
        raise Invalid.at("tenant", "is required (or a key id)")
    _tenant_row(session, tenant)
    if model is None:
        return tenant, "", ""
    if not isinstance(model, str) or not model:
        raise Invalid.at("model", "must be a model name", naming="subject")
    known = session.scalars(select(Model.id).where(
        Model.name == model, Model.tenant.in_((tenant, BUILTIN_TENANT)))).first()
    if known is None:
        raise Invalid.at("model", f"no model {model!r} is visible to tenant {tenant!r}",
                         naming="subject")
    return tenant, "", model


def _tenant_row(session: Session, tenant: str) -> TenantRow:
    row = session.get(TenantRow, tenant) if isinstance(tenant, str) else None
    if row is None:
        raise NotFound(f"no tenant {tenant!r}", details={"field": "tenant"})
    return row


def _key_row(session: Session, key_id: str) -> ApiKey:
    valid = isinstance(key_id, str) and len(key_id) == KEY_ID_LENGTH and key_id.isalnum()
    row = session.get(ApiKey, key_id) if valid else None
    if row is None or row.revoked_at is not None:
        raise NotFound(f"no API key with id {key_id!r}", details={"field": "key_id"})
    return row


def visible(principal: Principal, tenant: str, *, what: str | None = None) -> None:
    """Admins see every tenant, other keys their own; another tenant is a plain 404."""
    if not principal.allows(Scope.ADMIN) and tenant != principal.tenant:
        field = "key_id" if what else "tenant"
        raise NotFound(f"no {what or f'tenant {tenant!r}'}", details={"field": field})


def _limits_of(session: Session, tenant: str, key_id: str, model: str) -> RateLimits:
    row = session.scalars(select(RateLimitRow).where(
        RateLimitRow.tenant == tenant, RateLimitRow.key_id == key_id,
        RateLimitRow.model == model)).one_or_none()
    return RateLimits.of(row) if row else RateLimits()


def _cap_below(session: Session, tenant: str, ceiling: RateLimits,
               principal: Principal) -> list[tuple[RateLimitRow, RateLimits]]:
    """Lower the tenant's key and model limits that ``ceiling`` (its new limits) is below;
    the rows lowered, each with its limits before (each change is audited as ``limit.cap``)."""
    rows = session.scalars(select(RateLimitRow).where(
        RateLimitRow.tenant == tenant,
        (RateLimitRow.key_id != "") | (RateLimitRow.model != ""))).all()
    lowered = []
    for row in rows:
        limits = RateLimits.of(row)
        capped = limits.capped_by(ceiling)
        if capped != limits:
            for name, value in capped.values().items():
                setattr(row, name, value)
            row.updated_by, row.updated_at = principal.key_id, utcnow()
            lowered.append((row, limits))
    return lowered


def _target(tenant: str, key_id: str, model: str) -> str:
    """How an audit record names a limit: the key's, the tenant's for a model, the tenant's."""
    return f"key:{key_id}" if key_id else f"{tenant}/{model}" if model else tenant

