"""Training job methods of ``Client`` and ``AsyncClient``: create, list, show, cancel, follow the
events (SSE, resumed after a dropped connection), wait, read logs and download plots."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from aiaas.client._calls import Call, many, one, segment
from aiaas.client._job_events import EventFollower
from aiaas.client._models import Job, JobEvent
from aiaas.client._sending import AsyncSender, SyncSender

EventCallback = Callable[[JobEvent], object]
"""Called with each event while waiting; an async client awaits what it returns if awaitable."""


def job_params(params: Mapping[str, Any] | None, base_model: str | None) -> dict[str, Any]:
    """The job's ``params`` with ``base_model`` put in (refused when both name a different one)."""
    merged = dict(params or {})
    if base_model is not None:
        if merged.get("base_model", base_model) != base_model:
            raise ValueError(f"base_model {base_model!r} differs from params['base_model'] "
                             f"{merged['base_model']!r}; give it once")
        merged["base_model"] = base_model
    return merged


def _job_path(job_id: str, *rest: str) -> str:
    return "/".join(["/api/v1/jobs", segment(job_id), *rest])


def create_job(task: str, dataset: str, name: str, params: dict[str, Any],
               promote_if: str | None, retryable: bool = True) -> Call[Job]:
    body = {"task": task, "dataset": dataset, "name": name, "params": params, "promote_if": promote_if,
            "retryable": retryable}
    return Call("POST", "/api/v1/jobs", one(Job), json=body, retryable=False)


def get_job(job_id: str) -> Call[Job]:
    return Call("GET", _job_path(job_id), one(Job))


def list_jobs(limit: int) -> Call[list[Job]]:
    return Call("GET", "/api/v1/jobs", many(Job, "jobs"), params={"limit": limit})


def cancel_job(job_id: str) -> Call[Job]:
    # Not resent: a second cancel of a job the first one ended answers 409.
    return Call("POST", _job_path(job_id, "cancel"), one(Job), retryable=False)


def job_logs(job_id: str) -> Call[str]:
    return Call("GET", _job_path(job_id, "logs"), lambda response: response.text, accept="text/plain")


def job_plot(job_id: str, name: str) -> Call[bytes]:
    return Call("GET", _job_path(job_id, "plots", f"{segment(name)}.png"),
                lambda response: response.content, accept="image/png")


def plot_target(path: str | os.PathLike[str], name: str) -> Path:
    """Where a plot goes: ``path``, or ``<path>/<name>.png`` when ``path`` is a directory."""
    target = Path(path).expanduser()
    return target / f"{name}.png" if target.is_dir() else target


