"""Following a job's server-sent events across dropped connections (no I/O here).

The server sends ``id:``, ``event:`` and ``data:`` (JSON) lines per event and closes the stream
after the job's final ``status`` event. ``EventFollower`` parses the lines, remembers the last
event id so a new connection resumes after it (``Last-Event-ID``), counts drops and keeps the
caller's deadline. ``Client.job_events`` and ``AsyncClient.job_events`` drive it.
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime
from typing import Any

import httpx

from aiaas.client._calls import Call, nothing, segment
from aiaas.client._errors import AiaasAPIError, APIConnectionError, error_from_transport
from aiaas.client._models import JobEvent

RECONNECTS = 5
"""Drops in a row (no event in between) after which following gives up."""


def events_call(job_id: str, after: int, timeout: float | None) -> Call[None]:
    """Open the event stream; ``after``: the last event id already seen (0 for all)."""
    headers = {"Last-Event-ID": str(after)} if after else {}
    return Call("GET", f"/api/v1/jobs/{segment(job_id)}/events", nothing, accept="text/event-stream",
                extra_headers=headers, timeout=timeout)


class EventFollower:
    """The state of following one job: parse lines into ``JobEvent``s, resume, give up, time out."""

    def __init__(self, job_id: str, after: int, timeout: float | None, base_url: str) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        self.job_id = job_id
        self.last_id = after
        self.ended = False
        self.drops = 0
        self.base_url = base_url
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self._fields: dict[str, str] = {}
        self._data: list[str] = []

    def call(self, read_timeout: float) -> Call[None]:
        """The request that resumes after the last event; its reads wait no longer than the
        deadline leaves."""
        return events_call(self.job_id, self.last_id, min(read_timeout, self._left()))

    def _left(self) -> float:
        if self.deadline is None:
            return float("inf")
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"job {self.job_id} did not finish in time")
        return left

    def feed(self, line: str) -> JobEvent | None:
        """One line of the stream; the event it completes, if any (a blank line ends one)."""
        self._left()
        if line:
            name, _, value = line.partition(":")
            if name == "data":
                self._data.append(value.removeprefix(" "))
            elif name in ("id", "event"):
                self._fields[name] = value.removeprefix(" ")
            return None
        if not self._data:
            self._fields.clear()
            return None
        text, fields = "\n".join(self._data), self._fields
        self._data, self._fields = [], {}
        event = self._event(fields, text)
        if event.id:
            self.last_id = event.id
        self.drops = 0
        self.ended = event.finished
        return event

    def _event(self, fields: dict[str, str], text: str) -> JobEvent:
        try:
            data: Any = json.loads(text)
        except ValueError:
            raise AiaasAPIError(f"job {self.job_id}: the server sent an event that is not JSON: "
                                f"{text[:200]!r}", code="invalid_stream") from None
        if not isinstance(data, dict):
            data = {"value": data}
        moment = data.pop("time", None)
        try:
            event_id = int(fields.get("id") or 0)
        except ValueError:
            event_id = 0
        return JobEvent(id=event_id, type=fields.get("event") or "message", data=data,
                        time=datetime.fromisoformat(moment) if isinstance(moment, str) else None)

    def dropped(self, exc: httpx.TransportError | None) -> float:
        """The stream broke (``exc``) or ended before the final event: seconds to wait before
        resuming. Raises when the deadline passed or after ``RECONNECTS`` drops in a row."""
        self._fields.clear()
        self._data.clear()
        if isinstance(exc, httpx.TimeoutException):
            self._left()
        self.drops += 1
        if self.drops > RECONNECTS:
            if exc is not None:
                raise error_from_transport(exc, self.base_url) from exc
            raise APIConnectionError(f"the event stream of job {self.job_id} keeps ending before "
                                     "the job does")
        wait = min(8.0, 0.5 * 2.0 ** (self.drops - 1)) * random.uniform(0.75, 1.25)
        return min(wait, self._left())
