"""``BudgetCheck``: the front door's admission check for budgets and quotas.

It finds the price in force for the call (kept in ``call.tags["price"]``, so the meter charges
the row at the very price the reservation was made at) and, when the caller's tenant or key has
a budget, reserves the most the call can use (``cost.most_units`` at that price) against each
budget, refusing with ``QuotaExceeded`` when that could pass a limit. The ticket settles with
the units the call really used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiaas.billing.budgets import Use
from aiaas.billing.cost import cost_of, most_units, recorded
from aiaas.billing.ledger import Ledger, Pair
from aiaas.billing.prices import PriceInfo
from aiaas.calls.admission import AdmissionCheck, Ticket
from aiaas.calls.call import ResolvedCall
from aiaas.tasks.base import Limits
from aiaas.tasks.units import Units

if TYPE_CHECKING:
    from aiaas.billing.service import BillingService

PRICE_TAG = "price"


class BudgetCheck(AdmissionCheck):
    name = "budget"

    def __init__(self, billing: BillingService, limits: Limits) -> None:
        self.billing = billing
        self.limits = limits

    async def admit(self, call: ResolvedCall) -> Ticket | None:
        await self.billing.fresh()
        price = self.billing.price_for(call.version)
        call.tags[PRICE_TAG] = price
        budgets = self.billing.budgets_for(call.principal.tenant, call.principal.key_id)
        if not budgets:
            return None
        most = await most_units(call, self.limits)
        need = use_of(most, price, "ok")
        ledger = self.billing.ledger
        pairs = await ledger.open(budgets)
        ledger.reserve(pairs, need)
        return BudgetTicket(ledger, pairs, need, price)


class BudgetTicket:
    def __init__(self, ledger: Ledger, pairs: list[Pair], need: Use,
                 price: PriceInfo | None) -> None:
        self.ledger = ledger
        self.pairs = pairs
        self.need = need
        self.price = price

    def settle(self, units: Units, status: str) -> None:
        self.ledger.settle(self.pairs, self.need, use_of(recorded(units, status), self.price,
                                                         status))


def use_of(units: Units, price: PriceInfo | None, status: str) -> Use:
    """What ``units`` count against a budget: their cost at ``price`` and the units."""
    return Use(cost_of(price, units, status), units.total_tokens, units.items,
               units.audio_seconds)
