"""Cost lines of a usage report: units and cost summed per UTC day, tenant, key and model, and
the same lines as CSV (what a bill or a spreadsheet takes)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from aiaas.db.money import Amount, plain
from aiaas.db.tables import UsageRecord

MAX_LINES = 10_000
"""Most lines one report carries (newest days first); narrow the range for more."""


@dataclass(frozen=True, slots=True)
class CostLine:
    """One day (UTC) of one key's calls to one model; ``cost`` is exact, in ``currency``."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    day: date
    tenant: str
    key_id: str
    model: str
    currency: str | None
    requests: int
    errors: int
    items: int
    prompt_tokens: int
    completion_tokens: int
    audio_seconds: float
    cost: Amount


def cost_lines(session: Session, conditions: list[ColumnElement[bool]]) -> list[CostLine]:
    """The lines of the usage rows matching ``conditions``, newest day first."""
    if session.get_bind().dialect.name == "postgresql":
        day: ColumnElement[Any] = func.date(func.timezone("UTC", UsageRecord.created_at))
    else:  # SQLite keeps UTC datetimes as naive text: date() reads its first ten characters
        day = func.date(UsageRecord.created_at)
    keys = (day.label("day"), UsageRecord.tenant, UsageRecord.key_id, UsageRecord.model,
            UsageRecord.currency)
    rows = session.execute(
        select(*keys, func.count(),
               func.sum(func.cast(UsageRecord.status != "ok", UsageRecord.items.type)),
               func.sum(UsageRecord.items), func.sum(UsageRecord.prompt_tokens),
               func.sum(UsageRecord.completion_tokens), func.sum(UsageRecord.audio_seconds),
               func.sum(UsageRecord.cost))
        .where(*conditions).group_by(*keys)
        .order_by(day.desc(), UsageRecord.tenant, UsageRecord.key_id, UsageRecord.model)
        .limit(MAX_LINES)
    ).all()
    return [CostLine(day=_day(row[0]), tenant=row[1], key_id=row[2], model=row[3],
                     currency=row[4], requests=int(row[5]), errors=int(row[6] or 0),
                     items=int(row[7] or 0), prompt_tokens=int(row[8] or 0),
                     completion_tokens=int(row[9] or 0), audio_seconds=float(row[10] or 0.0),
                     cost=Decimal(row[11] or 0)) for row in rows]


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


CSV_FIELDS = tuple(item.name for item in fields(CostLine))


def to_csv(lines: list[CostLine]) -> str:
    """The lines as CSV with a header row; costs as exact decimals, days as ISO dates."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for line in lines:
        writer.writerow({name: "" if value is None else plain(value) if isinstance(value, Decimal)
                         else str(value) for name, value in asdict(line).items()})
    return buffer.getvalue()
