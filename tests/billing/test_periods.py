"""Budget periods: calendar days and months, in UTC whatever the caller's zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from aiaas.billing.periods import bounds, check_period
from aiaas.errors import Invalid


def test_days_and_months_are_calendar_periods_in_utc() -> None:
    late = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # Jan 1 in UTC
    assert bounds("day", late) == (datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 2, tzinfo=UTC))
    assert bounds("month", late) == (datetime(2027, 1, 1, tzinfo=UTC),
                                     datetime(2027, 2, 1, tzinfo=UTC))
    december = datetime(2026, 12, 15, tzinfo=UTC)
    assert bounds("month", december)[1] == datetime(2027, 1, 1, tzinfo=UTC)
    assert bounds("month", datetime(2028, 2, 29, 12, tzinfo=UTC)) == (
        datetime(2028, 2, 1, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC))


@pytest.mark.parametrize("period", ["week", "Day", "", None, 30])
def test_other_periods_are_refused_naming_the_field(period: object) -> None:
    with pytest.raises(Invalid) as caught:
        check_period(period)
    assert caught.value.field == "period"
