"""Operations pages: API keys (admin) and usage over time with its CSV export.

Keys go through ``KeyService`` as the signed-in admin: a new key's secret is shown once, on the
page that answers the form, and never again; revoking asks first and ends the key's sessions.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from aiaas.api.console.render import PageRoute, SessionDep, page
from aiaas.api.console.session import check_change
from aiaas.auth.principal import Scope
from aiaas.db.tables import utcnow
from aiaas.errors import Invalid
from aiaas.usage.costs import CostLine

router = APIRouter(route_class=PageRoute, include_in_schema=False)
SCOPES = [scope.value for scope in Scope if scope is not Scope.ADMIN]
RANGES = {"1": 1, "7": 7, "30": 30, "90": 90}


async def _keys_page(request: Request, view: Any, **extra: Any) -> Response:
    keys = await asyncio.to_thread(request.app.state.services.keys.list, view.principal,
                                   include_revoked=True)
    return page(request, view, "keys.html", keys=list(reversed(keys)), scopes=SCOPES, **extra)


@router.get("/keys")
async def keys_page(request: Request, view: SessionDep) -> Response:
    view.principal.require(Scope.ADMIN)
    return await _keys_page(request, view, welcome=request.query_params.get("welcome"))


@router.post("/keys")
async def create_key(request: Request, view: SessionDep,
                     name: Annotated[str, Form(max_length=200)] = "",
                     tenant: Annotated[str, Form(max_length=64)] = "",
                     scopes: Annotated[list[str] | None, Form()] = None,
                     admin: Annotated[bool, Form()] = False,
                     expires_in_days: Annotated[str, Form(max_length=8)] = "",
                     csrf_token: Annotated[str, Form(max_length=128)] = "") -> Response:
    check_change(request, view, csrf_token)
    expires_at = None
    if expires_in_days.strip():
        if not expires_in_days.strip().isdigit() or int(expires_in_days) < 1:
            raise Invalid("expires in: a whole number of days, at least 1",
                          details={"field": "expires_in_days"})
        expires_at = utcnow() + timedelta(days=int(expires_in_days))
    created = await asyncio.to_thread(
        request.app.state.services.keys.create, view.principal, name=name,
        tenant=tenant.strip() or None, scopes=scopes or None, admin=admin, expires_at=expires_at)
    return await _keys_page(request, view, created=created)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, view: SessionDep, key_id: str,
                     csrf_token: Annotated[str, Form(max_length=128)] = "") -> Response:
    check_change(request, view, csrf_token)
    await asyncio.to_thread(request.app.state.services.keys.revoke, view.principal, key_id)
    return RedirectResponse("/keys", status_code=303)


def _series(lines: list[CostLine], since: datetime, days: int) -> dict[str, Any]:
    """Calls per UTC day per model, every day present (zero when quiet), for the chart."""
    day0 = since.date()
    axis = [day0 + timedelta(days=i) for i in range(days + 1)]
    per_model: dict[str, list[int]] = defaultdict(lambda: [0] * len(axis))
    for line in lines:
        index = (line.day - day0).days
        if 0 <= index < len(axis):
            per_model[line.model][index] += line.requests
    return {"x": [datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() for d in axis],
            "series": dict(sorted(per_model.items()))}


def _by(lines: list[CostLine], field: str) -> list[dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    for line in lines:
        name = getattr(line, field)
        row = totals.setdefault(name, {"name": name, "requests": 0, "errors": 0, "items": 0,
                                       "tokens": 0, "cost": Decimal(0)})
        row["requests"] += line.requests
        row["errors"] += line.errors
        row["items"] += line.items
        row["tokens"] += line.prompt_tokens + line.completion_tokens
        row["cost"] += line.cost
    return sorted(totals.values(), key=lambda row: -row["requests"])


@router.get("/usage")
async def usage_page(request: Request, view: SessionDep, days: str = "7", model: str = "",
                     tenant: str = "") -> Response:
    span = RANGES.get(days, 7)
    since = utcnow() - timedelta(days=span)
    report = await asyncio.to_thread(
        request.app.state.services.usage.report, view.principal, tenant=tenant or None,
        model=model or None, since=since, limit=50)
    query = {"since": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "format": "csv"}
    if model:
        query["model"] = model
    if tenant:
        query["tenant"] = tenant
    csv_url = "/api/v1/usage?" + urlencode(query)
    return page(request, view, "usage.html", report=report, days=str(span), model=model,
                tenant=tenant, ranges=list(RANGES), chart=_series(report.costs, since, span),
                by_model=_by(report.costs, "model"), by_key=_by(report.costs, "key_id"),
                csv_url=csv_url)
