"""The SDK's price, budget and usage-CSV calls against a real server (budgets on a tenant of
this module's own, so no other test meets them)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from aiaas.client import AsyncClient, BadRequestError, Client, NotFoundError, RateLimitError
from tests.conftest import LiveServer

EMBEDDER = "all-minilm-l6-v2"


@pytest.fixture(scope="module")
def billed_key(live_server: LiveServer) -> str:
    with Client(live_server.url, live_server.admin_key) as admin:
        return admin.create_key("billing", tenant=f"sdk-bill-{uuid.uuid4().hex[:6]}").secret


@pytest.fixture
def billed(live_server: LiveServer, billed_key: str) -> Iterator[Client]:
    with Client(live_server.url, billed_key) as sdk:
        yield sdk


def test_prices_budgets_and_a_refused_call(admin: Client, billed: Client) -> None:
    client = billed
    price = admin.set_price(EMBEDDER, per_item=Decimal("0.1"), input_per_1k="0")
    assert price.per_item == Decimal("0.1") and price.tenant == "builtin"
    assert price.id in [p.id for p in client.list_prices(model=EMBEDDER)]
    with pytest.raises(BadRequestError) as caught:
        admin.set_price(EMBEDDER, per_item="1", currency="EUR")
    assert caught.value.status == 422 and "currency" in str(caught.value)
    with pytest.raises(ValueError, match="per_token"):
        admin.set_price(EMBEDDER, per_token="1")

    tenant = client.me().tenant
    budget = admin.set_budget("day", tenant=tenant, amount="0.3")
    client.embed(["a", "b", "c"])
    with Client(client.base_url, client._settings.api_key, max_retries=0) as once, \
            pytest.raises(RateLimitError) as refused:
        once.embed(["d"])
    assert refused.value.code == "quota_exceeded"
    status = client.get_budget(budget.id)
    assert status.spent.amount == Decimal("0.3") and status.remaining.amount == 0
    assert [b.id for b in client.list_budgets()] == [budget.id]
    report = client.usage(model=EMBEDDER)
    assert report.totals.cost == Decimal("0.3") and report.records[0].priced
    assert report.costs[0].cost == Decimal("0.3") and report.costs[0].items == 3
    [line] = list(csv.DictReader(io.StringIO(client.usage_csv(model=EMBEDDER))))
    assert Decimal(line["cost"]) == Decimal("0.3")
    admin.delete_budget(budget.id)
    with pytest.raises(NotFoundError):
        client.get_budget(budget.id)
    client.embed(["e"])  # no budget, no refusal


async def test_async_client_sets_and_reads_budgets(live_server: LiveServer,
                                                    billed_key: str) -> None:
    async with AsyncClient(live_server.url, live_server.admin_key) as admin, \
            AsyncClient(live_server.url, billed_key) as own:
        tenant = (await own.me()).tenant
        budget = await admin.set_budget("month", tenant=tenant, items=10**6, soft_threshold=0.9)
        assert (budget.items, budget.amount, budget.soft_threshold) == (10**6, None, 0.9)
        status = await own.get_budget(budget.id)
        assert status.remaining.items == 10**6 - status.spent.items
        assert status.remaining.amount is None and status.in_flight.items == 0
        assert all(p.currency == "USD" for p in await own.list_prices(history=True))
        await admin.delete_budget(budget.id)
        assert await own.list_budgets() == []
