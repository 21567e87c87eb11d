"""Training job routes: create, list, show, cancel, follow events (SSE), read logs and plots.

Every route needs a key; the job service checks its scope (creating and cancelling need
``models:write``, the rest ``models:read``). Another tenant's job is a 404, exactly like a job
that does not exist.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.schemas import ERRORS
from aiaas.db.training_tables import FINISHED
from aiaas.errors import Unavailable
from aiaas.training.jobs import EventInfo, JobInfo

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=ERRORS)
KEEPALIVE_S = 15.0
MAX_EVENT_ID = 2**53
"""Event ids are database integers; a larger ``Last-Event-ID`` is refused before the stream."""


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "task": "tabular-classification", "dataset": "builtin:breast_cancer",
        "name": "my-model", "params": {"algorithm": "auto", "seed": 0},
        "promote_if": "accuracy>=0.95",
    }]})

    task: str = Field(max_length=64, description="tabular-classification or tabular-regression")
    dataset: str = Field(max_length=200, description="A dataset id, e.g. builtin:breast_cancer")
    name: str = Field(max_length=128, description="The model the result is registered as.")
    params: dict[str, Any] = Field(default_factory=dict)
    promote_if: str | None = Field(default=None, max_length=200,
                                   description="e.g. accuracy>=0.95: move production if it holds")
    retryable: bool = Field(default=True, description="Whether the job may run again (once) when "
                            "its worker dies mid-way; false: it fails with the reason instead.")


class JobList(BaseModel):
    jobs: list[JobInfo]


@router.post("", response_model=JobInfo, status_code=202)
async def create_job(body: JobCreate, principal: PrincipalDep, services: ServicesDep) -> JobInfo:
    """Queue a training job; a worker process runs it. Poll it or follow ``/events``."""
    info = await asyncio.to_thread(
        services.jobs.create, principal, task=body.task, dataset=body.dataset, name=body.name,
        params=body.params, promote_if=body.promote_if, retryable=body.retryable,
    )
    return info


@router.get("", response_model=JobList)
async def list_jobs(principal: PrincipalDep, services: ServicesDep,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> JobList:
    """The tenant's jobs, newest first."""
    jobs = await asyncio.to_thread(services.jobs.list_jobs, principal, limit)
    return JobList(jobs=jobs)


@router.get("/{job_id}", response_model=JobInfo)
async def show_job(job_id: str, principal: PrincipalDep, services: ServicesDep) -> JobInfo:
    return await asyncio.to_thread(services.jobs.get, principal, job_id)


@router.post("/{job_id}/cancel", response_model=JobInfo)
async def cancel_job(job_id: str, principal: PrincipalDep, services: ServicesDep) -> JobInfo:
    """A queued job is cancelled at once; a running one at its next progress point (409 when
    the job has already finished)."""
    return await asyncio.to_thread(services.jobs.cancel, principal, job_id)


@router.get("/{job_id}/logs", response_class=PlainTextResponse)
async def job_logs(job_id: str, principal: PrincipalDep, services: ServicesDep) -> PlainTextResponse:
    """The job's events as text lines."""
    return PlainTextResponse(await asyncio.to_thread(services.jobs.logs, principal, job_id))


def _sse(event: EventInfo) -> bytes:
    data = json.dumps({"time": event.created_at.isoformat(), **event.payload})
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()


@router.get("/{job_id}/events", responses={200: {"content": {"text/event-stream": {}}}})
async def job_events(job_id: str, principal: PrincipalDep, services: ServicesDep,
                     last_event_id: Annotated[int | None, Header(ge=0, le=MAX_EVENT_ID)] = None,
                     ) -> StreamingResponse:
    """Server-sent events: the stored events (after ``Last-Event-ID``), then live ones until
    the job ends; the last event is the final ``status``. A stream reads the database only when
    its job has news (``training.job_events``); a key may hold ``max_job_streams_per_key``
    streams open (429 past it)."""
    jobs = services.jobs
    subscription = services.job_events.subscribe(principal, job_id)
    try:
        job = await asyncio.to_thread(jobs.get, principal, job_id)
    except BaseException:
        subscription.close()
        raise

    async def stream() -> AsyncIterator[bytes]:
        after, finished, woken = last_event_id or 0, job.finished, False
        try:
            while True:
                events = await asyncio.to_thread(jobs.events, principal, job_id, after)
                for event in events:
                    yield _sse(event)
                    after = event.id
                    finished = finished or (event.type == "status"
                                            and event.payload.get("status") in FINISHED)
                if woken and not events:  # news, none after Last-Event-ID: did the job end?
                    finished = (await asyncio.to_thread(jobs.get, principal, job_id)).finished
                if finished:
                    return
                woken = await subscription.wait(KEEPALIVE_S)
                if not woken:
                    yield b": keep-alive\n\n"
                    finished = (await asyncio.to_thread(jobs.get, principal, job_id)).finished
        finally:
            subscription.close()

    async def until_shutdown() -> AsyncIterator[bytes]:
        """At the server's shutdown deadline: an ``error`` event and a clean end (a client
        resumes with ``Last-Event-ID`` from another server)."""
        try:
            async for chunk in services.shutdown.bounded(stream()):
                yield chunk
        except Unavailable as exc:
            error = {"code": exc.code, "message": exc.message, "retry_after_s": exc.retry_after_s}
            yield f"event: error\ndata: {json.dumps(error)}\n\n".encode()

    body = until_shutdown()
    weakref.finalize(body, subscription.close)  # a client gone before the first byte: never started
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/{job_id}/plots/{name}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
async def job_plot(job_id: str, name: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    """A plot the job drew (its ``result.plots`` lists them): confusion_matrix, roc_curve,
    training_curve, predicted_vs_actual."""
    png = await asyncio.to_thread(services.jobs.plot, principal, job_id, name)
    return Response(png, media_type="image/png")
