"""A bounded queue in front of one loaded model that runs requests together in batches.

Each request is one record (items, parameters, future, enqueue time). The loop takes the oldest
request and every queued request with the same parameters, up to ``max_batch`` items, and runs
them as one backend call on the model's own worker thread. While a batch runs, new requests
queue up, so batches grow with load and a lone request never waits for company.

A request with more items than ``max_batch`` is cut into chunks of at most ``max_batch`` that
queue like separate requests (each may share a batch with other callers' items); the answers
are put back together in order, and a failure of any chunk fails the request.

A backend that offers more than one lane (``Backend.lanes``: ONNX models on the CPU) gets up to
that many batches in flight at once, each on its own worker thread; the next batch is taken
only when a lane is free, so batches still grow while every lane is busy.

``call`` queues other work on the loaded model (an explanation, ``Explainable``) as a request of
its own: it waits its turn behind the batches queued before it and runs alone on a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiaas.errors import AiaasError, BackendError, Overloaded, Unavailable
from aiaas.runtime.backends.base import Backend
from aiaas.tasks.base import Prediction

MAX_LANES = 8
"""Worker threads per model: the most batches one model runs at once in this process (a
backend whose batches run elsewhere, on a cluster's replicas, may ask for more)."""


@dataclass(slots=True)
class _Request:
    items: list[Any]
    parameters: dict[str, Any]
    key: tuple[tuple[str, Any], ...]
    future: asyncio.Future[list[Any]]
    enqueued: float = field(default_factory=time.monotonic)
    work: Callable[[], list[Any]] | None = None
    """Run instead of ``predict_batch`` (``call``); such a request is a batch of its own."""


class Batcher:
    def __init__(
        self,
        backend: Backend,
        *,
        name: str,
        max_batch: int,
        max_queue: int,
        wait_s: float,
        timeout_s: float,
        on_batch: Callable[[int], None] = lambda size: None,
        on_depth: Callable[[int], None] = lambda depth: None,
        max_lanes: int = MAX_LANES,
    ) -> None:
        self.backend = backend
        self.name = name
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.wait_s = wait_s
        self.timeout_s = timeout_s
        self._on_batch = on_batch
        self._on_depth = on_depth
        self.max_lanes = max_lanes
        self._queue: deque[_Request] = deque()
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=max_lanes,
                                            thread_name_prefix=f"model-{name}")
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.in_flight = 0

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def busy(self) -> bool:
        return bool(self._queue) or self.in_flight > 0

    @property
    def running(self) -> bool:
        """Started and its loop still alive (a replica on a cluster reports this as health)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"batcher-{self.name}")

    async def run_in_worker(self, func: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def submit(self, items: list[Any], parameters: dict[str, Any], *,
                     exclusive: bool = False) -> list[Prediction]:
        """Queue one request; ``exclusive`` keeps it out of other requests' batches."""
        chunks = [items[start:start + self.max_batch]
                  for start in range(0, len(items), self.max_batch)] or [items]
        if len(self._queue) + len(chunks) > self.max_queue:
            raise Overloaded(
                f"model {self.name!r} has {len(self._queue)} requests queued; try again shortly",
                retry_after_s=1.0,
            )
        key = tuple(sorted((k, repr(v)) for k, v in parameters.items()))
        if exclusive:
            key += (("#request", str(id(chunks))),)
        futures = [self._enqueue(chunk, parameters, key) for chunk in chunks]
        self._on_depth(len(self._queue))
        self._wake.set()
        if len(futures) == 1:
            return await futures[0]
        try:
            parts = await asyncio.gather(*futures)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        return [prediction for part in parts for prediction in part]

    async def call(self, work: Callable[[], list[Any]]) -> list[Any]:
        """Run ``work`` on a model worker in its turn, as one request of its own (it counts
        against ``max_queue`` and the request timeout like any other)."""
        if len(self._queue) + 1 > self.max_queue:
            raise Overloaded(
                f"model {self.name!r} has {len(self._queue)} requests queued; try again shortly",
                retry_after_s=1.0,
            )
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request([], {}, (("#call", str(id(future))),), future, work=work))
        self._on_depth(len(self._queue))
        self._wake.set()
        return await future

    def _enqueue(self, items: list[Any], parameters: dict[str, Any],
                 key: tuple[tuple[str, Any], ...]) -> asyncio.Future[list[Prediction]]:
        future: asyncio.Future[list[Prediction]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(items, parameters, key, future))
        return future

    async def _loop(self) -> None:
        while True:
            lanes = min(self.backend.lanes, self.max_lanes)
            if not self._queue or len(self._running) >= lanes:
                self._wake.clear()
                await self._wake.wait()
                continue
            if (self.wait_s and self._queue[0].work is None
                    and self._count(self._queue[0].key) < self.max_batch):
                await asyncio.sleep(self.wait_s)
            batch = self._take()
            self._on_depth(len(self._queue))
            if not batch:
                continue
            if lanes == 1:
                await self._run(batch)
                continue
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._lane_freed)

    def _lane_freed(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()

    def _count(self, key: tuple[tuple[str, Any], ...]) -> int:
        return sum(len(r.items) for r in self._queue if r.key == key)

    def _take(self) -> list[_Request]:
        """Pop the oldest live request and the queued ones that can share its batch."""
        now = time.monotonic()
        batch: list[_Request] = []
        size = 0
        kept: deque[_Request] = deque()
        while self._queue:
            request = self._queue.popleft()
            if request.future.done():
                continue
            if now - request.enqueued > self.timeout_s:
                request.future.set_exception(Unavailable(
                    f"request waited more than {self.timeout_s:.0f}s in the queue of {self.name!r}",
                    retry_after_s=2.0,
                ))
                continue
            fits = not batch or (request.key == batch[0].key
                                 and size + len(request.items) <= self.max_batch)
            if fits:
                batch.append(request)
                size += len(request.items)
            else:
                kept.append(request)
        self._queue = kept
        return batch

    async def _run(self, batch: list[_Request]) -> None:
        if batch[0].work is not None:
            await self._run_call(batch[0], batch[0].work)
            return
        items = [item for request in batch for item in request.items]
        self.in_flight += len(batch)
        self._on_batch(len(items))
        try:
            predictions = await self.run_in_worker(
                self.backend.predict_batch, items, batch[0].parameters
            )
            if len(predictions) != len(items):
                raise BackendError(
                    f"backend returned {len(predictions)} outputs for {len(items)} inputs"
                )
        except AiaasError as exc:
            self._fail(batch, exc)
        except Exception as exc:
            self._fail(batch, self.backend.failure(exc, f"model {self.name!r} failed"))
        else:
            start = 0
            for request in batch:
                end = start + len(request.items)
                if not request.future.done():
                    request.future.set_result(predictions[start:end])
                start = end
        finally:
            self.in_flight -= len(batch)

    async def _run_call(self, request: _Request, work: Callable[[], list[Any]]) -> None:
        self.in_flight += 1
        try:
            result = await self.run_in_worker(work)
        except AiaasError as exc:
            self._fail([request], exc)
        except Exception as exc:
            self._fail([request], self.backend.failure(exc, f"model {self.name!r} failed"))
        else:
            if not request.future.done():
                request.future.set_result(result)
        finally:
            self.in_flight -= 1

    @staticmethod
    def _fail(batch: list[_Request], error: AiaasError) -> None:
        for request in batch:
            if not request.future.done():
                request.future.set_exception(error)

    async def stop(self) -> None:
        """Finish what is queued (up to the request timeout), then stop the loop and worker."""
        deadline = time.monotonic() + self.timeout_s
        while self.busy and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=True)
