"""Governance pages (admin): tenants with their limits and spend, prices, and budgets.

Plain HTML forms, no script: each posts with the session's CSRF token to a route here, which
hands the values to the same service call the JSON API makes, as the signed-in key, so the
service checks the scope (admin) and the values. A value the service refuses (``Invalid``,
``Conflict``, an unknown key: ``NotFound``) re-renders the form's page with its message and
the values typed, answered with the error's status; anything else (a missing scope, an unknown
tenant in the URL) is the console's error page.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from aiaas.api.console.render import PageRoute, SessionDep, page
from aiaas.api.console.session import check_change
from aiaas.api.errors import status_for
from aiaas.auth.principal import Scope
from aiaas.auth.sessions import ConsoleSessionView
from aiaas.billing.budgets import LIMITS, BudgetStatus
from aiaas.billing.periods import PERIODS, bounds
from aiaas.billing.prices import RATES
from aiaas.db.tables import utcnow
from aiaas.db.tenant_tables import LIMIT_FIELDS
from aiaas.errors import AiaasError, Conflict, Invalid, NotFound

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FORM_ERRORS = (Invalid, Conflict, NotFound)
"""Refusals of a form's values: shown on the form's page, not as an error page."""
LIMIT_LABELS = {"requests_per_minute": "Requests / min", "tokens_per_minute": "Tokens / min",
                "items_per_minute": "Items / min", "audio_seconds_per_minute": "Audio s / min",
                "concurrent_requests": "Concurrent calls"}
RATE_LABELS = {"input_per_1k": "Input / 1K tokens", "output_per_1k": "Output / 1K tokens",
               "per_item": "Per item", "per_audio_minute": "Per audio minute",
               "per_request": "Per request"}
QUOTA_LABELS = {"amount": "Spend", "tokens": "Tokens", "items": "Items",
                "audio_seconds": "Audio seconds"}


# -- forms --------------------------------------------------------------------------------------

async def read_form(request: Request, view: ConsoleSessionView,
                    lists: tuple[str, ...] = ()) -> dict[str, Any]:
    """The posted form after the CSRF and origin checks: text fields stripped; the fields
    named in ``lists`` (checkboxes) as lists of every value given, even none."""
    form = await request.form()
    check_change(request, view, str(form.get("csrf_token") or ""))
    values: dict[str, Any] = {name: [] for name in lists}
    for name in form:
        found = [v.strip() for v in form.getlist(name) if isinstance(v, str)]
        values[name] = found if name in lists else (found or [""])[0]
    return values


def optional(value: str) -> str | None:
    return value or None


def whole(name: str, value: str) -> int | None:
    """A whole number typed in a form (empty: None); ``Invalid`` naming ``name`` otherwise."""
    if not value:
        return None
    if not value.isascii() or not value.isdigit():
        raise Invalid.at(name, f"must be a whole number, got {value!r} (empty: none)")
    return int(value)


def number(name: str, value: str) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise Invalid.at(name, f"must be a number, got {value!r} (empty: none)") from None


def problem(error: AiaasError) -> dict[str, Any]:
    """What a re-rendered form needs of the refusal: its message, status and field."""
    details = error.details if isinstance(error.details, dict) else {}
    return {"error": error.message, "error_field": details.get("field"),
            "status_code": status_for(error)}


def meters(budget: BudgetStatus) -> list[dict[str, Any]]:
    """One meter per limit a budget sets: used (spent plus in flight) of the limit, and the
    soft threshold as the meter's ``high`` mark."""
    shown = []
    for kind in LIMITS:
        limit = budget.limit(kind)
        if limit is None:
            continue
        spent, held = getattr(budget.spent, kind), getattr(budget.in_flight, kind)
        top = float(limit) or 1.0
        unit = f" {budget.currency}" if kind == "amount" else ""
        shown.append({"kind": kind, "label": QUOTA_LABELS[kind], "spent": spent,
                      "in_flight": held, "limit": limit, "unit": unit,
                      "value": min(float(spent + held), top), "max": top,
                      "high": top * budget.soft_threshold,
                      "percent": 100 * float(spent + held) / top})
    return shown


# -- tenants ------------------------------------------------------------------------------------

