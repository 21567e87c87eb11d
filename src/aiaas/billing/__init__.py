"""Prices, the cost of each call, and budgets and quotas that stop a tenant or key at a limit.

- ``prices``: versioned prices per model (and version); ``PriceBook`` finds the one in force.
- ``cost``: price x units, and the most a call can use (what admission reserves).
- ``budgets``: budget records, their checks and storage.
- ``ledger``: what each budgeted tenant and key has spent this period, plus reservations.
- ``check``: ``BudgetCheck``, the front door's admission check.
- ``service``: ``BillingService``, what the API, the CLI and the meter call.
"""

from aiaas.billing.check import BudgetCheck
from aiaas.billing.service import BillingService

__all__ = ["BillingService", "BudgetCheck"]
