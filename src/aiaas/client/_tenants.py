"""Tenants and rate limits in ``Client`` and ``AsyncClient``: the calls, their results and the
two method mixins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiaas.client._calls import Call, many, nothing, one, segment
from aiaas.client._models import _Result
from aiaas.client._sending import AsyncSender, SyncSender

LIMITS = ("requests_per_minute", "tokens_per_minute", "items_per_minute",
          "audio_seconds_per_minute", "concurrent_requests")


class Tenant(_Result):
    """A tenant; a ``disabled`` one's keys get 403 ``tenant_disabled``."""

    name: str
    display_name: str
    disabled: bool
    created_at: datetime
    updated_at: datetime


class Limits(_Result):
    """The limits of a tenant (``key_id`` and ``model`` None), a key, or a tenant's calls to
    one model; None: no such limit. ``updated_at`` None: none were ever set."""

    tenant: str
    key_id: str | None = None
    model: str | None = None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    items_per_minute: int | None = None
    audio_seconds_per_minute: int | None = None
    concurrent_requests: int | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None


def create_tenant(name: str, display_name: str) -> Call[Tenant]:
    return Call("POST", "/api/v1/tenants", one(Tenant),
                json={"name": name, "display_name": display_name}, retryable=False)


def list_tenants() -> Call[list[Tenant]]:
    return Call("GET", "/api/v1/tenants", many(Tenant, "tenants"))


def get_tenant(name: str) -> Call[Tenant]:
    return Call("GET", f"/api/v1/tenants/{segment(name)}", one(Tenant))


def update_tenant(name: str, *, display_name: str | None, disabled: bool | None) -> Call[Tenant]:
    body = {key: value for key, value in (("display_name", display_name),
                                          ("disabled", disabled)) if value is not None}
    return Call("PATCH", f"/api/v1/tenants/{segment(name)}", one(Tenant), json=body)


def _limits_path(tenant: str | None, key_id: str | None) -> str:
    if (tenant is None) == (key_id is None):
        raise ValueError("give either tenant or key_id")
    if key_id is not None:
        return f"/api/v1/keys/{segment(key_id)}/limits"
    return f"/api/v1/tenants/{segment(str(tenant))}/limits"


def set_limits(*, tenant: str | None, key_id: str | None, model: str | None,
               limits: dict[str, int | None]) -> Call[Limits]:
    unknown = sorted(set(limits) - set(LIMITS))
    if unknown:
        raise ValueError(f"unknown limit(s): {', '.join(unknown)}; known: {', '.join(LIMITS)}")
    body: dict[str, Any] = {name: value for name, value in limits.items() if value is not None}
    if model is not None:
        body["model"] = model
    return Call("PUT", _limits_path(tenant, key_id), one(Limits), json=body)


def get_limits(*, tenant: str | None, key_id: str | None) -> Call[list[Limits]]:
    if key_id is not None:
        return Call("GET", _limits_path(None, key_id), one(Limits)).then(lambda info: [info])
    return Call("GET", _limits_path(tenant, None), many(Limits, "limits"))


def clear_limits(*, tenant: str | None, key_id: str | None, model: str | None) -> Call[None]:
    params: dict[str, str | int | bool] = {} if model is None else {"model": model}
    return Call("DELETE", _limits_path(tenant, key_id), nothing, params=params)


class TenantMethods(SyncSender):
    def create_tenant(self, name: str, *, display_name: str = "") -> Tenant:
        """Admin only. Record a tenant (a key created for a new tenant records it too)."""
        return self._send(create_tenant(name, display_name))

    def list_tenants(self) -> list[Tenant]:
        """Admin only."""
        return self._send(list_tenants())

    def get_tenant(self, name: str) -> Tenant:
        """Any tenant for an admin key; a key's own tenant for others."""
        return self._send(get_tenant(name))

    def update_tenant(self, name: str, *, display_name: str | None = None,
                      disabled: bool | None = None) -> Tenant:
        """Admin only. A disabled tenant's keys get 403 ``tenant_disabled``."""
        return self._send(update_tenant(name, display_name=display_name, disabled=disabled))

    def disable_tenant(self, name: str) -> Tenant:
        return self.update_tenant(name, disabled=True)

    def enable_tenant(self, name: str) -> Tenant:
        return self.update_tenant(name, disabled=False)

    def set_limits(self, *, tenant: str | None = None, key_id: str | None = None,
                   model: str | None = None, **limits: int | None) -> Limits:
        """Admin only. Set the limits of ``tenant`` (or of its calls to ``model``) or of the
        key ``key_id``, replacing what was set: ``requests_per_minute``,
        ``tokens_per_minute``, ``items_per_minute``, ``audio_seconds_per_minute``,
        ``concurrent_requests`` (unset: no limit). A key's or model's limit cannot exceed its
        tenant's."""
        return self._send(set_limits(tenant=tenant, key_id=key_id, model=model, limits=limits))

    def get_limits(self, *, tenant: str | None = None, key_id: str | None = None) -> list[Limits]:
        """A tenant's limits (its own first, then per model and per key), or one key's."""
        return self._send(get_limits(tenant=tenant, key_id=key_id))

    def clear_limits(self, *, tenant: str | None = None, key_id: str | None = None,
                     model: str | None = None) -> None:
        """Admin only."""
        self._send(clear_limits(tenant=tenant, key_id=key_id, model=model))


class AsyncTenantMethods(AsyncSender):
    async def create_tenant(self, name: str, *, display_name: str = "") -> Tenant:
        return await self._send(create_tenant(name, display_name))

    async def list_tenants(self) -> list[Tenant]:
        return await self._send(list_tenants())

    async def get_tenant(self, name: str) -> Tenant:
        return await self._send(get_tenant(name))

    async def update_tenant(self, name: str, *, display_name: str | None = None,
                            disabled: bool | None = None) -> Tenant:
        return await self._send(update_tenant(name, display_name=display_name,
                                              disabled=disabled))

    async def disable_tenant(self, name: str) -> Tenant:
        return await self.update_tenant(name, disabled=True)

    async def enable_tenant(self, name: str) -> Tenant:
        return await self.update_tenant(name, disabled=False)

    async def set_limits(self, *, tenant: str | None = None, key_id: str | None = None,
                         model: str | None = None, **limits: int | None) -> Limits:
        return await self._send(set_limits(tenant=tenant, key_id=key_id, model=model,
                                           limits=limits))

    async def get_limits(self, *, tenant: str | None = None,
                         key_id: str | None = None) -> list[Limits]:
        return await self._send(get_limits(tenant=tenant, key_id=key_id))

    async def clear_limits(self, *, tenant: str | None = None, key_id: str | None = None,
                           model: str | None = None) -> None:
        await self._send(clear_limits(tenant=tenant, key_id=key_id, model=model))
