"""One Redis round trip per admission and one per settlement, running the ``limits`` library's
own Lua scripts on the library's own keys.

Counting a limited call through the library's strategies costs one round trip per operation:
for a key and its tenant with every limit kind set, eighteen per call, which took a quarter of
an embeddings server's throughput (``bench/rate_limits.py``); even one pipeline of those
scripts spent most of its time packing and parsing a dozen commands. So the library's scripts
(moving-window acquire and read, sliding-window acquire and read, counter increment), read
from the installed library, become the local functions of one script (``_compose``), and an
admission is one ``EVALSHA`` that runs a list of them. The counting is the library's: its
Lua, its key names, and its strategies read what was counted here
(``Counters.requests_window``, ``units_window``).

A settlement (slots given back, reservations settled) is owed rather than sent: it rides on
the next admission's call, or goes on its own ``OWED_FLUSH_S`` later when none comes, so a
busy server makes one round trip per call, not two. A slot is free again that much later at
most, which only ever refuses, never over-admits.

Every listed operation runs, so a call refused on one limit has taken from the others: those
are given back at once in a second call (refusals only). A request entry of the moving window
has no script to give it back; it is removed as the window's newest entry (``LPOP``): the same
count, and the window opens at most the time between the two calls earlier than it would have.

The same ``Op`` lists run on the in-memory store (``limits.memory``), against the library's
``MemoryStorage`` methods, so both stores count a call on one code path.

One script call is atomic in Redis, so two admissions never interleave inside one. The keys of
one call may live in different hash slots: this runs on a single Redis (or a primary with
replicas), not on Redis Cluster. The script is loaded once, and again when Redis has forgotten
it (a restart or ``SCRIPT FLUSH``)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from limits.errors import StorageError

NAMESPACE = "rl"
WINDOW_S = 60
SLOT_EXPIRY_S = 600
"""How long a concurrency counter lives after it is first taken (renewed whenever it is taken
from zero): the longest a killed process's slots stay taken."""
UNBOUNDED = 10**15
OWED_FLUSH_S = 0.02
"""How long a settlement waits for an admission to carry it before it is sent on its own."""
_SCRIPTS = {"incr": "SCRIPT_INCR_EXPIRE", "acquire_moving": "SCRIPT_ACQUIRE_MOVING_WINDOW",
            "moving": "SCRIPT_MOVING_WINDOW", "acquire_sliding": "SCRIPT_ACQUIRE_SLIDING_WINDOW",
            "sliding": "SCRIPT_SLIDING_WINDOW"}
_RUN = """
local functions = {%s}
local results, key = {}, 1
for i, op in ipairs(cjson.decode(ARGV[1])) do
    local name, keys, args = op[1], op[2], op[3]
    local result
    if name == "pop" then
        result = redis.call("lpop", KEYS[key])
    else
        result = functions[name]({unpack(KEYS, key, key + keys - 1)}, args)
    end
    if result == nil then result = false end
    results[i] = result
    key = key + keys
end
return results
"""
"""The loop over the operations: their keys in ``KEYS``, the list of (name, key count,
arguments) as one JSON argument (packing one argument per value costs redis-py more than the
whole script costs Redis)."""


def _compose(bridge: Any) -> str:
    """The library's scripts as functions of ``(KEYS, ARGV)`` (their bodies unchanged), and a
    loop that runs the listed ones in order."""
    functions = ",\n".join(f"{name} = function(KEYS, ARGV)\n{_text(getattr(bridge, attr))}\nend"
                            for name, attr in _SCRIPTS.items())
    return _RUN % functions


def _text(source: bytes | str) -> str:
    return source.decode() if isinstance(source, bytes) else source


@dataclass(frozen=True, slots=True)
class Op:
    """One operation: a library script (or ``pop``), its keys and its arguments."""

    name: str
    keys: tuple[str, ...]
    args: tuple[Any, ...] = ()
    floor: bool = False
    """An ``incr`` whose counter must not stay below zero (a concurrency counter)."""


