"""The audit log: ``GET /api/v1/audit`` (filters and paging) and ``GET /api/v1/audit/verify``.

Thin: ``AuditLog`` checks the scope (``audit:read`` to list, admin to verify), the filters (a
422 naming the field) and what the caller may see (its own tenant's records; an admin key
every tenant's; another tenant named is a 404).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.schemas import ERRORS
from aiaas.audit import AuditPage, Verification

router = APIRouter(prefix="/api/v1", tags=["audit"], responses=ERRORS)


@router.get("/audit", response_model=AuditPage)
async def list_audit(
    principal: PrincipalDep,
    services: ServicesDep,
    action: Annotated[str | None, Query(description="e.g. key.create, model.register")] = None,
    target_type: Annotated[str | None, Query(description="e.g. key, model, version")] = None,
    target_id: str | None = None,
    key_id: Annotated[str | None, Query(description="The acting key")] = None,
    tenant: Annotated[str | None, Query(description="Records made by or about this tenant "
                                                    "(admins; others only their own)")] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive; UTC if no zone")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="The `next` of the previous page")] = None,
) -> AuditPage:
    """Audit records newest first (``audit:read``): who changed what, when, from where, with the
    changed fields before and after."""
    return await asyncio.to_thread(
        services.audit.list, principal, action=action, target_type=target_type,
        target_id=target_id, key_id=key_id, tenant=tenant, since=since, until=until, limit=limit,
        cursor=cursor)


@router.get("/audit/verify", response_model=Verification)
async def verify_audit(principal: PrincipalDep, services: ServicesDep) -> Verification:
    """Re-compute the hash chain (admin): ``ok``, or the first broken record and why."""
    return await asyncio.to_thread(services.audit.verify, principal)
