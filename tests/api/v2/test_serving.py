"""The Open Inference Protocol (V2) surface: the real ``tritonclient.http`` against a real server
over real HTTP, plus plain httpx for keys, tenants, named 400s and usage rows."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from sklearn.datasets import load_breast_cancer, load_diabetes
from tritonclient.utils import InferenceServerException

from aiaas.tasks import TASKS
from tests.conftest import LiveServer

EMBEDDER = "all-minilm-l6-v2"
DIAGNOSIS = "breast-cancer-diagnosis"
TEXTS = ["A man is playing a guitar.", "Hospitals keep patient data on site.", "Markets fell."]


@pytest.fixture(scope="module")
def client(live_server: LiveServer) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(url=live_server.url.removeprefix("http://")) as made:
        yield made


@pytest.fixture
def auth(live_server: LiveServer) -> dict[str, str]:
    """Fresh per use: ``InferenceServerClient.infer`` writes Inference-Header-Content-Length into
    the headers dict it is given, which would then frame a later JSON request wrongly."""
    return {"Authorization": f"Bearer {live_server.admin_key}"}


@pytest.fixture(scope="module")
def alpha(live_server: LiveServer) -> str:
    """A key of a tenant of its own, so uploads and usage rows leave other tests alone."""
    return live_server.create_key("v2-alpha")


def native(live_server: LiveServer, model: str, inputs: list[Any], key: str | None = None
           ) -> list[Any]:
    with live_server.client(key) as http:
        response = http.post(f"/api/v1/models/{model}/predict", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    outputs: list[Any] = response.json()["outputs"]
    return outputs


def infer(client: triton.InferenceServerClient, auth: dict[str, str], model: str, name: str,
          array: np.ndarray, outputs: list[str], *, binary: bool, **kwargs: Any
          ) -> triton.InferResult:
    tensor = triton.InferInput(name, list(array.shape), "BYTES" if array.dtype == object else "FP32")
    tensor.set_data_from_numpy(array, binary_data=binary)
    requested = None if binary else [triton.InferRequestedOutput(o, binary_data=False) for o in outputs]
    return client.infer(model, [tensor], outputs=requested, headers=dict(auth), **kwargs)


def strings(array: np.ndarray) -> list[str]:
    """BYTES outputs: ``str`` elements from JSON, ``bytes`` from binary data."""
    return [x.decode() if isinstance(x, bytes) else str(x) for x in array]


def test_health_is_open_and_metadata_describes_server_and_models(
    client: triton.InferenceServerClient, auth: dict[str, str]
) -> None:
    assert client.is_server_live() and client.is_server_ready()
    server = client.get_server_metadata(headers=auth)
    assert server["name"] == "aiaas" and "binary_tensor_data" in server["extensions"]
    embedder = client.get_model_metadata(EMBEDDER, headers=auth)
    assert embedder == {
        "name": EMBEDDER, "versions": ["1"], "platform": "sentence-transformers",
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [{"name": "embedding", "datatype": "FP32", "shape": [-1, 384]}],
    }
    diagnosis = client.get_model_metadata(DIAGNOSIS, model_version="1", headers=auth)
    assert diagnosis["platform"] == "onnxruntime_onnx"
    assert diagnosis["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 30]}]
    assert diagnosis["outputs"] == [{"name": "label", "datatype": "BYTES", "shape": [-1]},
                                    {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]}]
    for model in (EMBEDDER, DIAGNOSIS):
        assert client.is_model_ready(model, headers=auth)
        assert client.is_model_ready(model, model_version="production", headers=auth)
    assert not client.is_model_ready("no-such-model", headers=auth)
    assert not client.is_model_ready(DIAGNOSIS, model_version="9", headers=auth)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_embeddings_match_native_predict(live_server: LiveServer, client: triton.InferenceServerClient,
                                         auth: dict[str, str], binary: bool) -> None:
    result = infer(client, auth, EMBEDDER, "text", np.array(TEXTS, dtype=object), ["embedding"],
                   binary=binary, request_id="req-7")
    vectors = result.as_numpy("embedding")
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    expected = np.array([o["embedding"] for o in native(live_server, EMBEDDER, TEXTS)])
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    response = result.get_response()
    assert (response["model_name"], response["model_version"], response["id"]) == (
        EMBEDDER, "1", "req-7")


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_diagnosis_matches_native_predict(live_server: LiveServer, client: triton.InferenceServerClient,
                                          auth: dict[str, str], binary: bool) -> None:
    rows = load_breast_cancer().data[[0, 19, 20, 1]].astype(np.float32)
    result = infer(client, auth, DIAGNOSIS, "input", rows, ["label", "probabilities"],
                   binary=binary)
    expected = native(live_server, DIAGNOSIS, rows.tolist())
    labels = list(expected[0]["probabilities"])
    assert strings(result.as_numpy("label")) == [o["label"] for o in expected]
    assert set(strings(result.as_numpy("label"))) == {"benign", "malignant"}
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float32 and probabilities.shape == (4, 2)
    np.testing.assert_allclose(probabilities, [[o["probabilities"][k] for k in labels]
                                               for o in expected], atol=1e-5)


def test_one_output_can_be_requested(client: triton.InferenceServerClient,
                                     auth: dict[str, str]) -> None:
    rows = load_breast_cancer().data[:2].astype(np.float32)
    result = infer(client, auth, DIAGNOSIS, "input", rows, ["label"], binary=False)
    assert [o["name"] for o in result.get_response()["outputs"]] == ["label"]


def test_tritonclient_sees_errors_with_status_and_message(
    client: triton.InferenceServerClient, auth: dict[str, str]
) -> None:
    with pytest.raises(InferenceServerException) as missing:
        infer(client, auth, "no-such-model", "text", np.array(["x"], dtype=object), [], binary=True)
    assert missing.value.status() == "404" and "no-such-model" in missing.value.message()
    with pytest.raises(InferenceServerException) as wrong:
        tensor = triton.InferInput("input", [1, 30], "FP64")
        tensor.set_data_from_numpy(np.zeros((1, 30)), binary_data=True)
        client.infer(DIAGNOSIS, [tensor], headers=dict(auth))
    assert wrong.value.status() == "400"
    assert wrong.value.message() == "input 'input': datatype FP64 does not match the model's FP32"
    with pytest.raises(InferenceServerException) as unauthenticated:
        client.get_model_metadata(EMBEDDER)
    assert unauthenticated.value.status() == "401"


# --- plain HTTP ----------------------------------------------------------------------------------

ROUTES = [("GET", "/v2"), ("GET", f"/v2/models/{EMBEDDER}"), ("GET", f"/v2/models/{EMBEDDER}/ready"),
          ("GET", f"/v2/models/{EMBEDDER}/versions/1"),
          ("GET", f"/v2/models/{EMBEDDER}/versions/1/ready"),
          ("POST", f"/v2/models/{EMBEDDER}/infer"), ("POST", f"/v2/models/{EMBEDDER}/versions/1/infer")]
TEXT_BODY = {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["hello"]}]}


def v2_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    message: str = body["error"]
    return message


def test_every_route_but_health_needs_a_key(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        for path in ("/v2/health/live", "/v2/health/ready"):
            assert http.get(path).status_code == 200
        for method, path in ROUTES:
            for headers in ({}, {"Authorization": "Bearer aiaas-nope-nope"}):
                response = http.request(method, path, json=TEXT_BODY, headers=headers)
                v2_error(response, 401)
                assert response.headers["www-authenticate"] == "Bearer"


def test_unknown_models_versions_and_routes_are_404_in_v2_shape(live_server: LiveServer) -> None:
    with live_server.client() as http:
        for method, path in ROUTES[1:]:
            response = http.request(method, path.replace(EMBEDDER, "nope"), json=TEXT_BODY)
            assert v2_error(response, 404) == "model 'nope' not found"
            response = http.request(method, path.replace("/versions/1", "/versions/9"), json=TEXT_BODY)
            if "/versions/" in path:
                assert "no version 9" in v2_error(response, 404)
        assert v2_error(http.get("/v2/repository/index"), 404) == "no route GET /v2/repository/index"
        assert http.get("/api/v1/models/nope").json()["error"]["code"] == "not_found"


def _fp32(shape: list[int], data: Any, **extra: Any) -> dict[str, Any]:
    return {"inputs": [{"name": "input", "shape": shape, "datatype": "FP32", "data": data, **extra}]}


ROW = [float(v) for v in load_breast_cancer().data[0]]
BAD = [
    (_fp32([1, 29], ROW[:29]), "input 'input': shape [1, 29] does not match the model's [-1, 30]"),
    (_fp32([30], ROW), "input 'input': shape [30] has 1 dimension(s); the model takes [-1, 30]"),
    (_fp32([2, 30], ROW), "input 'input': shape [2, 30] needs 60 element(s), got 30"),
    (_fp32([2, 30], [ROW, ROW[:29]]), "input 'input': nested data does not match shape [2, 30]: "
                                      "data[1] has 29 element(s), the shape needs 30"),
    (_fp32([1, 30], ["x", *ROW[1:]]), "input 'input': element 0 is a string, not a number "
                                      "(datatype FP32)"),
    ({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "BYTES", "data": ["x"] * 30}]},
     "input 'input': datatype BYTES does not match the model's FP32"),
    ({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FLOAT", "data": ROW}]},
     "input 'input': unknown datatype 'FLOAT'"),
    ({"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": ROW}]},
     "input 'features': model 'breast-cancer-diagnosis' has no such input; it takes 'input'"),
    (_fp32([1, 30], None), "input 'input': has no 'data'"),
    (_fp32([0, 30], []), "input 'input': the batch is empty"),
    (_fp32([1, 30], [float("1e39"), *ROW[1:]]), "input 'input': element 0 is outside the FP32 range"),
    ({**_fp32([1, 30], ROW), "outputs": [{"name": "score"}]}, "output 'score': the model has no such"),
    ({"inputs": [{"name": "input", "shape": ["1", 30], "datatype": "FP32", "data": ROW}]},
     "inputs[0].shape[0]: Input should be a valid integer"),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_tensors_are_400_naming_the_tensor(live_server: LiveServer, body: dict[str, Any],
                                               message: str) -> None:
    with live_server.client() as http:
        response = http.post(f"/v2/models/{DIAGNOSIS}/infer", json=body)
    assert v2_error(response, 400).startswith(message)


def test_task_errors_name_the_tensor_and_item(live_server: LiveServer) -> None:
    with live_server.client() as http:
        body = {"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["ok", " "]}]}
        response = http.post(f"/v2/models/{EMBEDDER}/infer", json=body)
        assert v2_error(response, 400) == "input 'text': item 1: empty string"
        nan = _fp32([1, 30], [float("nan"), *ROW[1:]])
        response = http.post(f"/v2/models/{DIAGNOSIS}/infer",
                             content=json.dumps(nan).encode(), headers={"content-type": "application/json"})
        assert v2_error(response, 400) == "input 'input': item 0: feature 'mean radius' must be finite"


def test_binary_framing_is_checked(live_server: LiveServer) -> None:
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 120}}]}).encode()
    row = np.asarray(ROW, dtype="<f4").tobytes()
    with live_server.client() as http:
        def post(body: bytes, length: int | str | None) -> httpx.Response:
            headers = {} if length is None else {"Inference-Header-Content-Length": str(length)}
            return http.post(f"/v2/models/{DIAGNOSIS}/infer", content=body, headers=headers)

        ok = post(header + row, len(header))
        assert ok.status_code == 200 and ok.json()["outputs"][0]["data"] == ["malignant"]
        assert "runs past the end" in v2_error(post(header + row[:-4], len(header)), 400)
        assert "no input declares" in v2_error(post(header + row + b"x", len(header)), 400)
        assert "needs the Inference-Header-Content-Length" in v2_error(post(header, None), 400)
        assert "Inference-Header-Content-Length must be" in v2_error(post(header + row, "-1"), 400)


# --- tenants, usage and the other tasks ------------------------------------------------------------


def _upload(live_server: LiveServer, key: str, name: str, archive: bytes) -> None:
    with live_server.client(key) as http:
        response = http.post(f"/api/v1/models/{name}/versions", content=archive)
    assert response.status_code == 201, response.text


def _upload_dir(live_server: LiveServer, key: str, name: str, root: Path) -> None:
    from tests.runtime.tiny_models import tar_gz

    _upload(live_server, key, name, tar_gz(root))


def test_tenant_models_usage_rows_and_regression(live_server: LiveServer, tiny_model_archive: bytes,
                                                 alpha: str, tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    _upload(live_server, alpha, "iris", tiny_model_archive)
    data = load_diabetes()
    regression = LinearRegression().fit(data.data.astype(np.float32), data.target)
    (tmp_path / "diabetes").mkdir()
    (tmp_path / "diabetes/model.onnx").write_bytes(
        to_onnx(regression, data.data[:1].astype(np.float32)).SerializeToString())
    (tmp_path / "diabetes/aiaas.json").write_text(json.dumps(
        {"task": "tabular-regression", "feature_names": list(data.feature_names)}))
    _upload_dir(live_server, alpha, "diabetes", tmp_path / "diabetes")
    beta = live_server.create_key("v2-beta")
    rows = data.data[:3].tolist()
    with live_server.client(alpha) as http, live_server.client(beta) as other:
        meta = http.get("/v2/models/iris").json()
        assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
        assert meta["outputs"][1]["shape"] == [-1, 3]
        answer = http.post("/v2/models/diabetes/infer", json=_fp32([3, 10], rows)).json()
        assert answer["outputs"][0]["name"] == "value" and answer["outputs"][0]["shape"] == [3]
        expected = [o["value"] for o in native(live_server, "diabetes", rows, alpha)]
        np.testing.assert_allclose(answer["outputs"][0]["data"], expected, rtol=1e-5)
        iris = http.post("/v2/models/iris/infer", json=_fp32([1, 4], [[5.1, 3.5, 1.4, 0.2]])).json()
        assert iris["outputs"][0]["data"] == ["setosa"]
        for path in ("/v2/models/iris", "/v2/models/iris/ready", "/v2/models/iris/versions/1"):
            assert v2_error(other.get(path), 404) == "model 'iris' not found"
        refused = other.post("/v2/models/iris/infer", json=_fp32([1, 4], [[5.1, 3.5, 1.4, 0.2]]))
        assert v2_error(refused, 404) == "model 'iris' not found"
        records = http.get("/api/v1/usage", params={"model": "diabetes"}).json()["records"]
        assert [(r["surface"], r["status"], r["units"]["items"]) for r in records] == [
            ("native", "ok", 3), ("v2", "ok", 3)]
        assert other.get("/api/v1/usage").json()["records"] == []


def _needs(task: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(task not in TASKS, reason=f"task {task!r} is not in "
                              "aiaas.tasks.TASKS yet (built by another change)")


def _classified_like_native(result: triton.InferResult, expected: list[Any]) -> None:
    labels = list(expected[0]["probabilities"])
    assert strings(result.as_numpy("label")) == [o["label"] for o in expected]
    np.testing.assert_allclose(result.as_numpy("probabilities"),
                               [[o["probabilities"][k] for k in labels] for o in expected], atol=1e-5)


@_needs("text-classification")
def test_text_classification_over_v2(live_server: LiveServer, client: triton.InferenceServerClient,
                                     alpha: str, tmp_path: Path) -> None:
    from tests.runtime.tiny_models import SENTENCES, build_text_classifier

    _upload_dir(live_server, alpha, "sentiment", build_text_classifier(tmp_path / "sentiment"))
    headers = {"Authorization": f"Bearer {alpha}"}
    meta = client.get_model_metadata("sentiment", headers=headers)
    assert meta["platform"] == "transformers"
    assert meta["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"][1] == {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]}
    for binary in (False, True):
        result = infer(client, headers, "sentiment", "text", np.array(SENTENCES[:4], dtype=object),
                       ["label", "probabilities"], binary=binary)
        _classified_like_native(result, native(live_server, "sentiment", SENTENCES[:4], alpha))


@_needs("image-classification")
def test_image_classification_over_v2(live_server: LiveServer, client: triton.InferenceServerClient,
                                      alpha: str, tmp_path: Path) -> None:
    from tests.runtime.tiny_models import build_image_classifier, picture

    _upload_dir(live_server, alpha, "animals", build_image_classifier(tmp_path / "animals"))
    images = [picture("PNG", seed=1), picture("JPEG", (64, 20), seed=2)]
    encoded = [base64.b64encode(image).decode() for image in images]
    expected = native(live_server, "animals", encoded, alpha)
    headers = {"Authorization": f"Bearer {alpha}"}
    meta = client.get_model_metadata("animals", headers=headers)
    assert meta["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"][1]["shape"] == [-1, 3]
    result = infer(client, headers, "animals", "image", np.array(images, dtype=object),
                   ["label", "probabilities"], binary=True)
    _classified_like_native(result, expected)
    as_json = {"inputs": [{"name": "image", "shape": [2], "datatype": "BYTES", "data": encoded,
                           "parameters": {"content_type": "base64"}}]}
    with live_server.client(alpha) as http:
        answer = http.post("/v2/models/animals/infer", json=as_json).json()
        assert answer["outputs"][0]["data"] == [o["label"] for o in expected]
        del as_json["inputs"][0]["parameters"]
        refused = v2_error(http.post("/v2/models/animals/infer", json=as_json), 400)
        assert refused.startswith("input 'image': in JSON, send the encoded bytes as base64")
        as_json["inputs"][0] |= {"data": [base64.b64encode(b"not an image").decode()] * 2,
                                 "parameters": {"content_type": "base64"}}
        assert v2_error(http.post("/v2/models/animals/infer", json=as_json), 400).startswith(
            "input 'image': item 0: ")


@_needs("text2text")
def test_tasks_without_tensors_have_metadata_but_no_inference(live_server: LiveServer,
                                                              alpha: str, tmp_path: Path) -> None:
    from tests.runtime.tiny_models import build_seq2seq

    _upload_dir(live_server, alpha, "rewriter", build_seq2seq(tmp_path / "rewriter"))
    with live_server.client(alpha) as http:
        meta = http.get("/v2/models/rewriter").json()
        assert (meta["name"], meta["inputs"], meta["outputs"]) == ("rewriter", [], [])
        message = "task text2text is not served over V2 (model 'rewriter'); use the native predict API"
        assert v2_error(http.get("/v2/models/rewriter/ready"), 400) == message
        assert v2_error(http.post("/v2/models/rewriter/infer", json=TEXT_BODY), 400) == message


async def test_oversized_body_is_413_in_v2_shape(api: Any) -> None:
    limit = api.services.settings.max_body_bytes
    response = await api.client.post("/v2/models/anything/infer", content=b" " * (limit + 1),
                                      headers={**api.auth(), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"error": f"request body exceeds the limit of {limit} bytes"}
    native = await api.client.post("/api/v1/models/anything/predict", content=b" " * (limit + 1),
                                   headers={**api.auth(), "Content-Type": "application/json"})
    assert native.json()["error"]["code"] == "payload_too_large"


async def test_predict_only_keys_read_metadata(api: Any, tiny_model_archive: bytes) -> None:
    writer = api.new_key("meta")
    assert (await api.client.post("/api/v1/models/iris/versions", content=tiny_model_archive,
                                  headers=api.auth(writer))).status_code == 201
    predict_only = api.new_key("meta", scopes=["predict"])
    metadata = await api.client.get("/v2/models/iris", headers=api.auth(predict_only))
    assert metadata.status_code == 200, metadata.text
    assert [t["name"] for t in metadata.json()["inputs"]] == ["input"]
    neither = api.new_key("meta", scopes=["models:write"])
    assert (await api.client.get("/v2/models/iris", headers=api.auth(neither))).status_code == 403
