"""Built-in datasets (``builtin:NAME``, bundled with scikit-learn, offline) and the seeded split.

The split is deterministic for a given seed: stratified by label for classification. The test
part is for the final evaluation only; nothing trains or selects a model on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from aiaas.errors import Invalid

CLASSIFICATION = "tabular-classification"
REGRESSION = "tabular-regression"
TASKS = (CLASSIFICATION, REGRESSION)
PREFIX = "builtin:"


@dataclass(frozen=True)
class TabularDataset:
    """Features as float32 rows; ``y`` holds string labels (classification) or floats."""

    id: str
    task: str
    feature_names: list[str]
    x: np.ndarray[Any, Any]
    y: np.ndarray[Any, Any]


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray[Any, Any]
    y_train: np.ndarray[Any, Any]
    x_val: np.ndarray[Any, Any]
    y_val: np.ndarray[Any, Any]
    x_test: np.ndarray[Any, Any]
    y_test: np.ndarray[Any, Any]


def _loader(name: str) -> Callable[[], Any]:
    from sklearn import datasets

    loader: Callable[[], Any] = getattr(datasets, f"load_{name}")
    return loader


BUILTINS: dict[str, str] = {
    "breast_cancer": CLASSIFICATION,
    "iris": CLASSIFICATION,
    "wine": CLASSIFICATION,
    "digits": CLASSIFICATION,
    "diabetes": REGRESSION,
}


def task_of(dataset_id: str) -> str:
    """The task a dataset is for; ``Invalid`` naming the dataset when it is unknown."""
    name = dataset_id.removeprefix(PREFIX) if dataset_id.startswith(PREFIX) else None
    if name not in BUILTINS:
        known = ", ".join(PREFIX + key for key in BUILTINS)
        raise Invalid(f"unknown dataset {dataset_id!r}; built-in datasets: {known}",
                      details={"field": "dataset"})
    return BUILTINS[name]


def load(dataset_id: str) -> TabularDataset:
    task = task_of(dataset_id)
    bunch = _loader(dataset_id.removeprefix(PREFIX))()
    x = np.asarray(bunch.data, dtype=np.float32)
    names = getattr(bunch, "feature_names", None)
    features = [str(n) for n in names] if names is not None else [f"f{i}" for i in range(x.shape[1])]
    if task == CLASSIFICATION:
        y = np.asarray([str(label) for label in np.asarray(bunch.target_names)[bunch.target]])
    else:
        y = np.asarray(bunch.target, dtype=np.float64)
    return TabularDataset(dataset_id, task, features, x, y)


def split(data: TabularDataset, *, seed: int, test_fraction: float = 0.2,
          validation_fraction: float = 0.1) -> Split:
    """Split into train / validation / test; fractions are of the whole set."""
    from sklearn.model_selection import train_test_split

    stratify = data.task == CLASSIFICATION
    x_rest, x_test, y_rest, y_test = train_test_split(
        data.x, data.y, test_size=test_fraction, random_state=seed,
        stratify=data.y if stratify else None,
    )
    if validation_fraction <= 0:
        empty_x, empty_y = x_rest[:0], y_rest[:0]
        return Split(x_rest, y_rest, empty_x, empty_y, x_test, y_test)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=validation_fraction / (1 - test_fraction), random_state=seed,
        stratify=y_rest if stratify else None,
    )
    return Split(x_train, y_train, x_val, y_val, x_test, y_test)
