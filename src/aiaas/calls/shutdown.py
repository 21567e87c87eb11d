"""The shutdown deadline: generations still running when the server's grace runs out end with
an error the surface can send, instead of being cut mid-body.

The server calls ``begin(grace_s)`` as its graceful shutdown starts (before its grace runs
out); every generation wrapped by ``bounded`` then stops at the deadline, shortly before the
grace ends, with ``Unavailable``, so each surface writes its own error event and closes the
stream cleanly while the server still waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

from aiaas.errors import Unavailable

T = TypeVar("T")
MARGIN_S = 1.0
"""Time left, at most, after the deadline for the error event to be written and sent."""


class ShutdownDeadline:
    def __init__(self) -> None:
        self.deadline: float | None = None
        self._waits: set[asyncio.Timeout] = set()

    @property
    def begun(self) -> bool:
        return self.deadline is not None

    def begin(self, grace_s: float) -> None:
        """Shutdown starts now: generations stop ``grace_s`` from now, less a margin (a fifth
        of the grace, at most ``MARGIN_S``). Called on the event loop."""
        margin = min(MARGIN_S, grace_s / 5)
        self.deadline = asyncio.get_running_loop().time() + grace_s - margin
        for wait in self._waits:
            wait.reschedule(self.deadline)

    async def bounded(self, events: AsyncIterator[T]) -> AsyncIterator[T]:
        """``events`` until they end or the deadline passes; then ``Unavailable`` (the
        generation behind them is cancelled, as a client that leaves cancels it)."""
        try:
            while True:
                async with asyncio.timeout_at(self.deadline) as wait:
                    self._waits.add(wait)
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        return
                    finally:
                        self._waits.discard(wait)
                yield event
        except TimeoutError:
            if not wait.expired():
                raise
            raise Unavailable("the server is shutting down; retry the request",
                              retry_after_s=1.0) from None
        finally:
            if isinstance(events, AsyncGenerator):
                await events.aclose()
