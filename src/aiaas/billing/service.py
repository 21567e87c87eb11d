"""``BillingService``: prices and budgets for the API and CLI, and pricing for the meter.

Every method a key reaches takes its ``Principal``: setting prices and budgets needs the admin
scope; any key may read its own tenant's (another tenant's are a 404, as if missing). The
prices and budgets that admission and the meter read are an in-memory snapshot, reloaded in
the background when older than ``cache_s`` (``AIAAS_CACHE_TTL_S``) and at once after a change
made through this process, so a call pays no database read for them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aiaas.audit import AuditLog, changed
from aiaas.auth.principal import BUILTIN_TENANT, Principal, Scope
from aiaas.billing.budgets import (
    LIMITS,
    BudgetInfo,
    BudgetStatus,
    BudgetStore,
    Remaining,
    check_limits,
)
from aiaas.billing.check import PRICE_TAG
from aiaas.billing.cost import cost_of
from aiaas.billing.ledger import Ledger
from aiaas.billing.periods import bounds, check_period
from aiaas.billing.prices import PriceBook, PriceInfo, check_currency, check_rates
from aiaas.calls.call import ResolvedCall
from aiaas.calls.meter import Charge
from aiaas.db.billing_tables import PriceRow
from aiaas.db.engine import Database
from aiaas.db.money import quantized
from aiaas.db.snapshot import Snapshot
from aiaas.db.tables import ApiKey, Model, utcnow
from aiaas.db.tenant_tables import TenantRow
from aiaas.errors import Invalid, NotFound
from aiaas.metrics import Metrics
from aiaas.registry.service import Registry, VersionInfo
from aiaas.tasks.units import Units
from aiaas.usage.service import UsageService

PAST_GRACE = timedelta(minutes=1)
"""How far in the past a new price may start (clock skew between client and server)."""
MAX_AHEAD = timedelta(days=3660)
BUDGET_FIELDS = ("amount", "tokens", "items", "audio_seconds", "soft_threshold")
"""What the audit log keeps of a budget's change (besides its subject)."""


