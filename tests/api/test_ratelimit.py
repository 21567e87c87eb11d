"""Rate limits on real servers over real HTTP.

On the shared server (counters in memory): a key gets exactly its requests per minute on every
surface, with the x-ratelimit headers, and the ``openai`` client sees a ``RateLimitError`` in
OpenAI's shape; another tenant is unaffected; a tokens-per-minute limit holds under 8
concurrent chat streams (reserved at admission, settled to the real count); a concurrency limit
frees its slot when a stream ends; a disabled tenant's keys get 403 ``tenant_disabled``.

On servers of their own: two processes on one PostgreSQL database and the shared Redis (a key
prefix of their own) admit one limit between them, not two; with a Redis started here and
stopped mid-run, limited calls get 503 ``limits_unavailable`` (never admitted uncounted) and
unlimited tenants keep working.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from aiaas.billing.cost import _prompt_tokens
from aiaas.builtin import DIAGNOSIS, ensure_builtins
from aiaas.config import Settings
from aiaas.services import Services
from tests.conftest import LiveServer, start_server, stop_server
from tests.limits.test_counters import REDIS_SKIP

CHAT = "smollm2-135m-instruct"
EMBEDDER = "all-minilm-l6-v2"
PREDICT = f"/api/v1/models/{DIAGNOSIS}/predict"
ROW = [0.0] * 30


def new_key(server: LiveServer, tenant: str) -> tuple[str, str]:
    with server.client() as admin:
        response = admin.post("/api/v1/keys", json={"name": "limits", "tenant": tenant})
    assert response.status_code == 201, response.text
    created = response.json()
    return created["secret"], created["id"]


def put_limits(server: LiveServer, path: str, **limits: Any) -> None:
    with server.client() as admin:
        response = admin.put(path, json=limits)
    assert response.status_code == 200, response.text


def oai(server: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=120)


def test_a_key_gets_its_requests_per_minute_on_every_surface_with_headers(
        live_server: LiveServer) -> None:
    tenant = f"rl-{uuid.uuid4().hex[:8]}"
    key, key_id = new_key(live_server, tenant)
    other, _ = new_key(live_server, f"other-{uuid.uuid4().hex[:8]}")
    put_limits(live_server, f"/api/v1/tenants/{tenant}/limits", requests_per_minute=100)
    put_limits(live_server, f"/api/v1/keys/{key_id}/limits", requests_per_minute=4)

    with oai(live_server, key) as client:
        for expected in (3, 2):
            raw = client.embeddings.with_raw_response.create(model=EMBEDDER, input=["hello"])
            assert raw.headers["x-ratelimit-limit-requests"] == "4"
            assert raw.headers["x-ratelimit-remaining-requests"] == str(expected)
            assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
            assert len(raw.parse().data) == 1
    with live_server.client(key) as native:
        assert native.post(PREDICT, json={"inputs": [ROW]}).status_code == 200
        assert native.post(f"/v2/models/{DIAGNOSIS}/infer", json={"inputs": [{
            "name": "input", "shape": [1, 30], "datatype": "FP32", "data": ROW}]}
        ).status_code == 200
        refused = native.post(PREDICT, json={"inputs": [ROW]})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"

    with oai(live_server, key) as client, pytest.raises(openai.RateLimitError) as limited:
        client.embeddings.create(model=EMBEDDER, input=["hello"])
    error = limited.value
    assert error.status_code == 429 and error.response.headers["Retry-After"]
    body = error.response.json()["error"]
    assert (body["type"], body["code"]) == ("rate_limit_error", "rate_limited")
    assert set(body) == {"message", "type", "param", "code"}

    with oai(live_server, other) as client:  # another tenant: unaffected, no headers
        raw = client.embeddings.with_raw_response.create(model=EMBEDDER, input=["hello"])
        assert "x-ratelimit-limit-requests" not in raw.headers


def test_tokens_per_minute_hold_under_eight_concurrent_streams(live_server: LiveServer) -> None:
    """Each stream reserves its prompt bound plus max_tokens at admission, so 8 streams at once
    cannot all pass; settled to the real count at the end, the tokens the admitted streams
    really used stay within the limit."""
    tenant = f"tpm-{uuid.uuid4().hex[:8]}"
    key, key_id = new_key(live_server, tenant)
    messages = [{"role": "user", "content": "Say hi."}]
    reserved = _prompt_tokens({"messages": messages}) + 4
    limit = 3 * reserved
    put_limits(live_server, f"/api/v1/keys/{key_id}/limits", tokens_per_minute=limit)
    start = threading.Barrier(8)

    def stream(_: int) -> str:
        with oai(live_server, key) as client:
            start.wait()
            try:
                chunks = client.chat.completions.create(model=CHAT, messages=messages,  # type: ignore[arg-type]
                                                        max_tokens=4, stream=True)
            except openai.RateLimitError as error:
                assert error.response.json()["error"]["code"] == "rate_limited"
                return "refused"
            for _ in chunks:
                pass
            return "admitted"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(stream, range(8)))
    admitted = outcomes.count("admitted")
    assert 3 <= admitted < 8, outcomes
    with live_server.client(key) as client:
        records = client.get("/api/v1/usage", params={"model": CHAT}).json()["records"]
    assert len(records) == admitted
    used = sum(r["units"]["prompt_tokens"] + r["units"]["completion_tokens"] for r in records)
    assert used <= limit
    with live_server.client(key) as client:  # this call's reservation is counted at least
        response = client.post(f"/api/v1/models/{CHAT}/predict", json={
            "inputs": [{"messages": messages}], "parameters": {"max_tokens": 4}})
    assert response.headers["x-ratelimit-limit-tokens"] == str(limit)
    if response.status_code == 200:
        assert int(response.headers["x-ratelimit-remaining-tokens"]) <= limit - reserved
    else:
        assert response.status_code == 429


def test_a_concurrency_slot_is_freed_when_a_stream_ends(live_server: LiveServer) -> None:
    tenant = f"conc-{uuid.uuid4().hex[:8]}"
    key, _ = new_key(live_server, tenant)
    put_limits(live_server, f"/api/v1/tenants/{tenant}/limits", concurrent_requests=1)
    messages = [{"role": "user", "content": "Count from one to one hundred."}]
    with oai(live_server, key) as client:
        first = client.chat.completions.create(model=CHAT, messages=messages,  # type: ignore[arg-type]
                                               max_tokens=200, stream=True)
        next(iter(first))
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model=CHAT, messages=messages,  # type: ignore[arg-type]
                                           max_tokens=2)
        assert "concurrent" in limited.value.response.json()["error"]["message"]
        first.close()
        deadline = time.monotonic() + 10
        while True:  # the server sees the disconnect, cancels, then gives the slot back
            try:
                client.chat.completions.create(model=CHAT, messages=messages,  # type: ignore[arg-type]
                                               max_tokens=2)
                break
            except openai.RateLimitError:
                assert time.monotonic() < deadline, "the slot was never given back"
                time.sleep(0.1)


def test_a_disabled_tenants_keys_get_403_until_it_is_enabled(live_server: LiveServer) -> None:
    tenant = f"off-{uuid.uuid4().hex[:8]}"
    key, _ = new_key(live_server, tenant)
    with live_server.client(key) as client, live_server.client() as admin:
        assert client.post(PREDICT, json={"inputs": [ROW]}).status_code == 200
        assert admin.patch(f"/api/v1/tenants/{tenant}", json={"disabled": True}).status_code == 200
        refused = client.post(PREDICT, json={"inputs": [ROW]})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "tenant_disabled"
        with oai(live_server, key) as raw, pytest.raises(openai.PermissionDeniedError) as denied:
            raw.embeddings.create(model=EMBEDDER, input=["hello"])
        assert denied.value.response.json()["error"]["code"] == "tenant_disabled"
        assert admin.patch(f"/api/v1/tenants/{tenant}", json={"disabled": False}).status_code == 200
        assert client.post(PREDICT, json={"inputs": [ROW]}).status_code == 200


# -- servers of their own -----------------------------------------------------------------------

def prepared(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment of a server without the heavy built-ins: the diagnosis model is
    registered here, once, in the database the servers will share."""
    data_dir.mkdir(parents=True)
    settings = Settings(data_dir=data_dir, builtin_models=False, log_json=False,
                        **({"database_url": database_url} if database_url else {}))
    services = Services.build(settings)
    try:
        ensure_builtins(services.registry, only={DIAGNOSIS})
    finally:
        services.db.dispose()
    env = {"AIAAS_BUILTIN_MODELS": "false", "AIAAS_LOAD_CHECK": "false"}
    return env | ({"AIAAS_DATABASE_URL": database_url} if database_url else {})


