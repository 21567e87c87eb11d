"""Built-in datasets, addressed as ``builtin:NAME``; all offline (bundled with their packages or
stored in this repository).

Each entry loads a ``Table`` or an ``ImageSet``. The scikit-learn tables keep their feature names
and put the target in a ``label`` (class name) or ``target`` (number) column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiaas.training.datasets.base import (
    BUILTIN_PREFIX,
    CLASSIFICATION,
    REGRESSION,
    Dataset,
    DatasetInfo,
    Table,
)


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


BUILTINS: dict[str, Builtin] = {
    "breast_cancer": Builtin("scikit-learn's Wisconsin breast cancer diagnosis (569 rows, 30 "
                             "features, malignant/benign)", (CLASSIFICATION,),
                             _sklearn("breast_cancer", CLASSIFICATION)),
    "iris": Builtin("scikit-learn's iris flowers (150 rows, 4 features, 3 species)",
                    (CLASSIFICATION,), _sklearn("iris", CLASSIFICATION)),
    "wine": Builtin("scikit-learn's wine recognition (178 rows, 13 features, 3 cultivars)",
                    (CLASSIFICATION,), _sklearn("wine", CLASSIFICATION)),
    "digits": Builtin("scikit-learn's 8x8 handwritten digits as 64 pixel features (1797 rows)",
                      (CLASSIFICATION,), _sklearn("digits", CLASSIFICATION)),
    "diabetes": Builtin("scikit-learn's diabetes progression (442 rows, 10 features)",
                        (REGRESSION,), _sklearn("diabetes", REGRESSION)),
}


def names() -> list[str]:
    return [BUILTIN_PREFIX + name for name in BUILTINS]
