"""The forecasting task on a forecaster whose answer is known in closed form: its configuration
and input schema, input checks naming the field, timestamps in UTC, and the spec it needs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from aiaas.errors import Invalid
from aiaas.formats import detect
from aiaas.tasks.base import Limits
from aiaas.tasks.forecaster_spec import SPEC_FILE
from aiaas.tasks.forecasting import MAX_HISTORY, ForecastingTask
from tests.runtime.forecasters import HORIZON, build_forecaster

LIMITS = Limits(max_inputs=16, max_input_chars=1000)


@pytest.fixture
def forecaster_dir(tmp_path: Path) -> Path:
    return build_forecaster(tmp_path / "load")


def config_of(root: Path) -> dict[str, Any]:
    return ForecastingTask().prepare_config(detect(root), root)


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


def test_a_forecasting_manifest_without_its_spec_is_refused(forecaster_dir: Path) -> None:
    (forecaster_dir / SPEC_FILE).unlink()
    with pytest.raises(Invalid, match=r"needs forecaster\.json"):
        config_of(forecaster_dir)
