"""The replica seam: where a loaded model version runs, behind one small protocol.

``Placement`` asks a ``ReplicaFactory`` for a replica of a version and the front door talks to
the replica only through ``Replica``: submit a batch of checked items, stream one generation,
explain items with the loaded model's gradients, report status, close. ``LocalReplica`` is a
backend plus its batcher, in this process; ``aiaas.cluster.replicas.RayReplica`` (with
``AIAAS_RAY_ADDRESS``) reaches a Ray Serve deployment whose replicas each run a
``LocalReplica``, and reports ``memory_bytes`` = 0, since it takes nothing from this process's
budget.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from aiaas.config import Settings
from aiaas.crypto.checkouts import materialize
from aiaas.errors import AiaasError, BackendError, Invalid, Unavailable
from aiaas.metrics import Metrics
from aiaas.registry.service import Registry, VersionInfo
from aiaas.registry.serving import ServingOptions
from aiaas.runtime import devices, heap, sealed_compile
from aiaas.runtime.backends import Backend, backend_for
from aiaas.runtime.backends.base import Explainable, StreamingBackend
from aiaas.runtime.batcher import Batcher
from aiaas.tasks.base import Prediction, StreamEvent
from aiaas.tasks.outputs import Explanation

log = logging.getLogger("aiaas.runtime")
GPU_BATCH_FACTOR = 4


class Replica(Protocol):
    """One running copy of a model version. Items arrive checked by the version's task."""

    version: VersionInfo
    memory_bytes: int
    """What the replica holds in this process (0 for one that runs elsewhere)."""
    last_used: float

    @property
    def busy(self) -> bool:
        """True while requests are queued or running: a busy replica is never evicted."""

    async def submit(self, items: list[Any], parameters: dict[str, Any], *,
                     exclusive: bool) -> list[Prediction]:
        """Run items as one or more batches; ``exclusive`` keeps them out of other calls'
        batches."""

    async def prepare(self, items: list[Any], parameters: dict[str, Any]) -> list[Any]:
        """A generation request's items checked as a whole (``StreamingBackend.prepare``),
        before any starts; what ``stream`` takes."""

    def stream(self, item: Any, parameters: dict[str, Any], *,
               tenant: str = "") -> AsyncIterator[StreamEvent]:
        """One generation, event by event, scheduled fairly between ``tenant``s; closing the
        iterator stops it."""

    async def explain_methods(self) -> tuple[str, ...]:
        """The gradient methods the loaded model answers (``Explainable.explain_methods``);
        empty when its backend has no gradients."""

    async def explain(self, items: list[Any], parameters: dict[str, Any]) -> list[Explanation]:
        """One explanation per checked item from the loaded model (``Explainable.explain``),
        run on the model's worker in its turn with the batches (``Batcher.call``)."""

    def status(self) -> dict[str, Any]:
        """Engine, batching, queue and memory, for ``GET /api/v1/runtime``."""

    async def close(self, *, retire: bool = False) -> None:
        """Stop taking work, finish or fail what is queued, and free the model. ``retire``: the
        version is deleted or reconfigured; a replica elsewhere removes itself there too."""


class ReplicaFactory(Protocol):
    """Plans and starts replicas; the placement owns when."""

    def planned_bytes(self, version: VersionInfo) -> int:
        """What a replica of ``version`` will take from this process's memory budget, known
        before it loads (the placement makes room for this much first)."""

    async def start(self, version: VersionInfo) -> Replica:
        """Load the version and return a replica ready for work; raises a domain error."""

    async def retire(self, key: tuple[str, str, int]) -> None:
        """Remove whatever runs the version elsewhere though this process holds no replica of
        it (another API process started it); nothing to do for local replicas."""

    async def reconfigure(self, version: VersionInfo) -> None:
        """Apply ``version``'s new serving options to whatever runs it elsewhere, in place
        (``Invalid`` when they cannot be met); nothing to do for local replicas, which are
        dropped and started again."""

    async def cluster(self) -> dict[str, Any] | None:
        """Where replicas run when that is not this process (nodes, replicas, their states),
        for ``GET /api/v1/runtime``; ``None`` for local replicas."""


