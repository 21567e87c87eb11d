"""Budgets and quotas: what a tenant, or one of its keys, may use per calendar day or month.

A budget holds a spend ``amount`` (in the installation's currency) and/or unit quotas
(``tokens``: prompt plus completion, ``items``, ``audio_seconds``); at least one is set. Past
``soft_threshold`` (a fraction of each limit) a warning is logged and counted once per period;
a call that could take the use past a limit is refused (429 ``quota_exceeded``) before any
model work. One budget per subject and period: setting it again changes it.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aiaas.billing.periods import check_period
from aiaas.billing.prices import check_amount
from aiaas.db.billing_tables import BudgetRow
from aiaas.db.engine import Database
from aiaas.db.money import ZERO, Amount
from aiaas.db.tables import utcnow
from aiaas.errors import Conflict, Invalid

LIMITS = ("amount", "tokens", "items", "audio_seconds")
MAX_AMOUNT = Decimal(10) ** 9
"""The largest spend budget: SQLite sums amounts exactly up to about 9.2 x 10^8 x 10."""
MAX_UNITS = 10**15
MAX_AUDIO_SECONDS = 1e12
DEFAULT_SOFT_THRESHOLD = 0.8
ID_PATTERN = re.compile(r"^[0-9a-f]{16}\Z")


@dataclass(frozen=True, slots=True)
class Use:
    """What a subject used (or holds in flight) against each kind of limit."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    amount: Amount = ZERO
    tokens: int = 0
    items: int = 0
    audio_seconds: float = 0.0

    def __add__(self, other: Use) -> Use:
        return Use(self.amount + other.amount, self.tokens + other.tokens,
                   self.items + other.items, self.audio_seconds + other.audio_seconds)

    def __sub__(self, other: Use) -> Use:
        return Use(self.amount - other.amount, self.tokens - other.tokens,
                   self.items - other.items, self.audio_seconds - other.audio_seconds)


@dataclass(frozen=True, slots=True)
class Remaining:
    """What is left of each limit this period (None: the budget sets no such limit)."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    amount: Amount | None = None
    tokens: int | None = None
    items: int | None = None
    audio_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class BudgetInfo:
    """A budget as stored; ``key_id`` None is the tenant's own (every key of it counts)."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    id: str
    tenant: str
    key_id: str | None
    period: str
    currency: str
    amount: Amount | None
    tokens: int | None
    items: int | None
    audio_seconds: float | None
    soft_threshold: float
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: BudgetRow, currency: str) -> BudgetInfo:
        return cls(id=row.id, tenant=row.tenant, key_id=row.key_id or None, period=row.period,
                   currency=currency, amount=row.amount, tokens=row.tokens, items=row.items,
                   audio_seconds=row.audio_seconds, soft_threshold=row.soft_threshold,
                   created_by=row.created_by, created_at=row.created_at,
                   updated_at=row.updated_at)

    @property
    def subject(self) -> tuple[str, str]:
        return (self.tenant, self.key_id or "")

    def limit(self, kind: str) -> Decimal | int | float | None:
        value: Decimal | int | float | None = getattr(self, kind)
        return value


@dataclass(frozen=True, slots=True)
class BudgetStatus(BudgetInfo):
    """A budget with its current period: what was spent (usage rows), what calls in flight hold,
    and what is left of each limit that is set (None: no such limit)."""

    period_start: datetime = field(default_factory=utcnow)
    period_end: datetime = field(default_factory=utcnow)
    spent: Use = field(default_factory=Use)
    in_flight: Use = field(default_factory=Use)
    remaining: Remaining = field(default_factory=Remaining)


