"""Forecast explanations: each step's value split into its trend, the residual model's base value,
and what each of the residual model's inputs (lags and calendar features) added.

A forecaster is ``value(t) = trend(t) + residual(t)``, the residual predicted by an ONNX regressor
over rows ``[lag_1, lag_2, ..., month, ...]`` (``Recipe.rows``). The trend is a fixed function of
time, so it is reported as it is; SHAP (``methods.tabular``: exact, or permutation for many inputs)
explains the residual model on the row each step fed it, against a background of the rows the
recipe makes from the model's own stored series (its training-like rows). So, per step::

    value = trend + base_value + sum(attributions),  lags + season = sum(attributions)

Forecasts are recursive: from step 2 on, some lag inputs are residuals the model predicted at
earlier steps. Each step is explained with its lag inputs taken as given values (what the model
was fed at that step), so ``lag_1`` at step 3 credits the residual predicted at step 2 as an input,
not the history that led to it.

The residual model is evaluated here, on this thread, from the version's files (JSON and ONNX,
nothing unpickled) by the runtime's own ``ForecasterBackend``: SHAP needs rows the served
forecaster never takes (it takes a horizon and a history), and these rows are tiny. The forecasts
themselves come from the served model, through the front door, like every other explanation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aiaas.errors import Invalid
from aiaas.explain import methods
from aiaas.runtime.backends.forecaster import ForecasterBackend
from aiaas.tasks.forecasting import ForecastItem
from aiaas.tasks.units import Units

if TYPE_CHECKING:
    import pandas as pd

    from aiaas.tasks.base import Prediction

BACKGROUND_ROWS = 100
"""The latest this many training-like rows of the stored series are the background: exact SHAP
costs (2 ^ inputs) x background rows per step."""
MAX_STEPS = 128
"""Forecast steps (the items' horizons together) one explain call may ask for."""
CHUNK = 65_536
"""Rows per ONNX run, to bound the memory of exact SHAP's masked rows."""


@dataclass
class Residuals:
    """The residual model as SHAP's function: float rows in, one residual each, counting every
    row evaluated (usage bills model evaluations)."""

    backend: ForecasterBackend
    evaluations: int = 0

    def __call__(self, rows: Any) -> np.ndarray[Any, Any]:
        data = np.asarray(rows, dtype=np.float32)
        self.evaluations += len(data)
        if not len(data):
            return np.zeros(0)
        return np.concatenate([self.backend.predict_rows(data[start:start + CHUNK])
                               for start in range(0, len(data), CHUNK)])


@dataclass
class Forecaster:
    """A version's forecaster loaded for explaining (``open``), unloaded by ``close``."""

    backend: ForecasterBackend
    residuals: Residuals = field(init=False)

    def __post_init__(self) -> None:
        self.residuals = Residuals(self.backend)

    @classmethod
    def open(cls, path: Path, config: dict[str, Any]) -> Forecaster:
        backend = ForecasterBackend(path, config, threads=1)
        backend.load()
        return cls(backend)

    def close(self) -> None:
        self.backend.unload()

    @property
    def features(self) -> list[str]:
        """The residual model's inputs in row order: ``lag_N`` per lag, then calendar names."""
        recipe = self.backend.recipe
        return [f"lag_{lag}" for lag in recipe.lags] + list(recipe.calendar)

    def explain(self, items: list[ForecastItem],
                predict: Callable[[list[Any]], list[Prediction]], *, method: str,
                samples: int | None) -> tuple[list[dict[str, Any]], Units]:
        """Per item: its served forecast (``predict``: through the front door) and, per step, the
        decomposition described above. Units: the forecasts served plus every residual row
        evaluated here."""
        _check_steps(items)
        backgrounds = [self._background(item, index) for index, item in enumerate(items)]
        predictions = predict(items)
        futures, rows = self._step_rows(items)
        answers = []
        for prediction, background, future, fed in zip(predictions, backgrounds, futures, rows,
                                                       strict=True):
            found = methods.tabular(self.residuals, fed.tolist(), background, method=method,
                                    samples=samples, features=self.features)
            output = prediction.output
            trends = self.backend.recipe.trend_at(future)
            steps = [_step(output, k, float(trends[k]), row, parts, len(self.backend.recipe.lags))
                     for k, (row, parts) in enumerate(zip(fed, found, strict=True))]
            answers.append({"prediction": output, "method": method, "target": None,
                            "output": "value", "steps": steps})
        return answers, Units(items=len(items) + self.residuals.evaluations)

    def _background(self, item: ForecastItem, index: int) -> list[list[float]]:
        """The recipe's rows of the stored series (the latest ``BACKGROUND_ROWS``); if it is no
        longer than the largest lag, of the series merged with the item's history."""
        spec, recipe = self.backend.spec, self.backend.recipe
        assert spec is not None
        for series in (spec.stored_series(), spec.series_with(item.history)):
            if len(series) > recipe.max_lag:
                rows, _ = recipe.training_rows(series.iloc[-(BACKGROUND_ROWS + recipe.max_lag):])
                return [[float(v) for v in row] for row in rows]
        raise Invalid.at(f"inputs[{index}].history", f"explaining needs a background of the "
                         f"series' own rows, so more than {recipe.max_lag} points (the largest "
                         f"lag); the model stores {len(spec.history.values)}: send older points "
                         "as history", index=index)

    def _step_rows(self, items: list[ForecastItem]
                   ) -> tuple[list[pd.DatetimeIndex], list[np.ndarray[Any, Any]]]:
        """Each item's future timestamps and the rows its steps fed the residual model, lags
        included as predicted: the recipe's own recursion, its rows recorded on the way."""
        spec, recipe = self.backend.spec, self.backend.recipe
        assert spec is not None
        horizon = max(item.horizon for item in items)
        tails = [spec.series_with(item.history).iloc[-recipe.max_lag:] for item in items]
        fed: list[np.ndarray[Any, Any]] = []

        def record(rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            fed.append(rows.copy())
            return self.residuals(rows)

        with np.errstate(over="ignore", invalid="ignore"):
            futures, _ = recipe.forecast(tails, horizon, record)
        steps = np.stack(fed, axis=1)  # (items, horizon, inputs)
        return ([future[:item.horizon] for item, future in zip(items, futures, strict=True)],
                [steps[i, :item.horizon] for i, item in enumerate(items)])


def _step(output: dict[str, Any], k: int, trend: float, row: np.ndarray[Any, Any],
          found: methods.Attributions, lags: int) -> dict[str, Any]:
    """Step ``k`` of a served forecast ``output``, split: the first ``lags`` inputs are lags,
    the rest calendar features (``Recipe.rows``' order)."""
    ranked = sorted(zip(found.parts, row, found.values, strict=True), key=lambda part: -abs(part[2]))
    features = [{"name": name, "value": float(value), "attribution": weight}
                for name, value, weight in ranked]
    return {"timestamp": output["timestamps"][k], "value": output["forecast"][k], "trend": trend,
            "base_value": found.base_value, "output_value": found.base_value + sum(found.values),
            "lags": sum(found.values[:lags]), "season": sum(found.values[lags:]),
            "features": features}


def _check_steps(items: list[ForecastItem]) -> None:
    total = 0
    for index, item in enumerate(items):
        total += item.horizon
        if total > MAX_STEPS:
            raise Invalid.at(f"inputs[{index}].horizon", f"explanations cover at most "
                             f"{MAX_STEPS} forecast steps per call (the items' horizons "
                             f"together); split the call", index=index, limit=MAX_STEPS)
