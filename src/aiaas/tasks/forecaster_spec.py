"""``forecaster.json``: what a forecasting model (format ``onnx-forecaster``) keeps beside its
ONNX graph: the time grid, the trend, the lags and calendar features its graph takes, the
calibrated interval offsets per step and the last stretch of the training series.

Data only (no code, no pickle), checked with a strict schema before use. It lives with the task
because the task's ``prepare_config`` reads it at registration; the runtime's forecaster backend
(``aiaas.runtime.backends.forecaster``) turns it into the ``Recipe`` it runs, and the trainer
writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError, model_validator

from aiaas.errors import Invalid
from aiaas.formats import read_json
from aiaas.tasks.forecasting import frequency_offset, parse_timestamp

if TYPE_CHECKING:
    import pandas as pd

SPEC_FILE = "forecaster.json"
MAX_LAG = 1000
MAX_HORIZON = 1000
CalendarName = Literal["year_sin1", "year_cos1", "year_sin2", "year_cos2", "month", "week",
                       "day_of_week", "day_sin", "day_cos"]


class StoredHistory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str = Field(max_length=64)
    values: list[FiniteFloat] = Field(min_length=1, max_length=100_000)


class ForecasterSpec(BaseModel):
    """``forecaster.json``; every field checked, nothing in it is ever executed."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["aiaas-forecaster"] = "aiaas-forecaster"
    version: Literal[1] = 1
    model_file: str = Field(default="model.onnx", pattern=r"^[A-Za-z0-9_-]{1,100}\.onnx$")
    value_name: str = Field(default="value", max_length=200)
    frequency: str = Field(max_length=32)
    origin: str = Field(max_length=64)
    trend: list[FiniteFloat] = Field(min_length=1, max_length=4)
    lags: list[int] = Field(min_length=1, max_length=32)
    calendar: list[CalendarName] = Field(default_factory=list, max_length=9)
    horizon: int = Field(ge=1, le=MAX_HORIZON)
    level: float = Field(gt=0, lt=1)
    lower: list[FiniteFloat]
    upper: list[FiniteFloat]
    history: StoredHistory

    @model_validator(mode="after")
    def _consistent(self) -> ForecasterSpec:
        if any(not 1 <= lag <= MAX_LAG for lag in self.lags) or len(set(self.lags)) != len(self.lags):
            raise ValueError(f"lags must be distinct integers from 1 to {MAX_LAG}")
        if len(self.lower) != self.horizon or len(self.upper) != self.horizon:
            raise ValueError("lower and upper need one value per horizon step")
        if any(low > high for low, high in zip(self.lower, self.upper, strict=True)):
            raise ValueError("lower must not exceed upper")
        if len(self.history.values) < max(self.lags):
            raise ValueError(f"history needs at least {max(self.lags)} values (the largest lag)")
        if len(set(self.calendar)) != len(self.calendar):
            raise ValueError("calendar names must be distinct")
        frequency_offset(self.frequency)
        for name in ("origin", "history.start"):
            parse_timestamp(self.origin if name == "origin" else self.history.start, name)
        return self

    def history_index(self) -> pd.DatetimeIndex:
        import pandas as pd

        return pd.date_range(parse_timestamp(self.history.start, "history.start"),
                             periods=len(self.history.values), freq=frequency_offset(self.frequency))

    def stored_series(self) -> pd.Series:
        import pandas as pd

        return pd.Series(self.history.values, index=self.history_index(), dtype=np.float64)

    def series_with(self, points: list[tuple[pd.Timestamp, float]]) -> pd.Series:
        """The stored series with ``points`` merged over it (theirs win), regular, gaps filled
        linearly. The task has checked the points are increasing and on the grid."""
        import pandas as pd

        stored = self.stored_series()
        if not points:
            return stored
        given = pd.Series([value for _, value in points],
                          index=pd.DatetimeIndex([stamp for stamp, _ in points]), dtype=np.float64)
        merged = given.combine_first(stored)
        grid = pd.date_range(merged.index[0], merged.index[-1], freq=frequency_offset(self.frequency))
        return merged.reindex(grid).interpolate(method="linear")


def read_spec(root: Path) -> ForecasterSpec:
    """``forecaster.json`` of a model directory, size-bounded and validated; ``Invalid`` saying
    what is wrong otherwise."""
    path = root / SPEC_FILE
    if not path.is_file():
        raise Invalid(f"a forecasting model needs {SPEC_FILE} beside its ONNX graph")
    try:
        spec = ForecasterSpec.model_validate(read_json(path, SPEC_FILE))
    except ValidationError as exc:
        raise Invalid(f"{SPEC_FILE} is not valid: {exc}") from exc
    if not (root / spec.model_file).is_file():
        raise Invalid(f"{SPEC_FILE} names {spec.model_file}, which is not in the directory")
    return spec
