"""Tenant and limit routes in process (SQLite and PostgreSQL): admins manage tenants and limits;
a key reads only its own tenant's (another's is a 404); bad values are a 422 naming the field;
a disabled tenant's keys get 403 ``tenant_disabled`` and come back when it is enabled."""

from __future__ import annotations

from typing import Any

import httpx

from aiaas.builtin import DIAGNOSIS, ensure_builtins
from tests.conftest import Api


def check(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def key_id(secret: str) -> str:
    return secret.split("-")[1]


async def test_admins_create_list_show_update_disable_and_enable_tenants(api: Api) -> None:
    c, admin = api.client, api.auth()
    created = check(await c.post("/api/v1/tenants", headers=admin,
                                 json={"name": "clinic", "display_name": "City clinic"}), 201)
    assert created["name"] == "clinic" and created["display_name"] == "City clinic"
    assert created["disabled"] is False
    check(await c.post("/api/v1/tenants", headers=admin, json={"name": "clinic"}), 409)
    bad = check(await c.post("/api/v1/tenants", headers=admin, json={"name": "Bad Name"}), 422)
    assert bad["error"]["details"]["field"] == "name"
    check(await c.post("/api/v1/tenants", headers=admin, json={"name": "builtin"}), 422)

    clinic_key = api.new_key("clinic")
    api.new_key("school")  # a key for an unrecorded tenant records it
    names = [t["name"] for t in check(await c.get("/api/v1/tenants", headers=admin), 200)["tenants"]]
    assert names == ["clinic", "default", "school"]

    renamed = check(await c.patch("/api/v1/tenants/clinic", headers=admin,
                                  json={"display_name": "North clinic"}), 200)
    assert renamed["display_name"] == "North clinic"
    assert renamed["updated_at"] >= created["updated_at"]

    clinic = api.auth(clinic_key)
    check(await c.get("/api/v1/models", headers=clinic), 200)
    check(await c.patch("/api/v1/tenants/clinic", headers=admin, json={"disabled": True}), 200)
    refused = check(await c.get("/api/v1/models", headers=clinic), 403)
    assert refused["error"]["code"] == "tenant_disabled"
    assert check(await c.get("/api/v1/tenants/clinic", headers=admin), 200)["disabled"] is True
    check(await c.patch("/api/v1/tenants/clinic", headers=admin, json={"disabled": False}), 200)
    check(await c.get("/api/v1/models", headers=clinic), 200)

    mine = check(await c.patch("/api/v1/tenants/default", headers=admin,
                               json={"disabled": True}), 409)
    assert mine["error"]["details"]["field"] == "disabled"
    check(await c.get("/api/v1/tenants/nobody", headers=admin), 404)


async def test_a_key_reads_only_its_own_tenant_and_changes_nothing(api: Api) -> None:
    c = api.client
    api.new_key("school")
    clinic = api.auth(api.new_key("clinic"))
    assert check(await c.get("/api/v1/tenants/clinic", headers=clinic), 200)["name"] == "clinic"
    check(await c.get("/api/v1/tenants/school", headers=clinic), 404)
    check(await c.get("/api/v1/tenants/school/limits", headers=clinic), 404)
    check(await c.get("/api/v1/tenants", headers=clinic), 403)
    check(await c.post("/api/v1/tenants", headers=clinic, json={"name": "mine"}), 403)
    check(await c.patch("/api/v1/tenants/clinic", headers=clinic, json={"disabled": True}), 403)
    check(await c.put("/api/v1/tenants/clinic/limits", headers=clinic,
                      json={"requests_per_minute": 10**6}), 403)


async def test_limits_are_set_shown_capped_and_cleared(api: Api) -> None:
    c, admin = api.client, api.auth()
    ensure_builtins(api.services.registry, only={DIAGNOSIS})
    clinic_key, school_key = api.new_key("clinic"), api.new_key("school")
    clinic_id, school_id = key_id(clinic_key), key_id(school_key)

    unset = check(await c.get(f"/api/v1/keys/{clinic_id}/limits", headers=admin), 200)
    assert unset["requests_per_minute"] is None and unset["updated_at"] is None
    tenant = check(await c.put("/api/v1/tenants/clinic/limits", headers=admin,
                               json={"requests_per_minute": 100, "tokens_per_minute": 5000}), 200)
    assert (tenant["tenant"], tenant["key_id"], tenant["model"]) == ("clinic", None, None)
    assert tenant["requests_per_minute"] == 100 and tenant["concurrent_requests"] is None

    above = check(await c.put(f"/api/v1/keys/{clinic_id}/limits", headers=admin,
                              json={"requests_per_minute": 101}), 422)
    assert above["error"]["details"]["field"] == "requests_per_minute"
    assert "tenant" in above["error"]["message"]
    key = check(await c.put(f"/api/v1/keys/{clinic_id}/limits", headers=admin,
                            json={"requests_per_minute": 80, "concurrent_requests": 4}), 200)
    assert key["key_id"] == clinic_id and key["tenant"] == "clinic"
    model = check(await c.put("/api/v1/tenants/clinic/limits", headers=admin,
                              json={"model": DIAGNOSIS, "items_per_minute": 1000}), 200)
    assert model["model"] == DIAGNOSIS

    # Lowering the tenant's limit lowers the key's above it.
    check(await c.put("/api/v1/tenants/clinic/limits", headers=admin,
                      json={"requests_per_minute": 50}), 200)
    assert check(await c.get(f"/api/v1/keys/{clinic_id}/limits", headers=admin),
                 200)["requests_per_minute"] == 50
    listed = check(await c.get("/api/v1/tenants/clinic/limits", headers=admin), 200)["limits"]
    assert [(item["key_id"], item["model"]) for item in listed] == [
        (None, None), (None, DIAGNOSIS), (clinic_id, None)]
    assert listed[0]["tokens_per_minute"] is None  # a PUT replaces every field

    own = check(await c.get("/api/v1/tenants/clinic/limits", headers=api.auth(clinic_key)), 200)
    assert len(own["limits"]) == 3
    check(await c.get(f"/api/v1/keys/{school_id}/limits", headers=api.auth(clinic_key)), 404)

    check(await c.delete(f"/api/v1/keys/{clinic_id}/limits", headers=admin), 204)
    check(await c.delete("/api/v1/tenants/clinic/limits", headers=admin,
                         params={"model": DIAGNOSIS}), 204)
    listed = check(await c.get("/api/v1/tenants/clinic/limits", headers=admin), 200)["limits"]
    assert [(item["key_id"], item["model"]) for item in listed] == [(None, None)]


async def test_bad_limits_are_a_4xx_naming_the_field(api: Api) -> None:
    c, admin = api.client, api.auth()
    clinic_id = key_id(api.new_key("clinic"))
    for body, field in (({"requests_per_minute": -1}, "requests_per_minute"),
                        ({"tokens_per_minute": 0}, "tokens_per_minute"),
                        ({"concurrent_requests": 10**9 + 1}, "concurrent_requests"),
                        ({"model": "no-such-model", "items_per_minute": 5}, "model")):
        error = check(await c.put("/api/v1/tenants/clinic/limits", headers=admin, json=body),
                      422)["error"]
        assert error["details"]["field"] == field, error
        assert field in error["message"]
    error = check(await c.put("/api/v1/tenants/clinic/limits", headers=admin,
                              json={"requests_per_minute": "lots"}), 422)["error"]
    assert "requests_per_minute" in error["message"]
    error = check(await c.put("/api/v1/tenants/clinic/limits", headers=admin,
                              json={"requests_per_day": 5}), 422)["error"]
    assert "requests_per_day" in error["message"]
    missing = check(await c.put("/api/v1/tenants/nobody/limits", headers=admin,
                                json={"requests_per_minute": 5}), 404)["error"]
    assert missing["details"]["field"] == "tenant"
    check(await c.put("/api/v1/keys/0123456789abcdef/limits", headers=admin,
                      json={"requests_per_minute": 5}), 404)
    both = check(await c.put(f"/api/v1/keys/{clinic_id}/limits", headers=admin,
                             json={"model": "x", "requests_per_minute": 5}), 422)["error"]
    assert both["details"]["field"] == "model"
