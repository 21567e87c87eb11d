"""The explanations' own worker: one thread and a bounded queue per process.

An explanation costs hundreds to tens of thousands of model evaluations. Running them on their
own thread, each sending one batch at a time through the model's batcher (``FrontDoor.explain``),
means a burst of explain calls waits here, not in front of predictions: at most one explain
batch is ever queued per model, and past ``max_waiting`` explain calls the next is refused with
429 and Retry-After instead of piling up.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiaas.errors import Overloaded

T = TypeVar("T")


class ExplainQueue:
    def __init__(self, max_waiting: int = 8) -> None:
        self.max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aiaas-explain")
        self._pending = 0
        self._lock = threading.Lock()

    async def run(self, work: Callable[[], T]) -> T:
        with self._lock:
            if self._pending > self.max_waiting:
                raise Overloaded(f"{self._pending} explanations are running or waiting; try "
                                 "again shortly", retry_after_s=2)
            self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        finally:
            with self._lock:
                self._pending -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
