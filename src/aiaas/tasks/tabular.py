"""Tabular models: records of named numeric features in; a label or a value out."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiaas.errors import Invalid
from aiaas.tasks.base import Limits, Task, item_error

if TYPE_CHECKING:
    from aiaas.formats import Detected


def _onnx_signature(path: Path) -> tuple[int | None, list[Any]]:
    """(number of input features, class labels) read from an ONNX graph's shape and attributes."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    width: int | None = None
    if model.graph.input:
        dims = model.graph.input[0].type.tensor_type.shape.dim
        if len(dims) == 2 and dims[1].dim_value > 0:
            width = int(dims[1].dim_value)
    labels: list[Any] = []
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name == "classlabels_strings":
                labels = [s.decode() for s in attribute.strings]
            elif attribute.name in ("classlabels_int64s", "classlabels_ints"):
                labels = list(attribute.ints)
    return width, labels


class _TabularTask(Task):
    def prepare_config(self, detected: Detected, source: Path) -> dict[str, Any]:
        model_file = detected.config["model_file"]
        width, graph_labels = _onnx_signature(source / model_file)
        features = list(detected.manifest.feature_names)
        if not features:
            if width is None:
                raise Invalid("the ONNX model has no fixed feature count: list feature_names "
                              "in aiaas.json")
            features = [f"f{i}" for i in range(width)]
        if width is not None and len(features) != width:
            raise Invalid(f"aiaas.json names {len(features)} features; the model takes {width}")
        if len(set(features)) != len(features):
            raise Invalid("aiaas.json feature_names has duplicates")
        config: dict[str, Any] = {"model_file": model_file, "feature_names": features}
        if self.name == "tabular-classification":
            labels = list(detected.manifest.labels) or graph_labels
            if not labels:
                raise Invalid("cannot find the class labels: list them in aiaas.json")
            config["labels"] = [str(label) for label in labels]
            config["graph_labels"] = graph_labels
        return config

    def input_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        features = config.get("feature_names", [])
        return {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {name: {"type": "number"} for name in features},
                "required": features,
                "additionalProperties": False,
            },
        }

    def check_item(self, item: Any, index: int, config: dict[str, Any], limits: Limits) -> Any:
        features: list[str] = config["feature_names"]
        if isinstance(item, list):
            if len(item) != len(features):
                raise item_error(index, f"expected {len(features)} values, got {len(item)}")
            record = dict(zip(features, item, strict=True))
        elif isinstance(item, dict):
            record = item
        else:
            raise item_error(index, f"expected an object of features, got {type(item).__name__}")
        missing = [name for name in features if name not in record]
        if missing:
            raise item_error(index, f"missing feature(s): {', '.join(missing[:5])}"
                                    + (" ..." if len(missing) > 5 else ""))
        unknown = sorted(set(record) - set(features))
        if unknown:
            raise item_error(index, f"unknown feature(s): {', '.join(unknown[:5])}")
        row: list[float] = []
        for name in features:
            value = record[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise item_error(index, f"feature {name!r} must be a number, "
                                        f"got {type(value).__name__}")
            if not math.isfinite(value):
                raise item_error(index, f"feature {name!r} must be finite")
            row.append(float(value))
        return row


class TabularClassificationTask(_TabularTask):
    name = "tabular-classification"

    def output_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        labels = config.get("labels", [])
        return {
            "type": "object",
            "properties": {
                "label": {"enum": labels},
                "score": {"type": "number"},
                "probabilities": {"type": "object",
                                  "properties": {str(x): {"type": "number"} for x in labels}},
            },
            "required": ["label", "score", "probabilities"],
        }


class TabularRegressionTask(_TabularTask):
    name = "tabular-regression"

    def output_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": {"value": {"type": "number"}},
                "required": ["value"]}


BACKGROUND_FILE = "background.json"
BACKGROUND_ROWS = 100


def write_background(directory: Path, rows: Any, *, seed: int = 0) -> None:
    """Store a seeded sample of the training rows (``BACKGROUND_ROWS`` at most, feature order)
    beside a tabular model as ``background.json``: what SHAP explanations compare against."""
    import numpy as np

    matrix = np.asarray(rows, dtype=np.float64)
    if len(matrix) > BACKGROUND_ROWS:
        chosen = np.random.default_rng(seed).choice(len(matrix), BACKGROUND_ROWS, replace=False)
        matrix = matrix[np.sort(chosen)]
    (directory / BACKGROUND_FILE).write_text(json.dumps(matrix.tolist()))
