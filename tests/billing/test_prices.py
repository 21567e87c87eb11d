"""The price book (which price is in force) and the checks of a price's amounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from aiaas.billing.prices import PriceBook, PriceInfo, check_amount, check_currency, check_rates
from aiaas.errors import Invalid

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def price(id: int, start: datetime, *, version: int | None = None, owner: str = "clinic",
          model: str = "m") -> PriceInfo:
    zero = Decimal(0)
    return PriceInfo(id=id, tenant=owner, model=model, version=version, currency="USD",
                     input_per_1k=zero, output_per_1k=zero, per_item=Decimal(id),
                     per_audio_minute=zero, per_request=zero, effective_from=start,
                     created_by="k", created_at=start)


def test_the_latest_started_price_is_in_force_and_a_version_price_wins() -> None:
    book = PriceBook([price(3, T0 + timedelta(days=2)), price(1, T0),
                      price(2, T0 + timedelta(days=1), version=2),
                      price(4, T0, owner="builtin")])
    found = lambda version, day: book.find("clinic", "m", version, T0 + timedelta(days=day))  # noqa: E731
    assert found(1, -1) is None  # before any price: free
    assert found(1, 0).id == 1 and found(1, 1.5).id == 1
    assert found(2, 0.5).id == 1 and found(2, 1).id == 2
    assert found(2, 5).id == 2  # its own price, even after a newer model-wide one
    assert found(1, 5).id == 3
    assert book.find("bank", "m", 1, T0) is None
    assert book.find("builtin", "m", None, T0).id == 4
    assert len(book) == 4


@pytest.mark.parametrize(("value", "expected"), [
    ("0.0015", Decimal("0.0015")), (2, Decimal(2)), (0.1, Decimal("0.1")),
    ("1.50000", Decimal("1.5")), ("0", Decimal(0)),
])
def test_amounts_are_exact_decimals(value: object, expected: Decimal) -> None:
    assert check_amount("per_item", value, Decimal(100)) == expected


@pytest.mark.parametrize("value", ["-0.01", "abc", "Infinity", "NaN", True, None, "0.00000000001",
                                   "101"])
def test_bad_amounts_name_the_field(value: object) -> None:
    with pytest.raises(Invalid) as caught:
        check_amount("per_item", value, Decimal(100))
    assert caught.value.field == "per_item"


def test_rates_default_to_zero_and_unknown_ones_are_named() -> None:
    assert check_rates({"per_item": "1"})["per_request"] == 0
    with pytest.raises(Invalid) as caught:
        check_rates({"per_token": "1"})
    assert caught.value.field == "per_token"


def test_one_currency_per_installation() -> None:
    assert check_currency(None, "USD") == "USD"
    assert check_currency("usd", "USD") == "USD"
    with pytest.raises(Invalid) as caught:
        check_currency("EUR", "USD")
    assert caught.value.field == "currency"
