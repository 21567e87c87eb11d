"""What evaluating a model version on a dataset means for each task: which rows, sent as what
inputs, scored how.

``prepare`` checks that the dataset suits the version (``Invalid`` naming what is missing or
incompatible) and picks the rows: ``test`` is the held-out split the trainers make for the same
``seed`` and ``test_fraction`` (stratified by label, or the dataset's own split column; for a
series, its last ``horizon`` points), so a model evaluated on the dataset it was trained on is
scored on exactly the rows its job never saw; ``all`` is every row. ``score`` turns what the
runtime served for those inputs into metrics (``aiaas.training.evaluation``) and plots, beside
the global explanations the service computed (``global_explain``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aiaas.errors import Invalid
from aiaas.tasks.forecaster_spec import MAX_HORIZON
from aiaas.tasks.forecasting import MAX_HISTORY, iso
from aiaas.tasks.outputs import Classification
from aiaas.training import evaluation, plots
from aiaas.training.datasets import (
    CLASSIFICATION,
    REGRESSION,
    Dataset,
    ImageSet,
    Table,
    TabularDataset,
    split,
)

if TYPE_CHECKING:
    import pandas as pd

    from aiaas.registry.records import VersionInfo

TEXT = "text-classification"
IMAGE = "image-classification"
FORECASTING = "forecasting"
TASKS = (CLASSIFICATION, REGRESSION, TEXT, IMAGE, FORECASTING)
CLASSIFIERS = (CLASSIFICATION, TEXT, IMAGE)
Part = Literal["test", "all"]


class EvaluationParams(BaseModel):
    """Which columns hold what, and how the test split is drawn; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, max_length=200,
                              description="Label or target column (default: the dataset's).")
    text: str | None = Field(default=None, max_length=200,
                             description="Text column (default: the dataset's first text column).")
    timestamp: str | None = Field(default=None, max_length=200,
                                  description="Timestamp column of a series (default: the dataset's).")
    value: str | None = Field(default=None, max_length=200,
                              description="Value column of a series (default: the dataset's label).")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="The training job's seed.")
    test_fraction: float = Field(default=0.2, ge=0.05, le=0.5)
    validation_fraction: float | None = Field(
        default=None, ge=0.0, le=0.4,
        description="Accepted so a job's split parameters can be passed as they are; the test "
                    "rows depend only on seed and test_fraction (the test part is drawn first).")
    horizon: int | None = Field(default=None, ge=1, le=MAX_HORIZON, description=(
        "Forecasting: held-out points at the end of the series (default: the model's horizon)."))


@dataclass
class Series:
    """A forecast's context: the history it starts from and the held-out points' timestamps."""

    history: pd.Series
    actual_index: pd.DatetimeIndex
    level: float = 0.9


@dataclass
class Prepared:
    """The inputs to send (in chunks), the dataset row of each (for messages) and the truth."""

    task: str
    dataset: str
    inputs: list[Any]
    rows: list[int]
    truth: np.ndarray[Any, Any]
    labels: list[str] = field(default_factory=list)
    series: Series | None = None

    @property
    def size(self) -> int:
        """Rows evaluated (a forecast's held-out points)."""
        return len(self.truth)


def _invalid(message: str, field_name: str = "dataset", **details: Any) -> Invalid:
    return Invalid(message, details={"field": field_name, **details})


def _table(dataset: Dataset, version: VersionInfo, needs: str) -> Table:
    if not isinstance(dataset, Table):
        raise _invalid(f"model {version.model!r} ({version.task}) is evaluated on {needs}; dataset "
                       f"{dataset.info.id!r} is a set of images")
    return dataset


def _column(table: Table, given: str | None, default: str | None, what: str, param: str) -> str:
    name = given or default
    if name is None or name not in table.frame.columns:
        columns = ", ".join(map(str, table.frame.columns))
        missing = f"no {what} column" if name is None else f"no column {name!r}"
        raise _invalid(f"dataset {table.info.id!r} has {missing}; name its {what} column with "
                       f"params.{param} (columns: {columns})", f"params.{param}")
    return name


