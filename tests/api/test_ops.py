"""Health, readiness, metrics, request ids and the docs."""

from __future__ import annotations

import base64
from typing import Any

from aiaas.db.engine import Database
from tests.conftest import Api


async def test_health_and_ready_need_no_key(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "current", "disk": "ok",
                                      "worker": "disabled", "limits": "memory"}
    assert ready.json()["free_disk_mb"] > 0


async def test_readyz_is_503_when_the_database_takes_no_writes(api: Api) -> None:
    """A database that answers reads but refuses writes (read-only file or replica, full disk)
    would lose usage rows: not ready."""
    working = api.services.db
    url = working.url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    else:
        read_only = url + ("&" if "?" in url else "?") + "options=-c%20default_transaction_read_only%3Don"
    api.services.db = Database(read_only)
    try:
        response = await api.client.get("/readyz")
    finally:
        api.services.db.dispose()
        api.services.db = working
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("not writable")
    assert (await api.client.get("/readyz")).status_code == 200


async def test_readyz_is_503_when_the_data_dir_is_low_on_disk(api: Api) -> None:
    settings = api.services.settings
    api.services.settings = settings.model_copy(update={"min_free_disk_mb": 1e12})
    try:
        response = await api.client.get("/readyz")
    finally:
        api.services.settings = settings
    assert response.status_code == 503
    assert response.json()["checks"]["disk"].startswith("low: ")


async def test_readyz_is_503_when_the_database_is_gone(api: Api) -> None:
    working = api.services.db
    api.services.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    try:
        response = await api.client.get("/readyz")
    finally:
        api.services.db.dispose()
        api.services.db = working
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"


async def test_request_id_is_generated_or_kept(api: Api) -> None:
    generated = await api.client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    kept = await api.client.get("/healthz", headers={"X-Request-ID": "trace-123"})
    assert kept.headers["x-request-id"] == "trace-123"
    hostile = await api.client.get("/healthz", headers={"X-Request-ID": "a b<script>\r"})
    assert hostile.headers["x-request-id"] != "a b<script>"
    assert len(hostile.headers["x-request-id"]) == 32


async def test_metrics_count_predictions_per_model_and_status(
    api: Api, diagnosis: str, cancer_records: list[dict[str, Any]]
) -> None:
    url = f"/api/v1/models/{diagnosis}/predict"
    for _ in range(3):
        await api.client.post(url, json={"inputs": cancer_records[:1]}, headers=api.auth())
    await api.client.post(url, json={"inputs": []}, headers=api.auth())
    text = (await api.client.get("/metrics", headers=api.auth())).text
    assert f'aiaas_predictions_total{{model="{diagnosis}",status="ok"}} 3.0' in text
    assert f'aiaas_prediction_errors_total{{code="invalid_request",model="{diagnosis}"}} 1.0' in text
    assert 'aiaas_http_requests_total{method="POST",route="/api/v1/models/{name}/predict",' \
           'status="200"} 3.0' in text
    assert "aiaas_loaded_models 1.0" in text
    assert f'aiaas_queue_depth{{model="{diagnosis}"}}' in text
    assert "aiaas_prediction_duration_seconds_bucket" in text


async def test_metrics_need_an_admin_key(api: Api) -> None:
    assert (await api.client.get("/metrics")).status_code == 401
    response = await api.client.get("/metrics", headers=api.auth(api.new_key()))
    assert response.status_code == 403
    assert "admin" in response.json()["error"]["message"]


async def test_docs_need_a_key_and_accept_basic_auth(api: Api) -> None:
    challenge = await api.client.get("/docs")
    assert challenge.status_code == 401
    assert challenge.headers["www-authenticate"].startswith("Basic")
    assert (await api.client.get("/openapi.json")).status_code == 401
    basic = base64.b64encode(f"me:{api.admin_key}".encode()).decode()
    page = await api.client.get("/docs", headers={"Authorization": f"Basic {basic}"})
    assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text
    asset = await api.client.get("/docs/assets/swagger-ui-bundle.js",
                                 headers={"Authorization": f"Basic {basic}"})
    assert asset.status_code == 200 and len(asset.content) > 100_000
    schema = (await api.client.get("/openapi.json", headers=api.auth())).json()
    predict = schema["paths"]["/api/v1/models/{name}/predict"]["post"]
    assert {"401", "404", "413", "422", "429"} <= set(predict["responses"])
    assert "ErrorResponse" in schema["components"]["schemas"]
    body = predict["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert "inputs" in body["application/json"]["schema"]["properties"]


async def test_unknown_route_uses_the_error_shape(api: Api) -> None:
    response = await api.client.get("/api/v1/nothing", headers=api.auth())
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
