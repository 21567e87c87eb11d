"""Placement: which model versions have a replica here, within the memory budget.

The placement is the only owner of the budget (``AIAAS_MEMORY_BUDGET_MB``). Before a replica
starts it asks the factory what the load will take (ONNX lanes included: each opens its own
session) and evicts idle replicas, least recently used first, until that fits; a load never
goes over the budget on the strength of a smaller guess. It also preloads at start
(``AIAAS_PRELOAD`` and versions marked ``preload``), and unloads replicas idle for longer than
``AIAAS_IDLE_UNLOAD_S``. A factory that starts replicas elsewhere plans 0 bytes here, and its
replicas are neither evicted nor reaped for idleness: they hold nothing of this process, and
their scale is the cluster's (Ray Serve's autoscaling) business.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiaas.auth.principal import BUILTIN_TENANT
from aiaas.config import Settings
from aiaas.errors import AiaasError, Unavailable
from aiaas.metrics import Metrics
from aiaas.registry.service import Registry, VersionInfo
from aiaas.runtime import heap
from aiaas.runtime.replica import Replica, ReplicaFactory

log = logging.getLogger("aiaas.runtime")
VersionKey = tuple[str, str, int]


class Placement:
    def __init__(self, settings: Settings, registry: Registry, factory: ReplicaFactory,
                 metrics: Metrics) -> None:
        self.settings = settings
        self.registry = registry
        self.factory = factory
        self.metrics = metrics
        self._replicas: dict[VersionKey, Replica] = {}
        self._locks: dict[VersionKey, asyncio.Lock] = {}
        self._reaper: asyncio.Task[None] | None = None

    @property
    def budget_bytes(self) -> int:
        return int(self.settings.memory_budget_mb * 1024 * 1024)

    async def start(self) -> None:
        for name in self.settings.preload:
            try:
                version = await asyncio.to_thread(self.registry.resolve, BUILTIN_TENANT, name)
                await self.replica_for(version)
            except AiaasError as exc:
                log.error("preload of %r skipped: %s", name, exc.message)
        for version in await asyncio.to_thread(self.registry.preloaded):
            try:
                await self.replica_for(version)
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
        for key in list(self._replicas):
            await self.release(key, settle=False)

    def replicas(self) -> list[Replica]:
        return list(self._replicas.values())

    def status(self) -> list[dict[str, Any]]:
        """One entry per replica: engine, batching, queue and memory, for operators."""
        return [replica.status() for replica in self._replicas.values()]

    def used_bytes(self) -> int:
        return sum(replica.memory_bytes for replica in self._replicas.values())

    def check_fits(self, version: VersionInfo) -> None:
        """``Unavailable`` when the version could never fit the budget, even alone."""
        self._fits_alone(version.model, self.factory.planned_bytes(version))

    async def replica_for(self, version: VersionInfo) -> Replica:
        """The version's replica, started (after making room for it) on first use."""
        key = version.key
        current = self._replicas.get(key)
        if current is not None:
            return current
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            current = self._replicas.get(key)
            if current is not None:
                return current
            # Off the event loop: planning may open the artifact (a sealed one is decrypted).
            planned = await asyncio.to_thread(self.factory.planned_bytes, version)
            await self._make_room(version.model, planned, keep=key)
            replica = await self.factory.start(version)
            if replica.memory_bytes < planned:
                replica.memory_bytes = planned
            self._replicas[key] = replica
            self.metrics.loaded_models.set(len(self._replicas))
            return replica

    def _fits_alone(self, model: str, needed: int) -> None:
        if needed > self.budget_bytes:
            raise Unavailable(
                f"the model {model!r} needs about {needed // 2**20} MiB, more than the memory "
                f"budget of {self.settings.memory_budget_mb:g} MiB (AIAAS_MEMORY_BUDGET_MB)",
                retry_after_s=60,
            )

    async def _make_room(self, model: str, needed: int, *, keep: VersionKey) -> None:
        self._fits_alone(model, needed)
        budget = self.budget_bytes
        for candidate in sorted(self._replicas.values(), key=lambda r: r.last_used):
            if self.used_bytes() + needed <= budget:
                return
            if candidate.version.key != keep and candidate.memory_bytes and not candidate.busy:
                await self.release(candidate.version.key)
        if self.used_bytes() + needed > budget:
            raise Unavailable("every loaded model is busy and memory is at its budget; retry",
                              retry_after_s=2)

    async def release(self, key: VersionKey, *, settle: bool = True, retire: bool = False) -> None:
        """Close and drop a version's replica; ``settle=False`` skips re-freezing the heap (at
        shutdown, where nobody waits for the next request). ``retire``: the version is deleted
        or its serving options changed, so a replica elsewhere goes too (not just this
        process's handle on it); the next call starts it again with the new options."""
        replica = self._replicas.pop(key, None)
        if replica is None:
            if retire:
                await self.factory.retire(key)
            return
        self.metrics.loaded_models.set(len(self._replicas))
        await replica.close(retire=retire)
        if settle and self.settings.gc_freeze:
            heap.settle()
        log.info("unloaded %s:%s", replica.version.model, replica.version.version)

    async def reconfigure(self, version: VersionInfo) -> None:
        """``version``'s serving options changed (it carries the new ones): the factory applies
        them in place to replicas elsewhere (on a cluster, a rolling update rather than a cold
        start), then this process drops its replica, finishing what it queued; the next call
        starts one with the new options. Raises what the factory refuses (options no node can
        hold), before anything is dropped."""
        await self.factory.reconfigure(version)
        await self.release(version.key)

    async def _reap_idle(self) -> None:
        period = min(self.settings.idle_unload_s / 2, 30.0)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for key, replica in list(self._replicas.items()):
                idle = now - replica.last_used > self.settings.idle_unload_s
                if idle and replica.memory_bytes and not replica.busy:
                    await self.release(key)