async def _tenants_page(request: Request, view: ConsoleSessionView, *, status_code: int = 200,
                        **extra: Any) -> Response:
    services, principal = request.app.state.services, view.principal
    tenants = await asyncio.to_thread(services.tenants.list, principal)
    keys = await asyncio.to_thread(services.keys.list, principal)
    models = await asyncio.to_thread(services.registry.model_names_by_tenant, view.principal)
    counts = Counter(key.tenant for key in keys)
    rows = [{"tenant": t, "keys": counts[t.name], "models": len(models.get(t.name, ()))}
            for t in tenants]
    return page(request, view, "tenants.html", status_code=status_code, rows=rows,
                form=extra.pop("form", {}), **extra)


@router.get("/tenants")
async def tenants_page(request: Request, view: SessionDep) -> Response:
    return await _tenants_page(request, view)


@router.post("/tenants")
async def create_tenant(request: Request, view: SessionDep) -> Response:
    form = await read_form(request, view)
    try:
        await asyncio.to_thread(request.app.state.services.tenants.create, view.principal,
                                name=form.get("name", ""),
                                display_name=form.get("display_name", ""))
    except FORM_ERRORS as exc:
        return await _tenants_page(request, view, form=form, **problem(exc))
    return RedirectResponse(f"/tenants/{form['name']}?created=1", status_code=303)


@router.post("/tenants/{name}/state")
async def tenant_state(request: Request, view: SessionDep, name: str) -> Response:
    """Disable or enable (``disabled`` true/false); back to the list or the tenant's page."""
    form = await read_form(request, view)
    disabled = form.get("disabled")
    if disabled not in ("true", "false"):
        raise Invalid.at("disabled", "must be true or false")
    await asyncio.to_thread(request.app.state.services.tenants.update, view.principal, name,
                            disabled=disabled == "true")
    back = "/tenants" if form.get("back") == "list" else f"/tenants/{name}"
    return RedirectResponse(back, status_code=303)


async def _tenant_page(request: Request, view: ConsoleSessionView, name: str, *,
                       status_code: int = 200, **extra: Any) -> Response:
    services, principal = request.app.state.services, view.principal
    principal.require(Scope.ADMIN)
    tenant = await asyncio.to_thread(services.tenants.get, principal, name)
    limits = await asyncio.to_thread(services.tenants.limits.of_tenant, principal, name)
    budgets = await asyncio.to_thread(services.billing.list_budgets, principal, tenant=name)
    keys = await asyncio.to_thread(services.keys.list, principal, tenant=name)
    models = (await asyncio.to_thread(services.registry.model_names_by_tenant, principal,
                                      name)).get(name, [])
    month, _ = bounds("month", utcnow())
    usage = await asyncio.to_thread(services.usage.report, principal, tenant=name, since=month,
                                    limit=1)
    key_names = {key.id: key.name for key in keys}
    builtins = [m.name for m in await asyncio.to_thread(services.registry.list_models, principal)
                if m.builtin]
    return page(request, view, "tenant.html", status_code=status_code, tenant=tenant,
                limits=limits, limit_labels=LIMIT_LABELS, key_names=key_names, keys=keys,
                models=models, model_choices=sorted({*models, *builtins}),
                budgets=[(b, meters(b)) for b in budgets], month=month, totals=usage.totals,
                currency=services.billing.currency, form=extra.pop("form", {}),
                created=request.query_params.get("created"), **extra)


@router.get("/tenants/{name}")
async def tenant_page(request: Request, view: SessionDep, name: str) -> Response:
    return await _tenant_page(request, view, name)


@router.post("/tenants/{name}/limits")
async def set_limits(request: Request, view: SessionDep, name: str) -> Response:
    """Replace one subject's limits (the tenant's, one model's or one key's); every field
    left empty is no limit, all empty removes them."""
    form = await read_form(request, view)
    try:
        values = {field: whole(field, form.get(field, "")) for field in LIMIT_FIELDS}
        await asyncio.to_thread(request.app.state.services.tenants.limits.set, view.principal,
                                tenant=name, key_id=optional(form.get("key_id", "")),
                                model=optional(form.get("model", "")), **values)
    except FORM_ERRORS as exc:
        return await _tenant_page(request, view, name, form=form, **problem(exc))
    return RedirectResponse(f"/tenants/{name}#limits", status_code=303)


@router.post("/tenants/{name}/limits/clear")
async def clear_limits(request: Request, view: SessionDep, name: str) -> Response:
    form = await read_form(request, view)
    await asyncio.to_thread(request.app.state.services.tenants.limits.clear, view.principal,
                            tenant=name, key_id=optional(form.get("key_id", "")),
                            model=optional(form.get("model", "")))
    return RedirectResponse(f"/tenants/{name}#limits", status_code=303)


