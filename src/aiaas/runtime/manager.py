"""The runtime manager: which versions are loaded, and the one path every prediction takes.

``predict`` resolves the version, checks the inputs against its task, loads the model on first
use (evicting idle ones to stay under the memory budget), queues the request on the model's
batcher and writes exactly one usage record, whatever surface the call came through.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiaas.auth.principal import BUILTIN_TENANT, Principal, Scope
from aiaas.config import Settings
from aiaas.errors import AiaasError, BackendError, Invalid, Unavailable
from aiaas.metrics import Metrics
from aiaas.registry.service import Registry, VersionInfo
from aiaas.registry.serving import ServingOptions
from aiaas.runtime import devices, heap
from aiaas.runtime.backends import Backend, backend_for
from aiaas.runtime.backends.base import StreamingBackend
from aiaas.runtime.batcher import Batcher
from aiaas.tasks import get_task
from aiaas.tasks.base import Limits, Prediction, StreamEvent, Task
from aiaas.usage.service import UsageEntry, UsageService

log = logging.getLogger("aiaas.runtime")
GPU_BATCH_FACTOR = 4
VersionKey = tuple[str, str, int]


@dataclass(slots=True)
class LoadedModel:
    version: VersionInfo
    backend: Backend
    batcher: Batcher
    memory_bytes: int
    loaded_at: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)

    @property
    def busy(self) -> bool:
        return self.batcher.busy or self.backend.busy


@dataclass(frozen=True, slots=True)
class PredictResult:
    model: str
    version: int
    outputs: list[Any]
    usage: dict[str, Any]
    predictions: list[Prediction]


class RuntimeManager:
    def __init__(
        self, settings: Settings, registry: Registry, usage: UsageService, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.usage = usage
        self.metrics = metrics
        self.limits = Limits(settings.max_inputs, settings.max_input_chars,
                             settings.max_image_pixels, settings.max_audio_seconds,
                             settings.max_tokens)
        self._loaded: dict[VersionKey, LoadedModel] = {}
        self._locks: dict[VersionKey, asyncio.Lock] = {}
        self._reaper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for name in self.settings.preload:
            try:
                version = await asyncio.to_thread(self.registry.resolve, BUILTIN_TENANT, name)
                await self.ensure_loaded(version)
            except AiaasError as exc:
                log.error("preload of %r skipped: %s", name, exc.message)
        for version in await asyncio.to_thread(self.registry.preloaded):
            try:
                await self.ensure_loaded(version)
            except AiaasError as exc:
                log.error("preload of %s:%s skipped: %s", version.model, version.version,
                          exc.message)
        if self.settings.gc_freeze:
            heap.tune()
            heap.settle()
        self._reaper = asyncio.create_task(self._reap_idle(), name="idle-reaper")

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for key in list(self._loaded):
            await self.unload(key, settle=False)

    async def resolve(self, tenant: str, name: str, ref: str | int | None = None) -> VersionInfo:
        """The version a call names; from the registry's memory when fresh (no thread hop)."""
        cached = self.registry.cached(tenant, name, ref)
        if cached is not None:
            return cached
        return await asyncio.to_thread(self.registry.resolve, tenant, name, ref)

    def loaded(self) -> list[LoadedModel]:
        return list(self._loaded.values())

    def status(self) -> list[dict[str, Any]]:
        """One entry per loaded version: engine, batching, queue and memory, for operators."""
        now = time.monotonic()
        return [{"model": m.version.model, "tenant": m.version.tenant, "version": m.version.version,
                 "task": m.version.task, **m.backend.describe(),
                 "max_batch_size": m.batcher.max_batch, "batch_wait_ms": m.batcher.wait_s * 1000,
                 "queue_depth": m.batcher.depth, "memory_bytes": m.memory_bytes,
                 "loaded_s": round(now - m.loaded_at, 1), "idle_s": round(now - m.last_used, 1)}
                for m in self._loaded.values()]

    async def predict(
        self,
        principal: Principal,
        name: str,
        inputs: Any,
        parameters: Any = None,
        *,
        ref: str | int | None = None,
        surface: str = "native",
        task: str | None = None,
    ) -> PredictResult:
        """Run ``inputs`` through a version; ``task`` asks for another task the version also
        serves (e.g. completion on a chat model)."""
        principal.require(Scope.PREDICT)
        version = await self.resolve(principal.tenant, name, ref)
        started = time.perf_counter()
        predictions: list[Prediction] = []
        status = "ok"
        try:
            spec = _task_for(version, task)
            items, params = await self._check(spec, inputs, parameters, version)
            loaded = await self.ensure_loaded(version)
            loaded.last_used = time.monotonic()
            if spec.streaming:
                predictions = list(await asyncio.gather(
                    *(self._collect(loaded, item, params) for item in items)
                ))
            else:
                predictions = await loaded.batcher.submit(items, params,
                                                          exclusive=not spec.shares_batches)
            loaded.last_used = time.monotonic()
        except BaseException as exc:
            status = self._status_of(exc, version)
            raise
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            self._meter(principal, version, surface, status, latency_ms, predictions)
        return PredictResult(
            model=version.model,
            version=version.version,
            outputs=[p.output for p in predictions],
            usage=_usage_summary(predictions, latency_ms),
            predictions=predictions,
        )

    async def open_stream(
        self,
        principal: Principal,
        name: str,
        item: Any,
        parameters: Any = None,
        *,
        ref: str | int | None = None,
        surface: str = "native",
        task: str | None = None,
    ) -> tuple[VersionInfo, AsyncIterator[StreamEvent]]:
        """Validate, load and start one generation; errors before the first event are raised
        here (so they become HTTP statuses), later ones end the stream. One usage row is written
        when the stream ends, however it ends."""
        principal.require(Scope.PREDICT)
        version = await self.resolve(principal.tenant, name, ref)
        started = time.perf_counter()
        try:
            spec = _task_for(version, task)
            if not spec.streaming:
                raise Invalid(f"model {name!r} (task {spec.name}) does not generate text")
            [checked], params = await self._check(spec, [item], parameters, version)
            loaded = await self.ensure_loaded(version)
            loaded.last_used = time.monotonic()
            events = self._streaming(loaded).stream(checked, params)
            first = await anext(events)
        except BaseException as exc:
            self._meter(principal, version, surface, self._status_of(exc, version),
                        (time.perf_counter() - started) * 1000, [])
            raise
        return version, self._metered(events, first, loaded, principal, version, surface, started)

    async def _metered(
        self, events: AsyncIterator[StreamEvent], first: StreamEvent, loaded: LoadedModel,
        principal: Principal, version: VersionInfo, surface: str, started: float,
    ) -> AsyncIterator[StreamEvent]:
        last = first
        status = "cancelled"
        try:
            yield first
            async for event in events:
                last = event
                yield event
            status = "ok"
        except AiaasError as exc:
            status = self._status_of(exc, version)
            raise
        finally:
            loaded.last_used = time.monotonic()
            done = Prediction(None, tokens=last.prompt_tokens,
                              completion_tokens=last.completion_tokens)
            self._meter(principal, version, surface, status,
                        (time.perf_counter() - started) * 1000, [done])

    async def _collect(self, loaded: LoadedModel, item: Any, params: dict[str, Any]) -> Prediction:
        parts: list[str] = []
        last = StreamEvent()
        async for event in self._streaming(loaded).stream(item, params):
            parts.append(event.text)
            last = event
        return Prediction({"text": "".join(parts), "finish_reason": last.finish_reason},
                          tokens=last.prompt_tokens, completion_tokens=last.completion_tokens)

    async def _check(self, task: Task, inputs: Any, parameters: Any,
                     version: VersionInfo) -> tuple[list[Any], dict[str, Any]]:
        if task.heavy_check:
            return await asyncio.to_thread(task.check, inputs, parameters, version.config,
                                           self.limits)
        return task.check(inputs, parameters, version.config, self.limits)

    @staticmethod
    def _streaming(loaded: LoadedModel) -> StreamingBackend:
        if not isinstance(loaded.backend, StreamingBackend):
            raise BackendError(f"backend of {loaded.version.model!r} cannot stream")
        return loaded.backend

    def _status_of(self, exc: BaseException, version: VersionInfo) -> str:
        if isinstance(exc, AiaasError):
            self.metrics.prediction_errors.labels(version.model, exc.code).inc()
            return exc.code
        if isinstance(exc, asyncio.CancelledError | GeneratorExit):
            return "cancelled"
        self.metrics.prediction_errors.labels(version.model, "internal_error").inc()
        return "internal_error"

    def _meter(self, principal: Principal, version: VersionInfo, surface: str, status: str,
               latency_ms: float, predictions: list[Prediction]) -> None:
        """The one place a call becomes a usage row and prediction metrics."""
        self.usage.record(UsageEntry(
            tenant=principal.tenant, key_id=principal.key_id, model=version.model,
            version=version.version, surface=surface, latency_ms=latency_ms, status=status,
            items=len(predictions) if status == "ok" else 0,
            prompt_tokens=sum(p.tokens for p in predictions),
            completion_tokens=sum(p.completion_tokens for p in predictions),
            audio_seconds=sum(p.audio_seconds for p in predictions),
        ))
        self.metrics.predictions.labels(version.model, status).inc()
        self.metrics.prediction_latency.labels(version.model).observe(latency_ms / 1000)

    async def ensure_loaded(self, version: VersionInfo) -> LoadedModel:
        key = version.key
        current = self._loaded.get(key)
        if current is not None:
            return current
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            current = self._loaded.get(key)
            if current is not None:
                return current
            await self._make_room(version.size_bytes, keep=key)
            return await self._load(version)

    async def _load(self, version: VersionInfo) -> LoadedModel:
        path = self.registry.artifact_path(version)
        options = ServingOptions.of(version.serving)
        backend = backend_for(version, path, threads=self.settings.torch_threads,
                              compile_root=self.settings.compiled_dir,
                              engine=self.settings.engine, options=options,
                              lanes=self.settings.onnx_lanes or self.settings.torch_threads
                              or os.cpu_count() or 1)
        label = f"{version.model}:{version.version}"
        wait_ms = self.settings.batch_wait_ms if options.batch_wait_ms is None else options.batch_wait_ms
        batcher = Batcher(
            backend, name=label, max_batch=options.max_batch_size or self._default_batch(options),
            max_queue=self.settings.max_queue, wait_s=wait_ms / 1000,
            timeout_s=self.settings.request_timeout_s,
            on_batch=self.metrics.batch_size.labels(version.model).observe,
            on_depth=self.metrics.queue_depth.labels(version.model).set,
        )
        started = time.perf_counter()
        try:
            await batcher.run_in_worker(backend.load)
        except AiaasError:
            await batcher.stop()
            raise
        except Exception as exc:
            await batcher.stop()
            log.exception("loading %s failed", label)
            raise Unavailable(f"model {label} failed to load: {exc}", retry_after_s=5) from exc
        batcher.start()
        loaded = LoadedModel(version, backend, batcher, memory_bytes=backend.memory_bytes())
        self._loaded[version.key] = loaded
        self.metrics.loaded_models.set(len(self._loaded))
        if self.settings.gc_freeze:
            heap.settle()
        log.info("loaded %s in %.2fs", label, time.perf_counter() - started)
        return loaded

    def _default_batch(self, options: ServingOptions) -> int:
        """The server's batch size, four times larger on a GPU (small batches leave it idle)."""
        on_gpu = options.device != "cpu" and devices.cuda_count() > 0
        return self.settings.max_batch_size * (GPU_BATCH_FACTOR if on_gpu else 1)

    async def _make_room(self, needed: int, *, keep: VersionKey) -> None:
        budget = int(self.settings.memory_budget_mb * 1024 * 1024)
        if needed > budget:
            raise Unavailable(
                f"the model needs about {needed // 2**20} MiB, more than the memory budget of "
                f"{self.settings.memory_budget_mb:g} MiB (AIAAS_MEMORY_BUDGET_MB)",
                retry_after_s=60,
            )
        idle_first = sorted(self._loaded.values(), key=lambda m: m.last_used)
        for candidate in idle_first:
            if sum(m.memory_bytes for m in self._loaded.values()) + needed <= budget:
                return
            if candidate.version.key != keep and not candidate.busy:
                await self.unload(candidate.version.key)
        if sum(m.memory_bytes for m in self._loaded.values()) + needed > budget:
            raise Unavailable("every loaded model is busy and memory is at its budget; retry",
                              retry_after_s=2)

    async def unload(self, key: VersionKey, *, settle: bool = True) -> None:
        """Stop and drop a loaded version; ``settle=False`` skips re-freezing the heap (at
        shutdown, where nobody waits for the next request)."""
        loaded = self._loaded.pop(key, None)
        if loaded is None:
            return
        self.metrics.loaded_models.set(len(self._loaded))
        await loaded.batcher.stop()
        loaded.backend.unload()
        if settle and self.settings.gc_freeze:
            heap.settle()
        log.info("unloaded %s:%s", loaded.version.model, loaded.version.version)

    async def _reap_idle(self) -> None:
        period = min(self.settings.idle_unload_s / 2, 30.0)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for key, loaded in list(self._loaded.items()):
                idle = now - loaded.last_used
                if idle > self.settings.idle_unload_s and not loaded.busy:
                    await self.unload(key)


def _task_for(version: VersionInfo, task: str | None) -> Task:
    if task is not None and not version.serves(task):
        raise Invalid(f"model {version.model!r} serves task {version.task!r}, not {task!r}",
                      details={"field": "model"})
    return get_task(task or version.task)


def _usage_summary(predictions: list[Prediction], latency_ms: float) -> dict[str, Any]:
    summary: dict[str, Any] = {"items": len(predictions)}
    for name in ("tokens", "completion_tokens", "audio_seconds"):
        total = sum(getattr(p, name) for p in predictions)
        if total:
            summary["prompt_tokens" if name == "tokens" else name] = total
    summary.setdefault("prompt_tokens", 0)
    summary["latency_ms"] = round(latency_ms, 3)
    return summary
