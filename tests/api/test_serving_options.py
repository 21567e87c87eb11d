"""Serving options per version over the API: batching, device and precision checked before they
are stored, int8 built and measured, and used only within the caller's accuracy bound."""

from __future__ import annotations

import numpy as np
import pytest

from aiaas.builtin import EMBEDDER as EMBEDDING
from aiaas.builtin import ensure_builtins
from tests.conftest import Api

VERSION = f"/api/v1/models/{EMBEDDING}/versions/1"
PREDICT = f"/api/v1/models/{EMBEDDING}/predict"
TEXTS = ["The clinic opens at eight.", "Trains are delayed by snow on the northern line."]


@pytest.fixture
def embedding(api: Api) -> str:
    ensure_builtins(api.services.registry, only={EMBEDDING})
    return EMBEDDING


async def _vectors(api: Api) -> np.ndarray:
    response = await api.client.post(PREDICT, json={"inputs": TEXTS}, headers=api.auth())
    assert response.status_code == 200, response.text
    return np.asarray([o["embedding"] for o in response.json()["outputs"]])


@pytest.mark.parametrize(("body", "named"), [
    ({"max_batch_size": 0}, "max_batch_size"),
    ({"batch_wait_ms": 5000}, "batch_wait_ms"),
    ({"device": "tpu"}, "device"),
    ({"device": "cuda:3"}, "not available"),
    ({"precision": "fp16", "device": "cpu"}, "needs a GPU"),
    ({"precision": "int8"}, "max_accuracy_delta"),
    ({"precision": "int4"}, "precision"),
    ({"builds": {}}, "builds"),
    ({}, "nothing to change"),
    ({"replicas": 0}, "replicas"),
    ({"replicas": 2, "autoscaling": {"max_replicas": 3}}, "not both"),
    ({"autoscaling": {"min_replicas": 3, "max_replicas": 2}}, "min_replicas"),
    ({"autoscaling": {"target_ongoing_requests": 0}}, "target_ongoing_requests"),
    ({"resources": {"cpus": 0}}, "cpus"),
    ({"resources": {"gpu": 1}}, "gpu"),
])
async def test_bad_options_are_422_and_change_nothing(api: Api, embedding: str,
                                                      body: dict[str, object], named: str) -> None:
    response = await api.client.patch(VERSION, json=body, headers=api.auth())
    assert response.status_code == 422, response.text
    assert named in response.text
    shown = (await api.client.get(f"/api/v1/models/{embedding}", headers=api.auth())).json()
    assert shown["versions"][0]["serving"] == {}


async def test_only_an_admin_tunes_a_builtin(api: Api, embedding: str) -> None:
    writer = api.new_key(tenant="clinic", scopes=["models:read", "models:write", "predict"])
    response = await api.client.patch(VERSION, json={"max_batch_size": 8}, headers=api.auth(writer))
    assert response.status_code == 403 and "admin" in response.text


async def test_a_change_to_nothing_keeps_the_loaded_replica(api: Api, embedding: str) -> None:
    body = {"max_batch_size": 8}
    first = await api.client.patch(VERSION, json=body, headers=api.auth())
    assert first.status_code == 200, first.text
    await _vectors(api)
    [loaded] = api.services.placement.replicas()
    again = await api.client.patch(VERSION, json=body, headers=api.auth())
    assert again.status_code == 200 and again.json()["serving"] == first.json()["serving"]
    assert api.services.placement.replicas() == [loaded]
    changed = await api.client.patch(VERSION, json={"max_batch_size": 4}, headers=api.auth())
    assert changed.status_code == 200 and api.services.placement.replicas() == []


async def test_batching_options_apply_on_the_next_load(api: Api, embedding: str) -> None:
    before = await _vectors(api)
    response = await api.client.patch(VERSION, json={"max_batch_size": 8, "batch_wait_ms": 1},
                                      headers=api.auth())
    assert response.status_code == 200, response.text
    assert response.json()["serving"] == {"max_batch_size": 8, "batch_wait_ms": 1.0}
    after = await _vectors(api)
    [loaded] = api.services.placement.replicas()
    assert loaded.batcher.max_batch == 8 and loaded.batcher.wait_s == pytest.approx(0.001)
    assert np.allclose(before, after, atol=1e-6)


