"""Work that stops when its client leaves: a generation nobody will read must not keep the
model busy (its prefill alone can take a minute), whichever surface started it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")
CLIENT_CLOSED = 499
"""The status logged for a request whose client left before its answer (nginx's)."""


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """Run ``work`` (the body is already read); cancel it and return None if the client
    leaves first. Cancelling reaches the engine: the call's sequences leave the queue, or stop
    between two forward passes of their prefill or decode."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return None
    return task.result()
