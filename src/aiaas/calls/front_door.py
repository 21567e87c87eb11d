"""The front door: the one path every model call takes, whatever surface it came through.

    ModelCall -> resolve (once; the registry's cache) -> admission checks, in order
              -> task check of the inputs -> a replica from the placement
              -> predictions or a stream -> output filters, in order
              -> the meter (one usage row) and the tickets settled

Native predict, the OpenAI and V2 surfaces, evaluations (and later the console) all call
``predict`` or ``stream``; none of them resolves a version or writes usage itself. A refusal by
an admission check is not usage; from the task check on, every call writes exactly one usage
row, for success and failure alike (status = the error code).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiaas.calls.admission import AdmissionCheck, Ticket, default_checks
from aiaas.calls.call import NOT_GIVEN, CallResult, ModelCall, ResolvedCall
from aiaas.calls.filters import OutputFilter
from aiaas.calls.meter import Meter
from aiaas.config import Settings
from aiaas.errors import AiaasError, Invalid, WrongTask
from aiaas.registry.service import Registry, VersionInfo
from aiaas.runtime.placement import Placement
from aiaas.runtime.replica import Replica
from aiaas.tasks import get_task
from aiaas.tasks.base import Limits, Prediction, StreamEvent
from aiaas.tasks.outputs import Explanation
from aiaas.tasks.units import Units

Predict = Callable[[list[Any]], list[Prediction]]
"""A blocking predict of checked items, for a worker thread."""


@dataclass(frozen=True, slots=True)
class OnModel:
    """The loaded model as an explanation running on a worker thread reaches it, blocking."""

    predict: Predict
    """Checked items through the version's batcher, one batch at a time."""
    explain: Callable[[list[Any], dict[str, Any]], list[Explanation]]
    """Checked items explained by the model's backend with its gradients, on the model's own
    worker in its turn (``Replica.explain``)."""
    methods: tuple[str, ...]
    """The gradient methods ``explain`` answers (``Replica.explain_methods``); empty: none."""


Explain = Callable[[ResolvedCall, list[Any], OnModel], Awaitable[tuple[list[Any], Units]]]
"""Computes one explanation per checked item with ``OnModel``; returns them and the units."""


@dataclass(frozen=True, slots=True)
class CallStream:
    """A started generation: its version, and its events (the first one already produced, so
    errors before it were raised by ``stream``). Closing ``events`` stops the generation."""

    version: VersionInfo
    events: AsyncIterator[StreamEvent]
    notes: dict[str, Any]
    """What checks and filters tell the caller beside the text (``privacy``: PII found)."""


