"""The counters on the ``limits`` library's memory storage and on the shared Redis (a key prefix
of their own per test): exact requests per minute, reservations settled up and down, slots
taken and given back, and a store that cannot be reached raises ``StorageError`` at once."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from limits.errors import StorageError

from aiaas.limits.counters import Counters
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
