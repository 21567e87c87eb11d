"""Prices, costs and budgets through the service layer, on SQLite and PostgreSQL: real models,
real usage rows, the front door's own admission check."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from aiaas.db.tables import utcnow
from aiaas.errors import Forbidden, Invalid, NotFound, QuotaExceeded
from tests.billing.conftest import ADMIN, Clinic


def _rows(clinic: Clinic):  # newest first
    return clinic.services.usage.report(clinic.key).records


async def test_cost_is_price_times_units_and_a_new_price_leaves_old_rows(clinic: Clinic) -> None:
    billing = clinic.services.billing
    first = billing.set_price(ADMIN, model="iris", tenant="clinic", per_item="0.0125",
                              per_request="0.5")
    await clinic.predict(3)
    second = billing.set_price(ADMIN, model="iris", tenant="clinic", per_item="0.02")
    await clinic.predict(2)
    await clinic.predict(1, model="iris-free")
    free, newer, older = _rows(clinic)
    assert (older.cost, older.price_id, older.priced) == (Decimal("0.5375"), first.id, True)
    assert (newer.cost, newer.price_id) == (Decimal("0.04"), second.id)
    assert (free.cost, free.price_id, free.priced, free.currency) == (0, None, False, "USD")
    report = clinic.services.usage.report(clinic.key)
    assert report.totals.cost == Decimal("0.5775")
    [line_free, line_iris] = sorted(report.costs, key=lambda line: line.model, reverse=True)
    assert (line_iris.model, line_iris.requests, line_iris.items, line_iris.cost) == (
        "iris", 2, 5, Decimal("0.5775"))
    assert (line_free.model, line_free.cost) == ("iris-free", 0)
    # History: both prices; by default only the one in force.
    assert [p.id for p in billing.list_prices(clinic.key, model="iris", history=True)] == [
        first.id, second.id]
    assert [p.id for p in billing.list_prices(clinic.key, model="iris")] == [second.id]


async def test_a_version_price_wins_and_a_scheduled_price_waits(clinic: Clinic, tmp_path) -> None:
    services = clinic.services
    services.registry.register(tmp_path / "iris", tenant="clinic", name="iris", created_by="t")
    billing = services.billing
    billing.set_price(ADMIN, model="iris", tenant="clinic", per_item="1")
    own = billing.set_price(ADMIN, model="iris", tenant="clinic", version=2, per_item="3")
    later = billing.set_price(ADMIN, model="iris", tenant="clinic", per_item="100",
                              effective_from=utcnow() + timedelta(hours=1))
    await clinic.predict(1, version=1)
    await clinic.predict(1, version=2)
    newer, older = _rows(clinic)
    assert (older.cost, newer.cost, newer.price_id) == (Decimal(1), Decimal(3), own.id)
    assert later.id in {p.id for p in billing.list_prices(clinic.key, model="iris")}


@pytest.mark.parametrize(("changes", "field"), [
    ({"per_item": "-1"}, "per_item"),
    ({"input_per_1k": "0.00000000001"}, "input_per_1k"),
    ({"output_per_1k": "NaN"}, "output_per_1k"),
    ({"per_request": "1e12"}, "per_request"),
    ({"per_minute": "1"}, "per_minute"),
    ({"currency": "EUR"}, "currency"),
    ({"model": "no-such-model"}, "model"),
    ({"version": 7}, "version"),
    ({"effective_from": utcnow() - timedelta(days=1)}, "effective_from"),
    ({"effective_from": utcnow().replace(tzinfo=None)}, "effective_from"),
])
async def test_bad_prices_name_the_field(clinic: Clinic, changes: dict, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        clinic.services.billing.set_price(ADMIN, **{"model": "iris", "tenant": "clinic",
                                                    **changes})
    assert caught.value.field == field


async def test_only_admins_set_and_other_tenants_see_nothing(clinic: Clinic) -> None:
    billing = clinic.services.billing
    with pytest.raises(Forbidden):
        billing.set_price(clinic.key, model="iris", per_item="1")
    with pytest.raises(Forbidden):
        billing.set_budget(clinic.key, period="day", amount="1")
    budget = billing.set_budget(ADMIN, tenant="clinic", period="day", amount="1")
    billing.set_price(ADMIN, model="iris", tenant="clinic", per_item="1")
    assert [b.id for b in billing.list_budgets(clinic.key)] == [budget.id]
    assert billing.get_budget(clinic.other_key, budget.id).id == budget.id
    assert billing.list_budgets(clinic.stranger) == []
    assert billing.list_prices(clinic.stranger, model="iris") == []
    for attempt in (lambda: billing.get_budget(clinic.stranger, budget.id),
                    lambda: billing.list_budgets(clinic.stranger, tenant="clinic"),
                    lambda: billing.list_prices(clinic.stranger, tenant="clinic"),
                    lambda: billing.get_budget(clinic.key, "ffffffffffffffff")):
        with pytest.raises(NotFound):
            attempt()
    billing.delete_budget(ADMIN, budget.id)
    with pytest.raises(NotFound):
        billing.get_budget(ADMIN, budget.id)


@pytest.mark.parametrize(("values", "field"), [
    ({"period": "week", "amount": "1"}, "period"),
    ({"period": "day"}, "amount"),
    ({"period": "day", "amount": "-5"}, "amount"),
    ({"period": "day", "amount": "1e30"}, "amount"),
    ({"period": "day", "tokens": -1}, "tokens"),
    ({"period": "day", "items": 10**20}, "items"),
    ({"period": "day", "audio_seconds": float("inf")}, "audio_seconds"),
    ({"period": "day", "amount": "1", "soft_threshold": 0}, "soft_threshold"),
    ({"period": "day", "amount": "1", "soft_threshold": 1.5}, "soft_threshold"),
    ({"period": "day", "amount": "1", "currency": "GBP"}, "currency"),
    ({"period": "day", "amount": "1", "tenant": "nobody-here"}, "tenant"),
    ({"period": "day", "amount": "1", "key_id": "0000000000000000"}, "key_id"),
])
async def test_bad_budgets_name_the_field(clinic: Clinic, values: dict, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        clinic.services.billing.set_budget(ADMIN, **{"tenant": "clinic", **values})
    assert caught.value.field == field


async def test_a_key_of_another_tenant_is_refused(clinic: Clinic) -> None:
    with pytest.raises(Invalid) as caught:
        clinic.services.billing.set_budget(ADMIN, tenant="clinic", key_id=clinic.stranger.key_id,
                                           period="day", amount="1")
    assert caught.value.field == "key_id"


async def test_a_budget_stops_chargeable_calls_only(clinic: Clinic) -> None:
    billing = clinic.services.billing
    billing.set_price(ADMIN, model="iris", tenant="clinic", per_item="0.01")
    budget = billing.set_budget(ADMIN, tenant="clinic", period="day", amount="0.05")
    await clinic.predict(3)
    with pytest.raises(QuotaExceeded) as caught:
        await clinic.predict(3, key=clinic.other_key)  # the tenant's budget: every key counts
    start, end = budget.period_start, budget.period_end
    assert caught.value.details["limit"] == "amount"
    assert 0 < caught.value.retry_after_s <= (end - start).total_seconds()
    await clinic.predict(2)  # exactly what is left
    await clinic.predict(5, model="iris-free")  # free: not stopped by a spend budget
    status = billing.get_budget(clinic.key, budget.id)
    assert status.spent.amount == Decimal("0.05") and status.remaining.amount == 0
    assert status.spent.items == 10 and status.in_flight.amount == 0
    # A unit quota stops free models too; a key's own budget applies to that key only.
    billing.set_budget(ADMIN, key_id=clinic.other_key.key_id, period="month", items=2)
    await clinic.predict(2, model="iris-free", key=clinic.other_key)
    with pytest.raises(QuotaExceeded) as quota:
        await clinic.predict(1, model="iris-free", key=clinic.other_key)
    assert quota.value.details["limit"] == "items" and quota.value.details["period"] == "month"
    await clinic.predict(1, model="iris-free")
    assert clinic.services.metrics.admission_refusals.labels(
        "budget", "quota_exceeded")._value.get() == 2


async def test_concurrent_calls_never_take_spend_past_the_budget(clinic: Clinic) -> None:
    billing = clinic.services.billing
    billing.set_price(ADMIN, model="iris", tenant="clinic", per_item="0.1", per_request="0.05")
    billing.set_budget(ADMIN, tenant="clinic", period="day", amount="2")
    outcomes = await asyncio.gather(*(clinic.predict(2) for _ in range(24)),
                                    return_exceptions=True)
    admitted = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, QuotaExceeded)]
    assert len(admitted) + len(refused) == 24
    # Each call costs 0.25: eight fit in 2.00, exactly, and no more.
    assert len(admitted) == 8
    assert clinic.services.usage.report(clinic.key).totals.cost == Decimal(2)


async def test_spend_recorded_elsewhere_counts(clinic: Clinic) -> None:
    """Rows another process wrote (here: written straight to the usage table) seed the count
    when a budget is first used, and are re-read every sync interval after that."""
    from aiaas.tasks.units import Units
    from aiaas.usage.service import UsageEntry

    services, billing = clinic.services, clinic.services.billing
    billing.ledger.sync_s = 0.0
    billing.set_price(ADMIN, model="iris", tenant="clinic", per_item="1")
    billing.set_budget(ADMIN, tenant="clinic", period="day", amount="6")

    def elsewhere(cost: str) -> None:
        services.usage.record(UsageEntry(tenant="clinic", key_id="another", model="iris",
                                         version=1, surface="native", latency_ms=1.0,
                                         status="ok", units=Units(1), cost=Decimal(cost)))
        services.usage.flush()

    elsewhere("3")
    await clinic.predict(1)  # seeded: 3, then 1 more
    elsewhere("1.5")
    await clinic.predict(1)  # 5 known here; starts a re-read in the background
    await asyncio.sleep(0.5)
    with pytest.raises(QuotaExceeded):
        await clinic.predict(1)  # 6.5 spent: without the re-read 5 + 1 would still fit


async def test_soft_threshold_logs_once_and_counts(clinic: Clinic, caplog) -> None:
    billing = clinic.services.billing
    billing.set_price(ADMIN, model="iris", tenant="clinic", per_item="1")
    billing.set_budget(ADMIN, tenant="clinic", period="day", amount="10", soft_threshold=0.5)
    metric = clinic.services.metrics.budget_warnings.labels("clinic", "", "day", "amount")
    await clinic.predict(4)
    assert metric._value.get() == 0
    with caplog.at_level("WARNING", logger="aiaas.billing"):
        await clinic.predict(1)
        await clinic.predict(1)
    assert metric._value.get() == 1
    assert sum("soft threshold" in r.getMessage() for r in caplog.records) == 1
    remaining = clinic.services.metrics.budget_remaining.labels("clinic", "", "day", "amount")
    assert remaining._value.get() == 4
