"""int8 for transformers text classifiers through the real HTTP server: measured when asked for
(the delta is the share of check texts whose top label changes), refused over the caller's
bound with nothing changed, stored and served within it; refused for a classifier with no ONNX
export and for formats with no int8 build."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import LiveServer
from tests.runtime.tiny_models import TEXT_LABELS, build_text_classifier, tar_gz

TEXTS = ["the movie was great", "the soup was cold and the service terrible", "x",
         "i loved every minute of this film with my friends at the beach"]


@pytest.fixture
def http(live_server: LiveServer) -> Any:
    with live_server.client() as client:
        yield client


def _upload(http: httpx.Client, name: str, archive: bytes) -> None:
    response = http.post(f"/api/v1/models/{name}/versions", content=archive)
    assert response.status_code == 201, response.text


def _probabilities(http: httpx.Client, name: str) -> np.ndarray:
    response = http.post(f"/api/v1/models/{name}/predict", json={"inputs": TEXTS})
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    for output in outputs:
        assert output["label"] in TEXT_LABELS
        assert sum(output["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    return np.asarray([[o["probabilities"][label] for label in TEXT_LABELS] for o in outputs])


def _serving(http: httpx.Client, name: str) -> dict[str, Any]:
    shown: dict[str, Any] = http.get(f"/api/v1/models/{name}").json()["versions"][0]["serving"]
    return shown


def test_int8_is_measured_refused_over_the_bound_and_served_within_it(
        http: httpx.Client, tmp_path: Path) -> None:
    name = "int8-sentiment"
    _upload(http, name, tar_gz(build_text_classifier(tmp_path / name)))
    version = f"/api/v1/models/{name}/versions/1"
    fp32 = _probabilities(http, name)

    unbounded = http.patch(version, json={"precision": "int8"})
    assert unbounded.status_code == 422 and "max_accuracy_delta" in unbounded.text
    assert "for transformers text classifiers, the share of check texts" in unbounded.text

    strict = http.patch(version, json={"precision": "int8", "max_accuracy_delta": 0})
    assert strict.status_code == 422, strict.text
    assert "over your max_accuracy_delta" in strict.text and "top label differs" in strict.text
    measured = strict.json()["error"]["details"]["measured"]
    # The tiny random model sits close to its decision boundary: int8 changes some labels.
    assert measured["changed"] > 0 and 0 < measured["delta"] <= 1
    assert measured["agreement"] == pytest.approx(1 - measured["delta"])
    assert measured["samples"] >= 200 and measured["max_abs_error"] > 0
    assert _serving(http, name) == {}

    within = http.patch(version, json={"precision": "int8", "max_accuracy_delta": measured["delta"]})
    assert within.status_code == 200, within.text
    serving = within.json()["serving"]
    assert serving["precision"] == "int8" and serving["builds"]["int8"] == measured
    assert _serving(http, name) == serving
    int8 = _probabilities(http, name)
    assert not np.allclose(int8, fp32, atol=1e-6)

    [entry] = [e for e in http.get("/api/v1/runtime").json()["loaded"] if e["model"] == name]
    assert entry["engine"] == "onnxruntime-int8" and entry["precision"] == "int8"
    assert entry["int8"]["delta"] == measured["delta"]

    back = http.patch(version, json={"precision": "fp32"})
    assert back.status_code == 200, back.text
    assert np.allclose(_probabilities(http, name), fp32, atol=1e-6)


def test_a_classifier_without_an_onnx_export_has_no_int8(http: httpx.Client, tmp_path: Path) -> None:
    name = "int8-no-pad"
    root = build_text_classifier(tmp_path / name)
    config = json.loads((root / "tokenizer_config.json").read_text())
    # As decoder-style classifiers ship: an end token, no pad token, so the ONNX path cannot batch.
    config = {**{k: v for k, v in config.items() if k != "pad_token"}, "eos_token": "[SEP]"}
    (root / "tokenizer_config.json").write_text(json.dumps(config))
    _upload(http, name, tar_gz(root))
    response = http.patch(f"/api/v1/models/{name}/versions/1",
                          json={"precision": "int8", "max_accuracy_delta": 1})
    assert response.status_code == 422, response.text
    assert "no int8 build for 'int8-no-pad'" in response.text and "no pad token" in response.text
    assert _serving(http, name) == {}
    assert _probabilities(http, name).shape == (len(TEXTS), len(TEXT_LABELS))


def test_int8_for_a_format_without_a_build_names_the_supported_kinds(
        http: httpx.Client, tiny_model_archive: bytes) -> None:
    _upload(http, "int8-iris", tiny_model_archive)
    response = http.patch("/api/v1/models/int8-iris/versions/1",
                          json={"precision": "int8", "max_accuracy_delta": 1})
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert "sentence-transformers embeddings" in message and "transformers text classifiers" in message
    assert "onnx (tabular-classification)" in message
    assert _serving(http, "int8-iris") == {}
