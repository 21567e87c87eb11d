"""Built-in datasets, addressed as ``builtin:NAME``; all offline (bundled with their packages or
stored in this repository).

Each entry loads a ``Table`` or an ``ImageSet``. The scikit-learn tables keep their feature names
and put the target in a ``label`` (class name) or ``target`` (number) column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiaas.training.datasets.base import (
    BUILTIN_PREFIX,
    CLASSIFICATION,
    REGRESSION,
    Dataset,
    DatasetInfo,
    ImageSet,
    Table,
)

IMAGE_CLASSIFICATION = "image-classification"
FORECASTING = "forecasting"
TEXT_CLASSIFICATION = "text-classification"


@dataclass(frozen=True)
class Builtin:
    """``load(dataset_id, task)``: most built-ins have one shape whatever the task; one that
    serves as both a table and images (digits) looks at ``task``."""

    description: str
    tasks: tuple[str, ...]
    load: Callable[[str, str | None], Dataset]


def _sklearn(name: str, task: str) -> Callable[[str, str | None], Dataset]:
    def load(dataset_id: str, _task: str | None = None) -> Dataset:
        import pandas as pd
        from sklearn import datasets

        bunch: Any = getattr(datasets, f"load_{name}")()
        names = getattr(bunch, "feature_names", None)
        features = [str(n) for n in names] if names is not None else [
            f"f{i}" for i in range(bunch.data.shape[1])]
        frame = pd.DataFrame(bunch.data.astype("float32"), columns=features)
        if task == CLASSIFICATION:
            label = "label"
            frame[label] = [str(v) for v in bunch.target_names[bunch.target]]
        else:
            label = "target"
            frame[label] = bunch.target.astype("float64")
        columns = {name: "number" for name in features} | {label: "label" if task == CLASSIFICATION
                                                            else "number"}
        info = DatasetInfo(dataset_id, "table", len(frame), columns, label=label, tasks=(task,),
                           description=BUILTINS[name].description)
        return Table(info, frame)
    return load


def _digits(dataset_id: str, task: str | None = None) -> Dataset:
    """8x8 greyscale images (labels "0".."9") for image classification, else the 64-feature
    table. The 0..16 pixel intensities are scaled to 0..255."""
    if task != IMAGE_CLASSIFICATION:
        return _sklearn("digits", CLASSIFICATION)(dataset_id, task)
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    bunch: Any = load_digits()
    pixels = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    images = [Image.fromarray(array, "L") for array in pixels]
    labels = [str(int(v)) for v in bunch.target]
    classes = [str(v) for v in range(10)]
    info = DatasetInfo(dataset_id, "images", len(images), tasks=BUILTINS["digits"].tasks,
                       description=BUILTINS["digits"].description,
                       stats={"images": len(images), "image_size": [8, 8], "mode": "L",
                              "classes": {c: labels.count(c) for c in classes}})
    return ImageSet(info, images, labels, classes)


def _sentiment(dataset_id: str, _task: str | None = None) -> Dataset:
    """Short English reviews written for this project (``data/sentiment.csv``, shipped in the
    wheel), so text classification can be tried with no upload and no download."""
    import pandas as pd

    source = resources.files("aiaas.training.datasets").joinpath("data", "sentiment.csv")
    with source.open("r", encoding="utf-8") as f:
        frame = pd.read_csv(f, dtype=str, keep_default_na=False)
    counts = {str(k): int(v) for k, v in frame["label"].value_counts().sort_index().items()}
    info = DatasetInfo(dataset_id, "table", len(frame), {"text": "text", "label": "label"},
                       label="label", tasks=BUILTINS["sentiment"].tasks,
                       description=BUILTINS["sentiment"].description,
                       stats={"rows": len(frame), "classes": counts})
    return Table(info, frame)


def _co2(dataset_id: str, _task: str | None = None) -> Dataset:
    """statsmodels' weekly Mauna Loa CO2 (ppm, 1958-03-29 .. 2001-12-29, Saturdays); its 59
    missing weeks are filled by linear interpolation so the series is regular."""
    import pandas as pd
    from statsmodels.datasets import co2

    raw: Any = co2.load_pandas().data["co2"]
    missing = int(raw.isna().sum())
    frame = pd.DataFrame({"date": pd.DatetimeIndex(raw.index),
                          "co2": raw.interpolate(method="linear").to_numpy(dtype="float64")})
    info = DatasetInfo(dataset_id, "table", len(frame), {"date": "datetime", "co2": "number"},
                       label="co2", timestamp="date", tasks=(FORECASTING,),
                       description=BUILTINS["co2"].description,
                       stats={"rows": len(frame), "frequency": "W-SAT", "interpolated": missing,
                              "start": str(frame["date"].iloc[0].date()),
                              "end": str(frame["date"].iloc[-1].date())})
    return Table(info, frame)


BUILTINS: dict[str, Builtin] = {
    "breast_cancer": Builtin("scikit-learn's Wisconsin breast cancer diagnosis (569 rows, 30 "
                             "features, malignant/benign)", (CLASSIFICATION,),
                             _sklearn("breast_cancer", CLASSIFICATION)),
    "iris": Builtin("scikit-learn's iris flowers (150 rows, 4 features, 3 species)",
                    (CLASSIFICATION,), _sklearn("iris", CLASSIFICATION)),
    "wine": Builtin("scikit-learn's wine recognition (178 rows, 13 features, 3 cultivars)",
                    (CLASSIFICATION,), _sklearn("wine", CLASSIFICATION)),
    "digits": Builtin("scikit-learn's 8x8 handwritten digits (1797): 64 pixel features for "
                      "tabular classification, 8x8 greyscale images for image classification",
                      (CLASSIFICATION, IMAGE_CLASSIFICATION), _digits),
    "diabetes": Builtin("scikit-learn's diabetes progression (442 rows, 10 features)",
                        (REGRESSION,), _sklearn("diabetes", REGRESSION)),
    "co2": Builtin("statsmodels' weekly atmospheric CO2 at Mauna Loa in ppm (2284 weeks, "
                   "1958-2001; columns date, co2; the 59 missing weeks linearly interpolated)",
                   (FORECASTING,), _co2),
    "sentiment": Builtin("short English product and service reviews written for aiaas (1040 rows, "
                         "text and label columns, positive/negative)", (TEXT_CLASSIFICATION,),
                         _sentiment),
}


def names() -> list[str]:
    return [BUILTIN_PREFIX + name for name in BUILTINS]
