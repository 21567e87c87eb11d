"""Migration 0008 on SQLite and PostgreSQL: every tenant already named by a key or a model
becomes an enabled record (the built-in models' owner does not); down and up again round-trips.
``ensure_tenant`` records a tenant once, however often it is called."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, select, text

from aiaas.db import migrate
from aiaas.db.engine import Database
from aiaas.db.tables import utcnow
from aiaas.db.tenant_tables import TenantRow, ensure_tenant


def test_0008_records_the_tenants_keys_and_models_name(database_url: str) -> None:
    db = Database(database_url)
    try:
        config = migrate._config(db.engine)
        command.upgrade(config, "0007")
        now = {"now": utcnow().replace(tzinfo=None)}
        with db.engine.begin() as connection:
            for key_id, tenant in (("a" * 16, "clinic"), ("b" * 16, "clinic"), ("c" * 16, "school")):
                connection.execute(text(
                    "INSERT INTO api_keys (id, name, tenant, scopes, secret_hash, created_at) "
                    f"VALUES ('{key_id}', 'k', '{tenant}', '[]', 'x', :now)"), now)
            for tenant, builtin in (("lab", False), ("clinic", False), ("builtin", True)):
                connection.execute(text(
                    "INSERT INTO models (tenant, name, builtin, task, description, created_by, "
                    f"created_at) VALUES ('{tenant}', 'm', :builtin, 'embedding', '', 'k', :now)"),
                    {**now, "builtin": builtin})
        command.upgrade(config, "0008")
        with db.session() as session:
            rows = session.scalars(select(TenantRow).order_by(TenantRow.name)).all()
            assert [(row.name, row.disabled, row.display_name) for row in rows] == [
                ("clinic", False, ""), ("lab", False, ""), ("school", False, "")]
            assert all(row.created_at.tzinfo is not None for row in rows)
        assert "rate_limits" in inspect(db.engine).get_table_names()
        command.downgrade(config, "0007")
        assert not {"tenants", "rate_limits"} & set(inspect(db.engine).get_table_names())
        migrate.upgrade(db.engine)
        assert migrate.is_current(db.engine)
    finally:
        db.dispose()


def test_ensure_tenant_records_a_tenant_once(database_url: str) -> None:
    db = Database(database_url)
    try:
        migrate.upgrade(db.engine)
        for _ in range(2):
            with db.session() as session:
                ensure_tenant(session, "clinic")
        with db.session() as session:
            session.add(TenantRow(name="school", display_name="School", disabled=True))
        with db.session() as session:
            ensure_tenant(session, "school")  # an existing record is left as it is
        with db.session() as session:
            rows = session.scalars(select(TenantRow).order_by(TenantRow.name)).all()
            assert [(r.name, r.display_name, r.disabled) for r in rows] == [
                ("clinic", "", False), ("school", "School", True)]
    finally:
        db.dispose()
