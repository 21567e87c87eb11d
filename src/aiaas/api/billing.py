"""Prices and budgets: ``/api/v1/prices`` and ``/api/v1/budgets``.

Thin: each route hands the body to ``BillingService``, which checks the scope (setting needs an
admin key; any key reads its own tenant's), the values (a 422 naming the field) and the owner
(another tenant's budget is a 404).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.schemas import ERRORS
from aiaas.billing.budgets import BudgetStatus
from aiaas.billing.prices import PriceInfo

router = APIRouter(prefix="/api/v1", tags=["billing"], responses=ERRORS)

Rate = Annotated[Decimal | None, Field(default=None, description="Decimal, >= 0; default 0.")]


class PriceSet(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"model": "smollm2-135m-instruct", "input_per_1k": "0.0005", "output_per_1k": "0.0015"},
        {"model": "whisper-tiny-en", "per_audio_minute": "0.006"},
        {"model": "churn", "tenant": "clinic", "version": 2, "per_item": "0.0001",
         "effective_from": "2026-02-01T00:00:00Z"},
    ]})

    model: str = Field(description="A built-in model, or a model of `tenant`.")
    tenant: str | None = Field(default=None, description="The tenant whose model it is "
                               "(default: the caller's); not needed for built-in models.")
    version: int | None = Field(default=None, description="Price only this version.")
    currency: str | None = Field(default=None, description="Must be the installation's "
                                 "(AIAAS_CURRENCY); default it.")
    input_per_1k: Rate = None
    output_per_1k: Rate = None
    per_item: Rate = None
    per_audio_minute: Rate = None
    per_request: Rate = None
    effective_from: datetime | None = Field(default=None, description="Default now; never "
                                            "in the past.")


class PriceList(BaseModel):
    prices: list[PriceInfo]


class BudgetSet(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"tenant": "clinic", "period": "month", "amount": "250.00", "soft_threshold": 0.8},
        {"key_id": "0123456789abcdef", "period": "day", "tokens": 200000, "items": 50000},
    ]})

    tenant: str | None = Field(default=None, description="Default: the key's tenant, else the "
                               "caller's.")
    key_id: str | None = Field(default=None, description="A budget of this key only.")
    period: str = Field(description="day or month (calendar, UTC).")
    amount: Decimal | None = Field(default=None, description="Spend limit in the currency.")
    currency: str | None = None
    tokens: int | None = Field(default=None, description="Prompt plus completion tokens.")
    items: int | None = None
    audio_seconds: float | None = None
    soft_threshold: float | None = Field(default=None, description="Fraction of each limit "
                                         "past which a warning is logged (default 0.8).")


class BudgetList(BaseModel):
    budgets: list[BudgetStatus]


@router.post("/prices", response_model=PriceInfo, status_code=201)
async def set_price(body: PriceSet, principal: PrincipalDep, services: ServicesDep) -> PriceInfo:
    """A new price for a model (admin). Earlier calls keep the cost they were charged."""
    return await asyncio.to_thread(services.billing.set_price, principal,
                                   **body.model_dump(exclude_none=True))


@router.get("/prices", response_model=PriceList)
async def list_prices(
    principal: PrincipalDep, services: ServicesDep, model: str | None = None,
    tenant: Annotated[str | None, Query(description="Admins only")] = None,
    history: Annotated[bool, Query(description="Every price ever set, not only those in "
                                   "force or scheduled")] = False,
) -> PriceList:
    """Prices of the built-in models and the tenant's own."""
    prices = await asyncio.to_thread(services.billing.list_prices, principal, model=model,
                                     tenant=tenant, history=history)
    return PriceList(prices=prices)


@router.put("/budgets", response_model=BudgetStatus)
async def set_budget(body: BudgetSet, principal: PrincipalDep,
                     services: ServicesDep) -> BudgetStatus:
    """Set (or change) the budget of a tenant or key for a period (admin)."""
    return await asyncio.to_thread(services.billing.set_budget, principal,
                                   **body.model_dump(exclude_none=True))


@router.get("/budgets", response_model=BudgetList)
async def list_budgets(
    principal: PrincipalDep, services: ServicesDep,
    tenant: Annotated[str | None, Query(description="Admins only")] = None,
    key_id: str | None = None,
) -> BudgetList:
    """The tenant's budgets with what is spent, in flight and left this period."""
    budgets = await asyncio.to_thread(services.billing.list_budgets, principal, tenant=tenant,
                                      key_id=key_id)
    return BudgetList(budgets=budgets)


@router.get("/budgets/{budget_id}", response_model=BudgetStatus)
async def get_budget(budget_id: str, principal: PrincipalDep,
                     services: ServicesDep) -> BudgetStatus:
    return await asyncio.to_thread(services.billing.get_budget, principal, budget_id)


@router.delete("/budgets/{budget_id}", status_code=204)
async def delete_budget(budget_id: str, principal: PrincipalDep,
                        services: ServicesDep) -> Response:
    """Remove a budget (admin)."""
    await asyncio.to_thread(services.billing.delete_budget, principal, budget_id)
    return Response(status_code=204)
