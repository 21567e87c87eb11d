"""Give freed memory back to the operating system once the server has been idle a while.

A burst of load leaves the process holding memory it no longer uses: glibc's allocator keeps the
freed pages of thousands of request buffers, and ONNX Runtime's CPU arena keeps the chunks its
largest batches took. Neither is a leak (the next burst reuses them), but an operator reads the
resident size, and a server that stays at its peak after the load looks like one that leaks.

``IdleMemory`` is told of every request (``touch``); when none has come for ``idle_s`` seconds it
asks glibc to trim its heaps (``malloc_trim``) once, off the event loop, and then waits for the
next request. ONNX Runtime's arena keeps its chunks (the next batch of that size reuses them;
shrinking it after every run would cost each call), so what comes back is what the allocator
held for request buffers, tokenizers and responses. Costs a few milliseconds once per idle
period; nothing while the server is busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from functools import cache

log = logging.getLogger("aiaas.runtime")


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    trim: Callable[[int], int] = function
    return trim


def release_free_memory() -> bool:
    """Return the allocator's free pages to the OS; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


class IdleMemory:
    """Trims once after each quiet spell of ``idle_s`` seconds (0 turns it off)."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self.releases = 0
        self._last = time.monotonic()
        self._trimmed = True
        self._task: asyncio.Task[None] | None = None

    def touch(self) -> None:
        """A request came: the next quiet spell ends with a trim."""
        self._last = time.monotonic()
        self._trimmed = False

    async def start(self) -> None:
        if self.idle_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._watch(), name="aiaas-idle-memory")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        tick = min(5.0, max(0.05, self.idle_s / 4))
        while True:
            await asyncio.sleep(tick)
            if self._trimmed or time.monotonic() - self._last < self.idle_s:
                continue
            self._trimmed = True
            try:
                if await asyncio.to_thread(release_free_memory):
                    self.releases += 1
            except Exception:
                log.exception("could not release free memory")
