"""Native predict: results, and a named 4xx for every kind of bad input (never a 500)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

URL = "/api/v1/models/breast-cancer-diagnosis/predict"


async def test_diagnosis_returns_label_score_and_probabilities(
    api: Api, diagnosis: str, cancer_records: list[dict[str, Any]]
) -> None:
    response = await api.client.post(URL, json={"inputs": cancer_records[:3]}, headers=api.auth())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == diagnosis and body["version"] == 1
    assert len(body["outputs"]) == 3
    for output in body["outputs"]:
        assert set(output) == {"label", "score", "probabilities"}
        assert set(output["probabilities"]) == {"malignant", "benign"}
        assert sum(output["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert output["score"] == max(output["probabilities"].values())
    # The first rows of breast_cancer are all malignant cases.
    assert [o["label"] for o in body["outputs"]] == ["malignant"] * 3
    assert body["usage"]["items"] == 3


async def test_positional_rows_match_named_records(
    api: Api, diagnosis: str, cancer_records: list[dict[str, Any]]
) -> None:
    named = await api.client.post(URL, json={"inputs": cancer_records[:1]}, headers=api.auth())
    positional = await api.client.post(
        URL, json={"inputs": [list(cancer_records[0].values())]}, headers=api.auth()
    )
    assert named.json()["outputs"] == positional.json()["outputs"]


async def test_predict_by_version_and_alias(api: Api, diagnosis: str,
                                            cancer_records: list[dict[str, Any]]) -> None:
    for ref in ("1", "production", "latest"):
        response = await api.client.post(
            f"/api/v1/models/{diagnosis}/versions/{ref}/predict",
            json={"inputs": cancer_records[:1]}, headers=api.auth(),
        )
        assert response.status_code == 200, (ref, response.text)
    missing = await api.client.post(f"/api/v1/models/{diagnosis}/versions/7/predict",
                                    json={"inputs": cancer_records[:1]}, headers=api.auth())
    assert missing.status_code == 404


def _record_without(record: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != name}


@pytest.mark.parametrize(
    ("body", "status", "code", "mentions"),
    [
        ({"inputs": []}, 422, "invalid_request", "empty"),
        ({"inputs": "mean radius"}, 422, "invalid_request", "inputs"),
        ({}, 422, "invalid_request", "inputs"),
        ({"inputs": [1, 2]}, 422, "invalid_request", "inputs[0]"),
        ({"inputs": [{"mean radius": "big"}]}, 422, "invalid_request", "inputs[0]"),
        ({"inputs": [[1.0, 2.0]]}, 422, "invalid_request", "expected 30 values"),
        ({"inputs": [{}], "parameters": []}, 422, "invalid_request", "parameters"),
        ({"inputs": [{}], "extra": 1}, 422, "invalid_request", "extra"),
    ],
)
async def test_bad_inputs_get_named_4xx(
    api: Api, diagnosis: str, body: dict[str, Any], status: int, code: str, mentions: str
) -> None:
    response = await api.client.post(URL, json=body, headers=api.auth())
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert mentions in error["message"] or mentions in str(error["details"])


async def test_missing_and_wrong_typed_features_are_named(
    api: Api, diagnosis: str, cancer_records: list[dict[str, Any]]
) -> None:
    missing = _record_without(cancer_records[0], "mean radius")
    response = await api.client.post(URL, json={"inputs": [cancer_records[0], missing]},
                                     headers=api.auth())
    assert response.status_code == 422
    assert "inputs[1]" in response.json()["error"]["message"]
    assert "mean radius" in response.json()["error"]["message"]
    wrong = {**cancer_records[0], "worst area": True}
    response = await api.client.post(URL, json={"inputs": [wrong]}, headers=api.auth())
    assert "worst area" in response.json()["error"]["message"]
    extra = {**cancer_records[0], "shoe size": 42}
    response = await api.client.post(URL, json={"inputs": [extra]}, headers=api.auth())
    assert "shoe size" in response.json()["error"]["message"]


async def test_malformed_json_is_400(api: Api, diagnosis: str) -> None:
    response = await api.client.post(URL, content=b'{"inputs": [', headers={
        **api.auth(), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


async def test_form_body_is_415_naming_the_content_type(api: Api, diagnosis: str) -> None:
    response = await api.client.post(URL, content=b"inputs=1", headers={
        **api.auth(), "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]["message"]


async def test_too_many_inputs_is_413(api: Api, diagnosis: str,
                                      cancer_records: list[dict[str, Any]]) -> None:
    limit = api.services.settings.max_inputs
    response = await api.client.post(URL, json={"inputs": cancer_records[:1] * (limit + 1)},
                                     headers=api.auth())
    assert response.status_code == 413
    assert str(limit) in response.json()["error"]["message"]


async def test_oversized_body_is_413(api: Api, diagnosis: str) -> None:
    size = api.services.settings.max_body_bytes + 10
    response = await api.client.post(URL, content=b" " * size, headers={
        **api.auth(), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_unknown_model_is_404(api: Api) -> None:
    response = await api.client.post("/api/v1/models/no-such-model/predict",
                                     json={"inputs": ["x"]}, headers=api.auth())
    assert response.status_code == 404
    assert "no-such-model" in response.json()["error"]["message"]


async def test_every_predict_writes_one_usage_row(
    api: Api, diagnosis: str, cancer_records: list[dict[str, Any]]
) -> None:
    key = api.new_key("clinic")
    await api.client.post(URL, json={"inputs": cancer_records[:2]}, headers=api.auth(key))
    await api.client.post(URL, json={"inputs": []}, headers=api.auth(key))
    usage = await api.client.get("/api/v1/usage", headers=api.auth(key))
    body = usage.json()
    assert body["totals"]["requests"] == 2
    assert body["totals"]["errors"] == 1
    assert body["totals"]["items"] == 2
    statuses = sorted(r["status"] for r in body["records"])
    assert statuses == ["invalid_request", "ok"]
    assert all(r["tenant"] == "clinic" and r["model"] == diagnosis for r in body["records"])
    # Another tenant's usage is not visible.
    other = await api.client.get("/api/v1/usage", headers=api.auth(api.new_key("bank")))
    assert other.json()["totals"]["requests"] == 0


async def test_multipart_bodies_are_checked(api: Api, diagnosis: str) -> None:
    no_file = await api.client.post(URL, data={"parameters": "{}"}, files={"other": b"x"},
                                    headers=api.auth())
    assert no_file.status_code == 422
    assert "'file'" in no_file.json()["error"]["message"]
    bad_params = await api.client.post(URL, data={"parameters": "{nope"},
                                       files={"file": ("a.bin", b"abc")}, headers=api.auth())
    assert bad_params.status_code == 422
    assert "parameters" in bad_params.json()["error"]["message"]
    # A file reaches the task as bytes; a tabular model says what it expected instead.
    wrong_task = await api.client.post(URL, files={"file": ("a.bin", b"abc")}, headers=api.auth())
    assert wrong_task.status_code == 422
    assert "inputs[0]" in wrong_task.json()["error"]["message"]


async def test_preload_flag_is_the_only_mutable_field(api: Api, tiny_model_archive: bytes) -> None:
    key = api.new_key("clinic")
    upload = await api.client.post("/api/v1/models/iris/versions", content=tiny_model_archive,
                                   headers=api.auth(key))
    assert upload.status_code == 201, upload.text
    marked = await api.client.patch("/api/v1/models/iris/versions/1", json={"preload": True},
                                    headers=api.auth(key))
    assert marked.status_code == 200 and marked.json()["preload"] is True
    refused = await api.client.patch("/api/v1/models/iris/versions/1",
                                     json={"preload": True, "task": "embedding"},
                                     headers=api.auth(key))
    assert refused.status_code == 422
    other = await api.client.patch("/api/v1/models/iris/versions/1", json={"preload": False},
                                   headers=api.auth(api.new_key("bank")))
    assert other.status_code == 404
