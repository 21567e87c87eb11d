"""``GET /api/v1/usage``: a key reads its own tenant's usage; an admin may name a tenant."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.schemas import ERRORS
from aiaas.usage.costs import to_csv
from aiaas.usage.service import UsageReport

router = APIRouter(prefix="/api/v1", tags=["usage"], responses=ERRORS)


@router.get("/usage", response_model=UsageReport)
async def usage(
    principal: PrincipalDep,
    services: ServicesDep,
    model: str | None = None,
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    tenant: Annotated[str | None, Query(description="Admins only; * for every tenant")] = None,
    format: Annotated[Literal["json", "csv"], Query(
        description="csv: the cost lines (per day, tenant, key and model) as CSV")] = "json",
) -> Any:
    """Usage rows, newest first, with totals and cost lines over the whole filtered range."""
    report = await asyncio.to_thread(
        services.usage.report, principal, tenant=tenant, model=model, since=since, until=until,
        limit=limit,
    )
    if format == "csv":
        return Response(to_csv(report.costs), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="aiaas-usage.csv"'})
    return report