class LocalReplica:
    """A backend and its batcher in this process: the replica aiaas has always run."""

    def __init__(self, version: VersionInfo, backend: Backend, batcher: Batcher,
                 memory_bytes: int, on_close: Callable[[VersionInfo], None] | None = None
                 ) -> None:
        self.version = version
        self._on_close = on_close
        self.backend = backend
        self.batcher = batcher
        self.memory_bytes = memory_bytes
        self.loaded_at = self.last_used = time.monotonic()

    @property
    def busy(self) -> bool:
        return self.batcher.busy or self.backend.busy

    async def submit(self, items: list[Any], parameters: dict[str, Any], *,
                     exclusive: bool) -> list[Prediction]:
        self.last_used = time.monotonic()
        try:
            return await self.batcher.submit(items, parameters, exclusive=exclusive)
        finally:
            self.last_used = time.monotonic()

    async def prepare(self, items: list[Any], parameters: dict[str, Any]) -> list[Any]:
        if not isinstance(self.backend, StreamingBackend):
            return items
        return await self.backend.prepare(items, parameters)

    async def stream(self, item: Any, parameters: dict[str, Any], *,
                     tenant: str = "") -> AsyncIterator[StreamEvent]:
        if not isinstance(self.backend, StreamingBackend):
            raise BackendError(f"backend of {self.version.model!r} cannot stream")
        self.last_used = time.monotonic()
        try:
            async for event in self.backend.stream(item, parameters, tenant=tenant):
                yield event
        finally:
            self.last_used = time.monotonic()

    async def explain_methods(self) -> tuple[str, ...]:
        backend = self.backend
        return tuple(backend.explain_methods) if isinstance(backend, Explainable) else ()

    async def explain(self, items: list[Any], parameters: dict[str, Any]) -> list[Explanation]:
        backend = self.backend
        if not isinstance(backend, Explainable) or not backend.explain_methods:
            raise Invalid.at("parameters.method", f"model {self.version.model!r} has no "
                             "gradients to explain with")
        self.last_used = time.monotonic()
        try:
            explained: list[Explanation] = await self.batcher.call(
                lambda: backend.explain(items, parameters))
        finally:
            self.last_used = time.monotonic()
        if len(explained) != len(items):
            raise BackendError(f"backend returned {len(explained)} explanations for "
                               f"{len(items)} inputs")
        return explained

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        version = self.version
        return {"model": version.model, "tenant": version.tenant, "version": version.version,
                "task": version.task, **self.backend.describe(),
                "max_batch_size": self.batcher.max_batch,
                "batch_wait_ms": self.batcher.wait_s * 1000, "queue_depth": self.batcher.depth,
                "memory_bytes": self.memory_bytes, "loaded_s": round(now - self.loaded_at, 1),
                "idle_s": round(now - self.last_used, 1)}

    async def close(self, *, retire: bool = False) -> None:
        await self.batcher.stop()
        self.backend.unload()
        if self._on_close is not None:
            self._on_close(self.version)


class LocalReplicas:
    """Starts ``LocalReplica``s from the registry's artifacts with the server's settings. A
    sealed tenant's model loads from a decrypted working copy, removed when it unloads."""

    def __init__(self, settings: Settings, metrics: Metrics, registry: Registry) -> None:
        self.settings = settings
        self.metrics = metrics
        self.registry = registry

    def _backend(self, version: VersionInfo) -> Backend:
        settings = self.settings
        compile_root = sealed_compile.compile_root(self.registry.vault, version.tenant,
                                                   settings.compiled_dir)
        path = self.registry.artifact_path(version, defer_weights=True)
        backend = backend_for(version, path,
                              threads=settings.torch_threads, compile_root=compile_root,
                              engine=settings.engine, options=ServingOptions.of(version.serving),
                              lanes=settings.onnx_lanes or settings.torch_threads or os.cpu_count() or 1)
        if not backend.lazy_weights:
            materialize(path)
        backend.label = f"{version.model}:{version.version}"
        return backend

    def planned_bytes(self, version: VersionInfo) -> int:
        return self._backend(version).planned_bytes(version.size_bytes)

    async def retire(self, key: tuple[str, str, int]) -> None:
        return None

    async def reconfigure(self, version: VersionInfo) -> None:
        return None

    async def cluster(self) -> dict[str, Any] | None:
        return None

    async def start(self, version: VersionInfo) -> LocalReplica:
        options = ServingOptions.of(version.serving)
        backend = self._backend(version)
        label = f"{version.model}:{version.version}"
        settings = self.settings
        wait_ms = settings.batch_wait_ms if options.batch_wait_ms is None else options.batch_wait_ms
        batcher = Batcher(
            backend, name=label, max_batch=options.max_batch_size or self._default_batch(options),
            max_queue=settings.max_queue, wait_s=wait_ms / 1000,
            timeout_s=settings.request_timeout_s,
            on_batch=self.metrics.batch_size.labels(version.model).observe,
            on_depth=self.metrics.queue_depth.labels(version.model).set,
        )
        started = time.perf_counter()
        try:
            await batcher.run_in_worker(backend.load)
        except AiaasError:
            await batcher.stop()
            self.registry.release_artifact(version)
            raise
        except Exception as exc:
            await batcher.stop()
            self.registry.release_artifact(version)
            log.exception("loading %s failed", label)
            raise Unavailable(f"model {label} failed to load: {exc}", retry_after_s=5) from exc
        batcher.start()
        if settings.gc_freeze:
            heap.settle()
        log.info("loaded %s in %.2fs", label, time.perf_counter() - started)
        return LocalReplica(version, backend, batcher, memory_bytes=backend.memory_bytes(),
                            on_close=self.registry.release_artifact)

    def _default_batch(self, options: ServingOptions) -> int:
        """The server's batch size, four times larger on a GPU (small batches leave it idle)."""
        on_gpu = options.device != "cpu" and devices.cuda_count() > 0
        return self.settings.max_batch_size * (GPU_BATCH_FACTOR if on_gpu else 1)