class Pipeline:
    """Builds ``Op`` lists and owes settlements; a store's subclass runs them (``_call``), one
    round trip (or, in memory, one pass) each."""

    def __init__(self) -> None:
        self._owed: list[Op] = []
        self._flusher: asyncio.Task[None] | None = None
        self.on_error: Callable[[StorageError], None] | None = None

    def key(self, key: str) -> str:
        return key

    def incr(self, key: str, expiry: int, amount: int, *, floor: bool = False) -> Op:
        return Op("incr", (self.key(key),), (expiry, amount), floor)

    def acquire_moving(self, key: str, limit: int, now: float, amount: int = 1) -> Op:
        return Op("acquire_moving", (self.key(key),), (now, limit, WINDOW_S, amount))

    def moving(self, key: str, limit: int, now: float) -> Op:
        return Op("moving", (self.key(key),), (now - WINDOW_S, limit))

    def pop(self, key: str) -> Op:
        """Remove a moving window's newest entry."""
        return Op("pop", (self.key(key),))

    def acquire_sliding(self, key: str, limit: int, amount: int) -> Op:
        return Op("acquire_sliding", self._sliding_keys(key), (limit, WINDOW_S, amount))

    def sliding(self, key: str) -> Op:
        return Op("sliding", self._sliding_keys(key), (WINDOW_S,))

    def _sliding_keys(self, key: str) -> tuple[str, ...]:
        return (self.key(key),)

    def owe(self, ops: list[Op]) -> None:
        """Queue a settlement's ``ops`` to ride on the next ``run``, or on a flush
        ``OWED_FLUSH_S`` from now (its store errors go to ``on_error``)."""
        self._owed += ops
        if self._flusher is None or self._flusher.done():
            with contextlib.suppress(RuntimeError):  # no loop: the process is ending
                self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(OWED_FLUSH_S)
        try:
            await self.flush()
        except StorageError as exc:
            if self.on_error is not None:
                self.on_error(exc)

    async def flush(self) -> None:
        """Send what is owed now, unless an admission already carried it."""
        if self._owed:
            await self.run([])

    async def run(self, ops: list[Op]) -> list[Any]:
        """The results of ``ops`` in order (a script's ``false`` or nothing: ``None``; a
        sliding window's TTLs in milliseconds, as Redis answers), after the owed settlements.
        Store errors raise ``StorageError`` (the owed ones are dropped: their slots expire,
        their give-backs are not made: on the safe side)."""
        owed, self._owed = self._owed, []
        results = await self._call(owed + ops)
        below = [Op("incr", op.keys, (op.args[0], -int(left)))
                 for op, left in zip(owed, results, strict=False)
                 if op.floor and int(left) < 0]
        if below:  # a counter expired while slots were out: never count below zero
            self._owed += below
        return results[len(owed):]

    async def _call(self, ops: list[Op]) -> list[Any]:
        raise NotImplementedError

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        with contextlib.suppress(StorageError):  # what was owed expires with the store
            await self.flush()


class RedisPipeline(Pipeline):
    """Runs ``Op`` lists on the Redis of a ``limits`` ``RedisStorage``, one round trip each."""

    def __init__(self, storage: Any, pool: Any) -> None:
        import redis.asyncio

        super().__init__()
        self._bridge = storage.bridge
        self._errors = storage.base_exceptions
        self._client: Any = redis.asyncio.Redis(connection_pool=pool)
        self._no_script: type[Exception] = redis.exceptions.NoScriptError
        self._script = _compose(self._bridge)
        self._sha = hashlib.sha1(self._script.encode(), usedforsecurity=False).hexdigest()

    def key(self, key: str) -> str:
        return str(self._bridge.prefixed_key(key))

    def _sliding_keys(self, key: str) -> tuple[str, ...]:
        """The library's two counters of a sliding window (``RedisStorage._previous_window_key``
        and ``_current_window_key``: braces keep both on one cluster node)."""
        current = f"{{{key}}}"
        return self.key(f"{current}/-1"), self.key(current)

    async def _call(self, ops: list[Op]) -> list[Any]:
        keys = [key for op in ops for key in op.keys]
        listed = json.dumps([[op.name, len(op.keys), op.args] for op in ops])
        try:
            try:
                return list(await self._client.evalsha(self._sha, len(keys), *keys, listed))
            except self._no_script:
                await self._client.script_load(self._script)
                return list(await self._client.evalsha(self._sha, len(keys), *keys, listed))
        except self._errors as exc:
            raise StorageError(exc) from exc

    async def close(self) -> None:
        await super().close()
        await self._client.aclose()


def moving_window(result: Any, limit: int, now: float) -> tuple[int, float]:
    """(remaining, seconds until a request is admitted again) from ``lua_moving_window``'s
    answer, as the library's ``get_window_stats`` reads it."""
    if result:
        oldest, count = float(result[0]), int(result[1])
    else:
        oldest, count = now, 0
    return max(0, limit - count), max(0.0, oldest + WINDOW_S - time.time())


def sliding_window(result: Any) -> tuple[int, float, int, float]:
    """(previous count, previous TTL s, current count, current TTL s) from
    ``lua_sliding_window``'s answer, as the library's ``get_sliding_window`` reads it."""
    if not result:
        return 0, 0.0, 0, 0.0
    return (int(result[0] or 0), max(0.0, float(result[1] or 0)) / 1000,
            int(result[2] or 0), max(0.0, float(result[3] or 0)) / 1000)


def counter_key(subject: str, what: str) -> str:
    """The counter of one subject's requests, unit or concurrency, named by subject and kind
    only, so a changed limit keeps what was counted."""
    return f"{NAMESPACE}/{subject}/{what}"


@dataclass(frozen=True, slots=True)
class UnitWindow:
    remaining: int
    wait_s: float
    """Seconds until the amount asked about fits (0: it fits now)."""
    ends_in_s: float
    """Seconds until the current window (where a hit now counts) becomes the previous one."""


def unit_window(previous: int, previous_ttl: float, current: int, current_ttl: float,
                limit: int, amount: int) -> UnitWindow:
    """A sliding window's state (as ``get_sliding_window`` reads it) as what is left, when
    ``amount`` more will fit, and when the current window ends."""
    weighted = previous * previous_ttl / WINDOW_S + current
    ends_in = current_ttl - WINDOW_S if current_ttl > WINDOW_S else float(WINDOW_S)
    if weighted + amount <= limit:
        wait = 0.0
    elif current + amount <= limit and previous:  # the previous window's share decays
        wait = previous_ttl - (limit - amount - current) * WINDOW_S / previous
    else:  # after this window ends, its count decays as the previous one
        wait = ends_in + WINDOW_S * max(0.0, 1 - (limit - amount) / max(current, 1))
    return UnitWindow(max(0, limit - math.floor(weighted)), max(0.0, wait), ends_in)
