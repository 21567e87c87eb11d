"""Forecasters (ONNX residual model + forecaster.json): the recursive forecast against a model
whose answer is known in closed form, history merging, input checks, refusals, serving over HTTP."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiaas.errors import BackendError, Invalid
from aiaas.registry.formats import detect
from aiaas.runtime.backends.forecaster import SPEC_FILE, ForecasterBackend, read_spec
from aiaas.tasks.base import Limits
from aiaas.tasks.forecasting import MAX_HISTORY, ForecastingTask, ForecastItem
from tests.conftest import Api

ORIGIN = date(2000, 1, 1)  # a Saturday
STORED = 10
HORIZON = 3
SLOPE, INTERCEPT = 2.0, 10.0
AR, MONTH_WEIGHT = 0.5, 0.1
LIMITS = Limits(max_inputs=16, max_input_chars=1000)


def trend(day: date) -> float:
    return INTERCEPT + SLOPE * (day - ORIGIN).days / 365.25


def expected(last: date, last_value: float, steps: int) -> tuple[list[str], list[float]]:
    """The closed form: residual r_k = 0.5 r_(k-1) + 0.1 month_k on top of a linear trend."""
    residual, days, values = last_value - trend(last), [], []
    for step in range(1, steps + 1):
        day = last + timedelta(weeks=step)
        residual = AR * residual + MONTH_WEIGHT * day.month
        days.append(day.isoformat())
        values.append(trend(day) + residual)
    return days, values


def build_forecaster(root: Path, **overrides: Any) -> Path:
    """Weekly (W-SAT) series from 2000-01-01, residual 1.0 everywhere; the ONNX graph is a linear
    regression fitted to r = 0.5 lag1 + 0.1 month exactly."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(size=50), rng.integers(1, 13, size=50)]).astype(np.float32)
    model = LinearRegression().fit(x, AR * x[:, 0].astype(np.float64) + MONTH_WEIGHT * x[:, 1])
    root.mkdir(parents=True)
    (root / "model.onnx").write_bytes(to_onnx(model, x[:1], target_opset=17).SerializeToString())
    days = [ORIGIN + timedelta(weeks=i) for i in range(STORED)]
    spec = {"frequency": "W-SAT", "origin": ORIGIN.isoformat(), "trend": [SLOPE, INTERCEPT],
            "lags": [1], "calendar": ["month"], "horizon": HORIZON, "level": 0.8,
            "lower": [-1.0, -2.0, -3.0], "upper": [1.0, 2.5, 3.0], "value_name": "load",
            "history": {"start": ORIGIN.isoformat(), "values": [trend(d) + 1.0 for d in days]},
            **overrides}
    (root / SPEC_FILE).write_text(json.dumps(spec))
    (root / "aiaas.json").write_text(json.dumps({"task": "forecasting"}))
    return root


@pytest.fixture
def forecaster_dir(tmp_path: Path) -> Path:
    return build_forecaster(tmp_path / "load")


@pytest.fixture
def backend(forecaster_dir: Path) -> ForecasterBackend:
    loaded = ForecasterBackend(forecaster_dir, {}, threads=1)
    loaded.load()
    return loaded


def config_of(root: Path) -> dict[str, Any]:
    return ForecastingTask().prepare_config(detect(root), root)


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


def test_registered_with_its_own_format(forecaster_dir: Path) -> None:
    detected = detect(forecaster_dir)
    assert (detected.format, detected.tasks) == ("onnx-forecaster", ("forecasting",))
    config = config_of(forecaster_dir)
    assert config["horizon"] == HORIZON and config["history_end"] == "2000-03-04"
    schema = ForecastingTask().input_schema(config)
    assert schema["items"]["properties"]["horizon"]["maximum"] == HORIZON


BAD_ITEMS: list[tuple[Any, str]] = [
    ({"horizon": 0}, "inputs[0].horizon: must be an integer from 1 to 3"),
    ({"horizon": 4}, "inputs[0].horizon: must be an integer from 1 to 3"),
    ({"horizon": "2"}, "inputs[0].horizon"),
    ({"horizon": True}, "inputs[0].horizon"),
    ({"horizon": 2.0}, "inputs[0].horizon"),
    ({}, "inputs[0].horizon"),
    (12, "inputs[0]: expected an object"),
    ({"horizon": 1, "steps": 3}, "unknown field(s): steps"),
    ({"horizon": 1, "history": {"2000-03-11": 1}}, "inputs[0].history: expected a list"),
    ({"horizon": 1, "history": [{"timestamp": "2000-03-11"}]}, "inputs[0].history[0]"),
    ({"horizon": 1, "history": [{"timestamp": "now", "value": 1}]},
     "inputs[0].history[0].timestamp: 'now' is not an ISO 8601"),
    ({"horizon": 1, "history": [{"timestamp": 952732800, "value": 1}]},
     "inputs[0].history[0].timestamp: expected an ISO 8601"),
    ({"horizon": 1, "history": [{"timestamp": "2000-03-11", "value": "1"}]},
     "inputs[0].history[0].value: must be a finite number"),
    ({"horizon": 1, "history": [{"timestamp": "2000-03-11", "value": math.inf}]},
     "inputs[0].history[0].value: must be a finite number"),
    ({"horizon": 1, "history": [{"timestamp": "2000-03-18", "value": 1},
                                {"timestamp": "2000-03-11", "value": 1}]},
     "inputs[0].history[1].timestamp: timestamps must be strictly increasing"),
    ({"horizon": 1, "history": [{"timestamp": "2000-03-10", "value": 1}]},
     "inputs[0].history[0].timestamp: 2000-03-10 is not on the model's time grid"),
    ({"horizon": 1, "history": [{"timestamp": "2000-03-11T06:00:00", "value": 1}]},
     "is not on the model's time grid"),
    ({"horizon": 1, "history": [{"timestamp": "2250-01-04", "value": 1}]},
     "more than 10000 steps away"),
    ({"horizon": 1, "history": [{"timestamp": "2000-03-11", "value": 1}] * (MAX_HISTORY + 1)},
     f"more than the limit of {MAX_HISTORY}"),
]


@pytest.mark.parametrize(("item", "named"), BAD_ITEMS)
def test_bad_items_are_refused_naming_the_field(forecaster_dir: Path, item: Any, named: str) -> None:
    with pytest.raises(Invalid) as raised:
        ForecastingTask().check([item], None, config_of(forecaster_dir), LIMITS)
    assert named in raised.value.message
    assert raised.value.details["field"].startswith("inputs[0]")


def test_aware_timestamps_are_taken_in_utc(forecaster_dir: Path) -> None:
    item = ForecastingTask().check_item(
        {"horizon": 1, "history": [{"timestamp": "2000-03-11T01:00:00+01:00", "value": 5}]},
        0, config_of(forecaster_dir), LIMITS)
    assert [str(stamp) for stamp, _ in item.history] == ["2000-03-11 00:00:00"]


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


def test_a_forecasting_manifest_without_its_spec_is_refused(forecaster_dir: Path) -> None:
    (forecaster_dir / SPEC_FILE).unlink()
    with pytest.raises(Invalid, match=r"needs forecaster\.json"):
        config_of(forecaster_dir)


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
