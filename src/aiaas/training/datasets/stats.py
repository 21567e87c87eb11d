"""Statistics stored with a dataset and shown by the API: JSON-ready, finite numbers only.

A table: ``rows``, per column ``type`` and ``missing`` (numbers add ``min``/``max``/``mean``,
dates ``min``/``max``, strings ``distinct``), ``classes`` (counts per label of the label column
when it holds classes) and ``split`` (rows per value of the user's split column). An image set:
``rows``, ``classes`` (images per class), ``image_sizes`` (width and height min/max/mean) and
``formats``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_NUMERIC_CLASSES = 50
"""A numeric label column with at most this many distinct values also gets class counts."""


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _counts(values: Iterable[Any]) -> dict[str, int]:
    counted = _value_counts(values)
    if counted is None:
        counted = Counter(str(value) for value in values)
    return {key: counted[key] for key in sorted(counted)}


def _value_counts(values: Iterable[Any]) -> dict[str, int] | None:
    """Counts of a string or integer column by pandas, without a Python object per row (each
    distinct value has one spelling there); ``None`` for other columns (floats: 0.0 and -0.0
    count apart as text)."""
    import pandas as pd

    if not isinstance(values, pd.Series):
        return None
    if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype.kind in "iu") \
            or values.dtype == object:
        return None
    counted = values.value_counts(dropna=True)
    return {str(key): int(count) for key, count in counted.items()}


def table_stats(frame: pd.DataFrame, columns: dict[str, str], *, label: str | None,
                split_column: str | None) -> dict[str, Any]:
    per_column: dict[str, dict[str, Any]] = {}
    for name, kind in columns.items():
        series = frame[name]
        missing = int(series.isna().sum())
        present = series.dropna() if missing else series
        entry: dict[str, Any] = {"type": kind, "missing": missing}
        if kind == "number" and len(present):
            entry |= {"min": _finite(present.min()), "max": _finite(present.max()),
                      "mean": _finite(present.astype("float64").mean())}
        elif kind == "datetime" and len(present):
            entry |= {"min": present.min().isoformat(), "max": present.max().isoformat()}
        elif kind in ("label", "text"):
            entry["distinct"] = int(present.nunique())
        per_column[name] = entry
    stats: dict[str, Any] = {"rows": len(frame), "columns": per_column}
    if label is not None and label in columns:
        target = frame[label].dropna()
        if columns[label] == "label" or target.nunique() <= MAX_NUMERIC_CLASSES:
            stats["classes"] = _counts(target)
    if split_column is not None:
        stats["split"] = _counts(frame[split_column])
    return stats


def _summary(values: Sequence[int]) -> dict[str, float | int | None]:
    if not values:
        return {"min": None, "max": None, "mean": None}
    return {"min": min(values), "max": max(values), "mean": round(sum(values) / len(values), 3)}


def image_stats(labels: Sequence[str], sizes: Sequence[tuple[int, int]],
                formats: Sequence[str]) -> dict[str, Any]:
    return {
        "rows": len(labels),
        "classes": _counts(labels),
        "image_sizes": {"width": _summary([w for w, _ in sizes]),
                        "height": _summary([h for _, h in sizes])},
        "formats": _counts(formats),
    }
