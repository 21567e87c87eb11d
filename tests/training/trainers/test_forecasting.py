"""Forecasting jobs: builtin:co2 through the jobs API to a served forecaster, the held-out numbers
against scikit-learn, the deploy gate, refusals; series preparation and cancelling on their own."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn import metrics as sk

from aiaas.errors import Invalid
from aiaas.training.datasets.base import DatasetInfo, Table
from aiaas.training.datasets.catalog import Catalog
from aiaas.training.trainers import spec_for
from aiaas.training.trainers.base import TrainContext
from aiaas.training.trainers.forecasting import ForecastParams, load_series, season_length
from tests.conftest import Api
from tests.training.conftest import PNG_SIGNATURE, _train

FAST = {"n_estimators": 100, "learning_rate": 0.1, "seed": 0}


def co2() -> pd.DataFrame:
    table = Catalog().load("t", "builtin:co2", "forecasting")
    assert isinstance(table, Table)
    return table.frame


async def test_co2_trains_to_under_one_percent_mape_and_serves_the_same_forecast(
        train_api: Api) -> None:
    job = await _train(train_api, task="forecasting", dataset="builtin:co2", name="co2",
                       params=FAST, promote_if="mape<=0.01")
    assert job["status"] == "succeeded", job
    metrics, result = job["metrics"], job["result"]
    assert metrics["mape"] < 0.01 and metrics["samples"] == 52
    assert 0.5 <= metrics["interval_coverage"] <= 1.0 and metrics["interval_width"] > 0
    assert result["promoted"] is True and result["promotion_reason"].startswith("mape 0.00")
    assert result["split"] == {"train": 2284 - 156, "validation": 104, "test": 52}
    assert (result["horizon"], result["frequency"], result["lags"]) == (52, "W-SAT", [1, 2, 3, 4, 52])
    stages = [data["stage"] for kind, data in job["events"] if kind == "progress"]
    assert stages[0] == "split" and {"fit", "backtest", "forecast"} <= set(stages)
    assert any("eta_s" in data for kind, data in job["events"] if kind == "progress")

    frame = co2()
    actual = frame["co2"].to_numpy()[-52:]
    evaluated = metrics["forecast"]
    assert evaluated["actual"] == actual.tolist()
    assert evaluated["timestamps"][0] == "2001-01-06" and evaluated["timestamps"][-1] == "2001-12-29"

    response = await train_api.client.post("/api/v1/models/co2/predict", headers=train_api.auth(),
                                           json={"inputs": [{"horizon": 52}, {"horizon": 4}]})
    assert response.status_code == 200, response.text
    served, short = response.json()["outputs"]
    assert served["timestamps"] == evaluated["timestamps"] and served["level"] == 0.9
    for key in ("forecast", "lower", "upper"):
        assert served[key] == pytest.approx(evaluated[key], rel=1e-6)
    assert short["forecast"] == served["forecast"][:4]
    predicted = np.asarray(served["forecast"])
    assert metrics["mape"] == pytest.approx(sk.mean_absolute_percentage_error(actual, predicted), rel=1e-6)
    assert metrics["mae"] == pytest.approx(sk.mean_absolute_error(actual, predicted), rel=1e-6)
    assert metrics["rmse"] == pytest.approx(sk.root_mean_squared_error(actual, predicted), rel=1e-6)
    assert metrics["r2"] == pytest.approx(sk.r2_score(actual, predicted), rel=1e-5)
    inside = (actual >= np.asarray(served["lower"])) & (actual <= np.asarray(served["upper"]))
    assert metrics["interval_coverage"] == inside.mean()

    # Newer data moves the forecast's start: send the first 8 test weeks as history.
    history = [{"timestamp": str(day.date()), "value": float(value)}
               for day, value in zip(frame["date"].iloc[-52:-44], actual[:8], strict=True)]
    newer = await train_api.client.post("/api/v1/models/co2/predict", headers=train_api.auth(),
                                        json={"inputs": [{"horizon": 44, "history": history}]})
    assert newer.status_code == 200, newer.text
    moved = newer.json()["outputs"][0]
    assert moved["timestamps"] == evaluated["timestamps"][8:]
    assert sk.mean_absolute_percentage_error(actual[8:], moved["forecast"]) < 0.01

    for body, field in (({"horizon": 53}, "inputs[0].horizon"), ({"horizon": 0}, "inputs[0].horizon"),
                        ({"horizon": 2, "history": [{"timestamp": "2001-01-05", "value": 1}]},
                         "inputs[0].history[0].timestamp")):
        bad = await train_api.client.post("/api/v1/models/co2/predict", headers=train_api.auth(),
                                          json={"inputs": [body]})
        assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == field, bad.text

    version = (await train_api.client.get("/api/v1/models/co2/versions/1",
                                          headers=train_api.auth())).json()
    assert version["task"] == "forecasting" and version["format"] == "onnx-forecaster"
    assert version["metrics"]["test_mape"] == metrics["mape"]
    assert "production" in version["aliases"]
    assert set(result["plots"]) == {"forecast", "training_curve"}
    png = await train_api.client.get(f"/api/v1/jobs/{job['id']}/plots/forecast.png",
                                     headers=train_api.auth())
    assert png.status_code == 200 and png.content.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png.content)) as image:
        assert image.size == (900, 450)


async def test_an_uploaded_monthly_csv_with_gaps_trains_linear(train_api: Api) -> None:
    months = pd.date_range("2010-01-01", periods=120, freq="MS")
    rng = np.random.default_rng(1)
    values = (100 + 0.5 * np.arange(120) + 10 * np.sin(2 * np.pi * months.month.to_numpy() / 12)
              + rng.normal(0, 0.5, 120))
    rows = [f"{day.date()},{value:.3f}" for i, (day, value) in enumerate(zip(months, values,
                                                                              strict=True))
            if i not in (30, 31, 77)]
    upload = await train_api.client.post(
        "/api/v1/datasets", headers=train_api.auth(), data={"label": "sales", "timestamp": "month"},
        files={"file": ("sales.csv", "month,sales\n" + "\n".join(rows) + "\n", "text/csv")})
    assert upload.status_code == 201, upload.text
    job = await _train(train_api, task="forecasting", dataset="sales", name="sales",
                       params={"algorithm": "linear", "trend_degree": 1})
    assert job["status"] == "succeeded", job
    result, metrics = job["result"], job["metrics"]
    assert (result["frequency"], result["horizon"], result["lags"]) == ("MS", 12, [1, 2, 3, 4, 12])
    assert result["missing_filled"] == 3 and result["split"]["test"] == 12
    assert metrics["mape"] < 0.02
    served = await train_api.client.post("/api/v1/models/sales/predict", headers=train_api.auth(),
                                         json={"inputs": [{"horizon": 12}]})
    assert served.json()["outputs"][0]["timestamps"][0] == "2019-01-01"


BAD_JOBS: list[tuple[dict[str, Any], str]] = [
    ({"params": {"horizon": 0}}, "params.horizon"),
    ({"params": {"horizon": 800}}, "has 2284 rows; a horizon of 800 needs at least"),
    ({"params": {"lags": [0, 1]}}, "params.lags"),
    ({"params": {"lags": [1, 1]}}, "lags must be distinct"),
    ({"params": {"algorithm": "arima"}}, "params.algorithm"),
    ({"params": {"level": 1.5}}, "params.level"),
    ({"params": {"window": 3}}, "params.window"),
    ({"params": {"value": "ppm"}}, "no value column 'ppm'"),
    ({"params": {"timestamp": "co2"}}, "no value column"),
    ({"dataset": "builtin:iris"}, "is for tabular-classification, not forecasting"),
    ({"dataset": "builtin:digits"}, "not forecasting"),
    ({"promote_if": "accuracy>=0.9"}, "unknown metric 'accuracy'"),
]


async def test_bad_jobs_are_refused_naming_the_problem(train_api: Api) -> None:
    for body, named in BAD_JOBS:
        request = {"task": "forecasting", "dataset": "builtin:co2", "name": "m", **body}
        response = await train_api.client.post("/api/v1/jobs", json=request, headers=train_api.auth())
        assert response.status_code == 422, (body, response.text)
        assert named in response.json()["error"]["message"], (body, response.text)


def table(frame: pd.DataFrame, columns: dict[str, str] | None = None) -> Table:
    info = DatasetInfo("upload", "table", len(frame), columns or {"when": "datetime", "y": "number"},
                       label="y", timestamp="when")
    return Table(info, frame)


def test_an_image_set_or_a_missing_column_is_refused() -> None:
    spec, params = spec_for("forecasting"), ForecastParams()
    with pytest.raises(Invalid, match="is a set of images"):
        spec.check(DatasetInfo("pics", "images", 10), params)
    with pytest.raises(Invalid, match="no timestamp column"):
        spec.check(DatasetInfo("t", "table", 10, {"y": "number"}, label="y"), params)
    with pytest.raises(Invalid, match="'when' is not numeric"):
        spec.check(DatasetInfo("t", "table", 10, {"when": "datetime", "y": "text"}, label="when",
                               timestamp="y"), ForecastParams(timestamp="y", value="when"))


def test_series_made_regular_gaps_filled_duplicates_averaged() -> None:
    days = ["2021-01-04", "2021-01-01", "2021-01-02", "2021-01-02", "2021-01-06"]
    series = load_series(table(pd.DataFrame({"when": days, "y": [4.0, 1.0, 2.0, 3.0, None]})),
                         ForecastParams())
    assert series.frequency == "D" or series.frequency == "1D"
    assert series.values.tolist() == [1.0, 2.5, 3.25, 4.0, 4.0, 4.0]
    assert series.facts["missing_filled"] == 3 and series.facts["duplicates_averaged"] == 1
    weekly = load_series(table(co2().rename(columns={"date": "when", "co2": "y"})), ForecastParams())
    assert weekly.frequency == "W-SAT" and season_length(weekly) == 52
    monthly = pd.DataFrame({"when": ["2020-01-01", "2020-02-01", "2020-04-01"], "y": [1, 2, 4]})
    series = load_series(table(monthly), ForecastParams())
    assert series.frequency == "MS" and series.values.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert season_length(series) == 12


@pytest.mark.parametrize(("frame", "named"), [
    (pd.DataFrame({"when": ["2021-01-01", "soon", "2021-01-03"], "y": [1, 2, 3]}),
     "row 2: column 'when' has 'soon', which is not a timestamp"),
    (pd.DataFrame({"when": ["2021-01-01", "2021-01-02", "2021-01-03"], "y": [1, "x", 3]}),
     "row 2: column 'y' has 'x', which is not a number"),
    (pd.DataFrame({"when": ["2021-01-01", "2021-01-03", "2021-01-04 12:00"], "y": [1, 2, 3]}),
     "timestamps are not evenly spaced"),
    (pd.DataFrame({"when": ["2021-01-01", "2021-01-02"], "y": [1, 2]}), "fewer than 3 values"),
])
def test_unreadable_series_name_the_row(frame: pd.DataFrame, named: str) -> None:
    with pytest.raises(Invalid) as raised:
        load_series(table(frame), ForecastParams())
    assert named in raised.value.message


class Stop(Exception):
    pass


def test_progress_raising_stops_the_fit(tmp_path: Path) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def progress(stage: str, **values: Any) -> None:
        seen.append((stage, values))
        if stage == "fit":
            raise Stop

    spec = spec_for("forecasting")
    ctx = TrainContext(SimpleNamespace(id="j", dataset="builtin:co2"),  # type: ignore[arg-type]
                       spec.validate({"n_estimators": 200}), Catalog().load("t", "builtin:co2"),
                       progress, tmp_path, tmp_path, tmp_path, None)  # type: ignore[arg-type]
    with pytest.raises(Stop):
        spec.run(ctx)
    assert [stage for stage, _ in seen] == ["split", "fit"]
    assert seen[1][1]["step"] == 10 and seen[1][1]["total"] == 200 and "eta_s" in seen[1][1]
    assert not (tmp_path / "model.onnx").exists()
