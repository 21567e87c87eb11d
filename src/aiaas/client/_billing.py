"""Prices, budgets and usage CSV in ``Client`` and ``AsyncClient``: the calls, their results and
the two method mixins. Amounts are ``Decimal`` (the server sends exact decimal strings)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import Field

from aiaas.client import _calls
from aiaas.client._calls import Call, many, nothing, one, segment
from aiaas.client._models import _Result
from aiaas.client._sending import AsyncSender, SyncSender

RATES = ("input_per_1k", "output_per_1k", "per_item", "per_audio_minute", "per_request")
Money = Decimal | int | str


class Price(_Result):
    """A model's price from ``effective_from`` on (``version`` None: every version without its
    own); ``tenant`` is the model's owner (``builtin`` for a built-in)."""

    id: int
    tenant: str
    model: str
    version: int | None = None
    currency: str
    input_per_1k: Decimal
    output_per_1k: Decimal
    per_item: Decimal
    per_audio_minute: Decimal
    per_request: Decimal
    effective_from: datetime
    created_by: str
    created_at: datetime


class BudgetUse(_Result):
    amount: Decimal = Decimal(0)
    tokens: int = 0
    items: int = 0
    audio_seconds: float = 0.0


class BudgetRemaining(_Result):
    """What is left of each limit this period; None where the budget sets no such limit."""

    amount: Decimal | None = None
    tokens: int | None = None
    items: int | None = None
    audio_seconds: float | None = None


class Budget(_Result):
    """A budget of a tenant (``key_id`` None) or key for a ``period`` (day or month, UTC), with
    this period's use: ``spent`` (usage rows), ``in_flight`` and ``remaining`` per limit set."""

    id: str
    tenant: str
    key_id: str | None = None
    period: str
    currency: str
    amount: Decimal | None = None
    tokens: int | None = None
    items: int | None = None
    audio_seconds: float | None = None
    soft_threshold: float
    created_by: str
    created_at: datetime
    updated_at: datetime
    period_start: datetime
    period_end: datetime
    spent: BudgetUse = Field(default_factory=BudgetUse)
    in_flight: BudgetUse = Field(default_factory=BudgetUse)
    remaining: BudgetRemaining = Field(default_factory=BudgetRemaining)


def _money(value: Money) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def set_price(model: str, *, tenant: str | None, version: int | None, currency: str | None,
              effective_from: datetime | None, rates: dict[str, Money | None]) -> Call[Price]:
    unknown = sorted(set(rates) - set(RATES))
    if unknown:
        raise ValueError(f"unknown price field(s): {', '.join(unknown)}; known: {', '.join(RATES)}")
    body: dict[str, Any] = {"model": model, **{k: _money(v) for k, v in rates.items()
                                                if v is not None}}
    for name, value in (("tenant", tenant), ("version", version), ("currency", currency)):
        if value is not None:
            body[name] = value
    if effective_from is not None:
        body["effective_from"] = effective_from.isoformat()
    return Call("POST", "/api/v1/prices", one(Price), json=body, retryable=False)


def list_prices(model: str | None, tenant: str | None, history: bool) -> Call[list[Price]]:
    params: dict[str, str | int | bool] = {"history": history}
    if model is not None:
        params["model"] = model
    if tenant is not None:
        params["tenant"] = tenant
    return Call("GET", "/api/v1/prices", many(Price, "prices"), params=params)


def set_budget(period: str, *, tenant: str | None, key_id: str | None, amount: Money | None,
               tokens: int | None, items: int | None, audio_seconds: float | None,
               soft_threshold: float | None) -> Call[Budget]:
    body: dict[str, Any] = {"period": period}
    values = {"tenant": tenant, "key_id": key_id, "tokens": tokens, "items": items,
              "audio_seconds": audio_seconds, "soft_threshold": soft_threshold}
    body |= {name: value for name, value in values.items() if value is not None}
    if amount is not None:
        body["amount"] = _money(amount)
    return Call("PUT", "/api/v1/budgets", one(Budget), json=body)


def list_budgets(tenant: str | None, key_id: str | None) -> Call[list[Budget]]:
    params: dict[str, str | int | bool] = {}
    if tenant is not None:
        params["tenant"] = tenant
    if key_id is not None:
        params["key_id"] = key_id
    return Call("GET", "/api/v1/budgets", many(Budget, "budgets"), params=params)


def get_budget(budget_id: str) -> Call[Budget]:
    return Call("GET", f"/api/v1/budgets/{segment(budget_id)}", one(Budget))