# -- prices -------------------------------------------------------------------------------------

async def _prices_page(request: Request, view: ConsoleSessionView, *, status_code: int = 200,
                       **extra: Any) -> Response:
    services, principal = request.app.state.services, view.principal
    principal.require(Scope.ADMIN)
    tenant = request.query_params.get("tenant", "").strip() or None
    history = request.query_params.get("history") == "1"
    prices = await asyncio.to_thread(services.billing.list_prices, principal, tenant=tenant,
                                     history=history)
    models = await asyncio.to_thread(services.registry.list_models, principal)
    return page(request, view, "prices.html", status_code=status_code, prices=prices,
                now=utcnow(), tenant=tenant or "", history=history, rates=RATE_LABELS,
                models=[m.name for m in models], currency=services.billing.currency,
                form=extra.pop("form", {}), set_id=request.query_params.get("set"), **extra)


@router.get("/prices")
async def prices_page(request: Request, view: SessionDep) -> Response:
    return await _prices_page(request, view)


def _moment(value: str) -> datetime | None:
    """A ``datetime-local`` value (no zone), read as UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid.at("effective_from", f"must be a date and time, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.post("/prices")
async def set_price(request: Request, view: SessionDep) -> Response:
    form = await read_form(request, view)
    try:
        rates = {rate: optional(form.get(rate, "")) for rate in RATES}
        created = await asyncio.to_thread(
            request.app.state.services.billing.set_price, view.principal,
            model=form.get("model", ""), tenant=optional(form.get("tenant", "")),
            version=whole("version", form.get("version", "")),
            effective_from=_moment(form.get("effective_from", "")), **rates)
    except FORM_ERRORS as exc:
        return await _prices_page(request, view, form=form, **problem(exc))
    return RedirectResponse(f"/prices?set={created.id}", status_code=303)


# -- budgets ------------------------------------------------------------------------------------

async def _budgets_page(request: Request, view: ConsoleSessionView, *, status_code: int = 200,
                        **extra: Any) -> Response:
    services, principal = request.app.state.services, view.principal
    principal.require(Scope.ADMIN)
    tenants = await asyncio.to_thread(services.tenants.list, principal)
    chosen = request.query_params.get("tenant", "").strip()
    names = [chosen] if chosen else sorted({t.name for t in tenants} | {principal.tenant})
    budgets: list[BudgetStatus] = []
    for name in names:
        budgets += await asyncio.to_thread(services.billing.list_budgets, principal, tenant=name)
    form = extra.pop("form", {}) or {"tenant": chosen, "period": "month"}
    return page(request, view, "budgets.html", status_code=status_code,
                budgets=[(b, meters(b)) for b in budgets], tenant=chosen,
                tenants=[t.name for t in tenants], periods=PERIODS,
                currency=services.billing.currency, form=form, **extra)


@router.get("/budgets")
async def budgets_page(request: Request, view: SessionDep) -> Response:
    return await _budgets_page(request, view)


@router.post("/budgets")
async def set_budget(request: Request, view: SessionDep) -> Response:
    """Create or change the subject's budget for the period (one per subject and period)."""
    form = await read_form(request, view)
    try:
        budget = await asyncio.to_thread(
            request.app.state.services.billing.set_budget, view.principal,
            tenant=optional(form.get("tenant", "")), key_id=optional(form.get("key_id", "")),
            period=form.get("period", ""), amount=optional(form.get("amount", "")),
            tokens=whole("tokens", form.get("tokens", "")),
            items=whole("items", form.get("items", "")),
            audio_seconds=number("audio_seconds", form.get("audio_seconds", "")),
            soft_threshold=number("soft_threshold", form.get("soft_threshold", "")))
    except FORM_ERRORS as exc:
        return await _budgets_page(request, view, form=form, **problem(exc))
    return RedirectResponse(f"/budgets?tenant={budget.tenant}", status_code=303)


@router.post("/budgets/{budget_id}/delete")
async def delete_budget(request: Request, view: SessionDep, budget_id: str) -> Response:
    form = await read_form(request, view)
    await asyncio.to_thread(request.app.state.services.billing.delete_budget, view.principal,
                            budget_id)
    back = form.get("back", "")
    return RedirectResponse(back if back.startswith(("/budgets", "/tenants/")) else "/budgets",
                            status_code=303)

