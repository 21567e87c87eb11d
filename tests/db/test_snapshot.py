import asyncio
import logging

import pytest

from aiaas.db.snapshot import Snapshot


async def test_first_read_waits_then_a_stale_copy_reloads_in_the_background(
        caplog: pytest.LogCaptureFixture) -> None:
    loads: list[int] = []
    failing = False

    def load() -> None:
        if failing:
            raise RuntimeError("database gone")
        loads.append(len(loads))

    snapshot = Snapshot(load, cache_s=0.05, what="things")
    await snapshot.fresh()
    assert loads == [0]
    await snapshot.fresh()
    assert loads == [0]  # fresh: no read
    await asyncio.sleep(0.06)
    await snapshot.fresh()  # stale: reloaded on a worker thread, not waited for
    for _ in range(100):
        if len(loads) == 2:
            break
        await asyncio.sleep(0.01)
    assert loads == [0, 1]
    failing = True
    await asyncio.sleep(0.06)
    with caplog.at_level(logging.WARNING, logger="aiaas.db"):
        await snapshot.fresh()
        await asyncio.sleep(0.1)
    assert "things not reloaded" in caplog.text and "database gone" in caplog.text


async def test_zero_reads_every_time() -> None:
    loads: list[None] = []
    snapshot = Snapshot(lambda: loads.append(None), cache_s=0, what="things")
    for _ in range(3):
        await snapshot.fresh()
    assert len(loads) == 3
