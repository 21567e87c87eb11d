"""``GET /api/v1/usage``: a key reads its own tenant's usage; an admin may name a tenant."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.schemas import ERRORS
from aiaas.auth.principal import Scope
from aiaas.errors import Invalid
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
    tenant: Annotated[str | None, Query(description="Admins only")] = None,
) -> UsageReport:
    """Usage rows, newest first, with totals over the whole filtered range."""
    if tenant is not None and tenant != principal.tenant:
        principal.require(Scope.ADMIN)
    for field, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise Invalid(f"'{field}' needs a timezone, e.g. 2026-01-01T00:00:00Z",
                          details={"field": field})
    return await asyncio.to_thread(
        services.usage.report, tenant or principal.tenant, model=model, since=since,
        until=until, limit=limit,
    )
