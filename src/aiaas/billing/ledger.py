"""What each budgeted tenant and key has used this period, kept in memory, plus reservations.

Admission must not sum usage rows per call, so each (subject, period) gets an ``Account`` the
first time a call of a budgeted subject arrives: seeded with one ``SUM`` over the period's usage
rows (after this process's own pending rows are written), then kept by the calls themselves.
A call reserves the most it can use; when it ends the reservation is released and what it
really used is added. Admission refuses a call whose reservation would take spent plus
reservations past a limit, so while this process's counts are current the limit holds exactly,
whatever the concurrency.

Several server processes (or hosts) on one database: each counts its own calls and re-reads
the period's total from the usage table every ``sync_s`` (``AIAAS_BUDGET_SYNC_S``), in the
background. Between two reads a process does not see what the others spent, so with N
processes the overshoot is bounded by what the other N-1 admit in one sync interval (and the
usage rows they have not written yet, at most ~250 ms). A database row updated on every call
would close that gap at the price of two writes per call serialised on one row (and a leaked
reservation whenever a process dies mid-call); the in-memory counter costs nothing per call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from aiaas.billing.budgets import LIMITS, BudgetInfo, Use
from aiaas.billing.periods import bounds, check_period
from aiaas.db.engine import Database
from aiaas.db.tables import UsageRecord, utcnow
from aiaas.errors import QuotaExceeded
from aiaas.metrics import Metrics
from aiaas.usage.service import UsageService

log = logging.getLogger("aiaas.billing")
AccountKey = tuple[str, str, str, datetime]
"""(tenant, key id or "", period, period start)."""


@dataclass(slots=True)
class Account:
    """One subject's use in one period, as this process knows it."""

    tenant: str
    key_id: str
    period: str
    start: datetime
    end: datetime
    spent: Use = field(default_factory=Use)
    reserved: Use = field(default_factory=Use)
    since_sync: Use = field(default_factory=Use)
    """Settled since the last read of the table began (kept across that read)."""
    seeded: bool = False
    loading: asyncio.Future[None] | None = None
    synced_at: float = 0.0
    syncing: bool = False
    warned: set[str] = field(default_factory=set)
    gauges: dict[str, Any] = field(default_factory=dict)
    """The remaining-budget gauge of each limit, labelled once."""

    def refusal(self, budget: BudgetInfo, need: Use) -> tuple[str, Decimal | int | float] | None:
        """The first limit ``need`` would take past, with that limit; None when it fits. A
        call that needs none of a unit is never refused by that unit's limit."""
        held = self.spent + self.reserved
        for kind in LIMITS:
            limit = budget.limit(kind)
            wanted = getattr(need, kind)
            if limit is not None and wanted > 0 and getattr(held, kind) + wanted > limit:
                return kind, limit
        return None


Pair = tuple[BudgetInfo, Account]


