"""The SDK against a real server over real HTTP."""

from __future__ import annotations

import math
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

import aiaas
from aiaas.client import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from tests.client.iris_model import IRIS_SETOSA, IRIS_VIRGINICA
from tests.conftest import LiveServer, free_port

BUILTINS = {"all-minilm-l6-v2", "breast-cancer-diagnosis"}


def test_top_level_exports() -> None:
    assert aiaas.Client is Client
    assert aiaas.AsyncClient is AsyncClient
    assert issubclass(NotFoundError, aiaas.AiaasAPIError)


def test_models_whoami_and_health(client: Client) -> None:
    assert client.health().status == "ok"
    me = client.me()
    assert me.tenant == "sdk"
    assert "predict" in me.scopes

    models = {model.name: model for model in client.list_models()}
    assert set(models) >= BUILTINS
    diagnosis = models["breast-cancer-diagnosis"]
    assert diagnosis.builtin and diagnosis.task == "tabular-classification"
    assert diagnosis.production_version == 1

    version = client.get_version("breast-cancer-diagnosis", "production")
    assert version.version == 1 and version.format == "onnx"
    assert set(version.labels) == {"malignant", "benign"}
    assert version.metrics["test_accuracy"] > 0.9
    assert client.get_model("all-minilm-l6-v2").versions[0].task == "embedding"


def test_embed_returns_unit_vectors(client: Client) -> None:
    vectors = client.embed(["The cat sat on the mat.", "Quarterly revenue grew by 4%."])
    assert len(vectors) == 2
    for vector in vectors:
        assert len(vector) == 384
        assert math.sqrt(sum(x * x for x in vector)) == pytest.approx(1.0, abs=1e-3)
    assert vectors[0] != vectors[1]
    assert len(client.embed("a lone string is one text")) == 1


def test_classify_a_breast_cancer_sample(client: Client) -> None:
    data = load_breast_cancer()
    sample = data.data[0]
    record = {name: float(value) for name, value in zip(data.feature_names, sample, strict=True)}

    results = client.classify([record, [float(v) for v in sample]])

    assert len(results) == 2
    for result in results:
        assert result.label in {"malignant", "benign"}
        assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert result.score == pytest.approx(result.probabilities[result.label])
    assert results[0].label == results[1].label == data.target_names[data.target[0]]

    prediction = client.predict("breast-cancer-diagnosis", [record], version=1)
    assert prediction.model == "breast-cancer-diagnosis" and prediction.version == 1
    assert prediction.usage.items == 1


def test_errors_map_to_typed_exceptions(client: Client, live_server: LiveServer) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.predict("no-such-model", ["hello"])
    assert missing.value.code == "not_found" and missing.value.status == 404
    assert "no-such-model" in missing.value.message
    assert missing.value.request_id

    with pytest.raises(BadRequestError) as empty:
        client.embed([])
    assert empty.value.code == "invalid_request" and empty.value.status == 422

    with pytest.raises(PermissionDeniedError) as denied:
        client.create_key("nope")
    assert denied.value.code == "forbidden"

    bad_key = "aiaas-0123456789abcdef-not-a-real-secret"
    with Client(live_server.url, bad_key) as stranger, pytest.raises(AuthenticationError) as unknown:
        stranger.list_models()
    assert unknown.value.code == "unauthenticated" and unknown.value.status == 401

    with Client(f"http://127.0.0.1:{free_port()}", bad_key, max_retries=0) as nowhere, \
            pytest.raises(APIConnectionError) as unreachable:
        nowhere.me()
    assert unreachable.value.status is None and unreachable.value.code == "connection_error"


