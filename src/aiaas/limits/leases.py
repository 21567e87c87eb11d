"""Leases: most calls under a high limit admitted without a Redis round trip.

One round trip per admission (``limits.pipeline``) still cost an embeddings server about 13 %
of its throughput at 32 clients (``bench/rate_limits.py --only overhead --stores redis``): the
event loop's time for the call, not Redis's. A limit far above what one call takes does not
need every call to ask Redis: a server process takes a block of it (a lease) from the shared
counter in one round trip, counted there by the library's own scripts as one call of that
amount, and admits calls from the block locally until it is used up or stale.

Sizes. A lease holds what this process used of that limit in the last ``FILL_S`` (so it is
about used up before it goes stale), at most ``share`` of the limit (0.5 % by default,
``AIAAS_LIMITS_LEASE_SHARE``) and, for requests, ``MOST_REQUESTS`` (the moving window keeps
one list entry per request). A limit where that is under two calls' worth (a limit below 400
requests a minute at the default share, or a process that sees few calls) is counted call by
call, exactly as before: leases only ever serve the traffic where the round trip mattered.

Staleness. A lease of requests or units is usable ``LEASE_S`` after it was taken; what is left
then stays counted and unused (on the safe side). Its entries are stamped when it is taken, so
a request admitted from it counts as up to ``LEASE_S`` older than it is.

So with N server processes: each holds at most one lease per limit, and in any 60 s at most
one lease per process is admitted beyond the limit (stamped early), or left unused below it:
the admitted count is the limit within N x ``share`` of it (1 % for two processes at the
default; the issue's bound is 2 %). Concurrency slots are leased as blocks of ``share`` of
the limit; a process keeps at most two blocks' worth unused and gives back the rest, so other
processes see at most that many phantom slots.

A lease refused by Redis means the limit is close: that limit is counted call by call for
``LEASE_S``, so the last calls before the limit are decided exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from aiaas.limits.pipeline import (
    SLOT_EXPIRY_S,
    UNBOUNDED,
    Op,
    Pipeline,
    counter_key,
    moving_window,
    sliding_window,
    unit_window,
)

LEASE_S = 1.0
"""How long a lease of requests or units may be drawn on after it was taken."""
FILL_S = 0.5
"""A lease holds about this many seconds of this process's recent use."""
MOST_REQUESTS = 64
"""The largest request lease: one moving-window list entry per request."""


@dataclass(slots=True)
class _Lease:
    """A block of one subject's requests or units, and this process's recent rate of use."""

    limit: int
    left: int = 0
    until: float = 0.0
    """``time.monotonic()`` after which ``left`` is not drawn on."""
    remaining: int = 0
    """What the shared window had left just after this lease was taken (for the headers)."""
    resets_at: float = 0.0
    """Wall clock: requests, when the window admits more; units, when its window ends."""
    exact_until: float = 0.0
    """Until then calls are counted one by one (a lease was refused: the limit is close)."""
    used: int = 0
    since: float = field(default_factory=time.monotonic)
    rate: float = 0.0
    """Amount per second this process used in its last measured ``LEASE_S``."""


@dataclass(slots=True)
class _Slots:
    limit: int
    held: int = 0
    """Slots taken from the shared counter by this process."""
    in_use: int = 0


@dataclass(frozen=True, slots=True)
class Granted:
    """What a leased admission reports, as ``Counters.take`` does: per subject its requests
    (remaining, seconds to reset), per (subject, unit) (remaining, seconds the window ends in)."""

    requests: dict[str, tuple[int, float]]
    units: dict[tuple[str, str], tuple[int, float]]


Need = tuple[str, str, int, int]
"""(subject, ``requests`` or a unit, limit, amount)."""


