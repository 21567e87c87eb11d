"""The meter: the one place a finished call becomes a usage row and prediction metrics."""

from __future__ import annotations

import asyncio

from aiaas.calls.call import ResolvedCall
from aiaas.errors import AiaasError
from aiaas.logs import request_id
from aiaas.metrics import Metrics
from aiaas.tasks.units import Units
from aiaas.usage.service import UsageEntry, UsageService


class Meter:
    def __init__(self, usage: UsageService, metrics: Metrics) -> None:
        self.usage = usage
        self.metrics = metrics

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
        self.usage.record(UsageEntry(
            tenant=call.principal.tenant, key_id=call.principal.key_id, model=version.model,
            version=version.version, surface=call.surface, latency_ms=latency_ms,
            status=status, units=units if status == "ok" else Units(
                0, units.prompt_tokens, units.completion_tokens, units.audio_seconds),
            request_id=request_id.get(),
        ))
        self.metrics.predictions.labels(version.model, status).inc()
        self.metrics.prediction_latency.labels(version.model).observe(latency_ms / 1000)
