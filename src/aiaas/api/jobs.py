"""Training job routes: create, list, show, cancel, follow events (SSE), read logs and plots.

Every route needs a key; creating and cancelling need ``models:write``. Another tenant's job is
a 404, exactly like a job that does not exist.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from aiaas.api.deps import ReaderDep, ServicesDep, WriterDep
from aiaas.api.schemas import ERRORS
from aiaas.errors import NotFound
from aiaas.training.jobs import EventInfo, JobInfo

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=ERRORS)
POLL_S = 0.25
KEEPALIVE_S = 15.0


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


class JobList(BaseModel):
    jobs: list[JobInfo]


@router.post("", response_model=JobInfo, status_code=202)
async def create_job(body: JobCreate, principal: WriterDep, services: ServicesDep) -> JobInfo:
    """Queue a training job; a worker process runs it. Poll it or follow ``/events``."""
    info = await asyncio.to_thread(
        services.jobs.create, tenant=principal.tenant, key_id=principal.key_id, task=body.task,
        dataset=body.dataset, name=body.name, params=body.params, promote_if=body.promote_if,
    )
    return info


@router.get("", response_model=JobList)
async def list_jobs(principal: ReaderDep, services: ServicesDep,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> JobList:
    """The tenant's jobs, newest first."""
    jobs = await asyncio.to_thread(services.jobs.list_jobs, principal.tenant, limit)
    return JobList(jobs=jobs)


@router.get("/{job_id}", response_model=JobInfo)
async def show_job(job_id: str, principal: ReaderDep, services: ServicesDep) -> JobInfo:
    return await asyncio.to_thread(services.jobs.get, principal.tenant, job_id)


@router.post("/{job_id}/cancel", response_model=JobInfo)
async def cancel_job(job_id: str, principal: WriterDep, services: ServicesDep) -> JobInfo:
    """A queued job is cancelled at once; a running one at its next progress point (409 when
    the job has already finished)."""
    return await asyncio.to_thread(services.jobs.cancel, principal.tenant, job_id)


@router.get("/{job_id}/logs", response_class=PlainTextResponse)
async def job_logs(job_id: str, principal: ReaderDep, services: ServicesDep) -> PlainTextResponse:
    """The job's events as text lines."""
    return PlainTextResponse(await asyncio.to_thread(services.jobs.logs, principal.tenant, job_id))


def _sse(event: EventInfo) -> bytes:
    data = json.dumps({"time": event.created_at.isoformat(), **event.payload})
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()


@router.get("/{job_id}/events", responses={200: {"content": {"text/event-stream": {}}}})
async def job_events(job_id: str, principal: ReaderDep, services: ServicesDep,
                     last_event_id: Annotated[int | None, Header(ge=0)] = None) -> StreamingResponse:
    """Server-sent events: the stored events (after ``Last-Event-ID``), then live ones until
    the job ends; the last event is the final ``status``."""
    jobs, tenant = services.jobs, principal.tenant
    await asyncio.to_thread(jobs.get, tenant, job_id)

    async def stream() -> AsyncIterator[bytes]:
        after, idle = last_event_id or 0, 0.0
        while True:
            job = await asyncio.to_thread(jobs.get, tenant, job_id)
            events = await asyncio.to_thread(jobs.events, tenant, job_id, after)
            for event in events:
                yield _sse(event)
                after = event.id
            if job.finished:
                return
            idle = 0.0 if events else idle + POLL_S
            if idle >= KEEPALIVE_S:
                idle = 0.0
                yield b": keep-alive\n\n"
            await asyncio.sleep(POLL_S)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/{job_id}/plots/{name}.png", response_class=FileResponse,
            responses={200: {"content": {"image/png": {}}}})
async def job_plot(job_id: str, name: str, principal: ReaderDep, services: ServicesDep) -> FileResponse:
    """A plot the job drew (its ``result.plots`` lists them): confusion_matrix, roc_curve,
    training_curve, predicted_vs_actual."""
    path = await asyncio.to_thread(services.jobs.plot_path, principal.tenant, job_id, name)
    if not path.is_file():
        raise NotFound(f"plot {name!r} of job {job_id!r} is missing on disk")
    return FileResponse(path, media_type="image/png")
