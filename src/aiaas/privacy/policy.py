"""PII policies: what happens to personal data in a tenant's calls, set per tenant, per key and
per model, and read from memory on every call.

Modes:
- ``off``: nothing is analysed.
- ``detect``: inputs are analysed; the answer lists the entity types and spans, nothing changes.
- ``redact``: inputs reach the model with typed placeholders (``<PERSON_1>``), and generated
  text and transcripts are redacted on the way out, streams too.
- ``block``: a call whose inputs hold PII is refused (422 ``pii_detected``: types and positions,
  never values); outputs are redacted as under ``redact``.
- ``pseudonymize``: as ``redact`` for the model, and the reply has the originals put back, so the
  caller reads a natural answer while the model never saw the values.

The most specific policy applies: the key's, else the tenant's for that model, else the
tenant's, else the server's default (``AIAAS_PII_POLICY``, ``off`` unless set). Setting needs
the admin scope and is audited; reading needs the admin scope or a key of the same tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from aiaas.audit import AuditLog, changed
from aiaas.auth.principal import Principal, Scope
from aiaas.db.engine import Database
from aiaas.db.snapshot import Snapshot
from aiaas.db.tables import utcnow
from aiaas.db.tenant_tables import PrivacyPolicyRow
from aiaas.errors import Invalid
from aiaas.privacy.entities import ENTITY_TYPES
from aiaas.tenants.limits import resolve_subject, visible

MODES = ("off", "detect", "redact", "block", "pseudonymize")


@dataclass(frozen=True, slots=True)
class Policy:
    mode: str = "off"
    entities: frozenset[str] | None = None
    """The entity types acted on; ``None``: every type the analyzer knows."""
    source: str = "default"
    """Where it was set: ``key``, ``model``, ``tenant`` or ``default``."""

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode,
                "entities": sorted(self.entities) if self.entities is not None else None,
                "source": self.source}

    @classmethod
    def checked(cls, mode: Any, entities: Any, source: str) -> Policy:
        if mode not in MODES:
            raise Invalid.at("mode", f"must be one of {', '.join(MODES)}", naming="subject")
        if entities is None:
            return cls(mode, None, source)
        if not isinstance(entities, list) or not entities:
            raise Invalid.at("entities", "must be a non-empty list of entity types, or null for "
                             "all", naming="subject")
        unknown = [e for e in entities if e not in ENTITY_TYPES]
        if unknown:
            raise Invalid.at("entities", f"unknown entity type {unknown[0]!r}; known: "
                             f"{', '.join(ENTITY_TYPES)}", naming="subject")
        return cls(mode, frozenset(entities), source)


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    tenant: str
    key_id: str | None
    model: str | None
    policy: Policy

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "key_id": self.key_id, "model": self.model,
                **self.policy.as_dict()}


class PolicyService:
    def __init__(self, db: Database, *, default: str = "off", cache_s: float = 2.0,
                 audit: AuditLog | None = None) -> None:
        self.db = db
        self.audit = audit
        self.default = Policy.checked(default, None, "default")
        self._policies: dict[tuple[str, str, str], Policy] = {}
        self._snapshot = Snapshot(self._load, cache_s=cache_s, what="privacy policies")

    def _load(self) -> None:
        with self.db.session() as session:
            rows = session.scalars(select(PrivacyPolicyRow)).all()
            self._policies = {(r.tenant, r.key_id, r.model): _policy_of(r) for r in rows}

    async def applicable(self, tenant: str, key_id: str, model: str) -> Policy:
        """The policy of a call (memory; reloaded in the background when stale)."""
        await self._snapshot.fresh()
        policies = self._policies
        if policies:
            for subject in ((tenant, key_id, ""), (tenant, "", model), (tenant, "", "")):
                found = policies.get(subject)
                if found is not None:
                    return found
        return self.default

    def set(self, principal: Principal, *, mode: Any, entities: Any = None,
            tenant: str | None = None, key_id: str | None = None,
            model: str | None = None) -> PolicyInfo:
        """Set (or, with ``mode`` null, remove) the policy of a tenant, of its calls to
        ``model`` or of one key. Admin only; ``NotFound`` for an unknown tenant or key,
        ``Invalid`` naming the field for a bad value."""
        principal.require(Scope.ADMIN)
        with self.db.session() as session:
            tenant, key_id, model = resolve_subject(session, tenant, key_id, model)
            scope = "key" if key_id else "model" if model else "tenant"
            policy = None if mode is None else Policy.checked(mode, entities, scope)
            row = session.scalars(select(PrivacyPolicyRow).where(
                PrivacyPolicyRow.tenant == tenant, PrivacyPolicyRow.key_id == key_id,
                PrivacyPolicyRow.model == model)).one_or_none()
            old = _policy_of(row).as_dict() if row is not None else {}
            if policy is None:
                if row is not None:
                    session.delete(row)
                new: dict[str, Any] = {}
            else:
                if row is None:
                    row = PrivacyPolicyRow(tenant=tenant, key_id=key_id, model=model)
                    session.add(row)
                row.mode = policy.mode
                row.entities = sorted(policy.entities) if policy.entities is not None else None
                row.updated_by, row.updated_at = principal.key_id, utcnow()
                new = policy.as_dict()
            session.flush()
            before, after = changed(old, new)
            if self.audit is not None and (before or after):
                target = f"key:{key_id}" if key_id else f"{tenant}/{model}" if model else tenant
                self.audit.record(principal, "privacy.set" if policy else "privacy.clear",
                                  "privacy", target, before, after, target_tenant=tenant,
                                  session=session)
        self._snapshot.reload()
        return PolicyInfo(tenant, key_id or None, model or None, policy or self.default)

    def of_tenant(self, principal: Principal, tenant: str) -> list[PolicyInfo]:
        """The tenant's own policy (first; the server default when none is set), then those
        set per model and per key."""
        visible(principal, tenant)
        with self.db.session() as session:
            rows = session.scalars(select(PrivacyPolicyRow).where(
                PrivacyPolicyRow.tenant == tenant).order_by(
                    PrivacyPolicyRow.key_id, PrivacyPolicyRow.model)).all()
            infos = [PolicyInfo(r.tenant, r.key_id or None, r.model or None, _policy_of(r))
                     for r in rows]
        own = [i for i in infos if i.key_id is None and i.model is None]
        rest = [i for i in infos if i.key_id is not None or i.model is not None]
        return (own or [PolicyInfo(tenant, None, None, self.default)]) + rest


def _policy_of(row: PrivacyPolicyRow) -> Policy:
    scope = "key" if row.key_id else "model" if row.model else "tenant"
    entities = frozenset(row.entities) if row.entities is not None else None
    return Policy(row.mode, entities, scope)
