"""The meter: the one place a finished call becomes a usage row and prediction metrics.

A usage row carries its cost: ``pricing`` (billing's, wired by ``Services``) prices the call's
units at the price in force when it ran; without pricing every call is free.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from aiaas.calls.call import ResolvedCall
from aiaas.errors import AiaasError
from aiaas.logs import request_id
from aiaas.metrics import Metrics
from aiaas.tasks.units import Units
from aiaas.usage.service import UsageEntry, UsageService


@dataclass(frozen=True, slots=True)
class Charge:
    """What one call cost; ``price_id`` None: the model has no price (free)."""

    cost: Decimal
    currency: str | None = None
    price_id: int | None = None


FREE = Charge(Decimal(0))


class Pricing(Protocol):
    def charge(self, call: ResolvedCall, units: Units, status: str) -> Charge:
        """The cost of ``units`` (as the usage row records them) for a call that ended with
        ``status``; called on the event loop, so it must not do I/O."""


class Meter:
    def __init__(self, usage: UsageService, metrics: Metrics,
                 pricing: Pricing | None = None) -> None:
        self.usage = usage
        self.metrics = metrics
        self.pricing = pricing

    def status_of(self, exc: BaseException) -> str:
        """The usage status of a call that ended with ``exc``: the domain error's code."""
        if isinstance(exc, AiaasError):
            return exc.code
        if isinstance(exc, asyncio.CancelledError | GeneratorExit):
            return "cancelled"
        return "internal_error"

    def refused(self, call: ResolvedCall, check: str, exc: AiaasError) -> None:
        self.metrics.prediction_errors.labels(call.version.model, exc.code).inc()
        self.metrics.admission_refusals.labels(check, exc.code).inc()

    def record(self, call: ResolvedCall, status: str, latency_ms: float, units: Units) -> None:
        """Called before the answer (or a stream's last event) leaves: with the usage journal
        on, the row is safe from a process kill once this returns."""
        version = call.version
        if status not in ("ok", "cancelled"):
            self.metrics.prediction_errors.labels(version.model, status).inc()
        units = units if status == "ok" else Units(
            0, units.prompt_tokens, units.completion_tokens, units.audio_seconds)
        charge = FREE if self.pricing is None else self.pricing.charge(call, units, status)
        self.usage.record(UsageEntry(
            tenant=call.principal.tenant, key_id=call.principal.key_id, model=version.model,
            version=version.version, surface=call.surface, latency_ms=latency_ms,
            status=status, units=units, request_id=request_id.get(), cost=charge.cost,
            currency=charge.currency, price_id=charge.price_id,
        ))
        if charge.cost:
            self.metrics.spend.labels(call.principal.tenant, charge.currency or "").inc(
                float(charge.cost))
        self.metrics.predictions.labels(version.model, status).inc()
        self.metrics.prediction_latency.labels(version.model).observe(latency_ms / 1000)
