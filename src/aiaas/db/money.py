"""``Money``: exact decimal amounts (prices, costs, budgets) on both databases.

PostgreSQL stores ``NUMERIC(38, 10)``. SQLite has no decimal type (SQLAlchemy's ``Numeric``
goes through a float there, and warns so), so there the amount is kept as an integer count of
10^-10 units: sums stay exact in SQL (``SUM`` over integers) up to about 9.2 x 10^8 currency
units per sum. Either way Python sees ``Decimal`` quantized to ``PLACES`` decimal places.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any

from pydantic import PlainSerializer
from sqlalchemy import BigInteger, Numeric, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

PLACES = 10
QUANTUM = Decimal(1).scaleb(-PLACES)
ZERO = Decimal(0)
_ONE = Decimal(1)


def quantized(value: Decimal | int | str) -> Decimal:
    """``value`` rounded to ``PLACES`` decimal places (half-even), as every stored amount is,
    written plainly: no trailing zeros, no exponent (``0.53``, ``0``, ``100``)."""
    amount = Decimal(value).quantize(QUANTUM, rounding=ROUND_HALF_EVEN).normalize()
    exponent = amount.as_tuple().exponent
    return amount.quantize(_ONE) if isinstance(exponent, int) and exponent > 0 else amount


def plain(value: Decimal) -> str:
    """The decimal as JSON and CSV carry it: positional, never ``1E-7``."""
    return format(value, "f")


Amount = Annotated[Decimal, PlainSerializer(plain, return_type=str, when_used="json")]
"""A money field of a record: an exact decimal, sent as a positional decimal string."""


class Money(TypeDecorator[Decimal]):
    impl = Numeric(38, PLACES)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(38, PLACES, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = quantized(value)
        if dialect.name == "sqlite":
            return int(amount.scaleb(PLACES))
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return quantized(Decimal(int(value)).scaleb(-PLACES))
        return quantized(value)
