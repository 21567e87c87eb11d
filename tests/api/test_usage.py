"""GET /api/v1/usage over HTTP: time filters need a timezone, other tenants need admin."""

from __future__ import annotations

from tests.conftest import Api


async def test_naive_times_are_refused(api: Api) -> None:
    response = await api.client.get("/api/v1/usage", params={"since": "2026-01-01T00:00:00"},
                                    headers=api.auth())
    assert response.status_code == 422
    assert "timezone" in response.json()["error"]["message"]


async def test_reading_another_tenants_usage_needs_admin(api: Api) -> None:
    key = api.new_key("clinic")
    denied = await api.client.get("/api/v1/usage", params={"tenant": "bank"}, headers=api.auth(key))
    assert denied.status_code == 403
    own = await api.client.get("/api/v1/usage", params={"tenant": "clinic"}, headers=api.auth(key))
    assert own.status_code == 200
    admin = await api.client.get("/api/v1/usage", params={"tenant": "bank"}, headers=api.auth())
    assert admin.status_code == 200


async def test_bad_query_values_are_named(api: Api) -> None:
    response = await api.client.get("/api/v1/usage", params={"limit": "many"}, headers=api.auth())
    assert response.status_code == 422
    assert "limit" in response.json()["error"]["message"]
