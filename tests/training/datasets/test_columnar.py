"""The columnar CSV reader gives exactly what the exact path (``parsing`` then ``validation``)
gives: names, column types, the frame, label/split/timestamp and statistics, for a broad set of
files; for a file it cannot prove identical or an invalid one it answers ``None`` and an
upload raises the exact path's error, message and details alike."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from aiaas.errors import AiaasError
from aiaas.training.datasets import columnar, parsing, validation
from aiaas.training.datasets.stats import table_stats
from aiaas.training.datasets.uploads import DatasetStore
from tests.training.datasets.conftest import _add, _nothing_stored


def _write(tmp_path: Path, data: str | bytes) -> Path:
    path = tmp_path / "data.csv"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _stats(checked: validation.CheckedTable) -> dict[str, Any]:
    return table_stats(checked.frame, checked.columns, label=checked.label,
                       split_column=checked.split_column)


def _exact(path: Path, **options: str | None) -> validation.CheckedTable:
    return validation.check_table(parsing.read_table(path, "csv"), **options)


def _same(tmp_path: Path, data: str | bytes, *, fast: bool = True, **options: str | None
          ) -> validation.CheckedTable:
    """The columnar result equals the exact one; ``fast``: the columnar path took the file."""
    path = _write(tmp_path, data)
    expected = _exact(path, **options)
    got = columnar.read_checked(path, "csv", **options)
    if not fast:
        assert got is None
        return expected
    assert got is not None, "the columnar path declined a file it should read"
    pd.testing.assert_frame_equal(got.frame, expected.frame, check_exact=True)
    assert list(got.frame.columns) == list(expected.frame.columns)
    assert got.columns == expected.columns
    assert (got.label, got.split_column, got.timestamp) == (
        expected.label, expected.split_column, expected.timestamp)
    assert _stats(got) == _stats(expected)
    return got


def _rows(n: int, row: Any) -> str:
    return "".join(row(i) + "\n" for i in range(n))


def test_whitespace_is_what_str_strip_removes() -> None:
    stripped = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
    assert stripped == columnar.WHITESPACE


def test_numbers_integers_and_plain_decimals(tmp_path: Path) -> None:
    text = "a,b,c,d,label\n" + _rows(
        12, lambda i: f"{i},{i * 0.25},-{i}.5,{['+1.5', '.5', '5.', '-0', '007'][i % 5]},"
        f"{'yes' if i % 2 else 'no'}")
    checked = _same(tmp_path, text)
    assert checked.columns == {"a": "number", "b": "number", "c": "number", "d": "number",
                               "label": "label"}
    assert checked.frame["a"].dtype == "int64"


def test_long_and_scientific_numbers_are_read_by_pandas(tmp_path: Path) -> None:
    rng = random.Random(3)
    text = "long,sci,big,label\n" + _rows(
        40, lambda i: f"{rng.random()!r},{rng.random():.3e},{10 ** 17 + i},{'ab'[i % 2]}")
    checked = _same(tmp_path, text)
    assert set(checked.columns.values()) == {"number", "label"}


def test_label_detection_and_numeric_labels(tmp_path: Path) -> None:
    for name in ("label", "Target", "class", "y"):
        checked = _same(tmp_path, f"x,{name}\n" + _rows(8, lambda i: f"{i},{'ab'[i % 2]}"))
        assert checked.label == name
    checked = _same(tmp_path, "x,outcome\n" + _rows(8, lambda i: f"{i},{i % 3}"),
                    label="outcome")
    assert checked.columns["outcome"] == "number"
    assert _same(tmp_path, "x,z\n" + _rows(8, lambda i: f"{i},{i}")).label is None


def test_missing_markers_and_stripped_cells(tmp_path: Path) -> None:
    markers = [*sorted(parsing.MISSING), "  ", " NA ", "\tnull"]
    text = "num,word,label\n" + _rows(
        len(markers) * 2, lambda i: f"{markers[i // 2] if i % 2 else f' {i}.5 '},"
        f"{markers[i // 2] if i % 2 else 'w'},{'ab'[i % 2]}")
    checked = _same(tmp_path, text)
    assert checked.frame["num"].isna().sum() == len(markers)
    unicode = "a,label\n" + _rows(6, lambda i: f"\u3000{i}\xa0,\u2003{'ab'[i % 2]}\x85")
    _same(tmp_path, unicode)


def test_bom_crlf_blank_lines_and_no_final_newline(tmp_path: Path) -> None:
    body = _rows(6, lambda i: f"{i},{'ab'[i % 2]}")
    _same(tmp_path, b"\xef\xbb\xbfa,label\n" + body.encode())
    _same(tmp_path, ("a,label\n" + body).replace("\n", "\r\n"))
    _same(tmp_path, "a,label\n\n" + body.replace("\n", "\n\n").rstrip("\n"))


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters(tmp_path: Path, delimiter: str) -> None:
    text = delimiter.join(["a", "b,c", "label"]) + "\n" + _rows(
        8, lambda i: delimiter.join([f"{i}.5", f"x{i},y", "ab"[i % 2]]))
    checked = _same(tmp_path, text)
    assert list(checked.frame.columns) == ["a", "b,c", "label"]


def test_quoted_fields(tmp_path: Path) -> None:
    text = 'price,note,label\n' + _rows(
        8, lambda i: f'"{i}.5","a, ""quoted"" note {i}",{"ab"[i % 2]}')
    checked = _same(tmp_path, text)
    assert checked.frame["note"][0] == 'a, "quoted" note 0'
    _same(tmp_path, '"a","note","label"\n' + _rows(
        6, lambda i: f'{i},"{"" if i == 3 else "x"}","{"ab"[i % 2]}"'))


def test_files_only_the_exact_path_reads(tmp_path: Path) -> None:
    body = _rows(6, lambda i: f"{i},{'ab'[i % 2]}")
    _same(tmp_path, 'a,note,label\n1,"two\nlines",x\n2,ok,x\n3,z,y\n4,w,y\n', fast=False)
    _same(tmp_path, 'a,note,label\n1,5\'11",x\n2,ok,x\n3,z,y\n4,w,y\n', fast=False)
    _same(tmp_path, "\na,label\n" + body, fast=False)
    _same(tmp_path, "a,label\n" + body + "   \n" + body, fast=False)
    _same(tmp_path, "a,label\n" + body.replace("\n", "\r\n", 1), fast=True)


def test_dates_timestamps_and_texts(tmp_path: Path) -> None:
    text = "when,stamp,word,free,flag,label\n" + _rows(
        20, lambda i: f"2024-01-{i + 1:02d},2024-02-01T09:{i:02d}:00+01:00,w{i % 3},"
        f"free text {i},{'true' if i % 3 else 'false'},{'ab'[i % 2]}")
    checked = _same(tmp_path, text)
    assert checked.columns == {"when": "datetime", "stamp": "datetime", "word": "label",
                               "free": "text", "flag": "label", "label": "label"}
    checked = _same(tmp_path, text, timestamp="stamp", label="word")
    assert checked.timestamp == "stamp"
    not_dates = "d,label\n" + _rows(6, lambda i: f"2024-01-0{i + 1}x,{'ab'[i % 2]}")
    assert _same(tmp_path, not_dates).columns["d"] == "text"
    zones = "t,label\n" + _rows(6, lambda i: f"2024-01-01T00:00:00+0{i % 2}:00,{'ab'[i % 2]}")
    _same(tmp_path, zones)


def test_split_column(tmp_path: Path) -> None:
    parts = ["train", "Train", "TEST", "validation", "test", "train"]
    text = "a,label,part\n" + _rows(12, lambda i: f"{i},{'ab'[i % 2]},{parts[i % 6]}")
    checked = _same(tmp_path, text, split_column="part")
    assert checked.frame["part"].tolist()[:3] == ["train", "train", "test"]


def test_one_column_and_empty_columns(tmp_path: Path) -> None:
    _same(tmp_path, "word\n" + _rows(9, lambda i: f"w{i}") + "  \n\n" + '""\nNA\n')
    _same(tmp_path, "a,empty,label\n" + _rows(6, lambda i: f"{i},,{'ab'[i % 2]}"))


def test_large_random_files(tmp_path: Path) -> None:
    rng = random.Random(11)
    words = [f"word{i}" for i in range(300)]

    def row(i: int) -> str:
        cells = [f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 6)}f}", str(rng.randint(-10**9, 10**9)),
                 rng.choice(["", "NA", f"{rng.random():.4f}"]), rng.choice(words),
                 f'"{rng.choice(words)}, {rng.choice(words)}"', rng.choice(["a", "b", "c"])]
        return ",".join(cells)

    text = "x,n,sparse,word,phrase,label\n" + _rows(5000, row)
    checked = _same(tmp_path, text)
    assert checked.columns == {"x": "number", "n": "number", "sparse": "number",
                               "word": "text", "phrase": "text", "label": "label"}


def _error(call: Any) -> tuple[type[Exception], str, dict[str, Any]]:
    with pytest.raises(AiaasError) as caught:
        call()
    return type(caught.value), caught.value.message, dict(caught.value.details or {})


INVALID = {
    "field count": "a,b,label\n1,2,x\n3,4,x\n5,y\n6,7,y\n",
    "non-number": "a,label\n" + _rows(8, lambda i: f"{'abc' if i == 5 else i},{'xy'[i % 2]}"),
    "header of numbers": "1,2,3\n4,5,6\n7,8,9\n",
    "duplicate names": "a,b,a\n1,2,3\n4,5,6\n",
    "no rows": "a,label\n",
    "empty label": "a,label\n" + _rows(6, lambda i: f"{i},{'' if i == 4 else 'xy'[i % 2]}"),
    "one class": "a,label\n" + _rows(6, lambda i: f"{i},same"),
    "lonely class": "a,label\n" + _rows(6, lambda i: f"{i},{'z' if i == 2 else 'xy'[i % 2]}"),
    "infinite": "a,label\n" + _rows(6, lambda i: f"{'inf' if i == 3 else i},{'xy'[i % 2]}"),
    "bad quote": 'a,label\n1,"x"y\n2,x\n3,y\n4,y\n',
    "empty name": "a,,label\n1,2,x\n3,4,x\n5,6,y\n7,8,y\n",
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_files_raise_the_exact_error(tmp_path: Path, store: DatasetStore,
                                             case: str) -> None:
    path = _write(tmp_path, INVALID[case])
    assert columnar.read_checked(path, "csv") is None
    expected = _error(lambda: _exact(path))
    assert _error(lambda: _add(store, tmp_path, "data.csv", INVALID[case])) == expected
    assert _nothing_stored(store)


@pytest.mark.parametrize(("case", "options"), [
    ("non-utf8", {}), ("latin-1 number", {}), ("split", {"split_column": "part"}),
    ("timestamp", {"timestamp": "when"}),
    ("missing label", {"label": "nope"}), ("same column", {"label": "a", "timestamp": "a"}),
])
def test_invalid_options_and_encodings(tmp_path: Path, store: DatasetStore, case: str,
                                       options: dict[str, str]) -> None:
    good = "a,when,part,label\n" + _rows(8, lambda i: f"{i},2024-01-0{i + 1},"
                                         f"{['train', 'test'][i % 2]},{'xy'[i % 2]}")
    data: str | bytes = {
        "non-utf8": good.encode() + b"9,2024-01-09,train,\xff\n",
        "latin-1 number": good.encode() + b"9\xe9,2024-01-09,train,x\n",
        "split": good + "9,2024-01-09,dev,x\n",
        "timestamp": good + "9,soon,train,x\n",
    }.get(case, good)
    path = _write(tmp_path, data)
    assert columnar.read_checked(path, "csv", **options) is None
    expected = _error(lambda: _exact(path, **options))
    assert _error(lambda: _add(store, tmp_path, "data.csv", data, **options)) == expected


def test_uploads_and_loads_take_the_columnar_path(tmp_path: Path, store: DatasetStore) -> None:
    text = "a,b,word,label\n" + _rows(50, lambda i: f"{i},{i / 7:.5f},w{i % 4},{'xy'[i % 2]}")
    record = _add(store, tmp_path, "table.csv", text)
    expected = _exact(_write(tmp_path, text))
    assert record.columns == expected.columns and record.rows == 50
    assert record.stats == _stats(expected) and record.label == "label"
    pd.testing.assert_frame_equal(store.load(record).frame, expected.frame, check_exact=True)


NOISE = ["1", "-2", "+4", ".5", "6.", "-0", "1e3", "inf", "nan", "NA", "", " ", "  7 ", "x", "True",
         "a,b", 'q"q', "\u3000z", "2024-01-02", "12345678901234567", "-", "1.2.3", "é", "Test",
         "#N/A", "١٢", "\t9\t", "1_000", "\x0b5"]


def _random_file(rng: random.Random) -> str:
    delimiter = rng.choice([",", ";", "\t", "|"])
    kinds = [rng.choice(["number", "number", "class", "noise"]) for _ in range(rng.randint(1, 4))]

    def cell(kind: str) -> str:
        value = {"number": f"{rng.uniform(-99, 99):.{rng.randint(0, 4)}f}",
                 "class": rng.choice("abc")}.get(kind) or rng.choice(NOISE)
        if rng.random() < 0.05:
            value = rng.choice(NOISE)
        quoted = rng.random() < 0.1 or delimiter in value or '"' in value
        return '"' + value.replace('"', '""') + '"' if quoted else value

    names = [f"{rng.choice(['a', 'label', 'when', 'x y'])}{i}" for i in range(len(kinds))]
    lines = [delimiter.join(names)] + [delimiter.join(cell(kind) for kind in kinds)
                                      for _ in range(rng.randint(0, 25))]
    return "\n".join(lines) + "\n"


def test_random_files_agree_or_raise_the_same(tmp_path: Path) -> None:
    rng = random.Random(5)
    valid = 0
    for _ in range(150):
        path = _write(tmp_path, _random_file(rng))
        try:
            expected = _exact(path)
        except AiaasError:
            assert columnar.read_checked(path, "csv") is None
            continue
        got = columnar.read_checked(path, "csv")
        assert got is not None
        pd.testing.assert_frame_equal(got.frame, expected.frame, check_exact=True)
        assert (got.columns, got.label, _stats(got)) == (
            expected.columns, expected.label, _stats(expected))
        valid += 1
    assert valid > 30
