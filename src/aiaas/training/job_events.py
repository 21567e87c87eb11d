"""Wake-ups for job event streams: pushed, not polled by each stream.

Why: each open ``/api/v1/jobs/{id}/events`` stream used to ask the database twice every 250 ms
(150 streams took 45% of a core and 1,200 queries a second). Now a stream reads the stored
events only when the hub says its job has news, and the hub learns of news from:

- this process: the job service calls ``notify(job_id)`` after each event it stores (a cancel,
  a job created, a job reclaimed by the supervisor);
- other processes on PostgreSQL: ``LISTEN aiaas_job_events`` on one connection of its own, fed by
  the ``NOTIFY`` every stored event sends (``jobs.add_event``); after a reconnect every stream is
  woken once, in case something was missed;
- other processes on SQLite (which has no notifications): one query every ``poll_s`` for the job
  ids with events newer than the last it saw, only while a stream is open, whatever the number
  of streams. SQLite writes one transaction at a time, so ids arrive in order and none is skipped.

A stream also re-reads on its own after ``KEEPALIVE_S`` without news, so a lost wake-up delays
an event, never loses it. Open streams are capped per key (``max_streams_per_key``; 429 past it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from aiaas.auth.principal import Principal, Scope
from aiaas.db.engine import Database
from aiaas.db.training_tables import JobEvent
from aiaas.errors import Overloaded
from aiaas.training.jobs import NOTIFY_CHANNEL

log = logging.getLogger("aiaas.training.job_events")
POLL_S = 0.25
MAX_RECONNECT_S = 5.0


class Subscription:
    """One open stream's wake-up: ``wait`` returns True when its job has news."""

    def __init__(self, hub: JobEventHub, key_id: str, job_id: str) -> None:
        self.hub, self.key_id, self.job_id = hub, key_id, job_id
        self.news = asyncio.Event()
        self.closed = False

    async def wait(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self.news.wait(), timeout_s)
        except TimeoutError:
            return False
        self.news.clear()
        return True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.hub._drop(self)


class JobEventHub:
    def __init__(self, db: Database, *, max_streams_per_key: int, poll_s: float = POLL_S) -> None:
        self.db, self.max_streams_per_key, self.poll_s = db, max_streams_per_key, poll_s
        self.postgres = db.engine.dialect.name == "postgresql"
        self._subscribers: defaultdict[str, set[Subscription]] = defaultdict(set)
        self._per_key: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._listener: threading.Thread | None = None
        self._poller: asyncio.Task[None] | None = None

    @property
    def open_streams(self) -> int:
        return sum(self._per_key.values())

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        if self.postgres:
            self._listener = threading.Thread(target=self._listen, name="job-events-listen", daemon=True)
            self._listener.start()
        else:
            self._poller = asyncio.create_task(self._poll(), name="job-events-poll")

    async def stop(self) -> None:
        self._stopping.set()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._listener is not None:
            await asyncio.to_thread(self._listener.join, 5.0)
            self._listener = None
        self._loop = None

    def subscribe(self, principal: Principal, job_id: str) -> Subscription:
        """A wake-up for ``job_id``'s stream (``models:read``); Overloaded (429) past the key's
        open streams. The job itself is checked by ``JobService`` (subscribe first, then read,
        so no event falls between)."""
        principal.require(Scope.MODELS_READ)
        key_id = principal.key_id
        if self._per_key[key_id] >= self.max_streams_per_key:
            raise Overloaded(f"this key has {self._per_key[key_id]} job event streams open, the most "
                             "allowed; close one first", retry_after_s=5.0,
                             details={"max_streams_per_key": self.max_streams_per_key})
        subscription = Subscription(self, key_id, job_id)
        self._per_key[key_id] += 1
        self._subscribers[job_id].add(subscription)
        return subscription

    def notify(self, job_id: str) -> None:
        """``job_id`` has news; callable from any thread."""
        self._soon(self._wake, job_id)

    def _soon(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            callback(*args)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(callback, *args)

    def _wake(self, job_id: str) -> None:
        for subscription in self._subscribers.get(job_id, ()):
            subscription.news.set()

    def _wake_all(self) -> None:
        for subscriptions in self._subscribers.values():
            for subscription in subscriptions:
                subscription.news.set()

    def _drop(self, subscription: Subscription) -> None:
        self._per_key[subscription.key_id] -= 1
        if self._per_key[subscription.key_id] <= 0:
            del self._per_key[subscription.key_id]
        subscribers = self._subscribers.get(subscription.job_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.job_id]

    async def _poll(self) -> None:
        last: int | None = None
        while True:
            await asyncio.sleep(self.poll_s)
            if not self._subscribers:
                last = None
                continue
            try:
                if last is None:  # streams opened while idle read what was stored before
                    last = await asyncio.to_thread(self._newest)
                    self._wake_all()
                    continue
                last, jobs = await asyncio.to_thread(self._changed_since, last)
            except Exception as exc:
                log.warning("job event poll failed (%s); trying again", exc)
                continue
            for job_id in jobs:
                self._wake(job_id)

    def _newest(self) -> int:
        with self.db.session() as session:
            return int(session.scalar(select(func.max(JobEvent.id))) or 0)

    def _changed_since(self, last: int) -> tuple[int, set[str]]:
        with self.db.session() as session:
            rows = session.execute(select(JobEvent.id, JobEvent.job_id).where(JobEvent.id > last)
                                   .order_by(JobEvent.id)).all()
        return (rows[-1].id if rows else last), {row.job_id for row in rows}

    def _listen(self) -> None:
        import psycopg
        from psycopg import sql

        conninfo = self.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        delay = 0.5
        while not self._stopping.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as connection:
                    connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)))
                    delay = 0.5
                    self._soon(self._wake_all)
                    while not self._stopping.is_set():
                        for note in connection.notifies(timeout=0.5):
                            self._soon(self._wake, note.payload)
            except Exception as exc:
                log.warning("job event listener lost PostgreSQL (%s); reconnecting in %.1f s", exc, delay)
                self._stopping.wait(delay)
                delay = min(MAX_RECONNECT_S, delay * 2)
