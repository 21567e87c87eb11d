"""Reading uploaded CSV and JSON Lines files: errors that name the line (field counts, blank lines
and quoted newlines, invalid JSON, empty files and headers, encoding, quoting and limits)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiaas.errors import PayloadTooLarge
from aiaas.training.datasets import parsing
from tests.training.datasets.conftest import _check, _csv, _error, _good_rows


def test_wrong_field_count_names_the_line(tmp_path: Path) -> None:
    rows = [*_good_rows(15), "1,2,3,yes"]
    assert _error(tmp_path, _csv(rows)) == "line 17: expected 5 fields, got 4"
    assert _error(tmp_path, _csv([*_good_rows(3), "1,2,3,4,yes,extra"])) == \
        "line 5: expected 5 fields, got 6"


def test_line_numbers_count_blank_lines_and_quoted_newlines(tmp_path: Path) -> None:
    text = 'a,b,label\n\n1,"two\nlines",x\n2,ok,y\n3,4\n'
    assert _error(tmp_path, text) == "line 6: expected 3 fields, got 2"


def test_invalid_json_lines_are_named(tmp_path: Path) -> None:
    good = '{"a": 1, "label": "x"}\n{"a": 2, "label": "x"}\n'
    assert _error(tmp_path, good + "{nope\n", "jsonl").startswith(
        "line 3: not a JSON object: invalid JSON at column 2")
    assert _error(tmp_path, good + "[1, 2]\n", "jsonl") == "line 3: not a JSON object (got a list)"
    assert _error(tmp_path, good + "7\n", "jsonl") == "line 3: not a JSON object (got a number)"
    assert _error(tmp_path, good + '{"a": [1]}\n', "jsonl") == (
        "line 3: field 'a' holds a list; values must be strings, numbers, booleans or null")


def test_empty_files_and_headers(tmp_path: Path) -> None:
    assert _error(tmp_path, "") == "the file is empty"
    assert _error(tmp_path, "\n  \n\n") == "the file is empty"
    assert _error(tmp_path, "", "jsonl") == "the file is empty"
    assert _error(tmp_path, "a,b,label\n") == "the file has no data rows after its header"
    assert _error(tmp_path, "1,2,3\n4,5,6\n").startswith(
        "line 1: the first line must name the columns (a header), but it holds values: 1, 2, 3")
    assert _error(tmp_path, "a,b,a\n1,2,3\n") == "line 1: duplicate column name 'a' (columns 1 and 3)"
    assert _error(tmp_path, "a,,c\n1,2,3\n") == "line 1: column 2 has no name"


def test_encoding_quoting_and_limits(tmp_path: Path) -> None:
    assert _error(tmp_path, b"a,label\n1,x\n2,\xff\xfe\n") == (
        "line 3: not UTF-8 text (byte 3 of the line); save the file as UTF-8")
    assert _error(tmp_path, 'a,label\n1,x\n2,"open"quote\n').startswith("line 3: malformed CSV")
    with pytest.raises(PayloadTooLarge) as caught:
        _check(tmp_path, ",".join(f"c{i}" for i in range(parsing.MAX_COLUMNS + 1)) + "\n")
    assert caught.value.message == f"line 1: {parsing.MAX_COLUMNS + 1} columns; at most " \
                                   f"{parsing.MAX_COLUMNS} are allowed"
    assert caught.value.details["limit"] == parsing.MAX_COLUMNS
