"""Forecasters: a residual model in ONNX plus ``forecaster.json``, run step by step in numpy.

The series is split into a polynomial trend in time (``trend``: coefficients, highest power first,
of years since ``origin``) and a residual that an ONNX regressor predicts one step ahead from the
residual's own lags and calendar features. Trees cannot extrapolate a trend, so the trend is
taken out before and put back after. A forecast of ``h`` steps feeds each predicted residual
back as a lag for the next step (recursive forecasting). The interval at step ``k`` is the
forecast plus ``lower[k]`` / ``upper[k]``: quantiles of the errors the model made at that step on
the validation block. ``history`` holds the last stretch of the training series (regular, on the
``frequency`` grid from ``start``), which forecasts start from.

The JSON file is data only (no code, no pickle), checked with a strict schema before use
(``aiaas.tasks.forecaster_spec``); the trainer builds it with the same ``Recipe`` the backend
runs, so served and evaluated forecasts are the same computation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aiaas.errors import BackendError
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.loaders import open_session
from aiaas.tasks.base import Prediction
from aiaas.tasks.forecaster_spec import ForecasterSpec, read_spec
from aiaas.tasks.forecasting import ForecastItem, frequency_offset, iso, parse_timestamp

if TYPE_CHECKING:
    import pandas as pd

YEAR_DAYS = 365.25
Predict = Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]]
"""float32 feature rows -> one predicted residual per row."""


def calendar_features(index: pd.DatetimeIndex, names: tuple[str, ...]) -> np.ndarray[Any, Any]:
    """One column per name: yearly and daily phases as sin/cos pairs (two yearly harmonics),
    month 1-12, ISO week 1-53 and day of week 0-6 as numbers (trees split on those)."""
    day_fraction = (index.hour.to_numpy() * 3600 + index.minute.to_numpy() * 60
                    + index.second.to_numpy()) / 86400.0
    year_phase = 2 * np.pi * (index.day_of_year.to_numpy() - 1 + day_fraction) / YEAR_DAYS
    day_phase = 2 * np.pi * day_fraction
    columns = {
        "year_sin1": lambda: np.sin(year_phase), "year_cos1": lambda: np.cos(year_phase),
        "year_sin2": lambda: np.sin(2 * year_phase), "year_cos2": lambda: np.cos(2 * year_phase),
        "month": lambda: index.month.to_numpy(),
        "week": lambda: index.isocalendar().week.to_numpy(),
        "day_of_week": lambda: index.day_of_week.to_numpy(),
        "day_sin": lambda: np.sin(day_phase), "day_cos": lambda: np.cos(day_phase),
    }
    if not names:
        return np.zeros((len(index), 0))
    return np.column_stack([np.asarray(columns[name](), dtype=np.float64) for name in names])


@dataclass(frozen=True)
class Recipe:
    """How a series becomes feature rows and back: shared by the trainer and this backend."""

    offset: Any
    origin: pd.Timestamp
    trend: tuple[float, ...]
    lags: tuple[int, ...]
    calendar: tuple[str, ...]

    @property
    def max_lag(self) -> int:
        return max(self.lags)

    def years(self, index: pd.DatetimeIndex) -> np.ndarray[Any, Any]:
        import pandas as pd

        return np.asarray((index - self.origin) / pd.Timedelta(days=YEAR_DAYS), dtype=np.float64)

    def trend_at(self, index: pd.DatetimeIndex) -> np.ndarray[Any, Any]:
        values: np.ndarray[Any, Any] = np.polyval(np.asarray(self.trend), self.years(index))
        return values

    def residuals(self, series: pd.Series) -> np.ndarray[Any, Any]:
        residual: np.ndarray[Any, Any] = series.to_numpy(dtype=np.float64) - self.trend_at(series.index)
        return residual

    def rows(self, lagged: np.ndarray[Any, Any], index: pd.DatetimeIndex) -> np.ndarray[Any, Any]:
        """Feature rows: ``lagged`` (one column per lag, in ``lags`` order), then calendar."""
        return np.hstack([lagged, calendar_features(index, self.calendar)]).astype(np.float32)

    def training_rows(self, series: pd.Series) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """(features, residual target) for every point that has all its lags in ``series``."""
        residual, first = self.residuals(series), self.max_lag
        lagged = np.column_stack([residual[first - lag:len(residual) - lag] for lag in self.lags])
        return self.rows(lagged, series.index[first:]), residual[first:]

    def forecast(self, tails: list[pd.Series], horizon: int,
                 predict: Predict) -> tuple[list[pd.DatetimeIndex], np.ndarray[Any, Any]]:
        """Forecast ``horizon`` steps after each regular series in ``tails`` (all at once, one
        ``predict`` call per step); returns each one's future timestamps and the values."""
        import pandas as pd

        first = self.max_lag
        futures = [pd.date_range(tail.index[-1], periods=horizon + 1, freq=self.offset)[1:]
                   for tail in tails]
        buffer = np.zeros((len(tails), first + horizon))
        buffer[:, :first] = [self.residuals(tail.iloc[-first:]) for tail in tails]
        calendars = np.stack([calendar_features(future, self.calendar) for future in futures])
        for step in range(horizon):
            at = first + step
            lagged = np.column_stack([buffer[:, at - lag] for lag in self.lags])
            rows = np.hstack([lagged, calendars[:, step, :]]).astype(np.float32)
            buffer[:, at] = np.asarray(predict(rows), dtype=np.float64).reshape(len(tails))
        trends = np.stack([self.trend_at(future) for future in futures])
        return futures, buffer[:, first:] + trends


