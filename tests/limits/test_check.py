"""The rate-limit admission check through the app in process (SQLite and PostgreSQL), on the
built-in diagnosis model: a key gets exactly its requests per minute, the refusal is a 429 with
Retry-After naming the limit, the answer carries the x-ratelimit headers, other keys and
tenants are unaffected, items are counted per input, and a call larger than a whole minute's
limit is a 422. A refused call writes no usage row."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from aiaas.builtin import DIAGNOSIS, ensure_builtins
from tests.conftest import Api

PREDICT = f"/api/v1/models/{DIAGNOSIS}/predict"
ROW = [0.0] * 30


def key_id(secret: str) -> str:
    return secret.split("-")[1]


async def predict(api: Api, key: str, rows: int = 1) -> httpx.Response:
    return await api.client.post(PREDICT, headers=api.auth(key), json={"inputs": [ROW] * rows})


async def set_limits(api: Api, path: str, **limits: int) -> None:
    response = await api.client.put(path, headers=api.auth(), json=limits)
    assert response.status_code == 200, response.text


async def test_a_key_gets_exactly_its_requests_per_minute(api: Api) -> None:
    ensure_builtins(api.services.registry, only={DIAGNOSIS})
    limited, sibling, other = api.new_key("clinic"), api.new_key("clinic"), api.new_key("school")
    await set_limits(api, f"/api/v1/keys/{key_id(limited)}/limits", requests_per_minute=5)

    remaining = []
    for _ in range(5):
        response = await predict(api, limited)
        assert response.status_code == 200, response.text
        assert response.headers["x-ratelimit-limit-requests"] == "5"
        remaining.append(int(response.headers["x-ratelimit-remaining-requests"]))
        assert response.headers["x-ratelimit-reset-requests"].endswith("s")
    assert remaining == [4, 3, 2, 1, 0]

    refused = await predict(api, limited)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"]["limit"] == "requests_per_minute"
    assert error["details"]["scope"] == "key"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"

    for key in (sibling, other):  # the tenant's other key and another tenant: no limit
        response = await predict(api, key)
        assert response.status_code == 200
        assert "x-ratelimit-limit-requests" not in response.headers

    usage = await api.client.get("/api/v1/usage", headers=api.auth(limited))
    assert usage.json()["totals"]["requests"] == 6  # 5 + the sibling's 1; no row for the 429
    metrics = (await api.client.get("/metrics", headers=api.auth())).text
    refusals = {(s.labels["tenant"], s.labels["limit"]): s.value
                for family in text_string_to_metric_families(metrics)
                for s in family.samples if s.name == "aiaas_rate_limited_total"}
    assert refusals == {("clinic", "requests"): 1.0}


async def test_tenant_and_model_limits_apply_to_every_key_of_the_tenant(api: Api) -> None:
    ensure_builtins(api.services.registry, only={DIAGNOSIS})
    first, second = api.new_key("clinic"), api.new_key("clinic")
    await set_limits(api, "/api/v1/tenants/clinic/limits", requests_per_minute=3)
    await set_limits(api, "/api/v1/tenants/clinic/limits", model=DIAGNOSIS, items_per_minute=10)
    assert [(await predict(api, key)).status_code for key in (first, second, first)] == [200] * 3
    refused = await predict(api, second)
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["scope"] == "tenant"


async def test_items_are_counted_per_input_and_too_large_a_call_is_a_422(api: Api) -> None:
    ensure_builtins(api.services.registry, only={DIAGNOSIS})
    key = api.new_key("clinic")
    await set_limits(api, f"/api/v1/keys/{key_id(key)}/limits", items_per_minute=4)
    assert (await predict(api, key, rows=3)).status_code == 200
    refused = await predict(api, key, rows=2)
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["limit"] == "items_per_minute"
    too_large = await predict(api, key, rows=5)
    assert too_large.status_code == 422
    assert too_large.json()["error"]["details"]["field"] == "inputs"
    assert (await predict(api, key, rows=1)).status_code == 200  # 3 + 1 of 4


async def test_limits_set_in_another_process_apply_within_the_cache_time(api: Api) -> None:
    """A limit written straight to the database (as another server would) is read on the
    directory's next reload; a limit removed stops applying the same way."""
    ensure_builtins(api.services.registry, only={DIAGNOSIS})
    key = api.new_key("clinic")
    assert (await predict(api, key)).status_code == 200
    from aiaas.auth.principal import Principal
    from aiaas.tenants import TenantService

    elsewhere = TenantService(api.services.db)
    elsewhere.limits.set(Principal.system(), key_id=key_id(key), requests_per_minute=1)
    api.services.tenants.directory.reload()  # what the background reload does after cache_ttl_s
    assert (await predict(api, key)).status_code == 200
    assert (await predict(api, key)).status_code == 429