def check_limits(values: dict[str, Any]) -> dict[str, Any]:
    """The limits and threshold of a budget, checked; ``Invalid`` naming the field."""
    checked: dict[str, Any] = {}
    amount = values.get("amount")
    checked["amount"] = None if amount is None else check_amount("amount", amount, MAX_AMOUNT)
    for name in ("tokens", "items"):
        value = values.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 <= value <= MAX_UNITS):
            raise Invalid.at(name, f"must be a whole number from 0 to {MAX_UNITS}, got {value!r}")
        checked[name] = value
    audio = values.get("audio_seconds")
    if audio is not None and (isinstance(audio, bool) or not isinstance(audio, int | float)
                              or not math.isfinite(audio) or not 0 <= audio <= MAX_AUDIO_SECONDS):
        raise Invalid.at("audio_seconds", f"must be a number of seconds from 0 to "
                                          f"{MAX_AUDIO_SECONDS:.0f}, got {audio!r}")
    checked["audio_seconds"] = None if audio is None else float(audio)
    if all(checked[name] is None for name in LIMITS):
        raise Invalid.at("amount", "a budget needs a spend amount or a quota (tokens, items, "
                                   "audio_seconds)")
    soft = values.get("soft_threshold")
    soft = DEFAULT_SOFT_THRESHOLD if soft is None else soft
    if (isinstance(soft, bool) or not isinstance(soft, int | float) or not math.isfinite(soft)
            or not 0 < soft <= 1):
        raise Invalid.at("soft_threshold", f"must be a fraction of the limit, above 0 and at "
                                           f"most 1; got {soft!r}")
    checked["soft_threshold"] = float(soft)
    checked["period"] = check_period(values.get("period"))
    return checked


Changed = Callable[[Session, BudgetInfo | None, BudgetInfo | None], None]
"""Told of a budget's change inside its transaction: (session, before, after)."""


class BudgetStore:
    def __init__(self, db: Database, currency: str) -> None:
        self.db = db
        self.currency = currency

    def all(self) -> list[BudgetInfo]:
        with self.db.session() as session:
            return [BudgetInfo.of(row, self.currency) for row in session.scalars(select(BudgetRow))]

    def find(self, *, tenant: str | None = None, key_id: str | None = None) -> list[BudgetInfo]:
        query = select(BudgetRow).order_by(BudgetRow.tenant, BudgetRow.key_id, BudgetRow.period)
        if tenant is not None:
            query = query.where(BudgetRow.tenant == tenant)
        if key_id is not None:
            query = query.where(BudgetRow.key_id == key_id)
        with self.db.session() as session:
            return [BudgetInfo.of(row, self.currency) for row in session.scalars(query)]

    def get(self, budget_id: str) -> BudgetInfo | None:
        if not ID_PATTERN.match(budget_id):
            return None
        with self.db.session() as session:
            row = session.get(BudgetRow, budget_id)
            return None if row is None else BudgetInfo.of(row, self.currency)

    def put(self, *, tenant: str, key_id: str | None, checked: dict[str, Any],
            created_by: str, on_change: Changed | None = None) -> BudgetInfo:
        """Create the subject's budget for the period, or change it (a race: the second
        writer's values win). ``on_change(session, before, after)`` runs in the same
        transaction (``before`` None: created), for the audit log."""
        for _attempt in range(2):
            try:
                with self.db.session() as session:
                    row = session.scalar(select(BudgetRow).where(
                        BudgetRow.tenant == tenant, BudgetRow.key_id == (key_id or ""),
                        BudgetRow.period == checked["period"]))
                    now = utcnow()
                    if row is None:
                        row = BudgetRow(id=uuid.uuid4().hex[:16], tenant=tenant,
                                        key_id=key_id or "", created_by=created_by,
                                        created_at=now)
                        session.add(row)
                        old = None
                    else:
                        old = BudgetInfo.of(row, self.currency)
                    for name, value in checked.items():
                        setattr(row, name, value)
                    row.updated_at = now
                    session.flush()
                    info = BudgetInfo.of(row, self.currency)
                    if on_change is not None:
                        on_change(session, old, info)
                    return info
            except IntegrityError:
                continue
        raise Conflict("the budget was changed at the same time; try again")

    def delete(self, budget_id: str, on_change: Changed | None = None) -> bool:
        with self.db.session() as session:
            row = session.get(BudgetRow, budget_id)
            if row is None:
                return False
            old = BudgetInfo.of(row, self.currency)
            session.delete(row)
            if on_change is not None:
                on_change(session, old, None)
            return True
