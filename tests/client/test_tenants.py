"""The SDK's tenant and limit calls against a real server (tenants of this module's own)."""

from __future__ import annotations

import uuid

import pytest

from aiaas.client import (
    AsyncClient,
    BadRequestError,
    Client,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)
from tests.conftest import LiveServer

DIAGNOSIS_ROW = [0.0] * 30


def test_tenants_are_created_renamed_disabled_and_enabled(admin: Client,
                                                          live_server: LiveServer) -> None:
    name = f"sdk-t-{uuid.uuid4().hex[:6]}"
    created = admin.create_tenant(name, display_name="Radiology")
    assert (created.name, created.display_name, created.disabled) == (name, "Radiology", False)
    assert name in [t.name for t in admin.list_tenants()]
    assert admin.update_tenant(name, display_name="Imaging").display_name == "Imaging"
    secret = admin.create_key("sdk", tenant=name).secret
    with Client(live_server.url, secret) as member:
        assert member.get_tenant(name).name == name
        with pytest.raises(NotFoundError):
            member.get_tenant("default")  # another tenant's record: as if missing
        with pytest.raises(PermissionDeniedError):
            member.create_tenant(f"{name}-x")
        assert admin.disable_tenant(name).disabled is True
        with pytest.raises(PermissionDeniedError) as refused:
            member.list_models()
        assert refused.value.code == "tenant_disabled"
        assert admin.enable_tenant(name).disabled is False
        member.list_models()
    with pytest.raises(BadRequestError) as bad:
        admin.create_tenant("no spaces allowed")
    assert bad.value.status == 422 and "invalid tenant" in str(bad.value)


def test_limits_are_set_read_capped_enforced_and_cleared(admin: Client,
                                                        live_server: LiveServer) -> None:
    name = f"sdk-l-{uuid.uuid4().hex[:6]}"
    key = admin.create_key("sdk", tenant=name)
    admin.set_limits(tenant=name, requests_per_minute=50)
    limits = admin.set_limits(key_id=key.id, requests_per_minute=2)
    assert (limits.key_id, limits.requests_per_minute) == (key.id, 2)
    with pytest.raises(BadRequestError) as capped:
        admin.set_limits(key_id=key.id, requests_per_minute=51)
    assert "requests_per_minute" in str(capped.value)
    with pytest.raises(BadRequestError):
        admin.set_limits(tenant=name, requests_per_minute=-1)
    shown = admin.get_limits(tenant=name)
    assert {(item.key_id, item.requests_per_minute) for item in shown} >= {(None, 50), (key.id, 2)}
    with Client(live_server.url, key.secret, max_retries=0) as member:  # no waiting out the 429
        for _ in range(2):
            member.predict("breast-cancer-diagnosis", [DIAGNOSIS_ROW])
        with pytest.raises(RateLimitError) as limited:
            member.predict("breast-cancer-diagnosis", [DIAGNOSIS_ROW])
        assert limited.value.code == "rate_limited"
    admin.clear_limits(key_id=key.id)
    assert all(item.key_id != key.id or item.requests_per_minute is None
               for item in admin.get_limits(tenant=name))


async def test_the_async_client_reads_tenants_and_limits(live_server: LiveServer) -> None:
    async with AsyncClient(live_server.url, live_server.admin_key) as admin:
        name = f"sdk-a-{uuid.uuid4().hex[:6]}"
        await admin.create_tenant(name)
        await admin.set_limits(tenant=name, concurrent_requests=3)
        assert (await admin.get_tenant(name)).name == name
        limits = await admin.get_limits(tenant=name)
        assert [item.concurrent_requests for item in limits if item.key_id is None] == [3]
