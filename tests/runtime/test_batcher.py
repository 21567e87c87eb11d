"""The batcher: batches form under load, a lone request never waits (with no wait set) or waits
about ``wait_s`` for company, requests within the wait join its batch, a full batch does not wait,
the queue is bounded."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from aiaas.errors import BackendError, Overloaded
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.batcher import Batcher
from aiaas.tasks.base import Prediction


class SlowDoubler(Backend):
    """A real backend that doubles numbers, taking ``delay`` seconds per batch."""

    def __init__(self, delay: float = 0.05, fail_on: Any = None, short: bool = False) -> None:
        super().__init__(Path("."), {})
        self.delay = delay
        self.fail_on = fail_on
        self.short = short
        self.batches: list[list[Any]] = []
        self.threads: set[str] = set()
        self.at_once = 0
        self.most_at_once = 0
        self._count_lock = threading.Lock()

    def load(self) -> None:
        pass

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        self.batches.append(list(items))
        self.threads.add(threading.current_thread().name)
        with self._count_lock:
            self.at_once += 1
            self.most_at_once = max(self.most_at_once, self.at_once)
        time.sleep(self.delay)
        with self._count_lock:
            self.at_once -= 1
        if self.fail_on in items:
            raise RuntimeError("boom")
        outputs = [Prediction(item * 2 * parameters.get("scale", 1)) for item in items]
        return outputs[:-1] if self.short else outputs


def make(backend: Backend, **overrides: Any) -> Batcher:
    options: dict[str, Any] = {"name": "test", "max_batch": 8, "max_queue": 100,
                               "wait_s": 0.0, "timeout_s": 30.0} | overrides
    batcher = Batcher(backend, **options)
    batcher.start()
    return batcher


async def test_concurrent_requests_are_batched_and_answered_in_order() -> None:
    backend = SlowDoubler()
    batcher = make(backend)
    results = await asyncio.gather(*(batcher.submit([i, i + 100], {}) for i in range(12)))
    await batcher.stop()
    assert [[p.output for p in r] for r in results] == [[2 * i, 2 * (i + 100)] for i in range(12)]
    assert len(backend.batches) < 12
    assert max(len(b) for b in backend.batches) <= 8
    assert backend.most_at_once == 1


async def test_a_lone_request_does_not_wait_for_company() -> None:
    backend = SlowDoubler(delay=0.0)
    batcher = make(backend, wait_s=0.0)
    started = time.perf_counter()
    await batcher.submit([1], {})
    assert time.perf_counter() - started < 0.05
    await batcher.stop()


async def test_requests_arriving_within_the_wait_join_one_batch() -> None:
    backend = SlowDoubler(delay=0.0)
    batcher = make(backend, wait_s=0.5)
    first = asyncio.create_task(batcher.submit([1], {}))
    await asyncio.sleep(0.05)  # well inside the wait
    later = [asyncio.create_task(batcher.submit([i], {})) for i in (2, 3)]
    results = await asyncio.gather(first, *later)
    await batcher.stop()
    assert [[p.output for p in r] for r in results] == [[2], [4], [6]]
    assert backend.batches == [[1, 2, 3]]


async def test_a_lone_request_waits_about_wait_s_and_no_longer() -> None:
    backend = SlowDoubler(delay=0.0)
    batcher = make(backend, wait_s=0.2)
    started = time.monotonic()
    [prediction] = await batcher.submit([1], {})
    waited = time.monotonic() - started
    await batcher.stop()
    assert prediction.output == 2 and backend.batches == [[1]]
    assert 0.15 <= waited < 1.2, waited


@pytest.mark.parametrize("split", [False, True], ids=["one-request", "four-requests"])
async def test_a_full_batch_closes_without_waiting(split: bool) -> None:
    backend = SlowDoubler(delay=0.0)
    batcher = make(backend, max_batch=4, wait_s=5.0)
    started = time.monotonic()
    if split:
        results = await asyncio.gather(*(batcher.submit([i], {}) for i in range(4)))
    else:
        results = [await batcher.submit(list(range(4)), {})]
    elapsed = time.monotonic() - started
    await batcher.stop()
    assert [p.output for r in results for p in r] == [0, 2, 4, 6]
    assert backend.batches == [[0, 1, 2, 3]]
    assert elapsed < 2.0, elapsed  # far less than the 5 s wait


async def test_different_parameters_never_share_a_batch() -> None:
    backend = SlowDoubler()
    batcher = make(backend)
    plain, scaled = await asyncio.gather(batcher.submit([1], {}), batcher.submit([1], {"scale": 10}))
    await batcher.stop()
    assert plain[0].output == 2 and scaled[0].output == 20


async def test_full_queue_is_overloaded_with_retry_after() -> None:
    batcher = make(SlowDoubler(delay=0.2), max_queue=2, max_batch=1)
    tasks = [asyncio.create_task(batcher.submit([i], {})) for i in range(8)]
    done = await asyncio.gather(*tasks, return_exceptions=True)
    await batcher.stop()
    refused = [r for r in done if isinstance(r, Overloaded)]
    served = [r for r in done if isinstance(r, list)]
    assert refused and served and len(refused) + len(served) == 8
    assert refused[0].retry_after_s >= 1


async def test_backend_failure_fails_its_batch_and_the_loop_goes_on() -> None:
    batcher = make(SlowDoubler(delay=0.0, fail_on=13))
    with pytest.raises(BackendError, match="boom"):
        await batcher.submit([13], {})
    assert [p.output for p in await batcher.submit([2], {})] == [4]
    await batcher.stop()


async def test_output_count_mismatch_is_a_backend_error() -> None:
    batcher = make(SlowDoubler(delay=0.0, short=True))
    with pytest.raises(BackendError, match="1 outputs for 2 inputs"):
        await batcher.submit([1, 2], {})
    await batcher.stop()


async def test_cancelled_request_is_skipped() -> None:
    backend = SlowDoubler(delay=0.1)
    batcher = make(backend, max_batch=1)
    first = asyncio.create_task(batcher.submit([1], {}))
    second = asyncio.create_task(batcher.submit([2], {}))
    await asyncio.sleep(0.01)
    second.cancel()
    await first
    await batcher.stop()
    assert [2] not in backend.batches


async def test_exclusive_requests_never_share_a_batch() -> None:
    backend = SlowDoubler()
    batcher = make(backend)
    await asyncio.gather(*(batcher.submit([i], {}, exclusive=True) for i in range(4)))
    await batcher.stop()
    assert sorted(backend.batches) == [[0], [1], [2], [3]]


async def test_a_request_over_max_batch_is_split_and_merged_in_order() -> None:
    backend = SlowDoubler(delay=0.01)
    batcher = make(backend, max_batch=4)
    big, small = await asyncio.gather(batcher.submit(list(range(10)), {}), batcher.submit([50], {}))
    assert [p.output for p in big] == [2 * i for i in range(10)] and [p.output for p in small] == [100]
    assert max(len(batch) for batch in backend.batches) <= 4
    assert sorted(item for batch in backend.batches for item in batch) == [*range(10), 50]
    await batcher.stop()


async def test_a_failing_chunk_fails_the_whole_request() -> None:
    batcher = make(SlowDoubler(delay=0.01, fail_on=13), max_batch=4)
    with pytest.raises(BackendError):
        await batcher.submit(list(range(8, 16)), {})
    assert [p.output for p in await batcher.submit([1], {})] == [2]
    await batcher.stop()


async def test_a_split_request_counts_each_chunk_against_the_queue() -> None:
    batcher = make(SlowDoubler(delay=0.2), max_batch=2, max_queue=3)
    first = asyncio.create_task(batcher.submit([1], {}))
    await asyncio.sleep(0.05)
    with pytest.raises(Overloaded):
        await batcher.submit(list(range(8)), {})
    await first
    await batcher.stop()


class TwoLaneDoubler(SlowDoubler):
    """Offers two lanes and records how many batches ran at the same time."""

    def __init__(self, lanes: int, delay: float = 0.05) -> None:
        super().__init__(delay)
        self._lanes, self.running, self.most = lanes, 0, 0
        self._lock = threading.Lock()

    @property
    def lanes(self) -> int:
        return self._lanes

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().predict_batch(items, parameters)
        finally:
            with self._lock:
                self.running -= 1


@pytest.mark.parametrize("lanes", [1, 2, 3])
async def test_a_backend_with_lanes_runs_that_many_batches_at_once(lanes: int) -> None:
    backend = TwoLaneDoubler(lanes)
    batcher = make(backend, max_batch=4)
    results = await asyncio.gather(*(batcher.submit([i, -i], {}) for i in range(24)))
    assert batcher.busy is False and batcher.in_flight == 0
    await batcher.stop()
    assert [[p.output for p in r] for r in results] == [[2 * i, -2 * i] for i in range(24)]
    assert backend.most == lanes
    assert max(len(b) for b in backend.batches) <= 4


async def test_a_call_waits_its_turn_and_runs_alone() -> None:
    """Work on the loaded model (an explanation) queues with the batches: it runs after the
    requests queued before it, on the model's worker, alone; its errors are the caller's."""
    backend = SlowDoubler(delay=0.05)
    batcher = make(backend, max_batch=8)
    order: list[str] = []

    def work() -> list[Any]:
        order.append(f"call after {len(backend.batches)} batches")
        return ["explained", threading.current_thread().name]

    first = asyncio.create_task(batcher.submit([1, 2], {}))
    await asyncio.sleep(0.01)  # the first batch is running
    queued = asyncio.create_task(batcher.submit([3], {}))
    called = asyncio.create_task(batcher.call(work))
    later = asyncio.create_task(batcher.submit([4], {}))
    assert [p.output for p in await first] == [2, 4]
    result = await called
    assert result[0] == "explained" and result[1].startswith("model-test")
    # [1, 2], then [3] with [4] (a later request joins the oldest batch it can), then the call.
    assert order == ["call after 2 batches"]
    assert [p.output for p in await queued] == [6] and [p.output for p in await later] == [8]
    assert backend.batches == [[1, 2], [3, 4]]

    def broken() -> list[Any]:
        raise RuntimeError("boom")

    with pytest.raises(BackendError, match="boom"):
        await batcher.call(broken)
    await batcher.stop()