def delete_budget(budget_id: str) -> Call[None]:
    return Call("DELETE", f"/api/v1/budgets/{segment(budget_id)}", nothing)


def usage_csv(*, model: str | None, since: datetime | str | None, until: datetime | str | None,
              tenant: str | None) -> Call[str]:
    report = _calls.usage(model=model, since=since, until=until, limit=1, tenant=tenant)
    return Call("GET", "/api/v1/usage", lambda response: response.text,
                params={**report.params, "format": "csv"}, accept="text/csv")


class BillingMethods(SyncSender):
    def set_price(self, model: str, *, tenant: str | None = None, version: int | None = None,
                  currency: str | None = None, effective_from: datetime | None = None,
                  **rates: Money | None) -> Price:
        """Admin only. A new price for ``model`` (a built-in, or ``tenant``'s model) from
        ``effective_from`` (default now) on; ``rates``: ``input_per_1k``, ``output_per_1k``,
        ``per_item``, ``per_audio_minute``, ``per_request`` (decimals; unset = 0). Calls
        already made keep the cost they were charged. Never retried."""
        return self._send(set_price(model, tenant=tenant, version=version, currency=currency,
                                    effective_from=effective_from, rates=rates))

    def list_prices(self, *, model: str | None = None, tenant: str | None = None,
                    history: bool = False) -> list[Price]:
        """Prices in force or scheduled (``history``: all) of built-in and own models."""
        return self._send(list_prices(model, tenant, history))

    def set_budget(self, period: str, *, tenant: str | None = None, key_id: str | None = None,
                   amount: Money | None = None, tokens: int | None = None,
                   items: int | None = None, audio_seconds: float | None = None,
                   soft_threshold: float | None = None) -> Budget:
        """Admin only. Set (or change) the ``period`` (``day`` or ``month``) budget of
        ``tenant`` or of the key ``key_id``: a spend ``amount`` and/or unit quotas."""
        return self._send(set_budget(period, tenant=tenant, key_id=key_id, amount=amount,
                                     tokens=tokens, items=items, audio_seconds=audio_seconds,
                                     soft_threshold=soft_threshold))

    def list_budgets(self, *, tenant: str | None = None, key_id: str | None = None) -> list[Budget]:
        return self._send(list_budgets(tenant, key_id))

    def get_budget(self, budget_id: str) -> Budget:
        return self._send(get_budget(budget_id))

    def delete_budget(self, budget_id: str) -> None:
        """Admin only."""
        self._send(delete_budget(budget_id))

    def usage_csv(self, *, model: str | None = None, since: datetime | str | None = None,
                  until: datetime | str | None = None, tenant: str | None = None) -> str:
        """The range's cost lines (per UTC day, tenant, key and model) as CSV text; ``tenant``
        ``"*"`` (admins) covers every tenant."""
        return self._send(usage_csv(model=model, since=since, until=until, tenant=tenant))


class AsyncBillingMethods(AsyncSender):
    async def set_price(self, model: str, *, tenant: str | None = None,
                        version: int | None = None, currency: str | None = None,
                        effective_from: datetime | None = None, **rates: Money | None) -> Price:
        return await self._send(set_price(model, tenant=tenant, version=version,
                                          currency=currency, effective_from=effective_from,
                                          rates=rates))

    async def list_prices(self, *, model: str | None = None, tenant: str | None = None,
                          history: bool = False) -> list[Price]:
        return await self._send(list_prices(model, tenant, history))

    async def set_budget(self, period: str, *, tenant: str | None = None,
                         key_id: str | None = None, amount: Money | None = None,
                         tokens: int | None = None, items: int | None = None,
                         audio_seconds: float | None = None,
                         soft_threshold: float | None = None) -> Budget:
        return await self._send(set_budget(period, tenant=tenant, key_id=key_id, amount=amount,
                                           tokens=tokens, items=items,
                                           audio_seconds=audio_seconds,
                                           soft_threshold=soft_threshold))

    async def list_budgets(self, *, tenant: str | None = None,
                           key_id: str | None = None) -> list[Budget]:
        return await self._send(list_budgets(tenant, key_id))

    async def get_budget(self, budget_id: str) -> Budget:
        return await self._send(get_budget(budget_id))

    async def delete_budget(self, budget_id: str) -> None:
        await self._send(delete_budget(budget_id))

    async def usage_csv(self, *, model: str | None = None, since: datetime | str | None = None,
                        until: datetime | str | None = None, tenant: str | None = None) -> str:
        return await self._send(usage_csv(model=model, since=since, until=until, tenant=tenant))

