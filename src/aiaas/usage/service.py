"""Usage recording and reporting.

Rows are buffered and written in batches by one background thread, so a predict call never waits
on a database write. Anything that reads usage flushes first, so a read sees every call before it.
If the database is down, rows stay buffered (up to ``max_backlog``) and are written on recovery.
With a journal (``journal.py``), each row is also in a local file before ``record`` returns, so a
killed process loses none: the next start (or any live peer, every ``adopt_every_s``) inserts
what a dead process left, each call once (a unique ``call_id``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import Insert, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from aiaas.auth.principal import Principal, Scope
from aiaas.db.engine import Database
from aiaas.db.money import Amount
from aiaas.db.tables import UsageRecord, utcnow
from aiaas.errors import AiaasError, Invalid
from aiaas.tasks.units import Units
from aiaas.usage import journal
from aiaas.usage.costs import CostLine, cost_lines
from aiaas.usage.journal import Journal, Row
from aiaas.usage.traffic import Traffic, traffic

log = logging.getLogger("aiaas.usage")
MAX_PAGE = 1000
ALL_TENANTS = "*"
"""``tenant`` for an admin's report over every tenant (a bill per tenant: ``costs``)."""


@dataclass(slots=True)
class UsageEntry:
    tenant: str
    key_id: str
    model: str
    version: int | None
    surface: str
    latency_ms: float
    status: str
    units: Units = field(default_factory=Units)
    created_at: datetime = field(default_factory=utcnow)
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    request_id: str | None = None
    cost: Decimal = Decimal(0)
    currency: str | None = None
    price_id: int | None = None


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One metered call as a report lists it (``status``: ``ok`` or the error code)."""

    id: int
    created_at: datetime
    tenant: str
    key_id: str
    model: str
    version: int | None
    surface: str
    units: Units
    latency_ms: float
    status: str
    cost: Amount
    """At the price in force when the call ran (``price_id``); 0 when it had none."""
    currency: str | None
    price_id: int | None
    priced: bool
    """False: the model had no price then, so the call was free."""

    @classmethod
    def of(cls, record: UsageRecord) -> UsageRow:
        units = Units(record.items, record.prompt_tokens, record.completion_tokens,
                      record.audio_seconds)
        return cls(id=record.id, created_at=record.created_at, tenant=record.tenant,
                   key_id=record.key_id, model=record.model, version=record.version,
                   surface=record.surface, units=units, latency_ms=record.latency_ms,
                   status=record.status, cost=record.cost, currency=record.currency,
                   price_id=record.price_id, priced=record.price_id is not None)


# A Units subclass, so a new unit shows up in the totals (and on the wire) without being
# spelled out again; every field is always sent, so /openapi.json lists them all as required.
@dataclass(frozen=True, slots=True)
class UsageTotals(Units):
    """The units summed over the whole filtered range (not just the rows listed), with how many
    calls there were, how many failed and their mean latency."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    requests: int = 0
    errors: int = 0
    mean_latency_ms: float = 0.0
    cost: Amount = Decimal(0)


@dataclass(frozen=True, slots=True)
class UsageReport:
    """What ``GET /api/v1/usage`` answers: rows newest first, and the range's totals."""

    records: list[UsageRow]
    totals: UsageTotals
    costs: list[CostLine] = field(default_factory=list)
    """Units and cost per UTC day, tenant, key and model over the whole range."""


