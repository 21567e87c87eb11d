"""Recent traffic for an operator's dashboard: calls per second, errors and latency percentiles
per model over the last minutes, read from the usage table (so every process's calls count, and
a restart loses nothing), bounded to the newest ``MAX_ROWS`` calls of the window."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aiaas.db.tables import UsageRecord

MAX_ROWS = 20_000


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of already sorted values; 0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(q / 100 * len(sorted_values) + 0.4999))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True, slots=True)
class ModelTraffic:
    model: str
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float


@dataclass(frozen=True, slots=True)
class Traffic:
    window_s: float
    requests: int
    errors: int
    per_second: float
    p50_ms: float
    p99_ms: float
    models: list[ModelTraffic] = field(default_factory=list)
    truncated: bool = False
    """True when the window held more than ``MAX_ROWS`` calls: figures cover the newest ones."""


def traffic(session: Session, tenant: str | None, since: datetime, window_s: float) -> Traffic:
    """``tenant`` None: every tenant's calls."""
    query = select(UsageRecord.model, UsageRecord.latency_ms, UsageRecord.status).where(
        UsageRecord.created_at >= since)
    if tenant is not None:
        query = query.where(UsageRecord.tenant == tenant)
    rows = session.execute(query.order_by(UsageRecord.created_at.desc()).limit(MAX_ROWS + 1)).all()
    truncated = len(rows) > MAX_ROWS
    rows = rows[:MAX_ROWS]
    latencies: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    for model, latency, status in rows:
        latencies.setdefault(model, []).append(float(latency))
        errors[model] = errors.get(model, 0) + (status != "ok")
    every = sorted(float(latency) for _, latency, _ in rows)
    models = []
    for model, values in sorted(latencies.items(), key=lambda item: -len(item[1])):
        values.sort()
        models.append(ModelTraffic(model, len(values), errors[model], percentile(values, 50),
                                   percentile(values, 99)))
    return Traffic(window_s, len(rows), sum(errors.values()), len(rows) / window_s,
                   percentile(every, 50), percentile(every, 99), models, truncated)