def _labels(table: Table, column: str) -> np.ndarray[Any, Any]:
    """String labels, as the trainers make them; ``Invalid`` naming the first row without one."""
    values = table.frame[column]
    missing = values.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0]) + 1
        raise _invalid(f"dataset {table.info.id!r} row {row}: column {column!r} has no label",
                       row=row)
    return np.asarray([str(v) for v in values])


def _spelled(value: str, known: set[str]) -> str:
    """A numeric label column reads ``1.0`` where a model's class labels say ``1``."""
    if value in known:
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    whole = str(int(number)) if number.is_integer() else value
    return whole if whole in known else value


def _known(truth: np.ndarray[Any, Any], labels: list[str], version: VersionInfo,
           dataset: str) -> np.ndarray[Any, Any]:
    """``truth`` in the model's spelling of its labels; ``Invalid`` naming labels it lacks."""
    known = set(labels)
    spelling = {value: _spelled(value, known) for value in set(truth.tolist())}
    if any(value != spelled for value, spelled in spelling.items()):
        truth = np.asarray([spelling[value] for value in truth.tolist()])
    unknown = sorted(set(spelling.values()) - known)
    if unknown:
        shown = ", ".join(repr(label) for label in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise _invalid(f"dataset {dataset!r} has labels model {version.model!r} does not know: "
                       f"{shown}; its labels are {', '.join(map(repr, labels[:20]))}",
                       unknown=unknown[:20])
    return truth


def _rows(table: Table, y: np.ndarray[Any, Any], stratify: bool, part: Part,
          params: EvaluationParams, validation_default: float) -> np.ndarray[Any, Any]:
    """Row indices of the part, drawn exactly as ``datasets.split`` draws a job's test split
    (the trainers split row indices or rows alike: the draw depends on the count and labels)."""
    everything = np.arange(len(y))
    if part == "all":
        return everything
    info = table.info
    own = (np.asarray([str(v) for v in table.frame[info.split_column]]) if info.split_column
           else None)
    indexed = TabularDataset(info.id, CLASSIFICATION if stratify else REGRESSION, ["row"],
                             everything.reshape(-1, 1), y, own)
    fraction = (validation_default if params.validation_fraction is None
                else params.validation_fraction)
    try:
        parts = split(indexed, seed=params.seed, test_fraction=params.test_fraction,
                      validation_fraction=fraction)
    except ValueError as exc:  # a class too small to stratify
        raise _invalid(f"cannot split dataset {info.id!r} by class: {exc}") from exc
    rows: np.ndarray[Any, Any] = parts.x_test[:, 0]
    return rows


def _tabular(version: VersionInfo, dataset: Dataset, part: Part, params: EvaluationParams) -> Prepared:
    table = _table(dataset, version, "a table with its feature columns")
    info, frame = table.info, table.frame
    features: list[str] = list(version.config.get("feature_names", []))
    missing = [name for name in features if name not in frame.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise _invalid(f"dataset {info.id!r} lacks feature column(s) {shown} of model "
                       f"{version.model!r}", missing=missing[:50])
    not_numeric = [name for name in features if info.columns.get(name) != "number"]
    if not_numeric:
        raise _invalid(f"model {version.model!r} takes numeric features; in dataset {info.id!r} "
                       f"{', '.join(not_numeric[:5])} {'is' if len(not_numeric) == 1 else 'are'} "
                       "not numeric", columns=not_numeric[:50])
    target = _column(table, params.label, info.label, "label", "label")
    if target in features:
        raise _invalid(f"column {target!r} is a feature of model {version.model!r}; name the "
                       "label column with params.label", "params.label")
    labels: list[str] = []
    if version.task == CLASSIFICATION:
        truth = _labels(table, target)
        labels = [str(label) for label in version.config.get("labels", [])]
        truth = _known(truth, labels, version, info.id)
    else:
        truth = _numbers(table, target)
    rows = _rows(table, truth, version.task == CLASSIFICATION, part, params, 0.1)
    x = frame[features].to_numpy(dtype=np.float64)[rows]
    inputs = [dict(zip(features, map(float, row), strict=True)) for row in x]
    return Prepared(version.task, info.id, inputs, rows.tolist(), truth[rows], labels)


def _numbers(table: Table, column: str) -> np.ndarray[Any, Any]:
    import pandas as pd

    values: np.ndarray[Any, Any] = pd.to_numeric(table.frame[column], errors="coerce").to_numpy(
        dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0]) + 1
        raise _invalid(f"dataset {table.info.id!r} row {row}: the target column {column!r} needs "
                       f"a number, got {table.frame[column].iloc[row - 1]!r}", "params.label", row=row)
    return values


def _text(version: VersionInfo, dataset: Dataset, part: Part, params: EvaluationParams) -> Prepared:
    table = _table(dataset, version, "a table with a text and a label column")
    info = table.info
    texts = [name for name, kind in info.columns.items() if kind == "text"]
    text = _column(table, params.text, texts[0] if texts else None, "text", "text")
    label = _column(table, params.label, info.label, "label", "label")
    if label == text:
        raise _invalid(f"params.label and params.text both name column {text!r}", "params.label")
    truth = _labels(table, label)
    labels = [str(name) for name in version.config.get("labels", [])]
    truth = _known(truth, labels, version, info.id)
    rows = _rows(table, truth, True, part, params, 0.0)
    values = table.frame[text].tolist()
    inputs = [values[row] if isinstance(values[row], str) else "" for row in rows.tolist()]
    return Prepared(TEXT, info.id, inputs, rows.tolist(), truth[rows], labels)


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _images(version: VersionInfo, dataset: Dataset, part: Part, params: EvaluationParams) -> Prepared:
    if not isinstance(dataset, ImageSet):
        raise _invalid(f"model {version.model!r} ({version.task}) is evaluated on images (a ZIP of "
                       f"class folders, or builtin:digits); dataset {dataset.info.id!r} is a table")
    from aiaas.training.trainers.images import split_images

    truth = np.asarray(dataset.labels)
    labels = [str(name) for name in version.config.get("labels", [])]
    truth = _known(truth, labels, version, dataset.info.id)
    rows: np.ndarray[Any, Any] = np.arange(len(truth))
    if part == "test":
        fraction = 0.1 if params.validation_fraction is None else params.validation_fraction
        rows = split_images(dataset.labels, seed=params.seed, test_fraction=params.test_fraction,
                            validation_fraction=fraction).test
    inputs = [_png(dataset.images[row]) for row in rows.tolist()]
    return Prepared(IMAGE, dataset.info.id, inputs, rows.tolist(), truth[rows], labels)


def _forecast(version: VersionInfo, dataset: Dataset, part: Part, params: EvaluationParams) -> Prepared:
    import pandas as pd

    from aiaas.training.trainers.forecasting import ForecastParams, load_series

    table = _table(dataset, version, "a table with a timestamp and a value column")
    if part != "test":
        raise _invalid("a forecaster is evaluated on the last params.horizon points of a series "
                       "(split 'test'); split 'all' does not apply", "split")
    config, info = version.config, table.info
    stamp = _column(table, params.timestamp, info.timestamp, "timestamp", "timestamp")
    value = _column(table, params.value, info.label, "value", "value")
    if value == stamp:
        raise _invalid(f"params.value and params.timestamp both name column {stamp!r}", "params.value")
    series = load_series(table, ForecastParams(timestamp=stamp, value=value))
    if series.frequency != config["frequency"]:
        raise _invalid(f"dataset {table.info.id!r} is a {series.frequency} series; model "
                       f"{version.model!r} forecasts {config['frequency']} steps")
    trained = int(config["horizon"])
    horizon = params.horizon or trained
    if horizon > trained:
        raise _invalid(f"params.horizon: model {version.model!r} forecasts at most {trained} "
                       f"steps, got {horizon}", "params.horizon", maximum=trained)
    values = series.values
    if len(values) < horizon + 1:
        raise _invalid(f"the series of dataset {table.info.id!r} has {len(values)} points; a "
                       f"horizon of {horizon} needs at least {horizon + 1}", "params.horizon")
    history, held_out = values.iloc[:-horizon], values.iloc[-horizon:]
    stored_end = pd.Timestamp(config["history_end"])
    if stored_end >= held_out.index[0]:
        raise _invalid(f"model {version.model!r} has seen its series up to {iso(stored_end)}; the "
                       f"last {horizon} points of dataset {table.info.id!r} start at "
                       f"{iso(held_out.index[0])}: evaluate on a series that goes past "
                       f"{iso(stored_end)}")
    sent = history.iloc[-MAX_HISTORY:]
    item = {"horizon": horizon, "history": [{"timestamp": iso(stamp), "value": float(value)}
                                            for stamp, value in sent.items()]}
    context = Series(history, pd.DatetimeIndex(held_out.index), float(config.get("level", 0.9)))
    return Prepared(FORECASTING, table.info.id, [item], [len(history)],
                    held_out.to_numpy(dtype=np.float64), series=context)


PREPARE = {CLASSIFICATION: _tabular, REGRESSION: _tabular, TEXT: _text, IMAGE: _images,
           FORECASTING: _forecast}


def prepare(version: VersionInfo, dataset: Dataset, part: Part, params: EvaluationParams) -> Prepared:
    """The inputs and truth of ``part`` of ``dataset`` for ``version``; ``Invalid`` naming what
    does not fit."""
    if version.task not in PREPARE:
        raise _invalid(f"model {version.model!r} serves {version.task}; evaluations cover "
                       f"{', '.join(TASKS)}", "model")
    prepared = PREPARE[version.task](version, dataset, part, params)
    if version.task != FORECASTING and prepared.size < 2:
        raise _invalid(f"the {part} part of dataset {prepared.dataset!r} has {prepared.size} row(s); "
                       "an evaluation needs at least 2")
    return prepared


def _title(part: Part) -> str:
    return "all rows" if part == "all" else plots.PART


def score(prepared: Prepared, outputs: list[Any], plot_dir: Path, part: Part,
          explained: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """Metrics of the served ``outputs`` against the truth, with the ``explained`` entries
    (``feature_importance``, ``influential_words``, ...) added, and the names of the plots
    drawn into ``plot_dir``."""
    metrics, names = _score(prepared, outputs, plot_dir, part)
    found = explained or {}
    return {**metrics, **found}, names + plots.explanations(found, plot_dir, part=_title(part))


def _score(prepared: Prepared, outputs: list[Any], plot_dir: Path, part: Part
           ) -> tuple[dict[str, Any], list[str]]:
    title = _title(part)
    if prepared.task in CLASSIFIERS:
        labels = prepared.labels
        classified: list[Classification] = outputs
        predicted = np.asarray([str(output.label) for output in classified])
        probabilities = np.asarray([[float(output.probabilities[label]) for label in labels]
                                    for output in classified], dtype=np.float64)
        metrics = evaluation.classification(prepared.truth, predicted, labels, probabilities)
        names = plots.classification(metrics, labels, prepared.truth, probabilities, plot_dir,
                                     part=title)
        return metrics, names
    if prepared.task == REGRESSION:
        predicted = np.asarray([float(output["value"]) for output in outputs], dtype=np.float64)
        metrics = evaluation.regression(prepared.truth, predicted)
        plots.predicted_vs_actual(prepared.truth, predicted, plot_dir / "predicted_vs_actual.png",
                                  part=title)
        return metrics, ["predicted_vs_actual"]
    return _score_forecast(prepared, outputs[0], plot_dir)


def _score_forecast(prepared: Prepared, served: dict[str, Any], plot_dir: Path
                    ) -> tuple[dict[str, Any], list[str]]:
    from aiaas.training.trainers.forecasting import forecast_metrics

    context = prepared.series
    assert context is not None
    expected = [iso(stamp) for stamp in context.actual_index]
    if served["timestamps"] != expected:
        raise _invalid(f"the model forecast {served['timestamps'][0]} .. {served['timestamps'][-1]}"
                       f", not the held-out points {expected[0]} .. {expected[-1]} of dataset "
                       f"{prepared.dataset!r}")
    actual = prepared.truth
    predicted, low, high = (np.asarray(served[key], dtype=np.float64)
                            for key in ("forecast", "lower", "upper"))
    metrics = forecast_metrics(actual, predicted, low, high)
    metrics["forecast"] = {**served, "actual": actual.tolist()}
    horizon = len(actual)
    tail = context.history.iloc[-min(len(context.history), 4 * horizon):]
    plots.forecast((tail.index, tail.to_numpy()), (context.actual_index, actual), predicted,
                   (low, high), float(served.get("level", context.level)), plot_dir / "forecast.png")
    return metrics, ["forecast"]
