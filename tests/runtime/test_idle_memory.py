import asyncio

from aiaas.runtime.idle_memory import IdleMemory, release_free_memory


def test_the_c_library_trims_here() -> None:
    assert release_free_memory() is True  # glibc on Debian; other libcs answer False


async def test_one_trim_per_quiet_spell_and_none_while_busy() -> None:
    idle = IdleMemory(0.2)
    await idle.start()
    try:
        await asyncio.sleep(0.5)
        assert idle.releases == 0  # nothing has come since the start: nothing to give back
        for _ in range(6):  # busy: a request every 0.05 s
            idle.touch()
            await asyncio.sleep(0.05)
        assert idle.releases == 0
        await asyncio.sleep(0.6)
        assert idle.releases == 1
        await asyncio.sleep(0.4)
        assert idle.releases == 1  # one trim per spell, not one per tick
        idle.touch()
        await asyncio.sleep(0.6)
        assert idle.releases == 2
    finally:
        await idle.stop()


async def test_zero_turns_it_off() -> None:
    idle = IdleMemory(0)
    await idle.start()
    idle.touch()
    await asyncio.sleep(0.1)
    assert idle.releases == 0
    await idle.stop()