class FrontDoor:
    def __init__(self, settings: Settings, registry: Registry, placement: Placement, meter: Meter,
                 checks: list[AdmissionCheck] | None = None) -> None:
        self.registry = registry
        self.placement = placement
        self.meter = meter
        self.checks = default_checks() if checks is None else checks
        """Ordered; append a check to apply it to every surface."""
        self.filters: list[OutputFilter] = []
        """Ordered; what every call's outputs (and streams) pass through."""
        self.limits = Limits(settings.max_inputs, settings.max_input_chars,
                             settings.max_image_pixels, settings.max_audio_seconds,
                             settings.max_tokens)

    async def resolve(self, call: ModelCall) -> ResolvedCall:
        """The version and task the call names (the registry's memory when fresh: no thread
        hop); ``WrongTask`` when the version does not serve the task asked for."""
        version = self.registry.cached(call.principal.tenant, call.model, call.ref)
        if version is None:
            version = await asyncio.to_thread(self.registry.resolve, call.principal.tenant,
                                              call.model, call.ref)
        if call.task is not None and not version.serves(call.task):
            raise WrongTask(version.model, served=version.task, asked=call.task)
        return ResolvedCall(call, version, get_task(call.task or version.task), call.inputs,
                            call.parameters)

    async def predict(self, call: ModelCall | ResolvedCall) -> CallResult:
        """Run the call's inputs through its version, batched with other callers' items."""
        resolved = call if isinstance(call, ResolvedCall) else await self.resolve(call)
        tickets = await self._admit(resolved)
        started = time.perf_counter()
        predictions: list[Prediction] = []
        outputs: list[Any] = []
        status = "ok"
        try:
            items, params = await self._check(resolved)
            replica = await self.placement.replica_for(resolved.version)
            if resolved.task.streaming:
                prompts = await replica.prepare(items, params)
                tenant = resolved.principal.tenant
                predictions = list(await asyncio.gather(
                    *(_collect(replica, prompt, params, tenant) for prompt in prompts)))
            else:
                predictions = await replica.submit(items, params,
                                                   exclusive=not resolved.task.shares_batches)
            outputs = [p.output for p in predictions]
            for output_filter in self.filters:
                outputs = await output_filter.outputs(resolved, outputs)
        except BaseException as exc:
            status = self.meter.status_of(exc)
            raise
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            units = Units.total(p.units for p in predictions)
            self._finish(resolved, tickets, status, latency_ms, units)
        return CallResult(resolved.version.model, resolved.version.version, outputs, units,
                          latency_ms, predictions, _notes(resolved))

    async def explain(self, call: ModelCall | ResolvedCall, run: Explain) -> CallResult:
        """Explain the call's inputs: resolved, admitted, checked and metered like ``predict``
        (usage rows count the model evaluations spent as items), with ``run`` doing the work
        given blocking access to the model (``OnModel``): a ``predict`` that sends one batch at
        a time through the version's batcher and an ``explain`` that queues there too, so
        explanations queue behind predictions instead of crowding them out."""
        resolved = call if isinstance(call, ResolvedCall) else await self.resolve(call)
        tickets = await self._admit(resolved)
        started = time.perf_counter()
        status, units = "ok", Units()
        try:
            items, _params = await self._check(resolved)
            replica = await self.placement.replica_for(resolved.version)
            loop = asyncio.get_running_loop()

            def predict(batch: list[Any]) -> list[Prediction]:
                future = asyncio.run_coroutine_threadsafe(
                    replica.submit(batch, {}, exclusive=False), loop)
                return future.result()

            def explain(batch: list[Any], parameters: dict[str, Any]) -> list[Explanation]:
                return asyncio.run_coroutine_threadsafe(replica.explain(batch, parameters),
                                                        loop).result()

            model = OnModel(predict, explain, await replica.explain_methods())
            outputs, units = await run(resolved, items, model)
        except BaseException as exc:
            status = self.meter.status_of(exc)
            raise
        finally:
            self._finish(resolved, tickets, status, (time.perf_counter() - started) * 1000, units)
        return CallResult(resolved.version.model, resolved.version.version, outputs, units,
                          (time.perf_counter() - started) * 1000, [], _notes(resolved))

    async def stream(self, call: ModelCall | ResolvedCall) -> CallStream:
        """Start one generation (``inputs`` holds one item). Errors before the first event are
        raised here, so they become HTTP statuses; later ones end the stream. One usage row is
        written when the stream ends, however it ends."""
        resolved = call if isinstance(call, ResolvedCall) else await self.resolve(call)
        if not resolved.task.streaming:
            raise Invalid(f"model {resolved.version.model!r} (task {resolved.task.name}) does "
                          "not generate text", details={"field": "model"})
        if not isinstance(resolved.inputs, list):
            resolved.inputs = [resolved.inputs]
        tickets = await self._admit(resolved)
        started = time.perf_counter()
        try:
            [item], params = await self._check(resolved)
            replica = await self.placement.replica_for(resolved.version)
            [prompt] = await replica.prepare([item], params)
            events = replica.stream(prompt, params, tenant=resolved.principal.tenant)
            for output_filter in self.filters:
                events = output_filter.stream(resolved, events)
            first = await anext(events)
        except BaseException as exc:
            self._finish(resolved, tickets, self.meter.status_of(exc),
                         (time.perf_counter() - started) * 1000, Units())
            raise
        return CallStream(resolved.version,
                          self._metered(events, first, resolved, tickets, started),
                          _notes(resolved))

    async def _admit(self, call: ResolvedCall) -> list[Ticket]:
        tickets: list[Ticket] = []
        for check in self.checks:
            try:
                ticket = await check.admit(call)
            except AiaasError as exc:
                self.meter.refused(call, check.name, exc)
                for earlier in tickets:
                    earlier.settle(Units(), exc.code)
                raise
            if ticket is not None:
                tickets.append(ticket)
        return tickets

    async def _check(self, call: ResolvedCall) -> tuple[list[Any], dict[str, Any]]:
        task, config = call.task, call.version.config
        inputs = None if call.inputs is NOT_GIVEN else call.inputs
        if task.heavy_check:
            return await asyncio.to_thread(task.check, inputs, call.parameters, config,
                                           self.limits)
        return task.check(inputs, call.parameters, config, self.limits)

    def _finish(self, call: ResolvedCall, tickets: list[Ticket], status: str, latency_ms: float,
                units: Units) -> None:
        self.meter.record(call, status, latency_ms, units)
        for ticket in tickets:
            ticket.settle(units, status)

    async def _metered(self, events: AsyncIterator[StreamEvent], first: StreamEvent,
                       call: ResolvedCall, tickets: list[Ticket],
                       started: float) -> AsyncIterator[StreamEvent]:
        last = first
        status = "cancelled"
        try:
            yield first
            async for event in events:
                last = event
                yield event
            status = "ok"
        except AiaasError as exc:
            status = exc.code
            raise
        finally:
            self._finish(call, tickets, status, (time.perf_counter() - started) * 1000,
                         last.units)


def _notes(call: ResolvedCall) -> dict[str, Any]:
    notes = call.tags.get("notes")
    return notes if isinstance(notes, dict) else {}


async def _collect(replica: Replica, item: Any, params: dict[str, Any],
                   tenant: str) -> Prediction:
    parts: list[str] = []
    last = StreamEvent()
    async for event in replica.stream(item, params, tenant=tenant):
        parts.append(event.text)
        last = event
    return Prediction({"text": "".join(parts), "finish_reason": last.finish_reason},
                      tokens=last.prompt_tokens, completion_tokens=last.completion_tokens)
