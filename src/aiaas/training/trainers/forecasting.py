"""Time-series forecasting from a timestamp and a value column.

The series is made regular first (sorted, duplicate timestamps averaged, the frequency inferred,
missing steps filled by linear interpolation). The split is by time, never shuffled: the last
``horizon`` points are the test split, the ``2 * horizon`` before them the validation block, the
rest trains. A polynomial trend in time is fitted and taken out (trees cannot extrapolate one);
gradient boosting (or a linear model) learns the residual from its own lags and calendar
features, and forecasts recursively (``aiaas.runtime.backends.forecaster.Recipe``).

Prediction intervals: the model fitted on the training part forecasts ``horizon`` steps from
origins spread over the validation block; the errors at each step (pooled with neighbouring
steps) give the interval's quantiles. Then trend and model are refitted on training plus
validation, exported to ONNX with ``forecaster.json``, and evaluated through the serving backend
on the test split: MAE, RMSE, MAPE, sMAPE, R^2 and the interval coverage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from aiaas.errors import Invalid
from aiaas.runtime.backends import open_directory
from aiaas.runtime.backends.forecaster import Recipe
from aiaas.tasks.forecaster_spec import MAX_HORIZON, MAX_LAG, SPEC_FILE, ForecasterSpec, StoredHistory
from aiaas.tasks.forecasting import ForecastItem, iso
from aiaas.training import evaluation, plots
from aiaas.training.datasets import DatasetInfo, Table, table_of
from aiaas.training.trainers.base import Progress, TrainContext, TrainerSpec, TrainResult

if TYPE_CHECKING:
    import pandas as pd

TASK = "forecasting"
METRICS = ("mae", "rmse", "mape", "smape", "r2", "interval_coverage")
MIN_TRAIN_ROWS = 30
MAX_POINTS = 1_000_000
ORIGINS = 13
"""About how many forecast origins the validation block is cut into for the intervals."""


class ForecastParams(BaseModel):
    """Hyperparameters with defaults; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    timestamp: str | None = Field(default=None, max_length=200,
                                  description="Timestamp column (default: the dataset's).")
    value: str | None = Field(default=None, max_length=200,
                              description="Value column (default: the dataset's label column).")
    horizon: int | None = Field(default=None, ge=1, le=MAX_HORIZON, description=(
        "Steps to forecast and to hold out as the test split (default: one season, e.g. 52 "
        "for weekly data, 12 for monthly)."))
    lags: list[int] | None = Field(default=None, min_length=1, max_length=32, description=(
        "Residual lags used as features (default: 1-4 and one season)."))
    algorithm: Literal["gradient_boosting", "linear"] = "gradient_boosting"
    trend_degree: int = Field(default=2, ge=0, le=3)
    level: float = Field(default=0.9, ge=0.5, le=0.99,
                         description="Prediction interval level.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    n_estimators: int = Field(default=300, ge=1, le=2000)
    max_depth: int = Field(default=3, ge=1, le=16)
    learning_rate: float = Field(default=0.05, gt=0, le=1)

    @field_validator("lags")
    @classmethod
    def _lags(cls, lags: list[int] | None) -> list[int] | None:
        if lags is not None:
            if any(not 1 <= lag <= MAX_LAG for lag in lags):
                raise ValueError(f"each lag must be from 1 to {MAX_LAG}")
            if len(set(lags)) != len(lags):
                raise ValueError("lags must be distinct")
            return sorted(lags)
        return lags


@dataclass(frozen=True)
class Series:
    values: pd.Series
    """Regular, on the ``offset`` grid, no gaps."""
    offset: Any
    frequency: str
    facts: dict[str, Any]


def _columns(info: DatasetInfo, params: ForecastParams) -> tuple[str, str]:
    stamp, value = params.timestamp or info.timestamp, params.value or info.label
    if stamp is None or stamp not in info.columns:
        raise Invalid(f"dataset {info.id!r} has no timestamp column {stamp!r}; name one with "
                      "params.timestamp", details={"field": "params.timestamp"})
    if value is None or value not in info.columns or value == stamp:
        raise Invalid(f"dataset {info.id!r} has no value column {value!r}; name one with "
                      "params.value", details={"field": "params.value"})
    if info.columns[value] != "number":
        raise Invalid(f"forecasting needs a numeric value column; {value!r} is not numeric",
                      details={"field": "params.value"})
    return stamp, value


def _offset(index: pd.DatetimeIndex) -> Any:
    """The grid's step: pandas' inference on a gap-free index, else the smallest step (whole
    months when it is 28-31 days and every point starts a month)."""
    import pandas as pd
    from pandas.tseries.frequencies import to_offset

    inferred = pd.DatetimeIndex(index, freq="infer").freq if len(index) >= 3 else None
    if inferred is not None:
        return inferred
    step = (index[1:] - index[:-1]).min()
    if pd.Timedelta(days=28) <= step <= pd.Timedelta(days=31) and bool((index.day == 1).all()):
        return to_offset("MS")
    if step % pd.Timedelta(days=1) == pd.Timedelta(0):
        return to_offset(f"{step.days}D")
    return to_offset(step)


def load_series(table: Table, params: ForecastParams) -> Series:
    """The table's series made regular; ``Invalid`` naming the row when a timestamp or value
    cannot be read, or when the timestamps are not evenly spaced."""
    import pandas as pd

    stamp_column, value_column = _columns(table.info, params)
    frame = table.frame
    stamps = pd.to_datetime(frame[stamp_column], errors="coerce", utc=True)
    if bool((stamps.isna() & frame[stamp_column].notna()).any()):
        # pandas reads a whole column in the format of its first value; dates mixed with
        # date-times (or other spellings) are read one by one instead.
        stamps = pd.to_datetime(frame[stamp_column], errors="coerce", utc=True, format="mixed")
    values = pd.to_numeric(frame[value_column], errors="coerce")
    for column, parsed in ((stamp_column, stamps), (value_column, values)):
        bad = parsed.isna() & frame[column].notna() if column == value_column else parsed.isna()
        if bool(bad.any()):
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise Invalid(f"row {row + 1}: column {column!r} has {frame[column].iloc[row]!r}, "
                          f"which is not a {'timestamp' if column == stamp_column else 'number'}",
                          details={"field": "dataset", "row": row + 1, "column": column})
    series = pd.Series(values.to_numpy(dtype=np.float64),
                       index=pd.DatetimeIndex(stamps).tz_localize(None))
    duplicates = int(series.index.duplicated().sum())
    series = series.groupby(level=0).mean()
    if int(series.notna().sum()) < 3:
        raise Invalid(f"dataset {table.info.id!r} has fewer than 3 values",
                      details={"field": "dataset"})
    offset = _offset(series.index)
    grid = pd.date_range(series.index[0], series.index[-1], freq=offset)
    if len(grid) > MAX_POINTS:
        raise Invalid(f"the series spans {len(grid)} steps of {offset.freqstr}; the limit is "
                      f"{MAX_POINTS}", details={"field": "dataset"})
    off_grid = ~series.index.isin(grid)
    if bool(off_grid.any()):
        at = series.index[int(off_grid.argmax())]
        raise Invalid(f"timestamps are not evenly spaced: {at} is not on the {offset.freqstr} grid "
                      f"from {series.index[0]}", details={"field": "dataset"})
    regular = series.reindex(grid)
    missing = int(regular.isna().sum())
    regular = regular.interpolate(method="linear", limit_direction="both")
    facts = {"rows": len(frame), "points": len(regular), "missing_filled": missing,
             "duplicates_averaged": duplicates, "frequency": offset.freqstr,
             "timestamp": stamp_column, "value": value_column}
    return Series(regular, offset, offset.freqstr, facts)


def season_length(series: Series) -> int | None:
    """Steps in a year, a week or a day, whichever is 2..60 first (52 weekly, 12 monthly, 7
    daily, 24 hourly), or ``None``."""
    import pandas as pd

    start = series.values.index[0]
    step = (pd.date_range(start, periods=13, freq=series.offset)[-1] - start) / 12
    for period in (pd.Timedelta(days=365.25), pd.Timedelta(days=7), pd.Timedelta(days=1)):
        steps = round(period / step)
        if 2 <= steps <= 60:
            return int(steps)
    return None


def calendar_names(series: Series) -> tuple[str, ...]:
    import pandas as pd

    start = series.values.index[0]
    step = pd.date_range(start, periods=2, freq=series.offset)[-1] - start
    if step >= pd.Timedelta(days=365):
        return ()
    names: tuple[str, ...] = ("year_sin1", "year_cos1", "year_sin2", "year_cos2", "month")
    if step < pd.Timedelta(days=28):
        names += ("week",)
    if step < pd.Timedelta(days=7):
        names += ("day_of_week",)
    if step < pd.Timedelta(days=1):
        names += ("day_sin", "day_cos")
    return names


def _recipe(values: pd.Series, series: Series, lags: tuple[int, ...], degree: int) -> Recipe:
    """Fit the trend on ``values`` (years since its first timestamp)."""
    origin = values.index[0]
    probe = Recipe(series.offset, origin, (0.0,), lags, calendar_names(series))
    coefficients = np.polyfit(probe.years(values.index), values.to_numpy(), degree)
    return Recipe(series.offset, origin, tuple(float(c) for c in coefficients), lags, probe.calendar)


def _fit(recipe: Recipe, values: pd.Series, params: ForecastParams, progress: Progress,
         part: str) -> Any:
    from sklearn import ensemble, linear_model
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = recipe.training_rows(values)
    started = time.monotonic()
    if params.algorithm == "linear":
        model = make_pipeline(StandardScaler(), linear_model.LinearRegression()).fit(x, y)
        progress("fit", part=part, step=1, total=1, eta_s=0.0)
        return model
    total, every = params.n_estimators, max(1, params.n_estimators // 20)

    def monitor(stage: int, _model: Any, _locals: Any) -> bool:
        done = stage + 1
        if done % every == 0 or done == total:
            elapsed = time.monotonic() - started
            progress("fit", part=part, step=done, total=total,
                     loss=float(_model.train_score_[stage]),
                     eta_s=round(elapsed / done * (total - done), 2))
        return False

    model = ensemble.GradientBoostingRegressor(
        n_estimators=params.n_estimators, max_depth=params.max_depth,
        learning_rate=params.learning_rate, subsample=0.8, random_state=params.seed)
    return model.fit(x, y, monitor=monitor)


def _intervals(errors: np.ndarray[Any, Any], level: float,
               window: int) -> tuple[list[float], list[float]]:
    """Per-step quantiles of the validation errors (actual - forecast), each step pooled with
    ``window`` steps either side so a handful of origins still gives stable bounds."""
    horizon = errors.shape[1]
    lower, upper = [], []
    for step in range(horizon):
        pooled = errors[:, max(0, step - window):step + window + 1].ravel()
        lower.append(float(np.quantile(pooled, (1 - level) / 2)))
        upper.append(float(np.quantile(pooled, (1 + level) / 2)))
    return lower, upper


def _backtest(recipe: Recipe, model: Any, series: pd.Series, start: int, horizon: int,
              progress: Progress) -> tuple[np.ndarray[Any, Any], int]:
    """Errors of ``horizon``-step forecasts from origins ``start``, ``start + stride``, ...,
    ``start + horizon``, each from the data before it; returns (errors, stride)."""
    stride = max(1, horizon // ORIGINS)
    origins = list(range(start, start + horizon + 1, stride))
    tails = [series.iloc[origin - recipe.max_lag:origin] for origin in origins]
    started, step = time.monotonic(), 0

    def predict(rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        nonlocal step
        step += 1
        elapsed = time.monotonic() - started
        progress("backtest", step=step, total=horizon, origins=len(origins),
                 eta_s=round(elapsed / step * (horizon - step), 2))
        return np.asarray(model.predict(rows), dtype=np.float64)

    _, forecasts = recipe.forecast(tails, horizon, predict)
    actual = np.stack([series.to_numpy()[origin:origin + horizon] for origin in origins])
    return actual - forecasts, stride


def forecast_metrics(actual: np.ndarray[Any, Any], predicted: np.ndarray[Any, Any],
                     lower: np.ndarray[Any, Any], upper: np.ndarray[Any, Any]) -> dict[str, Any]:
    """scikit-learn's MAE, RMSE, MAPE (a fraction: 0.01 is 1%) and R^2; sMAPE (a fraction of
    0..2); the share of actuals inside their interval and the interval's mean width."""
    from sklearn.metrics import mean_absolute_percentage_error

    metrics = evaluation.regression(actual, predicted)
    denominator = np.abs(actual) + np.abs(predicted)
    ratios = np.divide(2 * np.abs(predicted - actual), denominator,
                       out=np.zeros_like(denominator), where=denominator > 0)
    metrics.update({
        "mape": float(mean_absolute_percentage_error(actual, predicted)),
        "smape": float(np.mean(ratios)),
        "interval_coverage": float(np.mean((actual >= lower) & (actual <= upper))),
        "interval_width": float(np.mean(upper - lower)),
    })
    return metrics


def _export(model: Any, sample: np.ndarray[Any, Any], ctx: TrainContext) -> None:
    from skl2onnx import to_onnx

    graph = to_onnx(model, sample, target_opset=17)
    (ctx.staged / "model.onnx").write_bytes(graph.SerializeToString())


def _plan(series: Series, params: ForecastParams) -> tuple[int, tuple[int, ...]]:
    season = season_length(series)
    horizon = params.horizon or season or 12
    lags = tuple(params.lags or sorted({1, 2, 3, 4} | ({season} if season else set())))
    needed = 3 * horizon + max(lags) + MIN_TRAIN_ROWS
    if len(series.values) < needed:
        raise Invalid(f"the series has {len(series.values)} points; a horizon of {horizon} with "
                      f"lags up to {max(lags)} needs at least {needed} (test: horizon, "
                      f"validation: 2 x horizon, training: the largest lag + {MIN_TRAIN_ROWS})",
                      details={"field": "params.horizon"})
    return horizon, lags


def run(ctx: TrainContext) -> TrainResult:
    params: ForecastParams = ctx.params
    series = load_series(table_of(ctx.dataset, TASK), params)
    horizon, lags = _plan(series, params)
    values, total = series.values, len(series.values)
    test_start, validation_start = total - horizon, total - 3 * horizon
    ctx.progress("split", train=validation_start, validation=2 * horizon, test=horizon,
                 frequency=series.frequency, horizon=horizon)

    first = _recipe(values.iloc[:validation_start], series, lags, params.trend_degree)
    first_model = _fit(first, values.iloc[:validation_start], params, ctx.progress, "validation")
    errors, stride = _backtest(first, first_model, values.iloc[:test_start], validation_start,
                               horizon, ctx.progress)
    lower, upper = _intervals(errors, params.level, stride)

    seen = values.iloc[:test_start]
    recipe = _recipe(seen, series, lags, params.trend_degree)
    model = _fit(recipe, seen, params, ctx.progress, "final")
    _export(model, recipe.training_rows(seen)[0][:1], ctx)
    kept = seen.iloc[-min(len(seen), max(4 * horizon, 2 * max(lags))):]
    spec = ForecasterSpec(
        value_name=series.facts["value"], frequency=series.frequency, origin=iso(recipe.origin),
        trend=list(recipe.trend), lags=list(lags), calendar=list(recipe.calendar),  # type: ignore[arg-type]
        horizon=horizon, level=params.level, lower=lower, upper=upper,
        history=StoredHistory(start=iso(kept.index[0]), values=kept.tolist()))
    (ctx.staged / SPEC_FILE).write_text(spec.model_dump_json())

    backend = open_directory(ctx.staged, TASK, threads=1)
    served = backend.predict_batch([ForecastItem(horizon, [])], {})[0].output
    backend.unload()
    ctx.progress("forecast", step=horizon, total=horizon)
    actual = values.to_numpy()[test_start:]
    predicted, low, high = (np.asarray(served[key]) for key in ("forecast", "lower", "upper"))
    metrics = forecast_metrics(actual, predicted, low, high)
    metrics["forecast"] = {**served, "actual": actual.tolist()}

    tail = seen.iloc[-min(len(seen), 4 * horizon):]
    plots.forecast((tail.index, tail.to_numpy()), (values.index[test_start:], actual), predicted,
                   (low, high), params.level, ctx.plot_dir / "forecast.png")
    names = ["forecast"]
    if hasattr(model, "train_score_"):
        plots.training_curve({"train loss (residual MSE)": [float(v) for v in model.train_score_]},
                             ctx.plot_dir / "training_curve.png")
        names.append("training_curve")
    ctx.write_manifest(
        task=TASK, metrics=evaluation.scalars(metrics),
        description=(f"{params.algorithm} forecaster of {series.facts['value']} "
                     f"({series.frequency}, horizon {horizon}) trained on {ctx.job.dataset} "
                     f"by job {ctx.job.id}"))
    details = {"algorithm": params.algorithm, "horizon": horizon, "lags": list(lags),
               "calendar": list(recipe.calendar), "trend_degree": params.trend_degree,
               "level": params.level, "validation_origins": errors.shape[0], **series.facts,
               "split": {"train": validation_start, "validation": 2 * horizon, "test": horizon}}
    return TrainResult(metrics, names, details)


def check(info: DatasetInfo, params: ForecastParams) -> None:
    if info.kind != "table":
        raise Invalid(f"forecasting trains on a table with a timestamp and a value column; "
                      f"dataset {info.id!r} is a set of images", details={"field": "dataset"})
    _columns(info, params)
    if params.horizon is not None:
        needed = 3 * params.horizon + max(params.lags or [1]) + MIN_TRAIN_ROWS
        if info.rows < needed:
            raise Invalid(f"dataset {info.id!r} has {info.rows} rows; a horizon of "
                          f"{params.horizon} needs at least {needed}",
                          details={"field": "params.horizon"})


SPECS = [TrainerSpec(TASK, METRICS, ForecastParams, run, check,
                     "trend + gradient boosting (or linear) on lags and calendar features, "
                     "recursive, with prediction intervals; exported to ONNX")]
