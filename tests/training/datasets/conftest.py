"""Helpers for the dataset tests: CSV rows and table checks that return the error message, and a
store on SQLite with a helper that adds a file and one that says nothing was stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiaas.errors import Invalid
from aiaas.training import datasets
from aiaas.training.datasets import parsing, validation
from aiaas.training.datasets.uploads import DatasetStore

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


def _nothing_stored(store: DatasetStore) -> bool:
    with store.db.session() as session:
        from sqlalchemy import func, select

        from aiaas.db.training_tables import DatasetRow
        rows = session.scalar(select(func.count()).select_from(DatasetRow))
    leftovers = list(store.root.iterdir()) if store.root.exists() else []
    staging = list(store.tmp_dir.glob("stage-*")) if store.tmp_dir.exists() else []
    return rows == 0 and not leftovers and not staging
