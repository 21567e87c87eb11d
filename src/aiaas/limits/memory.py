"""The in-memory store (the embedded default, one server process): the ``limits`` library's
``MemoryStorage``, with expired entries swept at most once a second, and the admission
pipeline's operations run on it.

``MemoryPipeline`` answers each ``Op`` as the library's Lua script answers it on Redis (a moving
window as ``(oldest, count)``, a sliding window's TTLs in milliseconds), so ``Counters`` and
``Leases`` read both stores the same way. The storage's methods take a per-key
``asyncio.Lock`` that is never contended within one pass, so a pass does not yield to the
event loop between operations: an admission is as atomic here as one script call is in Redis.
"""

from __future__ import annotations

import time
from typing import Any

from limits.aio.storage import MemoryStorage

from aiaas.limits.pipeline import WINDOW_S, Op, Pipeline

SWEEP_EVERY_S = 1.0
"""How often the in-memory storage drops expired entries (see ``SweptMemoryStorage``)."""


class SweptMemoryStorage(MemoryStorage):
    """The ``limits`` library's in-memory storage, sweeping expired entries at most once per
    ``SWEEP_EVERY_S``. The library starts a sweep on every hit that finds none running, and each
    sweep hops to a worker thread per key: under load that is a thread hop per request, which
    took ~10% of an embeddings server's throughput (``bench/rate_limits.py``). A late sweep
    changes no count: the strategies ignore entries older than their window, and an expired
    counter is dropped when it is read. The override hooks the library's private scheduler by
    its mangled name (``limits`` is pinned below 6; ``tests/limits/test_counters.py`` fails if
    the hook stops being called)."""

    def __init__(self) -> None:
        super().__init__(wrap_exceptions=True)
        self.swept_at = 0.0
        self.sweeps = 0

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self.swept_at < SWEEP_EVERY_S:
            return
        self.swept_at = now
        self.sweeps += 1
        await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]

    async def pop_newest(self, key: str) -> None:
        """Remove a moving window's newest entry (a refused call's request, given back)."""
        async with self.locks[key]:
            if self.events.get(key):
                del self.events[key][0]


class MemoryPipeline(Pipeline):
    """Runs ``Op`` lists on a ``SweptMemoryStorage`` (keys unprefixed, as the library's
    strategies name them)."""

    def __init__(self, storage: SweptMemoryStorage) -> None:
        super().__init__()
        self.storage = storage

    async def _call(self, ops: list[Op]) -> list[Any]:
        return [await self._one(op) for op in ops]

    async def _one(self, op: Op) -> Any:
        storage, [key] = self.storage, op.keys
        if op.name == "incr":
            expiry, amount = op.args
            return await storage.incr(key, expiry, amount)
        if op.name == "acquire_moving":
            _, limit, expiry, amount = op.args
            return await storage.acquire_entry(key, limit, expiry, amount)
        if op.name == "moving":
            _, limit = op.args
            return list(await storage.get_moving_window(key, limit, WINDOW_S))
        if op.name == "acquire_sliding":
            limit, expiry, amount = op.args
            return await storage.acquire_sliding_window_entry(key, limit, expiry, amount)
        if op.name == "sliding":
            [expiry] = op.args
            previous, previous_ttl, current, current_ttl = await storage.get_sliding_window(
                key, expiry)
            return [previous, previous_ttl * 1000, current, current_ttl * 1000]
        if op.name == "pop":
            return await storage.pop_newest(key)
        raise ValueError(f"unknown limiter operation {op.name!r}")
