"""The counters behind rate limits: the ``limits`` library's strategies over its memory storage
(one process) or its Redis storage (``AIAAS_REDIS_URL``: every server process shares one count).

- requests per minute: the moving window (one entry per request: exact in any 60 s);
- tokens, items and audio seconds per minute: the sliding-window counter (two counters per
  subject, whatever the amount), which takes a reservation's cost at admission; a settlement
  adds the difference to the real count to the same counter: more used is always added, less
  used is given back only while the window the reservation counted in is still the current one
  (after that it weighs as the previous window, and a give-back would land in the wrong one:
  the unused part then decays with it, on the safe side);
- concurrent requests: a counter taken at admission and given back at the end (it expires
  ``SLOT_EXPIRY_S`` after it was first taken, so a killed process's slots do not stay taken).

Counters are named by subject and unit only (``_Window.key_for``), not by the limit's value, so
a changed limit keeps what was counted and a settlement finds the counter it reserved on.
Storage failures raise ``limits.errors.StorageError``.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from limits import RateLimitItemPerMinute

NAMESPACE = "rl"
WINDOW_S = 60
SLOT_EXPIRY_S = 600
"""How long a concurrency counter lives after it is first taken (renewed whenever it is taken
from zero): the longest a killed process's slots stay taken."""
UNBOUNDED = 10**15
STORE_TIMEOUT_S = 0.5
"""Connect and read timeout of a Redis call: past it the store counts as unreachable."""
SWEEP_EVERY_S = 1.0
"""How often the in-memory storage drops expired entries (see ``_MemoryStorage``)."""


@dataclass(frozen=True, slots=True)
class UnitWindow:
    remaining: int
    wait_s: float
    """Seconds until the amount asked about fits (0: it fits now)."""
    ends_in_s: float
    """Seconds until the current window (where a hit now counts) becomes the previous one."""


class _Window(RateLimitItemPerMinute):
    """A per-minute limit whose counter is named by its identifiers alone."""

    def key_for(self, *identifiers: bytes | str | int | float) -> str:
        return "/".join([self.namespace, *(str(part) for part in identifiers)])


class _MemoryStorage(MemoryStorage):
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


class Counters:
    def __init__(self, redis_url: str | None = None, *, key_prefix: str = "aiaas") -> None:
        self.shared = redis_url is not None
        self._pool: Any = None
        storage: Any
        if redis_url is None:
            storage = _MemoryStorage()
        else:
            import redis.asyncio

            self._pool = redis.asyncio.ConnectionPool.from_url(
                redis_url, socket_timeout=STORE_TIMEOUT_S,
                socket_connect_timeout=STORE_TIMEOUT_S)
            storage = RedisStorage(f"async+{redis_url}", wrap_exceptions=True,
                                   implementation="redispy", key_prefix=key_prefix,
                                   connection_pool=self._pool)
        self.storage: Storage = storage
        self.moving = MovingWindowRateLimiter(storage)
        self.sliding = SlidingWindowCounterRateLimiter(storage)

    @property
    def kind(self) -> str:
        return "redis" if self.shared else "memory"

    async def hit_requests(self, subject: str, limit: int) -> bool:
        return await self.moving.hit(_Window(limit, namespace=NAMESPACE), subject, "requests")

    async def requests_window(self, subject: str, limit: int) -> tuple[int, float]:
        """(remaining, seconds until a request is admitted again)."""
        stats = await self.moving.get_window_stats(_Window(limit, namespace=NAMESPACE), subject,
                                                   "requests")
        return max(0, stats.remaining), max(0.0, stats.reset_time - time.time())

    async def hit_units(self, subject: str, unit: str, limit: int, cost: int) -> bool:
        if cost <= 0:
            return True
        return await self.sliding.hit(_Window(limit, namespace=NAMESPACE), subject, unit,
                                      cost=cost)

    async def adjust_units(self, subject: str, unit: str, delta: int) -> None:
        """Add ``delta`` (negative: give back) to a unit counter, whatever its limit."""
        if delta:
            await self.sliding.hit(_Window(UNBOUNDED, namespace=NAMESPACE), subject, unit,
                                   cost=delta)

    async def units_window(self, subject: str, unit: str, limit: int,
                           amount: int = 1) -> UnitWindow:
        """What is left of a unit limit, when ``amount`` more will fit, and when the current
        window ends (a settlement gives back into it only until then)."""
        storage: Any = self.storage
        previous, previous_ttl, current, current_ttl = await storage.get_sliding_window(
            "/".join((NAMESPACE, subject, unit)), WINDOW_S)
        weighted = previous * previous_ttl / WINDOW_S + current
        ends_in = current_ttl - WINDOW_S if current_ttl > WINDOW_S else float(WINDOW_S)
        if weighted + amount <= limit:
            wait = 0.0
        elif current + amount <= limit and previous:  # the previous window's share decays
            wait = previous_ttl - (limit - amount - current) * WINDOW_S / previous
        else:  # after this window ends, its count decays as the previous one
            wait = ends_in + WINDOW_S * max(0.0, 1 - (limit - amount) / max(current, 1))
        return UnitWindow(max(0, limit - math.floor(weighted)), max(0.0, wait), ends_in)

    async def take_slot(self, subject: str, limit: int) -> bool:
        key = f"{NAMESPACE}/{subject}/concurrent"
        taken = await self.storage.incr(key, SLOT_EXPIRY_S, 1)
        if taken <= limit:
            return True
        await self.storage.incr(key, SLOT_EXPIRY_S, -1)
        return False

    async def give_slot(self, subject: str) -> None:
        key = f"{NAMESPACE}/{subject}/concurrent"
        left = await self.storage.incr(key, SLOT_EXPIRY_S, -1)
        if left < 0:  # the counter expired while slots were out: never count below zero
            await self.storage.incr(key, SLOT_EXPIRY_S, -left)

    async def check(self) -> bool:
        """Whether the store answers (a Redis PING); memory always does."""
        if not self.shared:
            return True
        try:
            return bool(await asyncio.wait_for(self.storage.check(), STORE_TIMEOUT_S * 2))
        except Exception:
            return False

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()
        elif isinstance(self.storage, MemoryStorage) and self.storage.timer is not None:
            self.storage.timer.cancel()
