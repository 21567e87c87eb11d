"""Alembic migrations on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from aiaas.db import migrate
from aiaas.db.engine import Database


def test_upgrade_creates_every_table_and_is_current(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert not _has_version_table(db)
        migrate.upgrade(db.engine)
        tables = set(inspect(db.engine).get_table_names())
        assert {"api_keys", "models", "model_versions", "model_aliases", "usage_records",
                "alembic_version"} <= tables
        assert migrate.is_current(db.engine)
        migrate.upgrade(db.engine)
        assert migrate.is_current(db.engine)
    finally:
        db.dispose()


def test_downgrade_then_upgrade_round_trips(database_url: str) -> None:
    db = Database(database_url)
    try:
        migrate.upgrade(db.engine)
        command.downgrade(migrate._config(db.engine), "base")
        assert not migrate.is_current(db.engine)
        assert "models" not in inspect(db.engine).get_table_names()
        migrate.upgrade(db.engine)
        assert migrate.is_current(db.engine)
    finally:
        db.dispose()


def test_sqlite_uses_wal_and_foreign_keys(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/wal.db")
    try:
        with db.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        db.dispose()


def _has_version_table(db: Database) -> bool:
    return "alembic_version" in inspect(db.engine).get_table_names()