class BillingService:
    def __init__(self, db: Database, registry: Registry, usage: UsageService, metrics: Metrics,
                 *, currency: str, cache_s: float = 2.0, sync_s: float = 5.0,
                 audit: AuditLog | None = None) -> None:
        self.db = db
        self.audit = audit
        self.registry = registry
        self.usage = usage
        self.currency = currency
        self.store = BudgetStore(db, currency)
        self.ledger = Ledger(db, usage, metrics, sync_s=sync_s)
        self._book = PriceBook()
        self._budgets: dict[tuple[str, str], list[BudgetInfo]] = {}
        self._snapshot = Snapshot(self._load, cache_s=cache_s, what="prices and budgets")

    # -- the snapshot that admission and the meter read ----------------------------------------

    def reload(self) -> None:
        """Read every price and budget now (after a change)."""
        self._snapshot.reload()

    async def fresh(self) -> None:
        """Make sure the snapshot is there and not older than ``cache_s`` (``db.snapshot``)."""
        await self._snapshot.fresh()

    def _load(self) -> None:
        with self.db.session() as session:
            prices = [PriceInfo.of(row) for row in session.scalars(select(PriceRow))]
        budgets: dict[tuple[str, str], list[BudgetInfo]] = {}
        for budget in self.store.all():
            budgets.setdefault(budget.subject, []).append(budget)
        self._book, self._budgets = PriceBook(prices), budgets

    def price_for(self, version: VersionInfo, at: datetime | None = None) -> PriceInfo | None:
        return self._book.find(version.tenant, version.model, version.version, at or utcnow())

    def budgets_for(self, tenant: str, key_id: str) -> list[BudgetInfo]:
        """The budgets a call of ``key_id`` counts against: its tenant's and its own."""
        return [*self._budgets.get((tenant, ""), ()), *self._budgets.get((tenant, key_id), ())]

    def charge(self, call: ResolvedCall, units: Units, status: str) -> Charge:
        """The meter's pricing: the price admission found for the call, else the one in force."""
        price = call.tags[PRICE_TAG] if PRICE_TAG in call.tags else self.price_for(call.version)
        if price is None:
            return Charge(cost_of(None, units, status), self.currency, None)
        return Charge(cost_of(price, units, status), price.currency, price.id)

    # -- prices --------------------------------------------------------------------------------

    def set_price(self, principal: Principal, *, model: str, tenant: str | None = None,
                  version: int | None = None, currency: str | None = None,
                  effective_from: datetime | None = None, **rates: Any) -> PriceInfo:
        """A new price for ``model`` (as ``tenant`` names it; a built-in for everyone), from
        ``effective_from`` (default now; never in the past) on. Admin only."""
        principal.require(Scope.ADMIN)
        view = tenant or principal.tenant
        owner = self._model_owner(view, model, version)
        checked = check_rates(rates)
        chosen = check_currency(currency, self.currency)
        now = utcnow()
        if effective_from is None:
            effective_from = now
        elif effective_from.tzinfo is None:
            raise Invalid.at("effective_from", "needs a timezone, e.g. 2026-01-01T00:00:00Z")
        elif effective_from < now - PAST_GRACE:
            raise Invalid.at("effective_from", "is in the past: calls already charged are never "
                                               "recharged; a new price starts now or later")
        elif effective_from > now + MAX_AHEAD:
            raise Invalid.at("effective_from", "is more than ten years ahead")
        with self.db.session() as session:
            row = PriceRow(tenant=owner, model=model, version=version, currency=chosen,
                           effective_from=effective_from, created_by=principal.key_id,
                           created_at=now, **checked)
            session.add(row)
            session.flush()
            created = PriceInfo.of(row)
            if self.audit is not None:
                after = {name: getattr(created, name) for name in (
                    "model", "version", "currency", "effective_from", *checked)}
                self.audit.record(principal, "price.set", "price", str(created.id), after=after,
                                  target_tenant=owner, session=session)
        self.reload()
        return created

    def _model_owner(self, view: str, model: str, version: int | None) -> str:
        if not isinstance(model, str) or not model:
            raise Invalid.at("model", "is required")
        try:
            owner = self.registry.resolve(view, model, None).tenant
        except NotFound:
            raise Invalid.at("model", f"no model {model!r} in tenant {view!r} or the built-in "
                                      "models") from None
        if version is not None:
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise Invalid.at("version", f"must be a version number, got {version!r}")
            try:
                self.registry.resolve(view, model, version)
            except NotFound:
                raise Invalid.at("version", f"model {model!r} has no version {version}") from None
        return owner

    def list_prices(self, principal: Principal, *, model: str | None = None,
                    tenant: str | None = None, history: bool = False) -> list[PriceInfo]:
        """Prices of the built-in models and the tenant's own: those in force now and those
        scheduled (``history``: every price ever set), by model, version and start."""
        principal.require_any(Scope.MODELS_READ, Scope.PREDICT)
        view = self._view(principal, tenant)
        query = select(PriceRow).where(PriceRow.tenant.in_([view, BUILTIN_TENANT]))
        if model is not None:
            query = query.where(PriceRow.model == model)
        with self.db.session() as session:
            rows = [PriceInfo.of(row) for row in session.scalars(query)]
        rows.sort(key=lambda r: (r.tenant, r.model, r.version or 0, r.effective_from, r.id))
        if history:
            return rows
        now = utcnow()
        current: dict[tuple[str, str, int | None], PriceInfo] = {}
        for row in rows:
            if row.effective_from <= now:
                current[(row.tenant, row.model, row.version)] = row
        return [row for row in rows if row.effective_from > now
                or current.get((row.tenant, row.model, row.version)) is row]

    def _view(self, principal: Principal, tenant: str | None) -> str:
        """The tenant a read is about: the caller's, or (admins) any; another tenant's is a
        404 for everyone else, as if it did not exist."""
        if tenant is None or tenant == principal.tenant:
            return principal.tenant
        if not principal.allows(Scope.ADMIN):
            raise NotFound(f"tenant {tenant!r} not found", details={"tenant": tenant})
        return tenant

    # -- budgets -------------------------------------------------------------------------------

    def set_budget(self, principal: Principal, *, tenant: str | None = None,
                   key_id: str | None = None, currency: str | None = None,
                   **values: Any) -> BudgetStatus:
        """Set the budget of ``tenant`` (default the caller's) or of one of its keys for a
        ``period``; setting it again changes it. Admin only."""
        principal.require(Scope.ADMIN)
        tenant = self._subject_tenant(tenant or (None if key_id else principal.tenant), key_id)
        check_currency(currency, self.currency)
        checked = check_limits(values)
        budget = self.store.put(tenant=tenant, key_id=key_id, checked=checked,
                                created_by=principal.key_id, on_change=self._noted(principal))
        self.reload()
        return self.status(budget)

    def _subject_tenant(self, tenant: str | None, key_id: str | None) -> str:
        with self.db.session() as session:
            if key_id is not None:
                key = session.get(ApiKey, key_id) if isinstance(key_id, str) else None
                if key is None:
                    raise Invalid.at("key_id", f"no API key {key_id!r}")
                if tenant is not None and key.tenant != tenant:
                    raise Invalid.at("key_id", f"key {key_id} belongs to tenant {key.tenant!r}, "
                                               f"not {tenant!r}")
                return key.tenant
            assert tenant is not None
            known = session.get(TenantRow, tenant) is not None or \
                session.scalar(select(Model.id).where(Model.tenant == tenant).limit(1)) is not None
        if not known or tenant == BUILTIN_TENANT:
            raise Invalid.at("tenant", f"unknown tenant {tenant!r}: no such tenant record")
        return tenant

    def list_budgets(self, principal: Principal, *, tenant: str | None = None,
                     key_id: str | None = None) -> list[BudgetStatus]:
        """The budgets of the caller's tenant (admins: of ``tenant``), with their use."""
        principal.require_any(Scope.MODELS_READ, Scope.PREDICT)
        view = self._view(principal, tenant)
        return [self.status(b) for b in self.store.find(tenant=view, key_id=key_id)]

    def get_budget(self, principal: Principal, budget_id: str) -> BudgetStatus:
        principal.require_any(Scope.MODELS_READ, Scope.PREDICT)
        return self.status(self._visible(principal, budget_id))

    def delete_budget(self, principal: Principal, budget_id: str) -> None:
        """Remove a budget: its subject's calls are no longer limited by it. Admin only."""
        principal.require(Scope.ADMIN)
        budget = self._visible(principal, budget_id)
        self.store.delete(budget.id, on_change=self._noted(principal))
        self.reload()

    def _noted(self, principal: Principal) -> Callable[[Session, BudgetInfo | None,
                                                          BudgetInfo | None], None]:
        """The audit record of a budget's change, written in the change's transaction."""
        def note(session: Session, old: BudgetInfo | None, new: BudgetInfo | None) -> None:
            if self.audit is None:
                return
            subject = ("tenant", "key_id", "period")
            before = {name: getattr(old, name) for name in (*subject, *BUDGET_FIELDS)} if old else {}
            after = {name: getattr(new, name) for name in (*subject, *BUDGET_FIELDS)} if new else {}
            if old is not None and new is not None:
                before, after = changed(before, after)
                if not after:
                    return
            budget = new or old
            assert budget is not None
            self.audit.record(principal, "budget.set" if new else "budget.delete", "budget",
                              budget.id, before or None, after or None,
                              target_tenant=budget.tenant, session=session)
        return note

    def _visible(self, principal: Principal, budget_id: str) -> BudgetInfo:
        budget = self.store.get(budget_id)
        if budget is None or (budget.tenant != principal.tenant
                              and not principal.allows(Scope.ADMIN)):
            raise NotFound(f"budget {budget_id!r} not found", details={"budget": budget_id})
        return budget

    def status(self, budget: BudgetInfo) -> BudgetStatus:
        """``budget`` with its current period's use from the usage table and this process's
        calls in flight."""
        start, end = bounds(check_period(budget.period), utcnow())
        self.usage.flush()
        spent = self.ledger.used(budget.tenant, budget.key_id or "", start, end)
        in_flight = self.ledger.in_flight(budget)
        held = spent + in_flight
        left: dict[str, Decimal | int | float | None] = {}
        for kind in LIMITS:
            limit = budget.limit(kind)
            left[kind] = None if limit is None else max(limit - getattr(held, kind),
                                                         type(limit)(0))
        if left["amount"] is not None:
            left["amount"] = quantized(Decimal(left["amount"]))
        fields = {name: getattr(budget, name) for name in BudgetInfo.__dataclass_fields__}
        return BudgetStatus(**fields, period_start=start, period_end=end, spent=spent,
                            in_flight=in_flight, remaining=Remaining(**left))  # type: ignore[arg-type]

