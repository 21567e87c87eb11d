"""The SDK's audit calls, sync and async, against a real server over real HTTP: pages and the
cursor, every page, filters, the scope and the tenant a key may read, and verify."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from aiaas.client import (
    AsyncClient,
    AuditPage,
    AuditRecord,
    BadRequestError,
    Client,
    NotFoundError,
    PermissionDeniedError,
)
from tests.conftest import LiveServer


def test_list_pages_filters_and_verify(live_server: LiveServer) -> None:
    tenant = f"sdk-audit-{uuid.uuid4().hex[:6]}"
    with Client(live_server.url, live_server.admin_key) as admin:
        made = [admin.create_key(f"k{n}", tenant=tenant) for n in range(3)]
        reader = admin.create_key("reader", tenant=tenant, scopes=["audit:read"])
        first = admin.list_audit(tenant=tenant, action="key.create", limit=2)
        assert isinstance(first, AuditPage) and first.next is not None
        assert all(isinstance(r, AuditRecord) for r in first.data)
        rest = admin.list_audit(tenant=tenant, action="key.create", limit=2, cursor=first.next)
        ids = [r.target_id for r in first.data + rest.data]
        assert ids == [reader.id, *(key.id for key in reversed(made))] and rest.next is None
        every = list(admin.iter_audit(tenant=tenant, limit=1))
        assert [r.target_id for r in every] == ids
        assert all(r.target_tenant == tenant and r.client == "127.0.0.1" for r in every)
        check = admin.verify_audit()
        assert check.ok and check.checked >= 4 and check.first_broken_id is None
        with pytest.raises(BadRequestError, match="target_type"):
            admin.list_audit(target_type="planet")

    with Client(live_server.url, reader.secret) as own:
        assert [r.target_id for r in own.iter_audit()] == ids
        with pytest.raises(NotFoundError):
            own.list_audit(tenant="default")
        with pytest.raises(PermissionDeniedError):
            own.verify_audit()
    with Client(live_server.url, made[0].secret) as plain, \
            pytest.raises(PermissionDeniedError, match="audit:read"):
        plain.list_audit()

    async def run() -> list[str]:
        async with AsyncClient(live_server.url, reader.secret) as api:
            page = await api.list_audit(limit=2)
            rest = [r.target_id async for r in api.iter_audit(cursor=page.next)]
            return [r.target_id for r in page.data] + rest

    assert asyncio.run(run()) == ids
