"""Forecasters (ONNX residual model + forecaster.json): the recursive forecast against a model
whose answer is known in closed form, history merging, broken or hostile specs, an overflowing
forecast, serving over HTTP."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiaas.errors import BackendError, Invalid
from aiaas.runtime.backends.forecaster import ForecasterBackend
from aiaas.tasks.base import Limits
from aiaas.tasks.forecaster_spec import read_spec
from aiaas.tasks.forecasting import ForecastingTask, ForecastItem
from tests.conftest import Api
from tests.runtime.forecasters import HORIZON, ORIGIN, STORED, build_forecaster, expected, trend

LIMITS = Limits(max_inputs=16, max_input_chars=1000)


@pytest.fixture
def forecaster_dir(tmp_path: Path) -> Path:
    return build_forecaster(tmp_path / "load")


@pytest.fixture
def backend(forecaster_dir: Path) -> ForecasterBackend:
    loaded = ForecasterBackend(forecaster_dir, {}, threads=1)
    loaded.load()
    return loaded


def test_forecast_is_the_trend_plus_the_recursive_residual(backend: ForecasterBackend) -> None:
    last = ORIGIN + timedelta(weeks=STORED - 1)
    days, values = expected(last, trend(last) + 1.0, HORIZON)
    [result] = backend.forecast([ForecastItem(HORIZON, [])])
    assert result["timestamps"] == days == ["2000-03-11", "2000-03-18", "2000-03-25"]
    assert result["forecast"] == pytest.approx(values, abs=1e-5)
    assert np.allclose(np.asarray(result["lower"]) - result["forecast"], [-1, -2, -3])
    assert np.allclose(np.asarray(result["upper"]) - result["forecast"], [1, 2.5, 3])
    assert result["level"] == 0.8
    shorter, = backend.forecast([ForecastItem(1, [])])
    assert shorter["forecast"] == result["forecast"][:1] and shorter["timestamps"] == days[:1]


def test_history_is_merged_and_moves_the_start(backend: ForecasterBackend) -> None:
    stamp = "2000-03-25T00:00:00"  # three weeks after the stored end: two weeks interpolated
    newer = ForecastingTask().check_item({"horizon": 2, "history": [
        {"timestamp": "2000-03-04", "value": 99.0}, {"timestamp": stamp, "value": 50.0}]},
        0, {"horizon": HORIZON, "frequency": "W-SAT", "history_start": "2000-01-01",
            "history_end": "2000-03-04"}, LIMITS)
    plain = ForecastItem(1, [])
    moved, unchanged = backend.forecast([newer, plain])
    days, values = expected(date(2000, 3, 25), 50.0, 2)
    assert moved["timestamps"] == days
    assert moved["forecast"] == pytest.approx(values, abs=1e-5)
    assert unchanged == backend.forecast([plain])[0]
    assert backend.spec is not None
    merged = backend.spec.series_with(newer.history)
    assert merged.index[-1].date() == date(2000, 3, 25) and len(merged) == STORED + 3
    assert merged["2000-03-04"] == 99.0 and merged["2000-03-18"] == pytest.approx((99 + 2 * 50) / 3)


@pytest.mark.parametrize(("override", "named"), [
    ({"model_file": "../outside.onnx"}, "model_file"),
    ({"lower": [-1.0]}, "one value per horizon step"),
    ({"lower": [5.0, -2.0, -3.0]}, "lower must not exceed upper"),
    ({"lags": [1, 20]}, "history needs at least 20 values"),
    ({"lags": [0]}, "lags must be distinct integers"),
    ({"calendar": ["__import__"]}, "calendar"),
    ({"frequency": "fortnightly"}, "unknown time frequency"),
    ({"trend": [1.0, 2.0, 3.0, 4.0, 5.0]}, "trend"),
    ({"code": "import os"}, "code"),
])
def test_broken_or_hostile_specs_are_refused(tmp_path: Path, override: dict[str, Any],
                                             named: str) -> None:
    root = build_forecaster(tmp_path / "bad", **override)
    with pytest.raises(Invalid) as raised:
        read_spec(root)
    assert named in raised.value.message


def test_an_overflowing_forecast_is_an_error_not_infinity(tmp_path: Path) -> None:
    loaded = ForecasterBackend(build_forecaster(tmp_path / "huge", trend=[1e308, 1e308]), {},
                               threads=1)
    loaded.load()
    with pytest.raises(BackendError, match="not a finite number"):
        loaded.forecast([ForecastItem(1, [])])


async def test_served_through_the_registry_with_usage(api: Api, forecaster_dir: Path) -> None:
    info = api.services.registry.register(forecaster_dir, tenant="default", name="load",
                                          created_by="test")
    assert (info.task, info.format) == ("forecasting", "onnx-forecaster")
    models = (await api.client.get("/api/v1/models", headers=api.auth())).json()["models"]
    assert [m["versions"][0]["task"] for m in models if m["name"] == "load"] == ["forecasting"]

    response = await api.client.post("/api/v1/models/load/predict", headers=api.auth(),
                                     json={"inputs": [{"horizon": 2}, {"horizon": 3}]})
    assert response.status_code == 200, response.text
    short, full = response.json()["outputs"]
    days, values = expected(date(2000, 3, 4), trend(date(2000, 3, 4)) + 1.0, 3)
    assert full["timestamps"] == days and full["forecast"] == pytest.approx(values, abs=1e-5)
    assert short["forecast"] == full["forecast"][:2] and short["level"] == 0.8

    bad = await api.client.post("/api/v1/models/load/predict", headers=api.auth(),
                                json={"inputs": [{"horizon": 53}]})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["field"] == "inputs[0].horizon"
    records = (await api.client.get("/api/v1/usage", params={"model": "load"},
                                    headers=api.auth())).json()["records"]
    assert sorted(r["status"] for r in records) == ["invalid_request", "ok"]
    assert [r["units"]["items"] for r in records if r["status"] == "ok"] == [2]
