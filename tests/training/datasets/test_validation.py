"""Checking a read table: mixed types, the label, split and timestamp columns named with their
line, and types inferred the same from CSV and JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.training.datasets.conftest import _check, _csv, _error, _good_rows


def test_mixed_types_name_column_line_and_value(tmp_path: Path) -> None:
    rows = _good_rows(12)
    rows[10] = "abc,1,1,1,yes"
    assert _error(tmp_path, _csv(rows)) == "column 'a': line 12 has 'abc' but the column is numeric"
    jsonl = "".join(json.dumps({"age": v, "label": "x"}) + "\n" for v in [1, 2, "old", 4, 5])
    assert _error(tmp_path, jsonl, "jsonl") == \
        "column 'age': line 3 has 'old' but the column is numeric"


def test_label_column_errors(tmp_path: Path) -> None:
    text = _csv(_good_rows(6))
    assert _error(tmp_path, text, label="y") == \
        "label column 'y' not found; columns: a, b, c, d, label"
    rows = _good_rows(8)
    rows[6] = "6,3,0,12,maybe"
    assert _error(tmp_path, _csv(rows)) == \
        "label 'maybe' has only one example (line 8); every class needs at least 2"
    rows[6] = "6,3,0,12,"
    assert _error(tmp_path, _csv(rows)) == \
        "line 8: the label column 'label' is empty; every row needs a label"
    one_class = _csv([f"{i},1,1,1,same" for i in range(4)])
    assert _error(tmp_path, one_class) == \
        "the label column 'label' has one class ('same'); classification needs at least 2"


def test_split_column_values_and_parts(tmp_path: Path) -> None:
    rows = [f"{i},{'yes' if i % 2 else 'no'},{s}" for i, s in
            enumerate(["train", "train", "Test", "dev", "test", "train"])]
    text = _csv(rows, "a,label,split")
    assert _error(tmp_path, text, split_column="split") == (
        "column 'split': line 5 has 'dev'; the split column takes train, validation, test")
    no_test = _csv([f"{i},{'yes' if i % 2 else 'no'},train" for i in range(4)], "a,label,split")
    assert _error(tmp_path, no_test, split_column="split") == (
        "the split column 'split' has no 'test' rows; it needs train and test rows")
    assert _error(tmp_path, no_test, split_column="part").startswith(
        "split column 'part' not found; columns: a, label, split")
    checked = _check(tmp_path, text.replace("dev", "validation"), split_column="split")
    assert checked.frame["split"].tolist() == ["train", "train", "test", "validation", "test",
                                               "train"]
    assert checked.columns["split"] == "label" and checked.split_column == "split"


def test_timestamp_column_must_hold_dates(tmp_path: Path) -> None:
    text = "when,value\n2024-01-01,1\n2024-01-08,2\nsoon,3\n"
    assert _error(tmp_path, text, timestamp="when") == (
        "column 'when': line 4 has 'soon', not an ISO 8601 date or time "
        "(e.g. 2024-01-31 or 2024-01-31T09:30)")
    checked = _check(tmp_path, text.replace("soon", "2024-01-15"), timestamp="when")
    assert checked.columns == {"when": "datetime", "value": "number"}
    assert checked.frame["when"].iloc[2] == pd.Timestamp("2024-01-15")


def test_types_inferred_the_same_from_csv_and_jsonl(tmp_path: Path) -> None:
    records = [{"n": i, "x": i / 4 if i != 3 else None, "day": f"2024-02-{i + 1:02d}",
                "color": ["red", "blue"][i % 2], "note": f"free text number {i}",
                "ok": i % 2 == 0, "label": ["cat", "dog"][i % 2]} for i in range(10)]
    jsonl = "".join(json.dumps(r) + "\n" for r in records)
    from_jsonl = _check(tmp_path, jsonl, "jsonl")
    frame = pd.DataFrame(records).astype({"ok": str}).replace({"True": "true", "False": "false"})
    from_csv = _check(tmp_path, frame.to_csv(index=False), "csv")
    expected = {"n": "number", "x": "number", "day": "datetime", "color": "label", "note": "text",
                "ok": "label", "label": "label"}
    assert from_jsonl.columns == from_csv.columns == expected
    assert from_jsonl.label == "label"
    assert from_jsonl.frame["n"].dtype == np.int64 and from_jsonl.frame["x"].isna().sum() == 1
    assert from_jsonl.frame["ok"].tolist() == from_csv.frame["ok"].tolist()
