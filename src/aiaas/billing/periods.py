"""Budget periods: calendar days and months in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from aiaas.errors import Invalid

Period = Literal["day", "month"]
PERIODS: tuple[Period, ...] = ("day", "month")


def check_period(value: Any) -> Period:
    if value == "day":
        return "day"
    if value == "month":
        return "month"
    raise Invalid.at("period", f"must be one of {', '.join(PERIODS)} (calendar, UTC); got {value!r}")


def bounds(period: Period, at: datetime) -> tuple[datetime, datetime]:
    """The start (inclusive) and end (exclusive) of the period that holds ``at``."""
    at = at.astimezone(UTC)
    start = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return start, start + timedelta(days=1)
    start = start.replace(day=1)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(
        month=start.month + 1)
    return start, end
