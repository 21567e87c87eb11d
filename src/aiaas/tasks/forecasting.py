"""Forecasting: ``{"horizon": N, "history"?: [{"timestamp", "value"}, ...]}`` in;
``{"timestamps", "forecast", "lower", "upper", "level"}`` out.

``horizon`` is 1..the horizon the model was trained for (its prediction intervals are calibrated
per step up to there). ``history`` is optional newer (or corrected) data: the points are merged
over the series stored with the model (a given point wins over a stored one at the same time)
and the forecast starts after the latest point. Timestamps are ISO 8601 strings on the model's
time grid (its frequency, e.g. every Saturday for weekly ``W-SAT`` data), strictly increasing;
missing steps between points are filled by linear interpolation. Time zones are converted to
UTC and dropped, as at training.

Usage: one item per forecast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiaas.errors import Invalid
from aiaas.tasks.base import Limits, Task, item_error, item_field

if TYPE_CHECKING:
    import pandas as pd

    from aiaas.formats import Detected

MAX_HISTORY = 10_000
"""Points one item's ``history`` may carry."""
MAX_GAP_STEPS = 10_000
"""How many steps of the model's grid a history point may lie before or after the stored series."""
ITEM_KEYS = ("horizon", "history")


@dataclass(frozen=True, slots=True)
class ForecastItem:
    horizon: int
    history: list[tuple[pd.Timestamp, float]]


def frequency_offset(frequency: str) -> Any:
    """The pandas offset of a frequency alias (``W-SAT``, ``7D``, ``MS``, ``h``)."""
    from pandas.tseries.frequencies import to_offset

    try:
        return to_offset(frequency)
    except (ValueError, TypeError) as exc:
        raise Invalid(f"unknown time frequency {frequency!r}") from exc


def grid(anchor: pd.Timestamp, offset: Any, *, steps_before: int, end: pd.Timestamp) -> Any:
    """The time grid through ``anchor``, from ``steps_before`` steps before it to ``end``."""
    import pandas as pd

    try:
        start = anchor - offset * steps_before
    except (OverflowError, ValueError):
        start = anchor
    return pd.date_range(start, max(end, anchor), freq=offset)


def iso(timestamp: pd.Timestamp) -> str:
    """``2002-01-05`` at midnight, the full ISO 8601 form otherwise."""
    text: str = (timestamp.date().isoformat() if timestamp == timestamp.normalize()
                 else timestamp.isoformat())
    return text


def parse_timestamp(value: Any, where: str) -> pd.Timestamp:
    """A strict ISO 8601 date or date-time (``now``, ``today`` and epoch numbers are refused);
    aware times are converted to UTC, naive ones taken as they are."""
    import pandas as pd

    if not isinstance(value, str) or len(value) > 64:
        raise Invalid.at(where, "expected an ISO 8601 date or date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid.at(where, f"{value!r} is not an ISO 8601 date or date-time") from None
    stamp = pd.Timestamp(parsed)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp


class ForecastingTask(Task):
    name = "forecasting"

    def prepare_config(self, detected: Detected, source: Path) -> dict[str, Any]:
        from aiaas.tasks.forecaster_spec import read_spec

        spec = read_spec(source)
        return {"model_file": spec.model_file, "horizon": spec.horizon, "level": spec.level,
                "frequency": spec.frequency, "history_start": spec.history.start,
                "history_end": iso(spec.history_index()[-1]), "value_name": spec.value_name}

    def input_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        point = {"type": "object", "required": ["timestamp", "value"],
                 "additionalProperties": False,
                 "properties": {"timestamp": {"type": "string", "format": "date-time"},
                                "value": {"type": "number"}}}
        return {"type": "array", "items": {
            "type": "object", "required": ["horizon"], "additionalProperties": False,
            "properties": {
                "horizon": {"type": "integer", "minimum": 1, "maximum": config.get("horizon", 1)},
                "history": {"type": "array", "maxItems": MAX_HISTORY, "items": point},
            }}}

    def output_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        numbers = {"type": "array", "items": {"type": "number"}}
        return {"type": "object", "required": ["timestamps", "forecast", "lower", "upper", "level"],
                "properties": {"timestamps": {"type": "array", "items": {"type": "string"}},
                               "forecast": numbers, "lower": numbers, "upper": numbers,
                               "level": {"type": "number"}}}

    def check_item(self, item: Any, index: int, config: dict[str, Any], limits: Limits) -> Any:
        if not isinstance(item, dict):
            raise item_error(index, f"expected an object like {{\"horizon\": 12}}, "
                                    f"got {type(item).__name__}")
        unknown = sorted(set(item) - set(ITEM_KEYS))
        if unknown:
            raise item_error(index, f"unknown field(s): {', '.join(map(str, unknown[:5]))}; "
                                    f"a forecast takes {', '.join(ITEM_KEYS)}")
        limit = int(config["horizon"])
        horizon = item.get("horizon")
        if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= limit:
            raise Invalid.at(f"{item_field(index)}.horizon", f"must be an integer from 1 to {limit} "
                             f"(the horizon this model was trained for), got {horizon!r}",
                             index=index, maximum=limit)
        history = item.get("history")
        points = [] if history is None else self._history(history, f"{item_field(index)}.history",
                                                          config)
        return ForecastItem(horizon, points)

    def _history(self, history: Any, where: str, config: dict[str, Any]) -> list[tuple[Any, float]]:
        import pandas as pd

        if not isinstance(history, list):
            raise Invalid.at(where, "expected a list of {\"timestamp\", \"value\"} points")
        if len(history) > MAX_HISTORY:
            raise Invalid.at(where, f"{len(history)} points, more than the limit of {MAX_HISTORY}",
                             limit=MAX_HISTORY)
        offset = frequency_offset(config["frequency"])
        anchor = pd.Timestamp(config["history_start"])
        try:
            earliest = anchor - offset * MAX_GAP_STEPS
        except (OverflowError, ValueError):
            earliest = pd.Timestamp.min
        try:
            latest = pd.Timestamp(config["history_end"]) + offset * MAX_GAP_STEPS
        except (OverflowError, ValueError):
            latest = pd.Timestamp.max
        points: list[tuple[Any, float]] = []
        for i, point in enumerate(history):
            at = f"{where}[{i}]"
            if not isinstance(point, dict) or set(point) != {"timestamp", "value"}:
                raise Invalid.at(at, "expected an object with exactly 'timestamp' and 'value'")
            stamp = parse_timestamp(point["timestamp"], f"{at}.timestamp")
            value = point["value"]
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise Invalid.at(f"{at}.value", "must be a finite number")
            if points and stamp <= points[-1][0]:
                raise Invalid.at(f"{at}.timestamp", "timestamps must be strictly increasing")
            if not earliest <= stamp <= latest:
                raise Invalid.at(f"{at}.timestamp", f"more than {MAX_GAP_STEPS} steps away from "
                                 f"the model's series ({config['history_start']} .. "
                                 f"{config['history_end']})")
            points.append((stamp, float(value)))
        if points:
            on_grid = pd.DatetimeIndex([stamp for stamp, _ in points]).isin(
                grid(anchor, offset, steps_before=MAX_GAP_STEPS, end=points[-1][0]))
            if not on_grid.all():
                i = int((~on_grid).argmax())
                at = f"{where}[{i}].timestamp"
                raise Invalid.at(at, f"{iso(points[i][0])} is not on the model's time grid "
                                     f"(frequency {config['frequency']}, e.g. {config['history_end']})")
        return points
