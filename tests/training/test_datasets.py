"""Uploaded datasets in the service layer: parsing and validation errors that name the line or
file, inferred types, statistics against pandas, image ZIPs (bombs and traversal refused), and
the store on SQLite and PostgreSQL (tenants, names, deletion, crash leftovers)."""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from aiaas.errors import Conflict, Invalid, NotFound, PayloadTooLarge, UnsafeArtifact
from aiaas.services import Services
from aiaas.training import datasets
from aiaas.training.datasets import parsing, validation
from aiaas.training.datasets.stats import table_stats
from aiaas.training.datasets.uploads import DatasetStore, name_from_filename

HEADER = "a,b,c,d,label"


def _csv(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def _good_rows(n: int) -> list[str]:
    return [f"{i},{i * 0.5},{i % 3},{i * 2},{'yes' if i % 2 else 'no'}" for i in range(n)]


def _check(tmp_path: Path, text: str | bytes, fmt: str = "csv", **options: Any
           ) -> validation.CheckedTable:
    path = tmp_path / f"data.{fmt}"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return validation.check_table(parsing.read_table(path, fmt), **options)


def _error(tmp_path: Path, text: str | bytes, fmt: str = "csv", **options: Any) -> str:
    with pytest.raises(Invalid) as caught:
        _check(tmp_path, text, fmt, **options)
    return caught.value.message


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


def test_stats_match_pandas_on_the_same_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"height": rng.normal(170, 10, 300).round(2),
                          "weight": rng.integers(40, 120, 300).astype(float),
                          "group": rng.choice(["a", "b", "c"], 300),
                          "label": rng.choice(["low", "mid", "high"], 300, p=[0.5, 0.3, 0.2])})
    frame.loc[rng.choice(300, 17, replace=False), "weight"] = np.nan
    frame.loc[rng.choice(300, 5, replace=False), "group"] = np.nan
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    checked = validation.check_table(parsing.read_table(path, "csv"))
    stats = table_stats(checked.frame, checked.columns, label=checked.label,
                                       split_column=None)
    read = pd.read_csv(path)
    assert stats["rows"] == len(read) == 300
    for name in ("height", "weight"):
        entry = stats["columns"][name]
        assert entry["type"] == "number"
        assert entry["missing"] == int(read[name].isna().sum())
        assert entry["min"] == read[name].min() and entry["max"] == read[name].max()
        assert entry["mean"] == pytest.approx(read[name].mean(), rel=1e-12)
    assert stats["columns"]["weight"]["missing"] == 17
    assert stats["columns"]["group"] == {"type": "label", "missing": 5, "distinct": 3}
    assert stats["classes"] == {k: int(v) for k, v in read["label"].value_counts().items()}


