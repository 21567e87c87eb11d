"""Job event streams over real HTTP against a real server: woken by pushes (an event stored by
this server, by another process on SQLite, by another process through PostgreSQL's NOTIFY), idle
streams cost the server almost no CPU, a key's open streams are capped, and ``Last-Event-ID``
is bounded."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiaas.auth.principal import Principal
from aiaas.config import Settings
from aiaas.services import Services
from aiaas.training.jobs import add_event
from aiaas.training.worker import Worker
from tests.conftest import LiveServer, start_server, stop_server

JOB = {"task": "tabular-classification", "dataset": "builtin:iris", "name": "iris",
       "params": {"algorithm": "logistic"}}
STREAMS = 60


class Stream:
    """An open event stream, read one event at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines: AsyncIterator[str] = response.aiter_lines()

    async def next(self, timeout_s: float = 5.0) -> tuple[str, dict[str, Any]] | None:
        """The next event (keep-alive comments skipped), or None when the stream ended."""
        fields: dict[str, str] = {}
        while True:
            try:
                line = await asyncio.wait_for(anext(self.lines), timeout_s)
            except StopAsyncIteration:
                return None
            if not line and fields:
                return fields["event"], json.loads(fields["data"])
            if line and not line.startswith(":"):
                name, value = line.split(": ", 1)
                fields[name] = value


async def _open(stack: AsyncExitStack, client: httpx.AsyncClient, job_id: str, key: str,
                **headers: str) -> httpx.Response:
    return await stack.enter_async_context(client.stream(
        "GET", f"/api/v1/jobs/{job_id}/events", headers={"Authorization": f"Bearer {key}", **headers}))


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _offline(server: LiveServer, url: str | None = None) -> Services:
    return Services.build(Settings(data_dir=server.data_dir, database_url=url, builtin_models=False,
                                   embedded_worker=False))


@pytest.fixture
def server(tmp_path: Path) -> Any:
    live = start_server(tmp_path / "data", AIAAS_BUILTIN_MODELS="false",
                        AIAAS_MAX_JOB_STREAMS_PER_KEY=str(STREAMS))
    yield live
    stop_server(live)


async def test_streams_are_pushed_cheap_and_capped_per_key(server: LiveServer) -> None:
    offline = _offline(server)
    other_key = offline.keys.create(Principal.system(), name="other", tenant="default").secret
    limits = httpx.Limits(max_connections=STREAMS + 10)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client, \
            AsyncExitStack() as stack:
        auth = {"Authorization": f"Bearer {server.admin_key}"}
        job_id = (await client.post("/api/v1/jobs", json=JOB, headers=auth)).json()["id"]
        for bad in (str(2**64), "99999999999999999999999999999", "-1", "x"):
            response = await client.get(f"/api/v1/jobs/{job_id}/events",
                                        headers={**auth, "Last-Event-ID": bad})
            assert response.status_code == 422, (bad, response.text)

        streams = []
        for _ in range(STREAMS):
            response = await _open(stack, client, job_id, server.admin_key)
            assert response.status_code == 200
            streams.append(Stream(response))
        for stream in streams:
            event = await stream.next()
            assert event is not None and event[0:1] == ("status",) and event[1]["status"] == "queued"

        before, started = _cpu_s(server.process.pid), time.monotonic()
        await asyncio.sleep(5)
        idle_share = (_cpu_s(server.process.pid) - before) / (time.monotonic() - started)
        assert idle_share < 0.06, f"{STREAMS} idle streams took {idle_share:.0%} of a core"

        refused = await client.get(f"/api/v1/jobs/{job_id}/events", headers=auth)
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        assert refused.json()["error"]["details"] == {"max_streams_per_key": STREAMS}
        other = Stream(await _open(stack, client, job_id, other_key))
        assert other.response.status_code == 200 and (await other.next())[1]["status"] == "queued"

        # Another process (a worker on the same data dir) stores an event: the poll of this
        # server's hub wakes every stream, all of them on one query.
        Worker(offline.db, offline.registry, server.data_dir, name="test-worker").claim()
        for stream in [*streams, other]:
            event = await stream.next(timeout_s=2)
            assert event is not None and event[1]["status"] == "running"

        await streams.pop().response.aclose()
        deadline = time.monotonic() + 3
        while (again := await _open(stack, client, job_id, server.admin_key,
                                    **{"Last-Event-ID": str(2**53)})).status_code == 429:
            assert time.monotonic() < deadline, "a closed stream's place was never freed"
            await asyncio.sleep(0.1)
        assert again.status_code == 200
        ahead = Stream(again)

        # This server stores an event (a cancel): its streams are told at once, and they end.
        started = time.monotonic()
        cancelled = await client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth)
        assert cancelled.status_code == 200
        with offline.db.session() as session:  # the worker that claimed it ends it
            from sqlalchemy import update

            from aiaas.db.training_tables import Job
            session.execute(update(Job).where(Job.id == job_id).values(status="cancelled"))
            add_event(session, job_id, "status", {"status": "cancelled"})
        for stream in streams:
            asked, ended = await stream.next(timeout_s=2), await stream.next(timeout_s=2)
            assert asked is not None and asked[1]["message"] == "cancel requested"
            assert ended is not None and ended[1]["status"] == "cancelled"
            assert await stream.next(timeout_s=2) is None
        assert await ahead.next(timeout_s=2) is None
        assert time.monotonic() - started < 5
    offline.db.dispose()


@pytest.mark.postgres
async def test_on_postgres_another_process_wakes_a_stream_through_notify(
        tmp_path: Path, postgres_url: str) -> None:
    """No poll on PostgreSQL (a stream re-reads by itself only after 15 s): an event stored by
    another process arrives at once only because its NOTIFY reached this server's listener."""
    live = start_server(tmp_path / "data", AIAAS_BUILTIN_MODELS="false",
                        AIAAS_DATABASE_URL=postgres_url)
    offline = _offline(live, postgres_url)
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as client, AsyncExitStack() as stack:
            auth = {"Authorization": f"Bearer {live.admin_key}"}
            job_id = (await client.post("/api/v1/jobs", json=JOB, headers=auth)).json()["id"]
            stream = Stream(await _open(stack, client, job_id, live.admin_key))
            first = await stream.next()
            assert first is not None and first[1]["status"] == "queued"
            for message in ("one", "two"):
                started = time.monotonic()
                with offline.db.session() as session:
                    add_event(session, job_id, "log", {"message": message})
                event = await stream.next(timeout_s=3)
                assert event is not None and event[1]["message"] == message
                assert time.monotonic() - started < 3
    finally:
        stop_server(live)
        offline.db.dispose()
