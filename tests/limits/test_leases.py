"""Leases on the shared Redis: two ``Counters`` on one key prefix stand for two server
processes. A busy high limit is admitted mostly from local leases (few round trips) and the two
together admit exactly the limit; a low limit is never leased; leased slots are given back. The
in-memory store leases the same way."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from aiaas.limits.counters import Counters, Want
from aiaas.limits.leases import LEASE_S
from aiaas.limits.pipeline import counter_key
from tests.limits.test_counters import REDIS_SKIP, REDIS_URL

SHARE = 0.005
needs_redis = pytest.mark.skipif(REDIS_SKIP is not None, reason=str(REDIS_SKIP))


class Process:
    """One server process's counters (on Redis, or ``redis_url=None``: in memory), counting
    its store calls."""

    def __init__(self, prefix: str, redis_url: str | None = REDIS_URL) -> None:
        self.counters = Counters(redis_url, key_prefix=prefix, lease_share=SHARE)
        self.round_trips = 0
        pipe = self.counters._pipeline
        run: Callable[[list[Any]], Awaitable[list[Any]]] = pipe.run

        async def counted(ops: list[Any]) -> list[Any]:
            self.round_trips += 1
            return await run(ops)

        pipe.run = counted  # type: ignore[method-assign]


@pytest.fixture
async def two() -> AsyncIterator[tuple[Process, Process]]:
    prefix = f"aiaas-test-{uuid.uuid4().hex}"
    first, second = Process(prefix), Process(prefix)
    yield first, second
    await first.counters.close()
    await second.counters.close()


async def admit_until_refused(processes: tuple[Process, Process], want: Want,
                              warm_s: float = 0.0) -> tuple[int, int]:
    """Alternate calls between the processes (slowly for ``warm_s``, so each measures its
    rate) until both refuse ten in a row; (admitted, of them leased)."""
    admitted = leased = refusals = 0
    started = time.monotonic()
    while refusals < 20:
        taken = await processes[admitted % 2 if refusals == 0 else refusals % 2].counters.take(
            [want])
        if taken.refused is None:
            admitted, leased, refusals = admitted + 1, leased + taken.leased, 0
        else:
            refusals += 1
        if time.monotonic() - started < warm_s:
            await asyncio.sleep(0.002)
    return admitted, leased


@needs_redis
async def test_a_busy_high_limit_is_leased_and_two_processes_admit_exactly_it(
        two: tuple[Process, Process]) -> None:
    admitted, leased = await admit_until_refused(two, Want("k:a", requests=12_000),
                                                 warm_s=LEASE_S * 1.2)
    assert admitted == 12_000  # leftovers of leases are drawn on before either refuses
    assert leased > 8_000, leased
    trips = sum(p.round_trips for p in two)
    assert trips < admitted / 4, trips  # a refill per up to 60 calls, and the exact ones


@needs_redis
async def test_leased_units_stay_within_the_limit_and_settle_locally(
        two: tuple[Process, Process]) -> None:
    want = Want("k:b", units=(("tokens", 300_000, 100),))
    admitted, leased = await admit_until_refused(two, want, warm_s=LEASE_S * 1.2)
    assert 300_000 - 2 * 2 * 100 <= admitted * 100 <= 300_000  # a lease left under one call
    assert leased > admitted / 2, leased
    first = two[0]
    assert first.counters.leases is not None
    lease = first.counters.leases._leases[("k:b", "tokens")]
    left = lease.left
    first.counters.owe([], [("k:b", "tokens", -60)], leased=True)
    assert lease.left == left + 60  # given back to the lease: no round trip owed
    assert not first.counters._pipeline._owed


@needs_redis
async def test_a_low_limit_is_never_leased(two: tuple[Process, Process]) -> None:
    admitted, leased = await admit_until_refused(two, Want("k:c", requests=300),
                                                 warm_s=LEASE_S * 1.2)
    assert (admitted, leased) == (300, 0)  # 0.5 % of 300 is under two calls


@needs_redis
async def test_leased_slots_are_taken_in_blocks_and_given_back(
        two: tuple[Process, Process]) -> None:
    want = Want("k:d", concurrent=1_000)  # blocks of 5 slots
    tickets: list[tuple[Process, bool]] = []
    refusals = 0
    while refusals < 4:
        process = two[len(tickets) % 2 if refusals == 0 else refusals % 2]
        taken = await process.counters.take([want])
        if taken.refused is None:
            tickets.append((process, taken.leased))
        else:
            refusals += 1
    assert len(tickets) == 1_000
    assert sum(leased for _, leased in tickets) > 900
    assert sum(p.round_trips for p in two) < 400
    for process, leased in tickets:
        process.counters.owe(["k:d"], [], leased=leased)
    for process in two:
        await process.counters.flush()
    assert 0 <= await slots_taken(two[0]) <= 2 * 2 * 5  # at most two blocks kept per process
    for process in two:
        await process.counters.close()
    assert await slots_taken(two[0]) == 0  # a process that stops gives back what it held


async def test_the_memory_store_leases_a_busy_high_limit_and_admits_exactly_it() -> None:
    process = Process(f"aiaas-test-{uuid.uuid4().hex}", redis_url=None)
    try:
        admitted, leased = await admit_until_refused((process, process),
                                                     Want("k:e", requests=12_000,
                                                          units=(("tokens", 600_000, 50),)),
                                                     warm_s=LEASE_S * 1.2)
    finally:
        await process.counters.close()
    assert admitted == 12_000
    assert leased > 8_000, leased
    assert process.round_trips < admitted / 4, process.round_trips


async def slots_taken(process: Process) -> int:
    pipe = process.counters._pipeline
    redis = Redis.from_url(REDIS_URL)
    try:
        return int(await redis.get(pipe.key(counter_key("k:d", "concurrent"))) or 0)
    finally:
        await redis.aclose()
