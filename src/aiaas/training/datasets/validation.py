"""Type the columns of a parsed table and check it can be trained on; build the pandas frame.

Column types: ``number`` (most values are numbers: the others are an error naming their line),
``datetime`` (ISO 8601 values, or the named timestamp column), ``label`` (a low-cardinality
string column, the named label column, the split column) and ``text``. The label column
(given, or a column named label/target/class/y) needs a value on every row and, when it holds
classes, at least two of them and two examples of each. The user's split column takes
``train``/``validation``/``test`` (any case) and needs train and test rows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from aiaas.errors import Invalid
from aiaas.training.datasets.parsing import RawTable, invalid, shorten
from aiaas.training.datasets.tabular import SPLIT_VALUES

if TYPE_CHECKING:
    import pandas as pd

LABEL_NAMES = ("label", "target", "class", "y")
MAX_CLASSES = 100
"""A string column with at most this many distinct values (and at most half as many as its rows)
is a ``label`` column; above it is ``text``."""
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class CheckedTable:
    frame: pd.DataFrame
    columns: dict[str, str]
    label: str | None
    split_column: str | None
    timestamp: str | None


def check_table(raw: RawTable, *, label: str | None = None, split_column: str | None = None,
                timestamp: str | None = None) -> CheckedTable:
    """Type every column and check the named label, split and timestamp columns."""
    import pandas as pd

    label = resolve_label(raw.names, label, split_column, timestamp)
    data: dict[str, Any] = {}
    columns: dict[str, str] = {}
    for name, cells in zip(raw.names, raw.cells, strict=True):
        if name == split_column:
            columns[name], data[name] = "label", _split(name, cells, raw)
        elif name == timestamp:
            columns[name], data[name] = "datetime", parse_datetimes(name, cells, raw)
        else:
            columns[name], data[name] = infer_column(name, cells, raw, is_label=name == label)
    return CheckedTable(pd.DataFrame(data), columns, label, split_column, timestamp)


def resolve_label(names: list[str], label: str | None, split_column: str | None,
                  timestamp: str | None) -> str | None:
    """The label column (given, else the first named like one); ``Invalid`` when a named
    column is missing or two options name the same column. Shared with the columnar reader."""
    for field, what, name in (("label", "label", label), ("split_column", "split", split_column),
                              ("timestamp", "timestamp", timestamp)):
        if name is not None and name not in names:
            raise Invalid(f"{what} column {name!r} not found; columns: "
                          f"{shorten(', '.join(names), 300)}", details={"field": field})
    named = [name for name in (label, split_column, timestamp) if name is not None]
    if len(set(named)) != len(named):
        raise Invalid("label, split_column and timestamp must name different columns",
                      details={"field": "split_column" if split_column in (label, timestamp)
                               else "timestamp"})
    if label is None:
        label = next((name for name in names if name.lower() in LABEL_NAMES
                      and name not in (split_column, timestamp)), None)
    return label


def _series(cells: Sequence[str | None]) -> pd.Series:
    import pandas as pd

    return pd.Series(cells, dtype=object)


def _first(mask: np.ndarray[Any, Any]) -> int:
    return int(np.flatnonzero(mask)[0])


def infer_column(name: str, cells: list[str | None], raw: RawTable, *, is_label: bool
                 ) -> tuple[str, pd.Series]:
    """A column's type and values; ``raw`` gives the lines that errors name."""
    import pandas as pd

    values = _series(cells)
    present = values.notna().to_numpy()
    if is_label and not present.all():
        line = raw.lines[_first(~present)]
        raise invalid(f"the label column {name!r} is empty; every row needs a label", line,
                      column=name)
    numbers = pd.to_numeric(values, errors="coerce")
    is_number = numbers.notna().to_numpy()
    not_number = present & ~is_number
    if is_number.sum() > not_number.sum():
        if not_number.any():
            raise _mixed(name, cells, raw, _first(not_number))
        infinite = np.isinf(numbers.to_numpy(dtype=np.float64))
        if infinite.any():
            at = _first(infinite)
            raise invalid(f"column {name!r} has {cells[at]!r}; numbers must be finite",
                          raw.lines[at], column=name)
        return "number", numbers
    strings = pd.Series(cells, dtype="str")
    if is_label:
        _check_classes(name, strings, raw)
        return "label", strings
    if looks_like_dates(cells):
        try:
            return "datetime", parse_datetimes(name, cells, raw)
        except Invalid:
            pass
    low = few_classes(strings.nunique(dropna=True), int(present.sum()))
    return ("label" if low else "text"), strings


def few_classes(distinct: int, present: int) -> bool:
    """Whether a string column with ``distinct`` values over ``present`` cells is a label."""
    return distinct <= MAX_CLASSES and distinct * 2 <= max(present, 2)


def _mixed(name: str, cells: list[str | None], raw: RawTable, at: int) -> Invalid:
    return Invalid(f"column {name!r}: line {raw.lines[at]} has {shorten(str(cells[at]))!r} but "
                   "the column is numeric",
                   details={"field": "file", "line": raw.lines[at], "column": name})


def looks_like_dates(cells: list[str | None]) -> bool:
    first = next((cell for cell in cells if cell is not None), None)
    return first is not None and bool(_ISO_DATE.match(first))


def parse_datetimes(name: str, cells: list[str | None], raw: RawTable) -> pd.Series:
    """ISO 8601 values as pandas datetimes; ``Invalid`` naming the first value that is not."""
    import pandas as pd

    values = _series(cells)
    try:
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True)
    bad = (values.notna() & parsed.isna()).to_numpy()
    if bad.any():
        at = _first(bad)
        raise Invalid(f"column {name!r}: line {raw.lines[at]} has {shorten(str(cells[at]))!r}, "
                      "not an ISO 8601 date or time (e.g. 2024-01-31 or 2024-01-31T09:30)",
                      details={"field": "file", "line": raw.lines[at], "column": name})
    return parsed


def _check_classes(name: str, labels: pd.Series, raw: RawTable) -> None:
    counts = Counter(labels.tolist())
    if len(counts) < 2:
        only = next(iter(counts), "")
        raise Invalid(f"the label column {name!r} has one class ({only!r}); classification needs "
                      "at least 2", details={"field": "label", "column": name})
    lonely = [value for value, count in counts.items() if count == 1]
    if lonely:
        value = lonely[0]
        line = raw.lines[labels.tolist().index(value)]
        raise Invalid(f"label {shorten(str(value))!r} has only one example (line {line}); every "
                      "class needs at least 2",
                      details={"field": "file", "line": line, "column": name})


def _split(name: str, cells: list[str | None], raw: RawTable) -> pd.Series:
    allowed = ", ".join(SPLIT_VALUES)
    normalised: list[str] = []
    for row, cell in enumerate(cells):
        value = (cell or "").lower()
        if value not in SPLIT_VALUES:
            what = f"has {shorten(cell)!r}" if cell is not None else "is empty"
            raise Invalid(f"column {name!r}: line {raw.lines[row]} {what}; the split column takes "
                          f"{allowed}",
                          details={"field": "file", "line": raw.lines[row], "column": name})
        normalised.append(value)
    for needed in ("train", "test"):
        if needed not in normalised:
            raise Invalid(f"the split column {name!r} has no {needed!r} rows; it needs train and "
                          "test rows", details={"field": "split_column", "column": name})
    return _series(normalised).astype("str")
