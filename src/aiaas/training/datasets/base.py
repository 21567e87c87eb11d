"""What a dataset is once loaded, whatever its source (built-in or uploaded).

Two shapes: a ``Table`` (a pandas DataFrame: tabular features, text and label columns, time
series) and an ``ImageSet`` (decoded images with a class label each). Trainers take the shape
they need and refuse the other with ``Invalid``. ``DatasetInfo`` is the metadata a job is
checked against when it is created, without loading the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image

CLASSIFICATION = "tabular-classification"
REGRESSION = "tabular-regression"
BUILTIN_PREFIX = "builtin:"

Kind = Literal["table", "images"]


@dataclass(frozen=True)
class DatasetInfo:
    """Metadata of a dataset: ``columns`` maps column name to ``number``, ``text``, ``datetime``
    or ``label`` (tables only); ``label`` is the default target column; ``tasks`` are the training
    tasks it suits out of the box; ``stats`` holds rows, class balance and the like."""

    id: str
    kind: Kind
    rows: int
    columns: dict[str, str] = field(default_factory=dict)
    label: str | None = None
    split_column: str | None = None
    timestamp: str | None = None
    tasks: tuple[str, ...] = ()
    description: str = ""
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Table:
    info: DatasetInfo
    frame: pd.DataFrame


@dataclass(frozen=True)
class ImageSet:
    """``images`` in RGB or L mode, one label (class name) each, in ``classes`` order."""

    info: DatasetInfo
    images: list[Image.Image]
    labels: list[str]
    classes: list[str]


Dataset = Table | ImageSet


@dataclass(frozen=True)
class TabularDataset:
    """Features as float32 rows; ``y`` holds string labels (classification) or floats."""

    id: str
    task: str
    feature_names: list[str]
    x: np.ndarray[Any, Any]
    y: np.ndarray[Any, Any]
    split: np.ndarray[Any, Any] | None = None
    """The user's own ``train``/``validation``/``test`` value per row, when the dataset has one."""


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray[Any, Any]
    y_train: np.ndarray[Any, Any]
    x_val: np.ndarray[Any, Any]
    y_val: np.ndarray[Any, Any]
    x_test: np.ndarray[Any, Any]
    y_test: np.ndarray[Any, Any]