def recipe_of(spec: ForecasterSpec) -> Recipe:
    """The computation ``spec`` describes."""
    return Recipe(frequency_offset(spec.frequency), parse_timestamp(spec.origin, "origin"),
                  tuple(spec.trend), tuple(spec.lags), tuple(spec.calendar))


def output(future: pd.DatetimeIndex, values: np.ndarray[Any, Any],
           spec: ForecasterSpec) -> dict[str, Any]:
    """One forecast as the API returns it (``len(future)`` steps)."""
    steps = len(future)
    lower, upper = np.asarray(spec.lower[:steps]), np.asarray(spec.upper[:steps])
    return {"timestamps": [iso(stamp) for stamp in future],
            "forecast": [float(v) for v in values[:steps]],
            "lower": [float(v) for v in values[:steps] + lower],
            "upper": [float(v) for v in values[:steps] + upper],
            "level": spec.level}


class ForecasterBackend(Backend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int) -> None:
        super().__init__(path, config)
        self.threads = threads
        self.session: Any = None
        self.spec: ForecasterSpec | None = None

    def load(self) -> None:
        spec = read_spec(self.path)
        self.session = open_session(self.path / spec.model_file, threads=self.threads)
        self.input_name = self.session.get_inputs()[0].name
        self.recipe = recipe_of(spec)
        self.spec = spec

    def predict_rows(self, rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        try:
            outputs = self.session.run(None, {self.input_name: rows})
        except Exception as exc:
            raise self.failure(exc, "onnxruntime failed") from exc
        return np.asarray(outputs[0], dtype=np.float64).reshape(len(rows))

    def forecast(self, items: list[ForecastItem]) -> list[dict[str, Any]]:
        """Each item's forecast, all items stepped together up to the longest horizon."""
        spec = self.spec
        if spec is None:
            raise BackendError("the forecaster is not loaded")
        tails = [spec.series_with(item.history).iloc[-self.recipe.max_lag:] for item in items]
        with np.errstate(over="ignore", invalid="ignore"):
            futures, values = self.recipe.forecast(tails, max(item.horizon for item in items),
                                                   self.predict_rows)
        if not np.isfinite(values).all():
            raise BackendError("the forecast is not a finite number (the model's trend or its "
                               "graph overflowed on this history)")
        return [output(future[:item.horizon], row, spec)
                for item, future, row in zip(items, futures, values, strict=True)]

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        return [Prediction(result) for result in self.forecast(items)]

    def unload(self) -> None:
        self.session = None
        self.spec = None
