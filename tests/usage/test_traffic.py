"""Recent traffic for the console's overview: rate, errors, nearest-rank percentiles per model,
one tenant's or (admin) every tenant's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aiaas.auth.principal import Principal
from aiaas.db.tables import utcnow
from aiaas.errors import Forbidden, Invalid
from aiaas.services import Services
from aiaas.usage.service import UsageEntry
from aiaas.usage.traffic import percentile


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99
    assert percentile(values, 100) == 100 and percentile([7.0], 99) == 7
    assert percentile([], 50) == 0


def _entry(tenant: str, model: str, latency: float, status: str = "ok", age_s: float = 0) -> UsageEntry:
    return UsageEntry(tenant=tenant, key_id="k", model=model, version=1, surface="native",
                      latency_ms=latency, status=status,
                      created_at=utcnow() - timedelta(seconds=age_s))


def test_traffic_counts_the_window_per_model_and_tenant(services: Services) -> None:
    for latency in range(1, 101):
        services.usage.record(_entry("clinic", "embed", float(latency)))
    services.usage.record(_entry("clinic", "chat", 500.0, status="rate_limited"))
    services.usage.record(_entry("clinic", "chat", 900.0, age_s=3600))  # outside the window
    services.usage.record(_entry("bank", "embed", 5.0))
    clinic = Principal("clinic", "k", frozenset({"predict"}))
    seen = services.usage.traffic(clinic, window_s=600)
    assert (seen.requests, seen.errors) == (101, 1)
    assert seen.per_second == pytest.approx(101 / 600)
    by_model = {m.model: m for m in seen.models}
    assert by_model["embed"].p50_ms == 50 and by_model["embed"].p99_ms == 99
    assert (by_model["chat"].requests, by_model["chat"].errors) == (1, 1)
    assert seen.models[0].model == "embed"  # busiest first
    with pytest.raises(Forbidden):
        services.usage.traffic(clinic, every_tenant=True)
    assert services.usage.traffic(Principal.system(), window_s=600,
                                  every_tenant=True).requests == 102
    with pytest.raises(Invalid, match="window_s"):
        services.usage.traffic(clinic, window_s=0)