def test_upload_an_onnx_model_then_alias_predict_and_delete(
        client: Client, iris_dir: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    first = client.upload_model("iris", iris_dir, progress=lambda sent, total: seen.append((sent, total)))

    assert first.version == 1 and first.tenant == "sdk" and first.format == "onnx"
    assert first.task == "tabular-classification"
    assert first.labels == ["setosa", "versicolor", "virginica"]
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] > 0

    setosa, virginica = client.classify([IRIS_SETOSA, IRIS_VIRGINICA], model="iris")
    assert (setosa.label, virginica.label) == ("setosa", "virginica")

    archive = shutil.make_archive(str(tmp_path / "iris"), "gztar", iris_dir.parent, iris_dir.name)
    second = client.upload_model("iris", archive, description="the same, from an archive")
    assert second.version == 2

    model = client.set_alias("iris", "production", 2)
    assert model.aliases["production"] == 2 and model.latest_version == 2
    assert client.predict("iris", [IRIS_SETOSA]).version == 2
    assert client.predict("iris", [IRIS_SETOSA], version=1).version == 1

    with pytest.raises(ConflictError) as in_use:
        client.delete_version("iris", 2)
    assert in_use.value.code == "conflict"
    client.delete_version("iris", 1)
    assert [v.version for v in client.get_model("iris").versions] == [2]

    client.delete_model("iris")
    with pytest.raises(NotFoundError):
        client.get_model("iris")


async def test_async_client(live_server: LiveServer, tenant_key: str, iris_dir: Path) -> None:
    async with AsyncClient(live_server.url, tenant_key) as sdk:
        assert (await sdk.me()).tenant == "sdk"
        assert {model.name for model in await sdk.list_models()} >= BUILTINS
        [vector] = await sdk.embed(["hello from asyncio"])
        assert len(vector) == 384

        version = await sdk.upload_model("iris-async", iris_dir)
        assert version.version == 1
        prediction = await sdk.predict("iris-async", [IRIS_VIRGINICA], version="production")
        assert prediction.outputs[0]["label"] == "virginica"
        await sdk.delete_model("iris-async")

        with pytest.raises(NotFoundError) as missing:
            await sdk.get_version("iris-async", "latest")
        assert missing.value.code == "not_found"


def test_keys_and_usage(admin: Client, live_server: LiveServer) -> None:
    created = admin.create_key("usage-test", tenant="metered")
    assert created.secret.startswith(f"aiaas-{created.id}-")
    assert created.id in {key.id for key in admin.list_keys(tenant="metered")}

    with Client(live_server.url, created.secret) as metered:
        metered.embed(["one", "two"])
        metered.embed(["three"])
        deadline = time.monotonic() + 15
        while (report := metered.usage(model="all-minilm-l6-v2")).totals.requests < 2:
            assert time.monotonic() < deadline, "usage was not recorded"
            time.sleep(0.2)
        assert report.totals.items == 3 and report.totals.errors == 0
        assert {r.key_id for r in report.records} == {created.id}
        assert all(r.tenant == "metered" and r.status == "ok" for r in report.records)
        assert admin.usage(tenant="metered", limit=1).totals.requests == 2

        revoked = admin.revoke_key(created.id)
        assert revoked.revoked_at is not None
        with pytest.raises(AuthenticationError, match="revoked"):
            metered.me()
    assert created.id not in {key.id for key in admin.list_keys(tenant="metered")}


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 (Retry-After: 0) to the first ``failures`` requests, then 200."""

    failures = 0
    seen = 0

    def _answer(self) -> None:
        type(self).seen += 1
        if type(self).seen <= type(self).failures:
            body = b'{"error": {"code": "unavailable", "message": "warming up", "details": null}}'
            self.send_response(503)
            self.send_header("Retry-After", "0")
        else:
            body = b'{"status": "ok"}'
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[tuple[str, type[_Flaky]]]:
    """A tiny real HTTP server that is unavailable for a while: the only way to make 503s on cue."""
    handler = type("Flaky", (_Flaky,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_retries_503_within_max_retries(flaky: tuple[str, type[_Flaky]]) -> None:
    url, handler = flaky
    handler.failures = 2
    with Client(url, "aiaas-0123456789abcdef-x", max_retries=2) as sdk:
        assert sdk.health().status == "ok"
    assert handler.seen == 3

    handler.seen, handler.failures = 0, 5
    with Client(url, "aiaas-0123456789abcdef-x", max_retries=1) as sdk:
        with pytest.raises(ServiceUnavailableError) as gave_up:
            sdk.health()
        assert gave_up.value.retry_after == 0 and gave_up.value.code == "unavailable"
        assert handler.seen == 2

        handler.seen = 0
        with pytest.raises(ServiceUnavailableError):
            sdk.create_key("never twice")
        assert handler.seen == 1