async def test_int8_is_measured_refused_over_the_bound_and_used_within_it(api: Api,
                                                                         embedding: str) -> None:
    fp32 = await _vectors(api)
    strict = await api.client.patch(VERSION, json={"precision": "int8", "max_accuracy_delta": 1e-6},
                                    headers=api.auth())
    assert strict.status_code == 422 and "over your max_accuracy_delta" in strict.text
    measured = strict.json()["error"]["details"]["measured"]
    assert 0 < measured["delta"] < 0.05 and measured["samples"] >= 200

    loose = await api.client.patch(VERSION, json={"precision": "int8", "max_accuracy_delta": 0.05},
                                   headers=api.auth())
    assert loose.status_code == 200, loose.text
    serving = loose.json()["serving"]
    assert serving["precision"] == "int8" and serving["builds"]["int8"]["delta"] == measured["delta"]
    int8 = await _vectors(api)
    [loaded] = api.services.placement.replicas()
    assert getattr(loaded.backend, "engine", None) == "onnxruntime-int8"
    cosine = (fp32 * int8).sum(axis=1)
    assert (cosine >= 1 - measured["delta"] - 1e-6).all() and not np.allclose(fp32, int8, atol=1e-6)

    back = await api.client.patch(VERSION, json={"precision": "fp32"}, headers=api.auth())
    assert back.status_code == 200
    assert np.allclose(await _vectors(api), fp32, atol=1e-6)


async def test_the_runtime_view_shows_the_engine_and_needs_admin(api: Api, embedding: str) -> None:
    await _vectors(api)
    reader = api.new_key(scopes=["models:read", "predict"])
    assert (await api.client.get("/api/v1/runtime", headers=api.auth(reader))).status_code == 403
    response = await api.client.get("/api/v1/runtime", headers=api.auth())
    assert response.status_code == 200, response.text
    [entry] = response.json()["loaded"]
    from aiaas.runtime.backends.openvino_engine import native_bf16

    assert entry["model"] == embedding and entry["engine"] == "openvino"
    assert entry["precision"] == ("bf16" if native_bf16() else "fp32")
    assert entry["export_check"]["ok"] and entry["export_check"]["cosine_min"] >= 0.9999
    assert entry["max_batch_size"] == api.services.settings.max_batch_size

    fastest = await _vectors(api)
    pinned = await api.client.patch(VERSION, json={"engine": "onnxruntime"}, headers=api.auth())
    assert pinned.status_code == 200 and pinned.json()["serving"]["engine"] == "onnxruntime"
    on_ort = await _vectors(api)
    [entry] = (await api.client.get("/api/v1/runtime", headers=api.auth())).json()["loaded"]
    assert (entry["engine"], entry["precision"]) == ("onnxruntime", "fp32")
    assert ((fastest * on_ort).sum(axis=1) >= 0.9999).all()
    wrong = await api.client.patch(VERSION, json={"engine": "tensorrt"}, headers=api.auth())
    assert wrong.status_code == 422 and "engine" in wrong.text


async def test_cluster_options_are_stored_and_replicas_replace_autoscaling(
        api: Api, embedding: str) -> None:
    """On one machine the Ray options change nothing but are kept (a version can be set up
    before the cluster exists); ``replicas`` and ``autoscaling`` replace each other."""
    scaling = {"min_replicas": 0, "max_replicas": 4, "target_ongoing_requests": 8}
    response = await api.client.patch(VERSION, json={"autoscaling": scaling,
                                                     "resources": {"cpus": 2}}, headers=api.auth())
    assert response.status_code == 200, response.text
    stored = response.json()["serving"]
    assert stored["autoscaling"]["max_replicas"] == 4 and stored["resources"]["cpus"] == 2
    response = await api.client.patch(VERSION, json={"replicas": 3}, headers=api.auth())
    stored = response.json()["serving"]
    assert stored["replicas"] == 3 and "autoscaling" not in stored
    assert stored["resources"]["cpus"] == 2
    assert len(await _vectors(api)) == len(TEXTS)
