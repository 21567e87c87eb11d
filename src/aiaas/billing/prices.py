"""Prices: what one unit of a model's work costs, versioned by ``effective_from``.

A price names a model by its owner and name (``builtin`` owns the built-in models), optionally
one version: a version's own price wins over the model's. A change is a new row that applies
from its ``effective_from`` on; nothing already charged is ever recomputed. ``PriceBook`` is an
in-memory snapshot of every row, so finding the price of a call costs a dict lookup.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ConfigDict

from aiaas.db.billing_tables import PriceRow
from aiaas.db.money import PLACES, ZERO, Amount, quantized
from aiaas.errors import Invalid

RATES = ("input_per_1k", "output_per_1k", "per_item", "per_audio_minute", "per_request")
"""The rates a price may set; each defaults to 0."""
MAX_RATE = Decimal(1_000_000)
"""The most one unit (1K tokens, an item, an audio minute, a request) may cost: past it a typo
(a price meant per million, an extra digit) rather than a price."""


@dataclass(frozen=True, slots=True)
class PriceInfo:
    """One price row as the API shows it; the amounts are decimal strings on the wire."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    id: int
    tenant: str
    """The model's owner (``builtin`` for a built-in model)."""
    model: str
    version: int | None
    """None: every version of the model that has no price of its own."""
    currency: str
    input_per_1k: Amount
    output_per_1k: Amount
    per_item: Amount
    per_audio_minute: Amount
    per_request: Amount
    effective_from: datetime
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: PriceRow) -> PriceInfo:
        return cls(id=row.id, tenant=row.tenant, model=row.model, version=row.version,
                   currency=row.currency, input_per_1k=row.input_per_1k,
                   output_per_1k=row.output_per_1k, per_item=row.per_item,
                   per_audio_minute=row.per_audio_minute, per_request=row.per_request,
                   effective_from=row.effective_from, created_by=row.created_by,
                   created_at=row.created_at)


def check_rates(rates: dict[str, Any]) -> dict[str, Decimal]:
    """The five rates as decimals: finite, >= 0, at most ``MAX_RATE`` and ``PLACES`` decimal
    places; ``Invalid`` naming the first one that is not."""
    unknown = sorted(set(rates) - set(RATES))
    if unknown:
        raise Invalid.at(unknown[0], f"is not a price field; known: {', '.join(RATES)}")
    checked = {}
    for name in RATES:
        value = rates.get(name)
        checked[name] = ZERO if value is None else check_amount(name, value, MAX_RATE)
    return checked


def check_amount(name: str, value: Any, most: Decimal) -> Decimal:
    """``value`` as an exact decimal in [0, most] with at most ``PLACES`` decimal places."""
    if isinstance(value, bool):
        raise Invalid.at(name, f"must be a decimal number, got {value!r}")
    try:
        amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise Invalid.at(name, f"must be a decimal number, got {value!r}") from None
    if not amount.is_finite():
        raise Invalid.at(name, "must be a finite number")
    if amount < 0:
        raise Invalid.at(name, f"must not be negative, got {amount}")
    if amount > most:
        raise Invalid.at(name, f"{amount} is more than the most allowed, {most}")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PLACES:
        raise Invalid.at(name, f"has more than {PLACES} decimal places: {amount}")
    return quantized(amount)


def check_currency(value: str | None, installation: str) -> str:
    """Every price and budget is in the installation's one currency (``AIAAS_CURRENCY``)."""
    if value is None:
        return installation
    if not isinstance(value, str) or value.strip().upper() != installation:
        raise Invalid.at("currency", f"must be {installation}, this installation's currency "
                                     f"(AIAAS_CURRENCY); got {value!r}")
    return installation


class PriceBook:
    """Every price row, by (owner, model, version), each list in ``effective_from`` order."""

    def __init__(self, rows: Iterable[PriceInfo] = ()) -> None:
        self._rows: dict[tuple[str, str, int | None], list[PriceInfo]] = {}
        for row in sorted(rows, key=lambda r: (r.effective_from, r.id)):
            self._rows.setdefault((row.tenant, row.model, row.version), []).append(row)
        self._starts = {key: [r.effective_from for r in rows] for key, rows in self._rows.items()}

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._rows.values())

    def find(self, owner: str, model: str, version: int | None, at: datetime) -> PriceInfo | None:
        """The price in force at ``at``: the version's own, else the model's; None: free."""
        if version is not None:
            own = self._latest((owner, model, version), at)
            if own is not None:
                return own
        return self._latest((owner, model, None), at)

    def _latest(self, key: tuple[str, str, int | None], at: datetime) -> PriceInfo | None:
        rows = self._rows.get(key)
        if not rows:
            return None
        end = bisect.bisect_right(self._starts[key], at)
        return rows[end - 1] if end else None

    def rows(self) -> list[PriceInfo]:
        return [row for rows in self._rows.values() for row in rows]