class JobMethods(SyncSender):
    def create_job(self, task: str, dataset: str, name: str, *,
                   params: Mapping[str, Any] | None = None, promote_if: str | None = None,
                   base_model: str | None = None, retryable: bool = True) -> Job:
        """Queue a training job; a worker trains ``task`` on ``dataset`` (an uploaded dataset's
        id or name, or ``builtin:NAME``) and registers the result as the next version of model
        ``name``. ``params``: the trainer's hyperparameters (``seed``, ``algorithm``, ``epochs``,
        ...; unknown ones are refused); ``base_model`` goes into ``params["base_model"]``.
        ``promote_if`` (e.g. ``"f1_macro>=0.9"``) moves the ``production`` alias to the result
        only when the test metric meets it. ``retryable=False``: a job whose worker dies fails
        instead of running once more. Returns at once (status ``queued``); follow it with
        ``job_events`` or ``wait_job``. Never retried."""
        return self._send(create_job(task, dataset, name, job_params(params, base_model), promote_if,
                                     retryable))

    def get_job(self, job_id: str) -> Job:
        return self._send(get_job(job_id))

    def list_jobs(self, *, limit: int = 100) -> list[Job]:
        """The tenant's jobs, newest first."""
        return self._send(list_jobs(limit))

    def cancel_job(self, job_id: str) -> Job:
        """Cancel a job: a queued one at once, a running one at its next progress point (its
        status turns ``cancelled`` shortly after). ``ConflictError`` when it already ended."""
        return self._send(cancel_job(job_id))

    def job_logs(self, job_id: str) -> str:
        """The job's events as text lines (time, type, values)."""
        return self._send(job_logs(job_id))

    def download_plot(self, job_id: str, name: str, path: str | os.PathLike[str]) -> Path:
        """Save the job's plot ``name`` (one of ``Job.plots``) as a PNG at ``path`` (a file, or a
        directory to put ``<name>.png`` in); returns the file written."""
        target = plot_target(path, name)
        target.write_bytes(self._send(job_plot(job_id, name)))
        return target

    def job_events(self, job_id: str, *, after: int = 0,
                   timeout: float | None = None) -> Iterator[JobEvent]:
        """The job's events from the start (or after event id ``after``), then live ones as they
        happen, until the final ``status`` event (which is yielded). A dropped connection is
        resumed after the last event received. ``timeout``: seconds in all, then
        ``TimeoutError``. Stop early by breaking out of the loop: the job keeps running."""
        return self._follow(EventFollower(job_id, after, timeout, self.base_url))

    def _follow(self, follower: EventFollower) -> Iterator[JobEvent]:
        while True:
            try:
                _, response = self._open(follower.call(self._settings.timeout))
                try:
                    for line in response.iter_lines():
                        if (event := follower.feed(line)) is not None:
                            yield event
                        if follower.ended:
                            return
                finally:
                    response.close()
            except httpx.TransportError as exc:
                delay = follower.dropped(exc)
            else:
                if self.get_job(follower.job_id).finished:
                    return
                delay = follower.dropped(None)
            time.sleep(delay)

    def wait_job(self, job_id: str, *, on_event: EventCallback | None = None,
                 timeout: float | None = None) -> Job:
        """Follow the job until it ends and return it (check ``status``: a failed or cancelled
        job is returned, not raised). ``on_event`` sees every event, from the job's first;
        ``timeout``: seconds in all, then ``TimeoutError`` (the job keeps running)."""
        for event in self.job_events(job_id, timeout=timeout):
            if on_event is not None:
                on_event(event)
        return self.get_job(job_id)


class AsyncJobMethods(AsyncSender):
    async def create_job(self, task: str, dataset: str, name: str, *,
                         params: Mapping[str, Any] | None = None, promote_if: str | None = None,
                         base_model: str | None = None, retryable: bool = True) -> Job:
        """See ``Client.create_job``."""
        return await self._send(create_job(task, dataset, name, job_params(params, base_model),
                                           promote_if, retryable))

    async def get_job(self, job_id: str) -> Job:
        return await self._send(get_job(job_id))

    async def list_jobs(self, *, limit: int = 100) -> list[Job]:
        return await self._send(list_jobs(limit))

    async def cancel_job(self, job_id: str) -> Job:
        return await self._send(cancel_job(job_id))

    async def job_logs(self, job_id: str) -> str:
        return await self._send(job_logs(job_id))

    async def download_plot(self, job_id: str, name: str, path: str | os.PathLike[str]) -> Path:
        target = plot_target(path, name)
        image: bytes = await self._send(job_plot(job_id, name))
        await asyncio.to_thread(target.write_bytes, image)
        return target

    def job_events(self, job_id: str, *, after: int = 0,
                   timeout: float | None = None) -> AsyncIterator[JobEvent]:
        """See ``Client.job_events``: ``async for event in client.job_events(job_id)``."""
        return self._follow(EventFollower(job_id, after, timeout, self.base_url))

    async def _follow(self, follower: EventFollower) -> AsyncIterator[JobEvent]:
        while True:
            try:
                _, response = await self._open(follower.call(self._settings.timeout))
                try:
                    async for line in response.aiter_lines():
                        if (event := follower.feed(line)) is not None:
                            yield event
                        if follower.ended:
                            return
                finally:
                    await response.aclose()
            except httpx.TransportError as exc:
                delay = follower.dropped(exc)
            else:
                if (await self.get_job(follower.job_id)).finished:
                    return
                delay = follower.dropped(None)
            await asyncio.sleep(delay)

    async def wait_job(self, job_id: str, *, on_event: EventCallback | None = None) -> Job:
        """See ``Client.wait_job``; an ``on_event`` that returns an awaitable is awaited. Bound
        the wait with ``async with asyncio.timeout(seconds):`` (the job keeps running)."""
        async for event in self.job_events(job_id):
            if on_event is not None and inspect.isawaitable(outcome := on_event(event)):
                await outcome
        return await self.get_job(job_id)