class UsageService:
    def __init__(self, db: Database, *, journal_dir: Path | None = None, interval_s: float = 0.25,
                 max_backlog: int = 100_000, adopt_every_s: float = 30.0) -> None:
        self.db = db
        self.journal_dir = journal_dir
        self.interval_s = interval_s
        self.max_backlog = max_backlog
        self.adopt_every_s = adopt_every_s
        self._pending: list[Row] = []
        self._journal: Journal | None = None
        self._sealed: list[Path] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.journal_failures = 0

    def start(self) -> None:
        """Adopt the journals of dead processes, open this one's, start the writer."""
        if self.journal_dir is not None:
            try:
                self.adopt()
            except (SQLAlchemyError, AiaasError) as exc:
                log.warning("usage journals not replayed yet (retried every %.0f s): %s",
                            self.adopt_every_s, exc)
            self._journal = Journal.open(self.journal_dir)
        self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        consumed = False
        try:
            self.flush()
            consumed = True
        finally:
            if self._journal is not None:
                self._journal.close(consumed=consumed)
                self._journal = None

    def record(self, entry: UsageEntry) -> None:
        """Keep one row; with a journal it is in the OS (safe from a process kill) on return."""
        row = _fields(entry)
        with self._lock:
            if self._journal is not None:
                try:
                    self._journal.append(journal.encode(row))
                except OSError as exc:  # a full disk: serve on, the row kept in memory only
                    if self.journal_failures % 1000 == 0:
                        log.error("usage journal write failed (%d so far): %s",
                                  self.journal_failures + 1, exc)
                    self.journal_failures += 1
            if len(self._pending) >= self.max_backlog:
                self._pending.pop(0)
                self.dropped += 1
            self._pending.append(row)

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def _run(self) -> None:
        adopted = time.monotonic()
        while not self._stopping.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.flush()
                if time.monotonic() - adopted >= self.adopt_every_s:
                    adopted = time.monotonic()
                    self.adopt()
            except (SQLAlchemyError, AiaasError) as exc:
                log.warning("usage write failed; will retry: %s", exc)

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
                sealed = self._journal.seal() if self._journal is not None else None
            if sealed is not None:
                self._sealed.append(sealed)
            if not batch:
                return
            try:
                with self.db.session() as session:
                    _insert_once(session, batch)
            except BaseException:
                with self._lock:
                    self._pending[:0] = batch
                raise
            Journal.discard(self._sealed)
            self._sealed = []

    def adopt(self) -> int:
        """Insert the rows of dead processes' journals (those already committed are skipped)
        and delete them; the number of rows read. A database error leaves them for later."""
        if self.journal_dir is None:
            return 0
        count = 0
        for orphan in journal.orphans(self.journal_dir):
            rows = orphan.rows()
            if rows:
                with self.db.session() as session:
                    _insert_once(session, rows)
                log.info("usage journal of %s replayed: %d rows", orphan.owner, len(rows))
            orphan.discard()
            count += len(rows)
        return count

    def report(
        self,
        principal: Principal,
        *,
        tenant: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> UsageReport:
        """Usage rows of the caller's tenant (any key), or of ``tenant`` (admin only), newest
        first, with totals over the whole filtered range (``since`` inclusive, ``until``
        exclusive, both with a timezone)."""
        if tenant is not None and tenant != principal.tenant:
            principal.require(Scope.ADMIN)
        for field_name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise Invalid(f"'{field_name}' needs a timezone, e.g. 2026-01-01T00:00:00Z",
                              details={"field": field_name})
        tenant = tenant or principal.tenant
        if not 1 <= limit <= MAX_PAGE:
            raise Invalid(f"limit must be between 1 and {MAX_PAGE}", details={"field": "limit"})
        if since and until and since > until:
            raise Invalid("'since' is after 'until'", details={"field": "since"})
        self.flush()
        conditions = [] if tenant == ALL_TENANTS else [UsageRecord.tenant == tenant]
        if model:
            conditions.append(UsageRecord.model == model)
        if since:
            conditions.append(UsageRecord.created_at >= since)
        if until:
            conditions.append(UsageRecord.created_at < until)
        with self.db.session() as session:
            rows = session.scalars(
                select(UsageRecord).where(*conditions)
                .order_by(UsageRecord.created_at.desc(), UsageRecord.id.desc()).limit(limit)
            ).all()
            sums = session.execute(
                select(
                    func.count(), func.sum(UsageRecord.items),
                    func.sum(UsageRecord.prompt_tokens), func.sum(UsageRecord.completion_tokens),
                    func.sum(UsageRecord.audio_seconds), func.avg(UsageRecord.latency_ms),
                    func.sum(func.cast(UsageRecord.status != "ok", UsageRecord.items.type)),
                    func.sum(UsageRecord.cost),
                ).where(*conditions)
            ).one()
            costs = cost_lines(session, conditions)
        requests, items, prompt, completion, audio, latency, errors, cost = sums
        totals = UsageTotals(
            items=int(items or 0), prompt_tokens=int(prompt or 0),
            completion_tokens=int(completion or 0), audio_seconds=float(audio or 0.0),
            requests=int(requests or 0), errors=int(errors or 0),
            mean_latency_ms=float(latency or 0.0), cost=Decimal(cost or 0),
        )
        return UsageReport(records=[UsageRow.of(r) for r in rows], totals=totals, costs=costs)

    def traffic(self, principal: Principal, *, window_s: float = 900.0,
                every_tenant: bool = False) -> Traffic:
        """Calls per second, errors and latency percentiles per model over the last
        ``window_s`` seconds: the caller's tenant, or every tenant's (admin only)."""
        if every_tenant:
            principal.require(Scope.ADMIN)
        if not 1 <= window_s <= 7 * 86400:
            raise Invalid("window_s must be between 1 s and 7 days", details={"field": "window_s"})
        self.flush()
        with self.db.session() as session:
            return traffic(session, None if every_tenant else principal.tenant,
                           utcnow() - timedelta(seconds=window_s), window_s)


def _insert_once(session: Session, rows: list[Row]) -> None:
    """Insert rows, skipping any whose ``call_id`` is already there (a journal replayed after
    its rows were committed), on SQLite and PostgreSQL alike."""
    dialect = session.get_bind().dialect.name
    statement: Insert
    if dialect == "postgresql":
        statement = postgresql.insert(UsageRecord).on_conflict_do_nothing(
            index_elements=["call_id"])
    elif dialect == "sqlite":
        statement = sqlite.insert(UsageRecord).on_conflict_do_nothing(index_elements=["call_id"])
    else:
        statement = insert(UsageRecord)
    session.execute(statement, rows)


def _fields(entry: UsageEntry) -> dict[str, Any]:
    fields = {name: getattr(entry, name) for name in UsageEntry.__slots__  # type: ignore[attr-defined]
              if name != "units"}
    return {**fields, **entry.units.as_dict()}