def _png(size: tuple[int, int] = (12, 10), color: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (color, 100, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(members: dict[str, bytes | None], *, links: tuple[str, ...] = ()) -> bytes:
    """``None`` makes a directory entry; ``links`` are written as symlink members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            if data is None:
                zf.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
            else:
                zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _classes(prefix: str = "", per_class: int = 3) -> dict[str, bytes | None]:
    return {f"{prefix}{cls}/{i}.png": _png((10 + i, 8), color=40 * i)
            for cls in ("cats", "dogs") for i in range(per_class)}


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


@pytest.fixture
def store(tmp_path: Path) -> DatasetStore:
    """A store on SQLite for the file-level checks (the DB tests below run on both servers)."""
    from aiaas.db import migrate
    from aiaas.db.engine import Database

    db = Database(f"sqlite:///{tmp_path / 'files.db'}")
    migrate.upgrade(db.engine)
    return DatasetStore(db, tmp_path / "data", max_upload_bytes=64 * 1024)


def _add(store: DatasetStore, tmp_path: Path, filename: str, data: bytes | str,
         tenant: str = "t", **options: str | None) -> datasets.DatasetRecord:
    path = tmp_path / "in" / filename
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return store.add_file(path, tenant=tenant, created_by="key", **options)


def _zip_error(store: DatasetStore, tmp_path: Path, members: dict[str, bytes | None],
               expected: type[Invalid] = Invalid, **kwargs: Any) -> str:
    with pytest.raises(expected) as caught:
        _add(store, tmp_path, "pics.zip", _zip(members, **kwargs))
    assert _nothing_stored(store)
    return caught.value.message


def _nothing_stored(store: DatasetStore) -> bool:
    with store.db.session() as session:
        from sqlalchemy import func, select

        from aiaas.db.training_tables import DatasetRow
        rows = session.scalar(select(func.count()).select_from(DatasetRow))
    leftovers = list(store.root.iterdir()) if store.root.exists() else []
    staging = list(store.tmp_dir.glob("stage-*")) if store.tmp_dir.exists() else []
    return rows == 0 and not leftovers and not staging


def test_image_zip_loads_as_an_image_set_with_stats(store: DatasetStore, tmp_path: Path) -> None:
    members = {"pets/.DS_Store": b"junk", "__MACOSX/._x": b"junk", **_classes("pets/")}
    record = _add(store, tmp_path, "Pets.zip", _zip(members))
    assert (record.name, record.kind, record.format, record.rows) == ("pets", "images", "zip", 6)
    assert record.stats["classes"] == {"cats": 3, "dogs": 3}
    assert record.stats["image_sizes"] == {"width": {"min": 10, "max": 12, "mean": 11.0},
                                           "height": {"min": 8, "max": 8, "mean": 8.0}}
    loaded = store.load(record)
    assert isinstance(loaded, datasets.ImageSet)
    assert loaded.classes == ["cats", "dogs"] and loaded.labels == ["cats"] * 3 + ["dogs"] * 3
    assert [image.size for image in loaded.images[:3]] == [(10, 8), (11, 8), (12, 8)]
    assert loaded.info.id == record.id and loaded.info.kind == "images"
    assert (store.root / record.id / "original.zip").read_bytes() == _zip(members)


def test_image_zip_errors_name_the_file(store: DatasetStore, tmp_path: Path) -> None:
    assert _zip_error(store, tmp_path, {**_classes(), "cats/x.png": b"hello, not a picture"}) == \
        "cats/x.png: not an image (expected PNG, JPEG or WebP)"
    truncated = _png()[:40]
    assert _zip_error(store, tmp_path, {**_classes(), "dogs/t.png": truncated}).startswith(
        "dogs/t.png: ")
    assert _zip_error(store, tmp_path, {**_classes(), "birds/": None}) == \
        "class folder 'birds' is empty; every class needs at least 2 images"
    assert _zip_error(store, tmp_path, {"cats/a.png": _png(), "cats/b.png": _png()}) == \
        "an image dataset needs at least 2 class folders (<class>/<image>); found 1 (cats)"
    assert _zip_error(store, tmp_path, {**_classes(), "owls/only.png": _png()}) == \
        "class 'owls' has only one image (owls/only.png); every class needs at least 2"
    assert _zip_error(store, tmp_path, {**_classes(), "readme.txt": b"hi"}) == \
        "readme.txt: every image must be in a class folder (<class>/<image>)"
    assert _zip_error(store, tmp_path, {**_classes(), "cats/more/a.png": _png()}) == \
        "cats/more: folders inside a class folder are not allowed; use <class>/<image>"


def test_decompression_bombs_are_413_before_decoding(store: DatasetStore, tmp_path: Path) -> None:
    message = _zip_error(store, tmp_path, {**_classes(), "cats/bomb.png": _bomb_png(7000, 7000)},
                         PayloadTooLarge)
    assert message == ("cats/bomb.png: the image is 7000x7000 = 49000000 pixels, over the limit "
                       "of 40000000 (AIAAS_MAX_IMAGE_PIXELS)")
    message = _zip_error(store, tmp_path, {**_classes(), "dogs/huge.png": _bomb_png(60_000, 60_000)},
                         PayloadTooLarge)
    assert message.startswith("dogs/huge.png: the image has more pixels than the limit of 40000000")
    zeros = {**_classes(), "cats/zeros.png": b"\0" * (store.max_upload_bytes * 5)}
    assert _zip_error(store, tmp_path, zeros, PayloadTooLarge).startswith("archive expands past")


def test_traversal_links_and_fake_zips_are_refused(store: DatasetStore, tmp_path: Path) -> None:
    assert _zip_error(store, tmp_path, {**_classes(), "../evil.png": _png()}, UnsafeArtifact) == \
        "archive member escapes the target directory: '../evil.png'"
    assert _zip_error(store, tmp_path, {"/abs/a.png": _png()}, UnsafeArtifact).startswith(
        "archive member escapes the target directory")
    assert _zip_error(store, tmp_path, _classes(), UnsafeArtifact, links=("cats/link.png",)) == \
        "archive member is a link: 'cats/link.png'"
    assert not (tmp_path / "evil.png").exists() and not (store.root.parent / "evil.png").exists()
    with pytest.raises(Invalid, match=r"the \.zip file is not a ZIP archive"):
        _add(store, tmp_path, "pics.zip", b"\x1f\x8b not a zip")
    assert _nothing_stored(store)


def test_file_types_names_and_size_limit(store: DatasetStore, tmp_path: Path) -> None:
    with pytest.raises(Invalid) as caught:
        _add(store, tmp_path, "data.xlsx", "a,b\n1,2\n")
    assert caught.value.message == "unsupported file 'data.xlsx': upload a .csv, .jsonl or .zip file"
    with pytest.raises(PayloadTooLarge, match="upload exceeds the limit of 65536 bytes"):
        _add(store, tmp_path, "big.csv", _csv(_good_rows(4000)))
    with pytest.raises(Invalid, match="invalid dataset name 'Bad Name'"):
        _add(store, tmp_path, "ok.csv", _csv(_good_rows(4)), name="Bad Name")
    assert _nothing_stored(store)
    assert name_from_filename("My Data (2).CSV") == "my-data-2"
    assert name_from_filename("...csv") == "dataset"
    assert name_from_filename("C:\\Users\\me\\sales 2024.csv") == "sales-2024"


# The store with the database: SQLite, then the real PostgreSQL server.


def test_store_records_lists_loads_and_refuses_a_taken_name(services: Services,
                                                            tmp_path: Path) -> None:
    store = services.datasets
    text = _csv(_good_rows(10))
    record = _add(store, tmp_path, "Sales Q1.csv", text)
    assert record.id.startswith("ds-") and len(record.id) == 35 and record.name == "sales-q1"
    assert (record.kind, record.format, record.rows, record.label) == ("table", "csv", 10, "label")
    assert record.columns == {"a": "number", "b": "number", "c": "number", "d": "number",
                              "label": "label"}
    assert record.size_bytes == len(text.encode())
    import hashlib
    assert record.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert store.get("t", record.id) == store.get("t", "sales-q1") == record
    assert [r.id for r in store.list_datasets("t")] == [record.id]

    catalog = services.jobs.catalog
    table = catalog.load("t", "sales-q1")
    assert isinstance(table, datasets.Table) and table.info.id == record.id
    assert table.frame["label"].tolist() == ["yes" if i % 2 else "no" for i in range(10)]
    assert catalog.describe("t", record.id).stats == record.stats
    entries = catalog.entries("t")
    assert [e.id for e in entries if e.builtin] == datasets.builtin.names()
    assert entries[-1] == record

    with pytest.raises(Conflict, match="a dataset named 'sales-q1' already exists"):
        _add(store, tmp_path, "other.csv", text, name="sales-q1")
    assert _add(store, tmp_path, "Sales Q1.csv", text, tenant="u").name == "sales-q1"
    assert len(list(store.root.iterdir())) == 2


def test_another_tenants_dataset_is_exactly_missing(services: Services, tmp_path: Path) -> None:
    record = _add(services.datasets, tmp_path, "mine.csv", _csv(_good_rows(6)))
    catalog = services.jobs.catalog

    def missing(ref: str) -> tuple[str, Any]:
        return (f"dataset {ref!r} not found; built-in datasets: "
                f"{', '.join(datasets.builtin.names())}", {"field": "dataset"})

    for ref in (record.id, "mine"):
        for call in (catalog.describe, catalog.load, catalog.entry, catalog.delete):
            with pytest.raises(NotFound) as theirs:
                call("other", ref)
            assert (theirs.value.message, theirs.value.details) == missing(ref)
            with pytest.raises(NotFound) as unknown:
                call("t", "ds-" + "0" * 32)
            assert (unknown.value.message, unknown.value.details) == missing("ds-" + "0" * 32)
    assert services.datasets.list_datasets("other") == []
    assert catalog.entry("t", "mine") == record


def test_delete_refuses_builtins_and_datasets_in_use(quiet_services: Services,
                                                     tmp_path: Path) -> None:
    catalog = quiet_services.jobs.catalog
    with pytest.raises(Conflict, match="built-in datasets cannot be deleted"):
        catalog.delete("t", "builtin:iris")
    record = _add(quiet_services.datasets, tmp_path, "in-use.csv", _csv(_good_rows(12)))
    job = quiet_services.jobs.create(tenant="t", key_id="k", task="tabular-classification",
                                     dataset="in-use", name="m", params={"algorithm": "logistic"})
    with pytest.raises(Conflict) as caught:
        catalog.delete("t", record.id)
    assert caught.value.message == (f"dataset 'in-use' is used by job {job.id} (queued); cancel "
                                    "the job or wait for it to finish")
    quiet_services.jobs.cancel("t", job.id)
    catalog.delete("t", "in-use")
    assert not (quiet_services.datasets.root / record.id).exists()
    with pytest.raises(NotFound):
        catalog.entry("t", record.id)


def test_a_dataset_without_a_label_needs_one_named_for_training(quiet_services: Services,
                                                                tmp_path: Path) -> None:
    _add(quiet_services.datasets, tmp_path, "nolabel.csv", "x,z\n1,2\n3,4\n5,6\n")
    with pytest.raises(Invalid) as caught:
        quiet_services.jobs.create(tenant="t", key_id="k", task="tabular-classification",
                                   dataset="nolabel", name="m", params={})
    assert caught.value.details == {"field": "params.label"}
    assert "has no label column None" in caught.value.message


def test_failed_uploads_and_crashes_leave_nothing_registered(services: Services,
                                                             tmp_path: Path) -> None:
    store = services.datasets
    with pytest.raises(Invalid):
        _add(store, tmp_path, "broken.csv", _csv(["1,2,3,yes"]))
    assert _nothing_stored(store)
    orphan = store.root / ("ds-" + "a" * 32)  # moved into place, then the process died
    orphan.mkdir(parents=True)
    kept = _add(store, tmp_path, "kept.csv", _csv(_good_rows(4)))
    assert store.sweep() == []  # too recent: it may belong to an upload in progress
    old = time.time() - 7200
    for path in (orphan, store.root / kept.id):
        os.utime(path, (old, old))
    assert store.sweep() == [orphan.name]
    assert [p.name for p in store.root.iterdir()] == [kept.id]