class Ledger:
    def __init__(self, db: Database, usage: UsageService, metrics: Metrics, *,
                 sync_s: float) -> None:
        self.db = db
        self.usage = usage
        self.metrics = metrics
        self.sync_s = sync_s
        self._accounts: dict[AccountKey, Account] = {}
        self._current: dict[tuple[str, str, str], Account] = {}
        """Each subject's account of the period in progress (the fast path of ``_account``)."""
        self._lock = threading.Lock()
        self._background: set[asyncio.Future[None]] = set()

    async def open(self, budgets: list[BudgetInfo]) -> list[Pair]:
        """Each budget with its subject's account for the current period (seeded first)."""
        now = utcnow()
        pairs = []
        for budget in budgets:
            account = self._account(budget, now)
            if not account.seeded:
                await self._seed(account)
            elif time.monotonic() - account.synced_at > self.sync_s and not account.syncing:
                account.syncing = True
                task = asyncio.ensure_future(asyncio.to_thread(self._sync_quietly, account))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            pairs.append((budget, account))
        return pairs

    def _account(self, budget: BudgetInfo, now: datetime) -> Account:
        current = self._current.get((budget.tenant, budget.key_id or "", budget.period))
        if current is not None and current.start <= now < current.end:
            return current
        period = check_period(budget.period)
        start, end = bounds(period, now)
        key = (budget.tenant, budget.key_id or "", period, start)
        account = self._accounts.get(key)
        if account is None:
            with self._lock:
                for old in [k for k in self._accounts if k[:3] == key[:3] and k[3] != start]:
                    del self._accounts[old]
                account = self._accounts.setdefault(
                    key, Account(budget.tenant, budget.key_id or "", period, start, end))
        self._current[key[:3]] = account
        return account

    async def _seed(self, account: Account) -> None:
        if account.loading is None:
            account.loading = asyncio.ensure_future(asyncio.to_thread(self.sync, account))
        loading = account.loading
        try:
            await asyncio.shield(loading)
        except BaseException:
            if loading.done() and account.loading is loading:
                account.loading = None  # the next call tries again
            raise

    def sync(self, account: Account) -> None:
        """Read the period's use from the usage table (this process's pending rows written
        first) and keep what settled meanwhile on top of it. Runs on a worker thread."""
        with self._lock:
            account.since_sync = Use()
        try:
            self.usage.flush()
            spent = self.used(account.tenant, account.key_id, account.start, account.end)
        finally:
            account.syncing = False
        with self._lock:
            account.spent = spent + account.since_sync
            account.synced_at = time.monotonic()
            account.seeded = True

    def _sync_quietly(self, account: Account) -> None:
        try:
            self.sync(account)
        except Exception as exc:
            log.warning("budget use of %s not re-read (kept counting locally): %s",
                        account.key_id or account.tenant, exc)

    def used(self, tenant: str, key_id: str, start: datetime, end: datetime) -> Use:
        """The use recorded in the usage table between ``start`` and ``end``."""
        conditions = [UsageRecord.tenant == tenant, UsageRecord.created_at >= start,
                      UsageRecord.created_at < end]
        if key_id:
            conditions.append(UsageRecord.key_id == key_id)
        with self.db.session() as session:
            amount, tokens, items, audio = session.execute(select(
                func.sum(UsageRecord.cost),
                func.sum(UsageRecord.prompt_tokens + UsageRecord.completion_tokens),
                func.sum(UsageRecord.items), func.sum(UsageRecord.audio_seconds),
            ).where(*conditions)).one()
        return Use(Decimal(amount or 0), int(tokens or 0), int(items or 0), float(audio or 0.0))

    def in_flight(self, budget: BudgetInfo) -> Use:
        """What calls in flight in this process hold against ``budget`` now."""
        start, _ = bounds(check_period(budget.period), utcnow())
        account = self._accounts.get((budget.tenant, budget.key_id or "", budget.period, start))
        return Use() if account is None else account.reserved

    def reserve(self, pairs: list[Pair], need: Use) -> None:
        """Hold ``need`` on every account, or raise ``QuotaExceeded`` and hold nothing."""
        with self._lock:
            for budget, account in pairs:
                refused = account.refusal(budget, need)
                if refused is not None:
                    raise _exceeded(budget, account, need, *refused)
            for _, account in pairs:
                account.reserved += need

    def settle(self, pairs: list[Pair], need: Use, used: Use) -> None:
        """Release ``need`` and count ``used`` (the call ended)."""
        with self._lock:
            for budget, account in pairs:
                account.reserved -= need
                account.spent += used
                account.since_sync += used
                self._observe(budget, account)

    def _observe(self, budget: BudgetInfo, account: Account) -> None:
        for kind in LIMITS:
            limit = budget.limit(kind)
            if limit is None:
                continue
            spent = getattr(account.spent, kind)
            labels = (budget.tenant, budget.key_id or "", budget.period, kind)
            gauge = account.gauges.get(kind)
            if gauge is None:
                gauge = account.gauges[kind] = self.metrics.budget_remaining.labels(*labels)
            gauge.set(float(max(limit - spent, 0)))
            if kind not in account.warned and _crossed(spent, limit, budget.soft_threshold):
                account.warned.add(kind)
                self.metrics.budget_warnings.labels(*labels).inc()
                log.warning(
                    "budget soft threshold crossed: %s %s of the %s %s limit %s used (%.0f%%); "
                    "calls are refused past the limit", "key" if budget.key_id else "tenant",
                    budget.key_id or budget.tenant, budget.period, kind, spent,
                    100 * float(spent) / float(limit) if limit else 100.0,
                    extra={"tenant": budget.tenant, "key_id": budget.key_id})


def _crossed(spent: Decimal | int | float, limit: Decimal | int | float, soft: float) -> bool:
    if isinstance(limit, Decimal):
        return Decimal(spent) >= limit * Decimal(repr(soft))
    return float(spent) >= float(limit) * soft


def _exceeded(budget: BudgetInfo, account: Account, need: Use, kind: str,
              limit: Decimal | int | float) -> QuotaExceeded:
    held = getattr(account.spent + account.reserved, kind)
    unit = f" {budget.currency}" if kind == "amount" else (" tokens" if kind == "tokens" else
                                                           " items" if kind == "items" else " s")
    subject = f"key {budget.key_id}" if budget.key_id else f"tenant {budget.tenant!r}"
    retry_after = max(1.0, (account.end - utcnow()).total_seconds())
    return QuotaExceeded(
        f"the {budget.period} {'budget' if kind == 'amount' else kind + ' quota'} of {subject} "
        f"is {limit}{unit}; {held}{unit} is used or held by calls in flight and this call may "
        f"use up to {getattr(need, kind)}{unit}; it resets at {account.end.isoformat()}",
        retry_after_s=retry_after,
        details={"limit": kind, "period": budget.period, "budget": budget.id,
                 "resets_at": account.end.isoformat()},
    )
