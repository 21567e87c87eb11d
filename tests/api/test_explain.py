"""Explanations over the API: SHAP's promise kept (base value + attributions = the explained
output), the shapes per task, a named 4xx for every kind of bad request, metering with surface
``explain``, and words of an obviously positive review pushing towards "positive"."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from aiaas.builtin import CHAT, EMBEDDER, SPEECH, ensure_builtins
from tests.conftest import Api

URL = "/api/v1/models/breast-cancer-diagnosis/explain"


def total(explained: dict[str, Any]) -> float:
    parts = explained.get("features") or explained.get("words") or []
    return explained["base_value"] + sum(part["attribution"] for part in parts)


async def test_tabular_attributions_add_up_to_the_output(
        api: Api, diagnosis: str, cancer_records: list[dict[str, Any]]) -> None:
    response = await api.client.post(URL, json={"inputs": cancer_records[:2]}, headers=api.auth())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == diagnosis and len(body["explanations"]) == 2
    for record, explained in zip(cancer_records, body["explanations"], strict=False):
        assert explained["method"] == "permutation"  # 30 features: past exact's reach
        assert explained["target"] == explained["prediction"]["label"] == "malignant"
        assert explained["output_value"] == pytest.approx(
            explained["prediction"]["probabilities"]["malignant"], abs=1e-6)
        assert total(explained) == pytest.approx(explained["output_value"], abs=1e-6)
        features = explained["features"]
        assert {f["name"] for f in features} == set(record) and len(features) == 30
        magnitudes = [abs(f["attribution"]) for f in features]
        assert magnitudes == sorted(magnitudes, reverse=True)
        assert all(f["value"] == pytest.approx(record[f["name"]]) for f in features)
    assert body["usage"]["items"] > 1000  # model evaluations spent, not inputs

    other = await api.client.post(URL, json={"inputs": cancer_records[:1], "parameters": {
        "target": "benign", "output": "log_odds", "samples": 200}}, headers=api.auth())
    explained = other.json()["explanations"][0]
    probability = min(max(explained["prediction"]["probabilities"]["benign"], 1e-12), 1 - 1e-12)
    assert explained["target"] == "benign" and explained["output"] == "log_odds"
    assert explained["output_value"] == pytest.approx(math.log(probability / (1 - probability)),
                                                      abs=1e-4)
    assert total(explained) == pytest.approx(explained["output_value"], abs=1e-6)

    usage = await api.client.get("/api/v1/usage", headers=api.auth())
    surfaces = {record["surface"] for record in usage.json()["records"]}
    assert "explain" in surfaces


@pytest.mark.parametrize(("parameters", "field", "says"), [
    ({"target": "benignish"}, "parameters.target", "unknown label 'benignish'"),
    ({"method": "exact"}, "parameters.method", "up to 10 features"),
    ({"method": "partition"}, "parameters.method", "does not apply to tabular-classification"),
    ({"samples": 10**6}, "parameters.samples", ""),
    ({"colour": "red"}, "parameters.colour", ""),
])
async def test_bad_parameters_are_named(api: Api, diagnosis: str,
                                        cancer_records: list[dict[str, Any]],
                                        parameters: dict[str, Any], field: str, says: str) -> None:
    response = await api.client.post(URL, json={"inputs": cancer_records[:1],
                                                "parameters": parameters}, headers=api.auth())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert field in (error["details"].get("field", "") if isinstance(error["details"], dict)
                     else str(error)) or field in error["message"]
    assert says in error["message"]


async def test_bad_inputs_other_tasks_and_other_tenants(
        api: Api, diagnosis: str, cancer_records: list[dict[str, Any]],
        tiny_model_archive: bytes) -> None:
    too_many = await api.client.post(URL, json={"inputs": cancer_records[:1] * 17},
                                     headers=api.auth())
    assert too_many.status_code == 422 and "inputs" in too_many.text
    broken = await api.client.post(URL, json={"inputs": [{"mean radius": "big"}]},
                                   headers=api.auth())
    assert broken.status_code == 422 and "inputs[0]" in broken.text

    ensure_builtins(api.services.registry, only=[EMBEDDER, CHAT, SPEECH])
    for name, item, task in ((EMBEDDER, "hello", "embedding"),
                             (CHAT, {"messages": [{"role": "user", "content": "hi"}]}, "chat"),
                             (SPEECH, "UklGRg==", "speech-recognition")):
        refused = await api.client.post(f"/api/v1/models/{name}/explain",
                                        json={"inputs": [item]}, headers=api.auth())
        assert refused.status_code == 422, refused.text
        assert f"not available for {task} models" in refused.json()["error"]["message"]

    uploaded = await api.client.post("/api/v1/models/iris/versions", content=tiny_model_archive,
                                     headers=api.auth())
    assert uploaded.status_code == 201, uploaded.text
    row = {"sepal length": 5.9, "sepal width": 3.0, "petal length": 5.1, "petal width": 1.8}
    missing = await api.client.post("/api/v1/models/iris/explain", json={"inputs": [row]},
                                    headers=api.auth())
    assert missing.status_code == 422
    assert missing.json()["error"]["details"]["field"] == "parameters.background"
    background = [{"sepal length": 5.0 + i / 10, "sepal width": 3.0, "petal length": 1.5 + i / 3,
                   "petal width": 0.2 + i / 8} for i in range(12)]
    given = await api.client.post("/api/v1/models/iris/explain", json={
        "inputs": [row], "parameters": {"background": background}}, headers=api.auth())
    assert given.status_code == 200, given.text
    explained = given.json()["explanations"][0]
    assert explained["method"] == "exact"  # 4 features
    assert total(explained) == pytest.approx(explained["output_value"], abs=1e-6)
    bad_row = await api.client.post("/api/v1/models/iris/explain", json={
        "inputs": [row], "parameters": {"background": [{"sepal length": 1.0}]}}, headers=api.auth())
    assert bad_row.status_code == 422 and "parameters.background[0]" in bad_row.text

    stranger = api.new_key(tenant="elsewhere")
    hidden = await api.client.post("/api/v1/models/iris/explain", json={"inputs": [row]},
                                   headers=api.auth(stranger))
    assert hidden.status_code == 404


async def test_positive_words_push_a_review_towards_positive(train_api: Api) -> None:
    ensure_builtins(train_api.services.registry, only=[EMBEDDER])
    job = await train_api.client.post("/api/v1/jobs", json={
        "task": "text-classification", "dataset": "builtin:sentiment", "name": "sentiment",
        "params": {"seed": 3, "explain_texts": 0}}, headers=train_api.auth())
    assert job.status_code == 202, job.text
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        shown = (await train_api.client.get(f"/api/v1/jobs/{job.json()['id']}",
                                            headers=train_api.auth())).json()
        if shown["status"] not in ("queued", "running"):
            break
        await __import__("asyncio").sleep(0.1)
    assert shown["status"] == "succeeded", shown
    review = "The staff were wonderful and the food was delicious, we loved every minute."
    response = await train_api.client.post("/api/v1/models/sentiment/explain", json={
        "inputs": [review]}, headers=train_api.auth())
    assert response.status_code == 200, response.text
    explained = response.json()["explanations"][0]
    assert explained["target"] == "positive" and explained["method"] == "partition"
    words = explained["words"]
    assert [w["word"] for w in words][:3] == ["The", "staff", "were"]
    assert all(review[w["start"]:w["end"]] == w["word"] for w in words)
    assert total(explained) == pytest.approx(explained["output_value"], abs=1e-5)
    ranked = sorted(words, key=lambda w: -w["attribution"])
    assert {w["word"] for w in ranked[:3]} & {"wonderful", "delicious", "loved"}
