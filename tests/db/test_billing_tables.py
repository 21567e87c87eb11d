"""Migration 0009 and the money type, on SQLite and PostgreSQL: usage rows written before
prices get cost 0; amounts are stored and summed exactly (no float on the way)."""

from __future__ import annotations

from decimal import Decimal

from alembic import command
from sqlalchemy import func, inspect, select, text

from aiaas.db import migrate
from aiaas.db.billing_tables import PriceRow
from aiaas.db.engine import Database
from aiaas.db.tables import UsageRecord, utcnow


def test_0009_adds_costs_to_old_usage_rows_and_goes_back(database_url: str) -> None:
    db = Database(database_url)
    try:
        config = migrate._config(db.engine)
        command.upgrade(config, "0008")
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO usage_records (created_at, tenant, key_id, model, version, surface, "
                "items, prompt_tokens, completion_tokens, audio_seconds, latency_ms, status) "
                "VALUES (:now, 'clinic', 'k', 'm', 1, 'native', 2, 0, 0, 0, 1.5, 'ok')"),
                {"now": utcnow().replace(tzinfo=None)})
        migrate.upgrade(db.engine)
        assert {"prices", "budgets"} <= set(inspect(db.engine).get_table_names())
        with db.session() as session:
            old = session.scalars(select(UsageRecord)).one()
            assert (old.cost, old.currency, old.price_id) == (0, None, None)
        command.downgrade(config, "0008")
        assert not {"prices", "budgets"} & set(inspect(db.engine).get_table_names())
        columns = {c["name"] for c in inspect(db.engine).get_columns("usage_records")}
        assert not {"cost", "currency", "price_id"} & columns
        migrate.upgrade(db.engine)
        assert migrate.is_current(db.engine)
    finally:
        db.dispose()


def test_amounts_are_exact_in_storage_and_in_sums(database_url: str) -> None:
    db = Database(database_url)
    try:
        migrate.upgrade(db.engine)
        tiny, big = Decimal("0.0000000001"), Decimal("123456789.9876543211")
        with db.session() as session:
            for amount in (tiny, tiny, big):
                session.add(PriceRow(tenant="t", model="m", currency="USD", input_per_1k=amount,
                                     output_per_1k=0, per_item=0, per_audio_minute=0,
                                     per_request=Decimal("0.1"), created_by="k"))
        with db.session() as session:
            stored = session.scalars(select(PriceRow.input_per_1k).order_by(PriceRow.id)).all()
            total, requests = session.execute(select(func.sum(PriceRow.input_per_1k),
                                                     func.sum(PriceRow.per_request))).one()
        assert stored == [tiny, tiny, big]
        assert total == big + 2 * tiny and isinstance(total, Decimal)
        assert requests == Decimal("0.3")  # 0.1 three times: not 0.30000000000000004
    finally:
        db.dispose()
