"""Tenants and their rate limits: ``/api/v1/tenants``, ``/api/v1/tenants/{t}/limits`` and
``/api/v1/keys/{id}/limits``.

Thin: each route hands its body to ``TenantService`` (or its ``limits``), which checks the scope
(changes need an admin key; a key reads its own tenant), the values (a 422 naming the field) and
the owner (another tenant, or its key, is a 404).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.schemas import ERRORS
from aiaas.tenants.records import LimitsInfo, TenantInfo

router = APIRouter(prefix="/api/v1", tags=["tenants"], responses=ERRORS)

PerMinute = Annotated[int | None, Field(description="1 to 10^9 per minute; "
                                                                   "null or absent: no limit.")]


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "clinic", "display_name": "City clinic"}]})

    name: str = Field(description="1-64 lowercase letters, digits, '-' or '_'.")
    display_name: str = ""


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"disabled": True}, {"display_name": "City clinic (north)"}]})

    display_name: str | None = None
    disabled: bool | None = Field(default=None, description="true: the tenant's keys get 403 "
                                  "tenant_disabled (nothing is deleted); false: enabled again.")


class TenantList(BaseModel):
    tenants: list[TenantInfo]


class LimitsSet(BaseModel):
    """Replaces the subject's limits: a field left out is no limit."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"requests_per_minute": 600, "tokens_per_minute": 200000, "concurrent_requests": 16},
        {"model": "smollm2-135m-instruct", "tokens_per_minute": 20000},
    ]})

    model: str | None = Field(default=None, description="Only the tenant's calls to this model "
                              "(tenant limits only).")
    requests_per_minute: PerMinute = None
    tokens_per_minute: PerMinute = Field(default=None, description="Prompt + completion; a "
                                         "generation reserves prompt + max_tokens.")
    items_per_minute: PerMinute = None
    audio_seconds_per_minute: PerMinute = None
    concurrent_requests: int | None = Field(default=None, description="Calls running at once.")

    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude={"model"})


class LimitsList(BaseModel):
    limits: list[LimitsInfo]


@router.post("/tenants", response_model=TenantInfo, status_code=201)
async def create_tenant(body: TenantCreate, principal: PrincipalDep,
                        services: ServicesDep) -> TenantInfo:
    """Record a tenant (admin). Creating a key for an unrecorded tenant also records it."""
    return await asyncio.to_thread(services.tenants.create, principal, name=body.name,
                                   display_name=body.display_name)


@router.get("/tenants", response_model=TenantList)
async def list_tenants(principal: PrincipalDep, services: ServicesDep) -> TenantList:
    """Every tenant (admin)."""
    return TenantList(tenants=await asyncio.to_thread(services.tenants.list, principal))


@router.get("/tenants/{name}", response_model=TenantInfo)
async def get_tenant(name: str, principal: PrincipalDep, services: ServicesDep) -> TenantInfo:
    """One tenant: any for an admin key, its own for other keys."""
    return await asyncio.to_thread(services.tenants.get, principal, name)


@router.patch("/tenants/{name}", response_model=TenantInfo)
async def update_tenant(name: str, body: TenantUpdate, principal: PrincipalDep,
                        services: ServicesDep) -> TenantInfo:
    """Change the display name, or disable / enable the tenant (admin)."""
    return await asyncio.to_thread(services.tenants.update, principal, name,
                                   **body.model_dump(exclude_none=True))


@router.get("/tenants/{name}/limits", response_model=LimitsList)
async def tenant_limits(name: str, principal: PrincipalDep, services: ServicesDep) -> LimitsList:
    """The tenant's limits (first), then per model and per key."""
    return LimitsList(limits=await asyncio.to_thread(services.tenants.limits.of_tenant,
                                                     principal, name))


@router.put("/tenants/{name}/limits", response_model=LimitsInfo)
async def set_tenant_limits(name: str, body: LimitsSet, principal: PrincipalDep,
                            services: ServicesDep) -> LimitsInfo:
    """Set the tenant's limits, or (``model``) those of its calls to one model (admin).
    Lowering a tenant limit lowers its keys' and models' limits above it."""
    return await asyncio.to_thread(services.tenants.limits.set, principal, tenant=name,
                                   model=body.model, **body.values())


@router.delete("/tenants/{name}/limits", status_code=204)
async def clear_tenant_limits(
    name: str, principal: PrincipalDep, services: ServicesDep,
    model: Annotated[str | None, Query(description="Only this model's limits")] = None,
) -> Response:
    """Remove the tenant's own limits (or one model's) (admin)."""
    await asyncio.to_thread(services.tenants.limits.clear, principal, tenant=name, model=model)
    return Response(status_code=204)


@router.get("/keys/{key_id}/limits", response_model=LimitsInfo, tags=["keys"])
async def key_limits(key_id: str, principal: PrincipalDep, services: ServicesDep) -> LimitsInfo:
    """One key's limits (all null: none of its own; its tenant's still apply)."""
    return await asyncio.to_thread(services.tenants.limits.of_key, principal, key_id)


@router.put("/keys/{key_id}/limits", response_model=LimitsInfo, tags=["keys"])
async def set_key_limits(key_id: str, body: LimitsSet, principal: PrincipalDep,
                         services: ServicesDep) -> LimitsInfo:
    """Set one key's limits (admin); none may exceed its tenant's (422 naming the field)."""
    return await asyncio.to_thread(services.tenants.limits.set, principal, key_id=key_id,
                                   model=body.model, **body.values())


@router.delete("/keys/{key_id}/limits", status_code=204, tags=["keys"])
async def clear_key_limits(key_id: str, principal: PrincipalDep,
                           services: ServicesDep) -> Response:
    """Remove one key's own limits (admin)."""
    await asyncio.to_thread(services.tenants.limits.clear, principal, key_id=key_id)
    return Response(status_code=204)
