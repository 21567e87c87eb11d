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

A call's admission (``take``) is one list of the library's operations (``limits.pipeline``):
one script call on Redis, one pass over the storage's methods in memory (``limits.memory``);
its settlement (``owe``) rides on the next admission. Calls under a busy high limit are
admitted from this process's leases of it (``limits.leases``) without touching the store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from aiaas.limits.leases import Leases
from aiaas.limits.memory import MemoryPipeline, SweptMemoryStorage
from aiaas.limits.pipeline import (
    NAMESPACE,
    SLOT_EXPIRY_S,
    UNBOUNDED,
    WINDOW_S,
    Op,
    Pipeline,
    RedisPipeline,
    UnitWindow,
    counter_key,
    moving_window,
    sliding_window,
    unit_window,
)
from limits import RateLimitItemPerMinute

STORE_TIMEOUT_S = 1.0
"""Connect and read timeout of a Redis call (``AIAAS_REDIS_TIMEOUT_S``): past it the store
counts as unreachable."""


@dataclass(frozen=True, slots=True)
class Want:
    """What one call takes from one subject: a concurrency slot, a request, and units
    (``(unit, limit, amount)``, amounts above 0); ``None``: no such limit."""

    subject: str
    concurrent: int | None = None
    requests: int | None = None
    units: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Refused:
    subject: str
    kind: str
    """``concurrent``, ``requests`` or the unit (``tokens``, ``items``, ``audio_seconds``)."""
    limit: int
    wait_s: float
    remaining: int


@dataclass(slots=True)
class Taken:
    """What an admission found: the refusal (everything taken was given back), or the windows
    after taking: per subject its requests (remaining, seconds to reset), per (subject, unit)
    of tokens and audio seconds its ``UnitWindow``."""

    refused: Refused | None = None
    requests: dict[str, tuple[int, float]] = field(default_factory=dict)
    units: dict[tuple[str, str], UnitWindow] = field(default_factory=dict)
    leased: bool = False
    """Taken from this process's leases (``limits.leases``): settle it with ``leased=True``."""


class _Window(RateLimitItemPerMinute):
    """A per-minute limit whose counter is named by its identifiers alone."""

    def key_for(self, *identifiers: bytes | str | int | float) -> str:
        return "/".join([self.namespace, *(str(part) for part in identifiers)])


