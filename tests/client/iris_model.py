"""A small, real ONNX tabular classifier (logistic regression on iris), built in well under a second."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

IRIS_SETOSA = [5.1, 3.5, 1.4, 0.2]
IRIS_VIRGINICA = [6.7, 3.0, 5.2, 2.3]


def write_iris_model(directory: Path) -> list[str]:
    """Write model.onnx + aiaas.json into ``directory``; return the feature names."""
    data = load_iris()
    features = data.data.astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(features, data.target)
    onnx_model = to_onnx(model, features[:1], options={"zipmap": False})
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(onnx_model.SerializeToString())
    names = list(data.feature_names)
    (directory / "aiaas.json").write_text(json.dumps({
        "task": "tabular-classification",
        "description": "iris species from four measurements",
        "labels": [str(label) for label in data.target_names],
        "feature_names": names,
        "metrics": {"train_accuracy": float(model.score(features, data.target))},
    }))
    return names
