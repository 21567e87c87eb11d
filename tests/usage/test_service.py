"""Usage reports: per tenant, filtered by model and time, with totals; on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aiaas.auth.principal import Principal
from aiaas.db.tables import utcnow
from aiaas.errors import Forbidden, Invalid
from aiaas.services import Services
from aiaas.tasks.units import Units
from aiaas.usage.service import UsageEntry

CLINIC = Principal("clinic", "k", frozenset())
"""Any key reads its own tenant's usage: no scope needed."""


def entry(tenant: str, model: str, minutes_ago: int, status: str = "ok", **units: float
          ) -> UsageEntry:
    return UsageEntry(tenant=tenant, key_id="k", model=model, version=1, surface="native",
                      latency_ms=10.0, status=status, units=Units(**units),  # type: ignore[arg-type]
                      created_at=utcnow() - timedelta(minutes=minutes_ago))


def test_report_filters_and_totals(services: Services) -> None:
    usage = services.usage
    usage.record(entry("clinic", "embedder", 90, items=2, prompt_tokens=10))
    usage.record(entry("clinic", "embedder", 30, items=3, prompt_tokens=5))
    usage.record(entry("clinic", "diagnosis", 20, status="invalid_request"))
    usage.record(entry("clinic", "whisper", 10, items=1, audio_seconds=2.5))
    usage.record(entry("bank", "embedder", 5, items=100))
    everything = usage.report(CLINIC)
    assert everything.totals.requests == 4
    assert everything.totals.errors == 1
    assert everything.totals.items == 6
    assert everything.totals.prompt_tokens == 15
    assert everything.totals.audio_seconds == pytest.approx(2.5)
    assert [r.model for r in everything.records] == ["whisper", "diagnosis", "embedder",
                                                        "embedder"]
    recent = usage.report(CLINIC, model="embedder", since=utcnow() - timedelta(minutes=60))
    assert recent.totals.requests == 1 and recent.totals.items == 3
    window = usage.report(CLINIC, since=utcnow() - timedelta(minutes=95),
                          until=utcnow() - timedelta(minutes=25))
    assert window.totals.requests == 2
    assert usage.report(CLINIC, limit=1).totals.requests == 4
    assert len(usage.report(CLINIC, limit=1).records) == 1


def test_bad_ranges_are_invalid(services: Services) -> None:
    with pytest.raises(Invalid, match="after"):
        services.usage.report(CLINIC, since=utcnow(), until=utcnow() - timedelta(days=1))
    with pytest.raises(Invalid, match="limit"):
        services.usage.report(CLINIC, limit=0)


def test_rows_written_in_the_background_survive_stop(services: Services) -> None:
    services.usage.start()
    services.usage.record(entry("clinic", "embedder", 0, items=1))
    services.usage.stop()
    assert services.usage.report(CLINIC).totals.requests == 1


def test_naive_times_are_refused_naming_the_field(services: Services) -> None:
    for field in ("since", "until"):
        with pytest.raises(Invalid, match=f"'{field}' needs a timezone") as caught:
            services.usage.report(CLINIC, **{field: utcnow().replace(tzinfo=None)})
        assert caught.value.details["field"] == field


def test_only_an_admin_reads_another_tenants_usage(services: Services) -> None:
    """The usage service checks it, whatever route or page calls it."""
    usage = services.usage
    usage.record(entry("clinic", "embedder", 5, items=1))
    usage.record(entry("bank", "embedder", 5, items=7))
    for tenant in ("bank", ""):
        with pytest.raises(Forbidden, match="'admin' scope"):
            usage.report(CLINIC, tenant=tenant)
    assert usage.report(CLINIC, tenant="clinic").totals.items == 1
    admin = Principal("clinic", "ops", frozenset({"admin"}))
    assert usage.report(admin, tenant="bank").totals.items == 7
    assert usage.report(admin).totals.items == 1
