"""The replica side: one Ray Serve replica of one model version.

A ``ModelServer`` is built on its node from the API server's settings, opens the same database
and artifact store (the data dir must be on a filesystem every node mounts, or the same path on
each) and starts a ``LocalReplica`` exactly as the API server would on one machine: same
backends, same batcher, same engine choice. No model family has a second implementation. Items
arrive already checked by the version's task in the API tier; answers go back as the same
``Prediction`` and ``StreamEvent`` objects.

Ray calls ``check_health`` every few seconds: a replica whose batcher has stopped answers unhealthy
and is replaced.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

from aiaas.config import Settings
from aiaas.metrics import Metrics
from aiaas.registry.records import VersionInfo
from aiaas.runtime import process
from aiaas.runtime.replica import LocalReplica, LocalReplicas
from aiaas.tasks.base import Prediction, StreamEvent
from aiaas.tasks.outputs import Explanation
from aiaas.training import wiring

log = logging.getLogger("aiaas.cluster")


def replica_settings(settings: Settings, cpus: float) -> Settings:
    """The API server's settings as a replica needs them: torch and ONNX threads from the CPUs
    the replica reserved, and nothing the API tier runs (no worker, no built-in seeding, no
    preloads, no second cluster)."""
    threads = max(1, math.floor(cpus))
    return settings.model_copy(update={
        "ray_address": None, "embedded_worker": False, "builtin_models": False, "preload": [],
        "torch_threads": threads, "onnx_lanes": threads,
    })


class ModelServer:
    """Ray Serve's user class: its methods are what ``RayReplica`` calls through a handle."""

    async def __init__(self, settings: Settings, version: VersionInfo) -> None:  # type: ignore[misc]
        process.configure(settings.torch_threads)
        started = time.perf_counter()
        core = wiring.build(settings)
        self.version = version
        self.replica: LocalReplica = await LocalReplicas(settings, Metrics(), core.registry).start(
            version)
        self.load_s = round(time.perf_counter() - started, 2)
        self.served = 0
        self.started_at = time.time()
        log.info("replica of %s:%s ready in %.2fs", version.model, version.version, self.load_s)

    async def submit(self, items: list[Any], parameters: dict[str, Any],
                     exclusive: bool) -> list[Prediction]:
        self.served += 1
        return await self.replica.submit(items, parameters, exclusive=exclusive)

    async def prepare(self, items: list[Any], parameters: dict[str, Any]) -> list[Any]:
        return await self.replica.prepare(items, parameters)

    async def explain_methods(self) -> tuple[str, ...]:
        return await self.replica.explain_methods()

    async def explain(self, items: list[Any], parameters: dict[str, Any]) -> list[Explanation]:
        self.served += 1
        return await self.replica.explain(items, parameters)

    async def stream(self, item: Any, parameters: dict[str, Any],
                     tenant: str) -> AsyncIterator[StreamEvent]:
        self.served += 1
        async for event in self.replica.stream(item, parameters, tenant=tenant):
            yield event

    def describe(self) -> dict[str, Any]:
        """This replica for ``GET /api/v1/runtime``: where it runs, what it has served, and the
        local replica's own status (engine, batching, queue, memory)."""
        import ray
        from ray import serve

        context = serve.get_replica_context()
        return {"replica": context.replica_id.unique_id, "node": ray.get_runtime_context().get_node_id(),
                "host": socket.gethostname(), "pid": os.getpid(), "state": "RUNNING",
                "served": self.served, "load_s": self.load_s,
                "up_s": round(time.time() - self.started_at, 1), **self.replica.status()}

    def check_health(self) -> None:
        if not self.replica.batcher.running:
            raise RuntimeError("the replica's batcher has stopped")

    async def __del__(self) -> None:
        await self.replica.close()
