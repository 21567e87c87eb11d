"""Models served through Ray Serve replicas on a real two-node cluster give the local path's
outputs, spread over replicas, and survive a replica or a node dying under load."""

from __future__ import annotations

import concurrent.futures
import difflib
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.cluster.conftest import RayCluster, ray
from tests.conftest import LiveServer, start_server, stop_server
from tests.runtime.forecasters import build_forecaster
from tests.runtime.tiny_models import (
    build_image_classifier,
    build_onnx_image_classifier,
    build_seq2seq,
    build_text_classifier,
    picture,
    tar_gz,
)

EMBEDDER = "all-minilm-l6-v2"
DIAGNOSIS = "breast-cancer-diagnosis"
CHAT = "smollm2-135m-instruct"
SPEECH = "whisper-tiny-en"
COLD_S = 300
"""A first call waits for its deployment: Ray schedules a replica, which loads the model."""
TEXTS = ["Hospitals keep patient data on site.", "The bus is late again.", "A quiet morning."]


def patient(index: int = 0) -> dict[str, float]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return dict(zip(data.feature_names, data.data[index].tolist(), strict=True))


def predict(client: httpx.Client, model: str, inputs: list[Any]) -> dict[str, Any]:
    response = client.post(f"/api/v1/models/{model}/predict", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def runtime_deployment(client: httpx.Client, model: str) -> dict[str, Any]:
    body = client.get("/api/v1/runtime").json()
    [deployment] = [d for d in body["cluster"]["deployments"] if d["app"].endswith(f"{model}-v1")]
    return deployment


def serving(client: httpx.Client, model: str, **changes: Any) -> None:
    response = client.patch(f"/api/v1/models/{model}/versions/1", json=changes)
    assert response.status_code == 200, response.text


def test_embeddings_and_tabular_match_the_local_path(ray_server: LiveServer,
                                                     live_server: LiveServer) -> None:
    rows = [patient(index) for index in range(5)]
    with ray_server.client(timeout=COLD_S) as remote, live_server.client() as local:
        far = np.array([o["embedding"] for o in predict(remote, EMBEDDER, TEXTS)["outputs"]])
        near = np.array([o["embedding"] for o in predict(local, EMBEDDER, TEXTS)["outputs"]])
        np.testing.assert_allclose(far, near, atol=1e-5)
        assert predict(remote, DIAGNOSIS, rows)["outputs"] == predict(local, DIAGNOSIS, rows)["outputs"]
        deployment = runtime_deployment(remote, EMBEDDER)
    assert deployment["status"] == "RUNNING"
    [replica] = deployment["replicas"]
    assert replica["state"] == "RUNNING" and replica["served"] >= 1 and replica["node"]


def test_chat_streams_the_local_paths_tokens(ray_server: LiveServer,
                                             live_server: LiveServer) -> None:
    body = {"model": CHAT, "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "temperature": 0, "max_tokens": 12, "stream": True}

    def stream(server: LiveServer) -> str:
        text = []
        # the replica's first call may build and check the f16 weights: minutes on a slow CPU
        with server.client(timeout=300) as client, client.stream(
                "POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    import json

                    delta = json.loads(line[6:])["choices"][0]["delta"]
                    text.append(delta.get("content") or "")
        return "".join(text)

    far = stream(ray_server)
    assert far == stream(live_server) and "Paris" in far


def test_speech_transcribes_as_the_local_path(ray_server: LiveServer, live_server: LiveServer,
                                              tmp_path: Path) -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed, so there is no speech to transcribe")
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(wav),
                    "The weather is lovely today. Please open the window."], check=True)

    def transcribe(server: LiveServer) -> str:
        with server.client() as client, wav.open("rb") as audio:
            response = client.post("/v1/audio/transcriptions", data={"model": SPEECH},
                                   files={"file": ("speech.wav", audio, "audio/wav")})
        assert response.status_code == 200, response.text
        text: str = response.json()["text"]
        return text

    far, near = transcribe(ray_server).lower(), transcribe(live_server).lower()
    assert "open the window" in far and "open the window" in near
    # the replica's CTranslate2 may run on another thread count, whose int8 sums can tip one
    # beam ("to name" / "to nay" on an AVX2 CPU): the same words but at most one
    assert difflib.SequenceMatcher(None, far.split(), near.split()).ratio() >= 0.85, (far, near)


def b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


UPLOADED: list[tuple[str, Any, list[Any]]] = [
    ("ray-reviews", build_text_classifier, ["A fine film.", "Dull and far too long."]),
    ("ray-translator", build_seq2seq, ["translate English to German: The house is small."]),
    ("ray-pets", build_image_classifier, [b64(picture("PNG", seed=s)) for s in range(3)]),
    ("ray-colours", build_onnx_image_classifier, [b64(picture("JPEG", seed=s)) for s in range(3)]),
    ("ray-load", build_forecaster, [{"horizon": 3}, {"horizon": 1}]),
]
"""The families that need an upload: transformers text classification and text-to-text,
transformers and ONNX image classification, forecasting."""


def upload(client: httpx.Client, name: str, archive: bytes) -> None:
    response = client.post(f"/api/v1/models/{name}/versions", content=archive,
                           headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("name", "build", "inputs"), UPLOADED, ids=[u[0] for u in UPLOADED])
def test_uploaded_families_match_the_local_path(ray_server: LiveServer, live_server: LiveServer,
                                                tmp_path: Path, name: str, build: Any,
                                                inputs: list[Any]) -> None:
    archive = tar_gz(build(tmp_path / name))
    with ray_server.client(timeout=COLD_S) as remote, live_server.client() as local:
        upload(remote, name, archive)
        upload(local, name, archive)
        try:
            far = predict(remote, name, inputs)["outputs"]
            near = predict(local, name, inputs)["outputs"]
            assert runtime_deployment(remote, name)["status"] == "RUNNING"
        finally:
            assert remote.delete(f"/api/v1/models/{name}").status_code == 204
            assert local.delete(f"/api/v1/models/{name}").status_code == 204
    assert len(far) == len(inputs)
    assert_close(far, near)


def assert_close(far: Any, near: Any) -> None:
    """Equal, but for float noise between two processes (a replica's threads differ)."""
    if isinstance(far, float) and isinstance(near, float):
        assert far == pytest.approx(near, rel=1e-4, abs=1e-5)
    elif isinstance(far, dict) and isinstance(near, dict):
        assert far.keys() == near.keys()
        for key in far:
            assert_close(far[key], near[key])
    elif isinstance(far, list) and isinstance(near, list):
        assert len(far) == len(near)
        for one, other in zip(far, near, strict=True):
            assert_close(one, other)
    else:
        assert far == near


class Load:
    """``clients`` threads posting embeddings back to back until stopped; every answer's status
    (and Retry-After on a 503) is kept, so an unanswered or a 5xx request shows."""

    def __init__(self, server: LiveServer, clients: int = 32) -> None:
        self.server = server
        self.stop = threading.Event()
        self.answers: list[tuple[int, str | None]] = []
        self.failures: list[str] = []
        self.pool = concurrent.futures.ThreadPoolExecutor(clients)
        self.futures = [self.pool.submit(self._client, n) for n in range(clients)]

    def _client(self, n: int) -> None:
        with self.server.client(timeout=COLD_S) as client:
            while not self.stop.is_set():
                try:
                    response = client.post(f"/api/v1/models/{EMBEDDER}/predict",
                                           json={"inputs": [f"client {n} says hello"]})
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                self.answers.append((response.status_code, response.headers.get("retry-after")))

    def finish(self) -> None:
        self.stop.set()
        for future in self.futures:
            future.result(timeout=120)
        self.pool.shutdown()

    def assert_no_loss(self) -> None:
        assert not self.failures, self.failures[:3]
        bad = [(status, retry) for status, retry in self.answers
               if status != 200 and not (status == 503 and retry)]
        assert not bad, bad[:5]
        assert sum(status == 200 for status, _ in self.answers) > 0


def wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def replicas(client: httpx.Client, model: str, state: str = "RUNNING") -> list[dict[str, Any]]:
    return [r for r in runtime_deployment(client, model)["replicas"] if r["state"] == state]


def two_replicas(client: httpx.Client) -> None:
    serving(client, EMBEDDER, replicas=2)
    predict(client, EMBEDDER, TEXTS)
    wait_for(lambda: len(replicas(client, EMBEDDER)) == 2, 180, "two replicas")


def test_scaling_up_under_load_keeps_the_running_replica_and_both_serve_until_one_is_killed(
        ray_server: LiveServer) -> None:
    with ray_server.client(timeout=COLD_S) as client:
        predict(client, EMBEDDER, TEXTS)
        [first] = replicas(client, EMBEDDER)
        load = Load(ray_server)
        try:
            wait_for(lambda: len(load.answers) > 100, 120, "load to flow")
            serving(client, EMBEDDER, replicas=2)
            wait_for(lambda: len(replicas(client, EMBEDDER)) == 2, 180, "two replicas")
            running = replicas(client, EMBEDDER)
            assert first["replica"] in {r["replica"] for r in running}, "scaled in place"
            seen = len(load.answers)
            wait_for(lambda: len(load.answers) > seen + 200, 120, "load on two replicas")
            running = replicas(client, EMBEDDER)
            assert all(r["served"] > 0 for r in running), running
            app = runtime_deployment(client, EMBEDDER)["app"]
            victim = running[0]["replica"]
            ray.kill(ray.get_actor(f"SERVE_REPLICA::{app}#ModelServer#{victim}", namespace="serve"),
                     no_restart=True)
            seen = len(load.answers)
            wait_for(lambda: victim not in {r["replica"] for r in replicas(client, EMBEDDER)}
                     and len(replicas(client, EMBEDDER)) == 2, 180, "a replacement replica")
            wait_for(lambda: len(load.answers) > seen + 200, 120, "load after the kill")
        finally:
            load.finish()
        load.assert_no_loss()
        [handle] = [r for r in client.get("/api/v1/runtime").json()["loaded"]
                    if r["model"] == EMBEDDER]
        print(f"{len(load.answers)} answers, {handle['retried']} calls retried after the kill")


def test_killing_the_worker_node_under_load_loses_no_request(ray_server: LiveServer,
                                                             ray_cluster: RayCluster) -> None:
    with ray_server.client(timeout=COLD_S) as client:
        two_replicas(client)
        load = Load(ray_server)
        try:
            wait_for(lambda: len(load.answers) > 100, 120, "load to flow")
            ray_cluster.replace_worker()
            seen = len(load.answers)
            wait_for(lambda: len(load.answers) > seen + 200, 180, "load after the node died")
        finally:
            load.finish()
        load.assert_no_loss()


def test_a_second_api_process_shares_the_deployments(ray_server: LiveServer) -> None:
    shared = {name: value for name, value in ray_server.env.items() if name.startswith(
        ("AIAAS_RAY_", "AIAAS_DATABASE_URL", "AIAAS_REDIS_"))}
    second = start_server(ray_server.data_dir, **shared)
    try:
        with ray_server.client(timeout=COLD_S) as one, second.client(timeout=COLD_S) as other:
            near = predict(one, EMBEDDER, TEXTS)["outputs"]
            before = runtime_deployment(one, EMBEDDER)
            assert predict(other, EMBEDDER, TEXTS)["outputs"] == near
            after = runtime_deployment(other, EMBEDDER)
            apps = [d["app"] for d in other.get("/api/v1/runtime").json()["cluster"]["deployments"]]
    finally:
        stop_server(second)
    assert after["app"] == before["app"] and apps.count(before["app"]) == 1
    running = {r["replica"] for r in before["replicas"] if r["state"] == "RUNNING"}
    assert running and running <= {r["replica"] for r in after["replicas"]}, "the same replicas"


def test_a_model_scaled_to_zero_serves_the_next_call(ray_server: LiveServer,
                                                     record_property: Any) -> None:
    with ray_server.client(timeout=COLD_S) as client:
        serving(client, DIAGNOSIS, autoscaling={"min_replicas": 0, "max_replicas": 1,
                                                "downscale_delay_s": 1})
        row = patient()
        predict(client, DIAGNOSIS, [row])
        wait_for(lambda: not replicas(client, DIAGNOSIS), 120, "scale to zero")
        started = time.perf_counter()
        assert predict(client, DIAGNOSIS, [row])["outputs"]
        cold_start_s = time.perf_counter() - started
    record_property("cold_start_s", round(cold_start_s, 2))
    print(f"cold start from zero replicas: {cold_start_s:.2f} s")


def test_resources_no_node_has_are_named_as_a_config_error(ray_server: LiveServer,
                                                           tmp_path: Path) -> None:
    gpus = {"cpus": 1, "gpus": 4}
    with ray_server.client(timeout=COLD_S) as client:
        predict(client, DIAGNOSIS, [patient()])
        before = client.get(f"/api/v1/models/{DIAGNOSIS}/versions/1").json()["serving"]
        refused = client.patch(f"/api/v1/models/{DIAGNOSIS}/versions/1", json={"resources": gpus})
        assert_names_resources(refused)
        assert client.get(f"/api/v1/models/{DIAGNOSIS}/versions/1").json()["serving"] == before
        assert predict(client, DIAGNOSIS, [patient()])["outputs"]
        # Not deployed yet: the options are stored, and the first call is the one refused.
        upload(client, "ray-gpu", tar_gz(build_forecaster(tmp_path / "ray-gpu")))
        try:
            serving(client, "ray-gpu", resources=gpus)
            assert_names_resources(client.post("/api/v1/models/ray-gpu/predict",
                                               json={"inputs": [{"horizon": 1}]}))
        finally:
            client.delete("/api/v1/models/ray-gpu")


def assert_names_resources(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]["field"] == "resources" and "GPU 4" in error["message"]
