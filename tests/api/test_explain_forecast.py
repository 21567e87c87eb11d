"""Forecast explanations over the API, on the closed-form weekly forecaster (residual model
r = 0.5 lag1 + 0.1 month): every step's trend + base value + attributions is the served forecast,
the attributions are the linear model's exact SHAP values against the stored series' rows, bad
requests are 422s naming the field, another tenant's forecaster is a 404, and usage is metered
with surface ``explain``."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from aiaas.explain import forecast
from aiaas.tasks.forecaster_spec import SPEC_FILE
from tests.conftest import Api
from tests.runtime.forecasters import AR, MONTH_WEIGHT, ORIGIN, build_forecaster, trend
from tests.runtime.tiny_models import tar_gz

URL = "/api/v1/models/load/explain"


async def upload(api: Api, name: str, root: Path) -> None:
    answer = await api.client.post(f"/api/v1/models/{name}/versions", content=tar_gz(root),
                                   headers=api.auth())
    assert answer.status_code == 201, answer.text


@pytest.fixture
async def spec(api: Api, tmp_path: Path) -> dict[str, Any]:
    """The forecaster ``load`` uploaded; its forecaster.json."""
    root = build_forecaster(tmp_path / "load")
    await upload(api, "load", root)
    loaded: dict[str, Any] = json.loads((root / SPEC_FILE).read_text())
    return loaded


def expected_steps(spec: dict[str, Any], last: date, last_value: float,
                   steps: int) -> list[dict[str, float]]:
    """Per step, from the spec alone: the lag and month fed to the residual model and their exact
    SHAP values against the stored series' rows (every stored point but the first, whose lag is
    the point before): w * (input - its background mean), the model being linear."""
    start = date.fromisoformat(spec["history"]["start"])
    stored = [(start + timedelta(weeks=i), v) for i, v in enumerate(spec["history"]["values"])]
    residuals = [value - trend(day) for day, value in stored]
    lag_mean = sum(residuals[:-1]) / (len(residuals) - 1)
    month_mean = sum(day.month for day, _ in stored[1:]) / (len(stored) - 1)
    residual, found = last_value - trend(last), []
    for step in range(1, steps + 1):
        day = last + timedelta(weeks=step)
        found.append({"timestamp": day.isoformat(), "trend": trend(day), "lag_1": residual,
                      "month": day.month, "lag_attribution": AR * (residual - lag_mean),
                      "month_attribution": MONTH_WEIGHT * (day.month - month_mean),
                      "base_value": AR * lag_mean + MONTH_WEIGHT * month_mean})
        residual = AR * residual + MONTH_WEIGHT * day.month
    return found


def check_adds_up(explained: dict[str, Any]) -> None:
    """trend + base value + attributions = the served forecast, at every step."""
    forecast_values = explained["prediction"]["forecast"]
    assert len(explained["steps"]) == len(forecast_values)
    for step, served in zip(explained["steps"], forecast_values, strict=True):
        attributions = [feature["attribution"] for feature in step["features"]]
        assert step["value"] == served
        assert step["trend"] + step["base_value"] + sum(attributions) == pytest.approx(
            served, abs=1e-5)
        assert step["base_value"] + sum(attributions) == pytest.approx(step["output_value"])
        assert step["lags"] + step["season"] == pytest.approx(sum(attributions))
        magnitudes = [abs(a) for a in attributions]
        assert magnitudes == sorted(magnitudes, reverse=True)


async def test_each_step_adds_up_to_the_forecast_with_exact_shap_values(
        api: Api, spec: dict[str, Any]) -> None:
    last = ORIGIN + timedelta(weeks=len(spec["history"]["values"]) - 1)
    newer = date(2000, 3, 11)
    items = [{"horizon": 3},
             {"horizon": 2, "history": [{"timestamp": newer.isoformat(),
                                         "value": trend(newer) + 3.0}]}]
    response = await api.client.post(URL, json={"inputs": items}, headers=api.auth())
    assert response.status_code == 200, response.text
    body = response.json()
    served = await api.client.post("/api/v1/models/load/predict", json={"inputs": items},
                                   headers=api.auth())
    assert [e["prediction"] for e in body["explanations"]] == served.json()["outputs"]
    cases = [expected_steps(spec, last, trend(last) + 1.0, 3),
             expected_steps(spec, newer, trend(newer) + 3.0, 2)]
    for explained, wanted in zip(body["explanations"], cases, strict=True):
        assert explained["method"] == "exact" and explained["output"] == "value"
        check_adds_up(explained)
        for step, want in zip(explained["steps"], wanted, strict=True):
            assert step["timestamp"] == want["timestamp"]
            assert step["trend"] == pytest.approx(want["trend"], abs=1e-9)
            assert step["base_value"] == pytest.approx(want["base_value"], abs=1e-5)
            features = {feature["name"]: feature for feature in step["features"]}
            assert set(features) == {"lag_1", "month"}
            assert features["lag_1"]["value"] == pytest.approx(want["lag_1"], abs=1e-5)
            assert features["month"]["value"] == want["month"]
            assert features["lag_1"]["attribution"] == pytest.approx(want["lag_attribution"],
                                                                     abs=1e-5)
            assert features["month"]["attribution"] == pytest.approx(want["month_attribution"],
                                                                     abs=1e-5)
            assert step["lags"] == pytest.approx(want["lag_attribution"], abs=1e-5)
            assert step["season"] == pytest.approx(want["month_attribution"], abs=1e-5)
    # the history's 3.0 residual (the background's lags are 1.0) pushed step 1 up by 0.5 * 2
    assert body["explanations"][1]["steps"][0]["lags"] == pytest.approx(1.0, abs=1e-5)
    assert body["usage"]["items"] > 2  # model evaluations spent, not inputs

    permutation = await api.client.post("/api/v1/models/load/versions/1/explain", json={
        "inputs": items[:1], "parameters": {"method": "permutation"}}, headers=api.auth())
    assert permutation.status_code == 200, permutation.text
    [explained] = permutation.json()["explanations"]
    assert explained["method"] == "permutation"
    check_adds_up(explained)

    usage = (await api.client.get("/api/v1/usage?model=load", headers=api.auth())).json()
    metered = [r for r in usage["records"] if r["surface"] == "explain"]
    assert len(metered) == 2 and body["usage"]["items"] in [r["units"]["items"] for r in metered]


async def test_bad_requests_name_the_field(api: Api, spec: dict[str, Any],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"inputs": [{"horizon": 1}], "parameters": {"target": "up"}}, "parameters.target",
         "forecasting has no labels"),
        ({"inputs": [{"horizon": 1}], "parameters": {"method": "partition"}},
         "parameters.method", "does not apply to forecasting"),
        ({"inputs": [{"horizon": 1}], "parameters": {"colour": "red"}}, "parameters.colour", ""),
        ({"inputs": [{"horizon": 1}], "parameters": {"background": [{"horizon": 1}]}},
         "parameters.background", "stored series"),
        ({"inputs": [{"horizon": 4}]}, "inputs[0].horizon", "from 1 to 3"),
    ]
    for body, field, says in cases:
        response = await api.client.post(URL, json=body, headers=api.auth())
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert field in (error["details"].get("field", "") if isinstance(error["details"], dict)
                         else str(error)) or field in error["message"], (body, error)
        assert says in error["message"], (body, error)

    monkeypatch.setattr(forecast, "MAX_STEPS", 4)
    response = await api.client.post(URL, json={"inputs": [{"horizon": 3}, {"horizon": 2}]},
                                     headers=api.auth())
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "inputs[1].horizon"

    stranger = api.new_key(tenant="elsewhere")
    hidden = await api.client.post(URL, json={"inputs": [{"horizon": 1}]},
                                   headers=api.auth(stranger))
    assert hidden.status_code == 404


async def test_a_forecaster_storing_too_short_a_series_needs_history(
        api: Api, tmp_path: Path) -> None:
    root = build_forecaster(tmp_path / "short", history={
        "start": ORIGIN.isoformat(), "values": [trend(ORIGIN) + 1.0]})
    await upload(api, "short", root)
    url = "/api/v1/models/short/explain"
    missing = await api.client.post(url, json={"inputs": [{"horizon": 1}]}, headers=api.auth())
    assert missing.status_code == 422, missing.text
    error = missing.json()["error"]
    assert error["details"]["field"] == "inputs[0].history" and "more than 1 point" in \
        error["message"]
    days = [ORIGIN + timedelta(weeks=i) for i in (1, 2, 3)]
    history = [{"timestamp": day.isoformat(), "value": trend(day) + 1.0 + i}
               for i, day in enumerate(days)]
    given = await api.client.post(url, json={"inputs": [{"horizon": 2, "history": history}]},
                                  headers=api.auth())
    assert given.status_code == 200, given.text
    check_adds_up(given.json()["explanations"][0])
