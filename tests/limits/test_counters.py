"""The counters on the ``limits`` library's memory storage and on the shared Redis (a key prefix
of their own per test): exact requests per minute, reservations settled up and down, slots
taken and given back, an admission that takes all or nothing (one list of operations on either
store, read back through the library's own strategies), settlements owed to the next admission,
and a store that cannot be reached raises ``StorageError`` at once."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from limits.errors import StorageError
from redis.asyncio import Redis

from aiaas.limits.counters import Counters, Refused, Want
from aiaas.limits.pipeline import OWED_FLUSH_S
from tests.conftest import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_reason() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return None if sock.recv(16).startswith(b"+PONG") else "Redis did not answer PING"
    except OSError as exc:
        return f"Redis on 127.0.0.1:6379 does not answer: {exc}"


REDIS_SKIP = _redis_reason()


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    if request.param == "redis" and REDIS_SKIP:
        pytest.skip(REDIS_SKIP)
    built = Counters(REDIS_URL if request.param == "redis" else None,
                     key_prefix=f"aiaas-test-{uuid.uuid4().hex}")
    yield built
    await built.close()


async def test_requests_per_minute_are_exact(counters: Counters) -> None:
    admitted = [await counters.hit_requests("k:a", 7) for _ in range(10)]
    assert admitted == [True] * 7 + [False] * 3
    remaining, reset_s = await counters.requests_window("k:a", 7)
    assert remaining == 0 and 55 < reset_s <= 60
    assert await counters.hit_requests("k:b", 7)  # another subject counts on its own
    assert await counters.hit_requests("k:a", 8)  # a raised limit keeps what was counted


async def test_a_reservation_is_settled_to_what_was_used(counters: Counters) -> None:
    assert await counters.hit_units("k:a", "tokens", 100, 60)
    assert not await counters.hit_units("k:a", "tokens", 100, 60)  # 120 would pass 100
    await counters.adjust_units("k:a", "tokens", -50)  # the call used 10 of its 60
    assert await counters.hit_units("k:a", "tokens", 100, 60)  # 10 + 60
    await counters.adjust_units("k:a", "tokens", 25)  # used more than reserved: counted
    window = await counters.units_window("k:a", "tokens", 100)
    assert window.remaining == 100 - 95 and window.wait_s == 0
    assert 0 < window.ends_in_s <= 60
    assert not await counters.hit_units("k:a", "tokens", 100, 6)
    assert (await counters.units_window("k:a", "tokens", 100, 6)).wait_s > 0


async def test_slots_are_taken_and_given_back(counters: Counters) -> None:
    assert [await counters.take_slot("k:a", 2) for _ in range(3)] == [True, True, False]
    await counters.give_slot("k:a")
    assert await counters.take_slot("k:a", 2)
    for _ in range(4):  # more given back than taken never counts below zero
        await counters.give_slot("k:a")
    assert [await counters.take_slot("k:a", 2) for _ in range(3)] == [True, True, False]


async def test_an_unreachable_store_raises_storage_error_at_once() -> None:
    counters = Counters(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(StorageError):
        await counters.hit_requests("k:a", 5)
    assert time.monotonic() - started < 2
    assert not await counters.check()
    await counters.close()


async def test_the_memory_store_sweeps_once_a_second_not_once_a_hit() -> None:
    counters = Counters()
    storage = counters.storage
    try:
        admitted = [await counters.hit_requests("k:sweep", 500) for _ in range(300)]
        assert admitted == [True] * 300
        assert getattr(storage, "sweeps") == 1  # the library calls our hook, and only once
        setattr(storage, "swept_at", time.monotonic() - 2)  # a second later: one more sweep
        await counters.hit_requests("k:sweep", 500)
        assert getattr(storage, "sweeps") == 2
        remaining, _ = await counters.requests_window("k:sweep", 500)
        assert remaining == 500 - 301
    finally:
        await counters.close()


async def test_a_refused_call_keeps_nothing_it_took(counters: Counters) -> None:
    key = Want("k:a", concurrent=5, requests=10, units=(("tokens", 100, 40),))
    tenant = Want("t:a", concurrent=5, requests=3, units=(("tokens", 1000, 40),))
    for _ in range(2):
        taken = await counters.take([key, tenant])
        assert taken.refused is None
        counters.owe(["k:a", "t:a"], [])
    refused = (await counters.take([key, tenant])).refused  # 80 + 40 tokens pass the key's 100
    assert refused is not None and refused.wait_s > 0
    assert (refused.subject, refused.kind, refused.limit, refused.remaining) == (
        "k:a", "tokens", 100, 20)
    assert (await counters.requests_window("k:a", 10))[0] == 10 - 2  # its request given back
    assert (await counters.requests_window("t:a", 3))[0] == 3 - 2
    assert (await counters.units_window("t:a", "tokens", 1000)).remaining == 1000 - 80
    assert [await counters.take_slot("k:a", 5) for _ in range(6)] == [True] * 5 + [False]


async def test_the_first_limit_reached_is_the_refusal(counters: Counters) -> None:
    wants = [Want("k:b", concurrent=1, requests=1), Want("t:b", requests=5)]
    assert (await counters.take(wants)).refused is None
    busy = await counters.take(wants)  # the slot is still out: concurrency comes first
    assert busy.refused == Refused("k:b", "concurrent", 1, 1.0, 0)
    counters.owe(["k:b"], [])  # carried by the next admission
    spent = await counters.take(wants)
    assert spent.refused is not None and spent.refused.kind == "requests"
    assert spent.refused.subject == "k:b" and 55 < spent.refused.wait_s <= 60
    assert (await counters.requests_window("t:b", 5))[0] == 5 - 1  # the tenant kept none


async def test_an_admission_reports_the_windows_after_it(counters: Counters) -> None:
    taken = await counters.take([Want("k:c", requests=10,
                                      units=(("tokens", 500, 120), ("items", 50, 3)))])
    assert taken.refused is None
    remaining, reset_s = taken.requests["k:c"]
    assert remaining == 9 and 55 < reset_s <= 60
    tokens = taken.units[("k:c", "tokens")]
    assert tokens.remaining == 380 and tokens.wait_s == 0 and 0 < tokens.ends_in_s <= 60
    assert ("k:c", "items") not in taken.units  # known exactly: no read, nothing to settle
    counters.owe([], [("k:c", "tokens", -100), ("k:c", "items", 0)])
    await counters.flush()  # it was owed to the next admission
    assert (await counters.units_window("k:c", "tokens", 500)).remaining == 480
    assert (await counters.units_window("k:c", "items", 50)).remaining == 47


async def test_a_refusal_on_an_unread_unit_reads_its_window(counters: Counters) -> None:
    want = [Want("k:f", units=(("items", 5, 3),))]  # items are not read at admission
    assert (await counters.take(want)).refused is None
    refused = (await counters.take(want)).refused
    assert refused is not None and (refused.kind, refused.limit, refused.remaining) == (
        "items", 5, 2)
    assert refused.wait_s > 0


async def test_a_settlement_rides_on_the_next_admission_or_goes_alone_soon(
        counters: Counters) -> None:
    want = [Want("k:d", concurrent=1)]
    assert (await counters.take(want)).refused is None
    counters.owe(["k:d"], [])
    assert (await counters.take(want)).refused is None  # the slot came back with it
    counters.owe(["k:d"], [])
    await asyncio.sleep(OWED_FLUSH_S * 5)  # no admission came: it went on its own
    assert await counters.take_slot("k:d", 1)


async def test_scripts_redis_forgot_are_loaded_again(
        own_redis: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, _ = own_redis
    counters = Counters(url)
    try:
        assert (await counters.take([Want("k:e", requests=2)])).refused is None
        redis = Redis.from_url(url)
        await redis.script_flush()
        await redis.aclose()
        assert (await counters.take([Want("k:e", requests=2)])).refused is None
        refused = (await counters.take([Want("k:e", requests=2)])).refused
        assert refused is not None and refused.kind == "requests"
    finally:
        await counters.close()
