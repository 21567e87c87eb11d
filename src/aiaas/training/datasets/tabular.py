"""From a ``Table`` to feature rows and a target, and the seeded train/validation/test split.

The split is deterministic for a given seed and stratified by label for classification, unless
the table has the user's own split column (values ``train``, ``validation``, ``test``). The test
part is for the final evaluation only; nothing trains or selects a model on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiaas.errors import Invalid
from aiaas.training.datasets.base import CLASSIFICATION, Dataset, Split, Table, TabularDataset

SPLIT_VALUES = ("train", "validation", "test")


def table_of(dataset: Dataset, task: str) -> Table:
    if not isinstance(dataset, Table):
        raise Invalid(f"{task} trains on a table (CSV or JSONL); {dataset.info.id!r} is a set of "
                      "images", details={"field": "dataset"})
    return dataset


def tabular(dataset: Dataset, task: str, label: str | None = None) -> TabularDataset:
    """Numeric feature columns (every column but the label and the split column) and the target;
    ``Invalid`` naming the column when one is missing or not numeric."""
    table = table_of(dataset, task)
    info, frame = table.info, table.frame
    target = label or info.label
    if target is None or target not in frame.columns:
        raise Invalid(f"dataset {info.id!r} has no label column {target!r}; columns: "
                      f"{', '.join(map(str, frame.columns))}", details={"field": "params.label"})
    skip = {target, info.split_column}
    features = [str(c) for c in frame.columns if c not in skip]
    not_numeric = [c for c in features if info.columns.get(c) != "number"]
    if not_numeric:
        raise Invalid(f"{task} needs numeric feature columns; {', '.join(not_numeric)} "
                      f"{'is' if len(not_numeric) == 1 else 'are'} not numeric",
                      details={"field": "dataset", "columns": not_numeric})
    if not features:
        raise Invalid(f"dataset {info.id!r} has no feature columns besides {target!r}",
                      details={"field": "dataset"})
    x = frame[features].to_numpy(dtype=np.float32)
    if task == CLASSIFICATION:
        y = np.asarray([str(v) for v in frame[target]])
    else:
        try:
            y = frame[target].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise Invalid(f"{task} needs a numeric target; column {target!r} is not numeric",
                          details={"field": "params.label"}) from exc
    own_split = (np.asarray([str(v) for v in frame[info.split_column]])
                 if info.split_column else None)
    return TabularDataset(info.id, task, features, x, y, own_split)


def split(data: TabularDataset, *, seed: int, test_fraction: float = 0.2,
          validation_fraction: float = 0.1) -> Split:
    """Split into train / validation / test; fractions are of the whole set."""
    if data.split is not None:
        return _own_split(data)
    from sklearn.model_selection import train_test_split

    stratify = data.task == CLASSIFICATION
    x_rest, x_test, y_rest, y_test = train_test_split(
        data.x, data.y, test_size=test_fraction, random_state=seed,
        stratify=data.y if stratify else None,
    )
    if validation_fraction <= 0:
        return Split(x_rest, y_rest, x_rest[:0], y_rest[:0], x_test, y_test)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=validation_fraction / (1 - test_fraction), random_state=seed,
        stratify=y_rest if stratify else None,
    )
    return Split(x_train, y_train, x_val, y_val, x_test, y_test)


def _own_split(data: TabularDataset) -> Split:
    assert data.split is not None
    parts: dict[str, Any] = {}
    for name in SPLIT_VALUES:
        mask = data.split == name
        parts[name] = (data.x[mask], data.y[mask])
    for name in ("train", "test"):
        if not len(parts[name][1]):
            raise Invalid(f"the split column of {data.id!r} has no {name!r} rows",
                          details={"field": "dataset"})
    return Split(*parts["train"], *parts["validation"], *parts["test"])