class Leases:
    def __init__(self, pipe: Pipeline, *, share: float) -> None:
        self.pipe = pipe
        self.share = share
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._slots: dict[str, _Slots] = {}

    async def take(self, needs: list[Need], slots: list[tuple[str, int]]) -> Granted | None:
        """Take ``needs`` and one slot per (subject, limit) in ``slots`` from local leases,
        refilling the ones that lack in one round trip; None (nothing taken): count this call
        the exact way (a limit too small or too little used to lease, or a lease refused)."""
        now = time.monotonic()
        leases = [self._lease(need, now) for need in needs]
        short: list[tuple[Need, int]] = []
        for need, lease in zip(needs, leases, strict=True):
            if lease.left >= need[3] and now < lease.until:
                continue
            size = self._size(lease, need, now)
            if size is None:
                return None
            short.append((need, size))
        short_slots = []
        for subject, limit in slots:
            pool = self._pool(subject, limit)
            if pool.held - pool.in_use < 1:
                block = math.floor(self.share * limit)
                if block < 2:
                    return None
                short_slots.append((subject, limit, block))
        if (short or short_slots) and not await self._refill(short, short_slots, now):
            return None
        wall = time.time()
        granted = Granted({}, {})
        for subject, kind, _, amount in needs:
            lease = self._leases[(subject, kind)]
            lease.left -= amount
            window = (lease.remaining + lease.left, max(0.0, lease.resets_at - wall))
            if kind == "requests":
                granted.requests[subject] = window
            else:
                granted.units[(subject, kind)] = window
        for subject, _ in slots:
            self._slots[subject].in_use += 1
        return granted

    def give_back(self, slots: list[str], deltas: list[tuple[str, str, int]]) -> list[Op]:
        """Settle a leased call: its slots and unit differences go back to the leases; what
        they cannot take is returned as the shared counter's operations, to be owed."""
        ops: list[Op] = []
        for subject in slots:
            pool = self._slots.get(subject)
            if pool is None or pool.in_use == 0:  # the pool was reset meanwhile (limit changed)
                ops.append(self._slots_op(subject, -1))
                continue
            pool.in_use -= 1
            block = max(1, math.floor(self.share * pool.limit))
            if pool.held - pool.in_use >= 2 * block:
                pool.held -= block
                ops.append(self._slots_op(subject, -block))
        now = time.monotonic()
        for subject, unit, delta in deltas:
            lease = self._leases.get((subject, unit))
            if lease is not None and now < lease.until and lease.left - delta >= 0:
                lease.left -= delta
            elif delta:
                ops.append(self.pipe.acquire_sliding(counter_key(subject, unit), UNBOUNDED, delta))
        return ops

    def release_all(self) -> list[Op]:
        """The slots held and not in use, to give back when the process stops."""
        ops = [self._slots_op(s, p.in_use - p.held)
               for s, p in self._slots.items() if p.held > p.in_use]
        self._slots.clear()
        return ops

    def _slots_op(self, subject: str, amount: int) -> Op:
        """Take (``amount`` > 0) or give back slots on the shared concurrency counter."""
        return self.pipe.incr(counter_key(subject, "concurrent"), SLOT_EXPIRY_S, amount,
                              floor=amount < 0)

    def _lease(self, need: Need, now: float) -> _Lease:
        subject, kind, limit, amount = need
        lease = self._leases.get((subject, kind))
        if lease is None or lease.limit != limit:  # a changed limit starts over
            lease = self._leases[(subject, kind)] = _Lease(limit, since=now)
        lease.used += amount
        if now - lease.since >= LEASE_S:
            lease.rate, lease.used, lease.since = lease.used / (now - lease.since), 0, now
        return lease

    def _pool(self, subject: str, limit: int) -> _Slots:
        pool = self._slots.setdefault(subject, _Slots(limit))
        pool.limit = limit
        return pool

    def _size(self, lease: _Lease, need: Need, now: float) -> int | None:
        """The lease to take for ``need``; None: too small to be worth one (or the limit is
        close), so count the call exactly."""
        _, kind, limit, amount = need
        if now < lease.exact_until:
            return None
        size = min(math.floor(lease.rate * FILL_S), math.floor(self.share * limit))
        if kind == "requests":
            size = min(size, MOST_REQUESTS)
        return size if size >= 2 * amount else None

    async def _refill(self, short: list[tuple[Need, int]],
                      short_slots: list[tuple[str, int, int]], now: float) -> bool:
        """Take the leases in one round trip; False if any was refused (the others are kept)."""
        pipe, wall = self.pipe, time.time()
        ops: list[Op] = []
        for (subject, kind, limit, _), size in short:
            if kind == "requests":
                key = counter_key(subject, "requests")
                ops += [pipe.acquire_moving(key, limit, wall, size), pipe.moving(key, limit, wall)]
            else:
                key = counter_key(subject, kind)
                ops += [pipe.acquire_sliding(key, limit, size), pipe.sliding(key)]
        ops += [self._slots_op(s, block)
                for s, _, block in short_slots]
        results = iter(await pipe.run(ops))
        granted = True
        for (subject, kind, limit, _), size in short:
            lease = self._leases[(subject, kind)]
            taken, state = bool(next(results)), next(results)
            if not taken:
                lease.exact_until, granted = now + LEASE_S, False
                continue
            lease.left, lease.until = size, now + LEASE_S
            lease.remaining, lease.resets_at = _after(kind, state, limit, wall)
        give: list[Op] = []
        for subject, limit, block in short_slots:
            pool = self._slots[subject]
            if int(next(results)) > limit:
                give.append(self._slots_op(subject, -block))
                granted = False
            else:
                pool.held += block
        if give:
            pipe.owe(give)
        return granted


def _after(kind: str, state: Any, limit: int, wall: float) -> tuple[int, float]:
    """(remaining, wall clock of the reset or the window's end) from a window's reading."""
    if kind == "requests":
        remaining, reset_s = moving_window(state, limit, wall)
        return remaining, wall + reset_s
    window = unit_window(*sliding_window(state), limit, 1)
    return window.remaining, wall + window.ends_in_s
