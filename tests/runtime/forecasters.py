"""A forecaster whose answer is known in closed form: a weekly series on a linear trend with an
ONNX residual model fitted exactly. Plain functions, so any test package can import them."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.tasks.forecaster_spec import SPEC_FILE

ORIGIN = date(2000, 1, 1)  # a Saturday
STORED = 10
HORIZON = 3
SLOPE, INTERCEPT = 2.0, 10.0
AR, MONTH_WEIGHT = 0.5, 0.1


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
