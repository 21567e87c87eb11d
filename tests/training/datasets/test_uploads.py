"""The dataset store: file types, names and the size limit; records on SQLite and PostgreSQL,
listed and loaded, a taken name refused; failed uploads and crashes leave nothing registered."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from aiaas.auth.principal import Principal, Scope
from aiaas.db.training_tables import DatasetRow
from aiaas.errors import Conflict, Forbidden, Invalid, PayloadTooLarge
from aiaas.services import Services
from aiaas.training import datasets
from aiaas.training.datasets.uploads import DatasetStore, name_from_filename
from tests.training.conftest import CALLER
from tests.training.datasets.conftest import _add, _csv, _good_rows, _nothing_stored


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


def test_an_upload_by_a_key_needs_models_write(store: DatasetStore) -> None:
    """The store checks the caller's scope itself, whatever route or page calls it."""
    reader = Principal("t", "k", frozenset({Scope.MODELS_READ}))
    with store.staging() as staging:
        upload = store.open_upload(staging, "d.csv")
        upload.write(_csv(_good_rows(4)).encode())
        upload.close()
        with pytest.raises(Forbidden, match="'models:write' scope"):
            store.create(reader, upload)
        record = store.create(Principal("t", "k", frozenset({Scope.MODELS_WRITE})), upload)
    assert (record.name, record.rows) == ("d", 4)
    assert store.list_datasets("t") == [record]
    with store.db.session() as session:
        assert session.get(DatasetRow, record.id).created_by == "k"  # type: ignore[union-attr]


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
    entries = catalog.entries(CALLER)
    assert [e.id for e in entries if e.builtin] == datasets.builtin.names()
    assert entries[-1] == record

    with pytest.raises(Conflict, match="a dataset named 'sales-q1' already exists"):
        _add(store, tmp_path, "other.csv", text, name="sales-q1")
    assert _add(store, tmp_path, "Sales Q1.csv", text, tenant="u").name == "sales-q1"
    assert len(list(store.root.iterdir())) == 2


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