class Counters:
    def __init__(self, redis_url: str | None = None, *, key_prefix: str = "aiaas",
                 timeout_s: float = STORE_TIMEOUT_S, lease_share: float = 0.0) -> None:
        self.shared = redis_url is not None
        self._pool: Any = None
        storage: Any
        if redis_url is None:
            storage = SweptMemoryStorage()
        else:
            import redis.asyncio

            self._pool = redis.asyncio.ConnectionPool.from_url(
                redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
            storage = RedisStorage(f"async+{redis_url}", wrap_exceptions=True,
                                   implementation="redispy", key_prefix=key_prefix,
                                   connection_pool=self._pool)
        self.storage: Storage = storage
        self.moving = MovingWindowRateLimiter(storage)
        self.sliding = SlidingWindowCounterRateLimiter(storage)
        self._pipeline: Pipeline = RedisPipeline(storage, self._pool) if self.shared else \
            MemoryPipeline(storage)
        self.leases = Leases(self._pipeline, share=lease_share) if lease_share > 0 else None
        self.on_settle_error: Callable[[StorageError], None] | None = None
        self.timeout_s = timeout_s

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
            counter_key(subject, unit), WINDOW_S)
        return unit_window(previous, previous_ttl, current, current_ttl, limit, amount)

    async def take_slot(self, subject: str, limit: int) -> bool:
        key = counter_key(subject, "concurrent")
        taken = await self.storage.incr(key, SLOT_EXPIRY_S, 1)
        if taken <= limit:
            return True
        await self.storage.incr(key, SLOT_EXPIRY_S, -1)
        return False

    async def give_slot(self, subject: str) -> None:
        key = counter_key(subject, "concurrent")
        left = await self.storage.incr(key, SLOT_EXPIRY_S, -1)
        if left < 0:  # the counter expired while slots were out: never count below zero
            await self.storage.incr(key, SLOT_EXPIRY_S, -left)

    async def take(self, wants: list[Want]) -> Taken:
        """Take a slot, a request and the units of every ``Want``, or nothing: the first limit
        reached (slots, then requests, then units in ``Want.units`` order) is the refusal, and
        what was taken before it is given back."""
        if self.leases is not None:
            granted = await self.leases.take(_lease_needs(wants),
                                             [(w.subject, w.concurrent) for w in wants
                                              if w.concurrent is not None])
            if granted is not None:
                return Taken(None, granted.requests, {
                    key: UnitWindow(remaining, 0.0, ends_in)
                    for key, (remaining, ends_in) in granted.units.items() if key[1] != "items"},
                    leased=True)
        return await self._take_counted(self._pipeline, wants)

    async def flush(self) -> None:
        """Count what is owed now."""
        await self._pipeline.flush()

    def owe(self, slots: list[str], deltas: list[tuple[str, str, int]], *,
            leased: bool = False) -> None:
        """Give back one slot per subject in ``slots`` and add each (subject, unit, delta),
        without waiting: it rides on the next admission (``limits.pipeline``); store errors go
        to ``on_settle_error``. A ``leased`` admission settles on this process's leases first."""
        pipe = self._pipeline
        if leased and self.leases is not None:
            ops = self.leases.give_back(slots, deltas)
        else:
            ops = [pipe.incr(counter_key(s, "concurrent"), SLOT_EXPIRY_S, -1, floor=True)
                   for s in slots]
            ops += [pipe.acquire_sliding(counter_key(s, u), UNBOUNDED, d)
                    for s, u, d in deltas if d]
        if ops:
            pipe.on_error = self.on_settle_error
            pipe.owe(ops)

    async def _take_counted(self, pipe: Pipeline, wants: list[Want]) -> Taken:
        now = time.time()
        slots = [(w.subject, w.concurrent) for w in wants if w.concurrent is not None]
        requests = [(w.subject, w.requests) for w in wants if w.requests is not None]
        units = [(w.subject, unit, limit, amount) for w, (unit, limit, amount)
                 in _units_in_order(wants)]
        windows = [(s, u, limit) for s, u, limit, _ in units if u != "items"]
        ops: list[Op] = [pipe.incr(counter_key(s, "concurrent"), SLOT_EXPIRY_S, 1) for s, _ in slots]
        ops += [pipe.acquire_moving(counter_key(s, "requests"), limit, now) for s, limit in requests]
        ops += [pipe.acquire_sliding(counter_key(s, u), limit, amount) for s, u, limit, amount in units]
        ops += [pipe.moving(counter_key(s, "requests"), limit, now) for s, limit in requests]
        ops += [pipe.sliding(counter_key(s, u)) for s, u, _ in windows]
        results = iter(await pipe.run(ops))
        slot_counts = [int(next(results)) for _ in slots]
        request_hits = [bool(next(results)) for _ in requests]
        unit_hits = [bool(next(results)) for _ in units]
        moving = {s: moving_window(next(results), limit, now) for s, limit in requests}
        sliding = {(s, u): sliding_window(next(results)) for s, u, _ in windows}
        refused = next((Refused(s, "concurrent", limit, 1.0, 0) for (s, limit), taken
                        in zip(slots, slot_counts, strict=True) if taken > limit), None)
        refused = refused or next((Refused(s, "requests", limit, moving[s][1], 0)
                                   for (s, limit), hit in zip(requests, request_hits, strict=True)
                                   if not hit), None)
        if refused is None:
            for (s, u, limit, amount), hit in zip(units, unit_hits, strict=True):
                if not hit:
                    state = sliding[(s, u)] if (s, u) in sliding else \
                        sliding_window((await pipe.run([pipe.sliding(counter_key(s, u))]))[0])
                    window = unit_window(*state, limit, amount)
                    refused = Refused(s, u, limit, window.wait_s, window.remaining)
                    break
        if refused is not None:
            give = [pipe.incr(counter_key(s, "concurrent"), SLOT_EXPIRY_S, -1, floor=True)
                    for s, _ in slots]
            give += [pipe.acquire_sliding(counter_key(s, u), UNBOUNDED, -amount)
                     for (s, u, _, amount), hit in zip(units, unit_hits, strict=True) if hit]
            give += [pipe.pop(counter_key(s, "requests"))
                     for (s, _), hit in zip(requests, request_hits, strict=True) if hit]
            await pipe.run(give)
            return Taken(refused)
        return Taken(None, moving, {(s, u): unit_window(*sliding[(s, u)], limit, 1)
                                    for s, u, limit in windows})

    async def check(self) -> bool:
        """Whether the store answers (a Redis PING); memory always does."""
        if not self.shared:
            return True
        try:
            return bool(await asyncio.wait_for(self.storage.check(), self.timeout_s * 2))
        except Exception:
            return False

    async def close(self) -> None:
        if self.leases is not None and (held := self.leases.release_all()):
            self._pipeline.owe(held)
        await self._pipeline.close()
        if self._pool is not None:
            await self._pool.disconnect()
        elif isinstance(self.storage, MemoryStorage) and self.storage.timer is not None:
            self.storage.timer.cancel()


def _lease_needs(wants: list[Want]) -> list[tuple[str, str, int, int]]:
    """Each want's request and units as ``Leases`` takes them: (subject, kind, limit, amount)."""
    needs = []
    for want in wants:
        if want.requests is not None:
            needs.append((want.subject, "requests", want.requests, 1))
        needs += [(want.subject, unit, limit, amount) for unit, limit, amount in want.units]
    return needs


def _units_in_order(wants: list[Want]) -> list[tuple[Want, tuple[str, int, int]]]:
    """Every (want, unit) pair, unit by unit in the order the first want lists them."""
    order = list(dict.fromkeys(unit for want in wants for unit, _, _ in want.units))
    return [(want, entry) for unit in order for want in wants
            for entry in want.units if entry[0] == unit]
