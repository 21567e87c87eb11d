"""Usage recording and reporting.

Rows are buffered and written in batches by one background thread, so a predict call never waits
on a database write. Anything that reads usage flushes first, so a read sees every call before it.
If the database is down, rows stay buffered (up to ``max_backlog``) and are written on recovery.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from aiaas.db.engine import Database
from aiaas.db.tables import UsageRecord, utcnow
from aiaas.errors import AiaasError, Invalid
from aiaas.tasks.units import Units

log = logging.getLogger("aiaas.usage")
MAX_PAGE = 1000


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

    @classmethod
    def of(cls, record: UsageRecord) -> UsageRow:
        units = Units(record.items, record.prompt_tokens, record.completion_tokens,
                      record.audio_seconds)
        return cls(id=record.id, created_at=record.created_at, tenant=record.tenant,
                   key_id=record.key_id, model=record.model, version=record.version,
                   surface=record.surface, units=units, latency_ms=record.latency_ms,
                   status=record.status)


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


@dataclass(frozen=True, slots=True)
class UsageReport:
    """What ``GET /api/v1/usage`` answers: rows newest first, and the range's totals."""

    records: list[UsageRow]
    totals: UsageTotals


class UsageService:
    def __init__(self, db: Database, *, interval_s: float = 0.25, max_backlog: int = 100_000) -> None:
        self.db = db
        self.interval_s = interval_s
        self.max_backlog = max_backlog
        self._pending: list[UsageEntry] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def record(self, entry: UsageEntry) -> None:
        with self._lock:
            if len(self._pending) >= self.max_backlog:
                self._pending.pop(0)
                self.dropped += 1
            self._pending.append(entry)

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.flush()
            except (SQLAlchemyError, AiaasError) as exc:
                log.warning("usage write failed; will retry: %s", exc)

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                with self.db.session() as session:
                    session.add_all(UsageRecord(**_fields(entry)) for entry in batch)
            except BaseException:
                with self._lock:
                    self._pending[:0] = batch
                raise

    def report(
        self,
        tenant: str,
        *,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> UsageReport:
        if not 1 <= limit <= MAX_PAGE:
            raise Invalid(f"limit must be between 1 and {MAX_PAGE}", details={"field": "limit"})
        if since and until and since > until:
            raise Invalid("'since' is after 'until'", details={"field": "since"})
        self.flush()
        conditions = [UsageRecord.tenant == tenant]
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
                ).where(*conditions)
            ).one()
        requests, items, prompt, completion, audio, latency, errors = sums
        totals = UsageTotals(
            items=int(items or 0), prompt_tokens=int(prompt or 0),
            completion_tokens=int(completion or 0), audio_seconds=float(audio or 0.0),
            requests=int(requests or 0), errors=int(errors or 0),
            mean_latency_ms=float(latency or 0.0),
        )
        return UsageReport(records=[UsageRow.of(r) for r in rows], totals=totals)


def _fields(entry: UsageEntry) -> dict[str, Any]:
    fields = {name: getattr(entry, name) for name in UsageEntry.__slots__  # type: ignore[attr-defined]
              if name != "units"}
    return {**fields, **entry.units.as_dict()}