def fire(urls: list[str], key: str, count: int) -> list[int]:
    """``count`` predictions spread over ``urls``, 8 at a time; their statuses."""
    def one(i: int) -> int:
        with httpx.Client(base_url=urls[i % len(urls)], timeout=30,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            return client.post(PREDICT, json={"inputs": [ROW]}).status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def server_log_tails(*servers: LiveServer) -> str:
    """The end of each server's log, to say why an answer was neither 200 nor 429."""
    logs = [s.data_dir.parent / f"server-{s.url.rsplit(':', 1)[1]}.log" for s in servers]
    return "\n".join(f"{log.name}:\n{log.read_text(errors='replace')[-3000:]}" for log in logs)


@pytest.mark.postgres
@pytest.mark.skipif(REDIS_SKIP is not None, reason=str(REDIS_SKIP))
def test_two_server_processes_share_one_limit_through_redis(tmp_path: Path,
                                                            postgres_url: str) -> None:
    env = prepared(tmp_path / "data", postgres_url) | {
        "AIAAS_REDIS_URL": "redis://127.0.0.1:6379/0", "AIAAS_REDIS_TIMEOUT_S": "5",
        "AIAAS_REDIS_KEY_PREFIX": f"aiaas-test-{uuid.uuid4().hex}"}
    first = start_server(tmp_path / "data", **env)
    second = start_server(tmp_path / "data", **env)
    try:
        key, key_id = new_key(first, "shared")
        put_limits(first, f"/api/v1/keys/{key_id}/limits", requests_per_minute=30)
        warm, _ = new_key(first, "warm")
        time.sleep(2.5)  # the second server reads the new limit within AIAAS_CACHE_TTL_S (2 s):
        assert fire([second.url], warm, 1) == [200]  # its first call after that reloads it,
        time.sleep(0.5)  # in the background (that call itself still saw the old copy)
        statuses = fire([first.url, second.url], key, 60)
        assert Counter(statuses) == {200: 30, 429: 30}, server_log_tails(first, second)
        with second.client() as admin:
            assert admin.get("/readyz").json()["checks"]["limits"] == "ok"
    finally:
        stop_server(first)
        stop_server(second)


def test_a_stopped_redis_means_503_for_limited_calls_never_uncounted_ones(
        tmp_path: Path, own_redis: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, redis = own_redis
    server = start_server(tmp_path / "data", **prepared(tmp_path / "data"),
                          AIAAS_REDIS_URL=url)
    try:
        limited, limited_id = new_key(server, "limited")
        free, _ = new_key(server, "free")
        put_limits(server, f"/api/v1/keys/{limited_id}/limits", requests_per_minute=10)
        assert fire([server.url], limited, 4) == [200] * 4
        redis.terminate()
        redis.wait(10)
        statuses = fire([server.url], limited, 20)
        assert statuses == [503] * 20, statuses
        with server.client(limited) as client:
            refused = client.post(PREDICT, json={"inputs": [ROW]})
        assert refused.json()["error"]["code"] == "limits_unavailable"
        assert int(refused.headers["Retry-After"]) >= 1
        assert fire([server.url], free, 3) == [200] * 3  # no limits: no store needed
        with server.client() as admin:
            ready = admin.get("/readyz").json()
            assert ready["checks"]["limits"].startswith("unreachable")
            metrics = admin.get("/metrics").text
        assert 'aiaas_limiter_store_errors_total{outcome="refused"} 21.0' in metrics
        log = tmp_path / f"server-{server.url.rsplit(':', 1)[1]}.log"
        assert "rate-limit store unreachable" in log.read_text()
    finally:
        stop_server(server)
