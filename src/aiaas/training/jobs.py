"""The job service: create, list, show and cancel training jobs, and read their events and logs.

The API process only writes ``queued`` jobs (and cancels); a worker process claims and runs them
(``aiaas.training.worker``). Another tenant's job is reported exactly as a missing one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import CursorResult, Executable, select, update
from sqlalchemy.orm import Session

from aiaas.db.engine import Database
from aiaas.db.tables import utcnow
from aiaas.db.training_tables import CANCELLED, FAILED, FINISHED, QUEUED, RUNNING, Job, JobEvent
from aiaas.errors import Conflict, Invalid, NotFound
from aiaas.registry.records import validate_name
from aiaas.training import gate
from aiaas.training.datasets import Catalog
from aiaas.training.trainers import spec_for

PLOT_NAME = re.compile(r"^[a-z_]{1,40}$")
WORKER_STOPPED = "worker stopped"


# Also the API's response model: the owner's tenant and key stay on the server.
@dataclass(frozen=True)
class JobInfo:
    """A training job: ``status`` goes queued -> running -> succeeded | failed | cancelled."""

    id: str
    tenant: Annotated[str, Field(exclude=True)]
    key_id: Annotated[str, Field(exclude=True)]
    task: str
    dataset: str
    model: str
    params: dict[str, Any]
    promote_if: str | None
    status: str
    version: int | None
    metrics: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobInfo:
        return cls(job.id, job.tenant, job.key_id, job.task, job.dataset, job.model_name, dict(job.params),
                   job.promote_if, job.status, job.version, dict(job.metrics), dict(job.result),
                   job.error, job.created_at, job.started_at, job.finished_at, job.heartbeat_at)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True)
class EventInfo:
    id: int
    job_id: str
    created_at: datetime
    type: str
    payload: dict[str, Any]


def jobs_dir(data_dir: Path) -> Path:
    """Where each job keeps its files (plots): ``<data dir>/jobs/<job id>/``."""
    return data_dir / "jobs"


def work_dir(data_dir: Path, job_id: str) -> Path:
    """A job's scratch space (checkpoints): ``<data dir>/jobs/<job id>/work/``."""
    return jobs_dir(data_dir) / job_id / "work"


def changed_rows(session: Session, statement: Executable) -> int:
    """Run an UPDATE and return how many rows it changed (a conditional update claims a row)."""
    result: CursorResult[Any] = session.execute(statement)  # type: ignore[assignment]
    return int(result.rowcount)


def add_event(session: Session, job_id: str, type_: str, payload: dict[str, Any]) -> None:
    session.add(JobEvent(job_id=job_id, created_at=utcnow(), type=type_, payload=payload))


def fail_stale(db: Database, timeout_s: float) -> list[str]:
    """Mark ``running`` jobs whose heartbeat is older than ``timeout_s`` failed; return their ids."""
    cutoff = utcnow() - timedelta(seconds=timeout_s)
    with db.session() as session:
        stale = list(session.scalars(select(Job).where(
            Job.status == RUNNING, (Job.heartbeat_at.is_(None)) | (Job.heartbeat_at < cutoff))))
        for job in stale:
            job.status, job.error, job.finished_at = FAILED, WORKER_STOPPED, utcnow()
            add_event(session, job.id, "status", {"status": FAILED, "error": WORKER_STOPPED})
        return [job.id for job in stale]


class JobService:
    def __init__(self, db: Database, data_dir: Path, catalog: Catalog | None = None) -> None:
        self.db = db
        self.data_dir = data_dir
        self.catalog = catalog or Catalog(db, data_dir)

    def create(self, *, tenant: str, key_id: str, task: str, dataset: str, name: str,
               params: dict[str, Any], promote_if: str | None = None) -> JobInfo:
        """Check the request fully (4xx naming the problem) and queue the job."""
        spec = spec_for(task)
        validate_name(name)
        checked = spec.validate(params)
        try:
            info = self.catalog.describe(tenant, dataset, task)
        except NotFound as exc:
            raise Invalid(exc.message, details={"field": "dataset"}) from exc
        if info.tasks and task not in info.tasks:
            raise Invalid(f"dataset {dataset!r} is for {', '.join(info.tasks)}, not {task}",
                          details={"field": "dataset"})
        spec.check(info, checked)
        if promote_if is not None:
            gate.parse(promote_if, spec.metrics)
        job = Job(id=uuid.uuid4().hex, tenant=tenant, key_id=key_id, task=task, dataset=dataset,
                  model_name=name, params=checked.model_dump(), promote_if=promote_if,
                  status=QUEUED, cancel_requested=False, metrics={}, result={},
                  created_at=utcnow())
        with self.db.session() as session:
            session.add(job)
            session.flush()
            add_event(session, job.id, "status", {"status": QUEUED})
            return JobInfo.of(job)

    def _own(self, session: Session, tenant: str, job_id: str) -> Job:
        job = session.get(Job, job_id) if len(job_id) <= 32 else None
        if job is None or job.tenant != tenant:
            raise NotFound(f"job {job_id!r} not found", details={"job": job_id})
        return job

    def get(self, tenant: str, job_id: str) -> JobInfo:
        with self.db.session() as session:
            return JobInfo.of(self._own(session, tenant, job_id))

    def list_jobs(self, tenant: str, limit: int = 100) -> list[JobInfo]:
        with self.db.session() as session:
            rows = session.scalars(select(Job).where(Job.tenant == tenant)
                                   .order_by(Job.created_at.desc()).limit(limit))
            return [JobInfo.of(job) for job in rows]

    def cancel(self, tenant: str, job_id: str) -> JobInfo:
        """A queued job is cancelled at once; a running one at its next progress point."""
        with self.db.session() as session:
            job = self._own(session, tenant, job_id)
            if job.status in FINISHED:
                raise Conflict(f"job {job_id!r} has already {job.status}")
            cancelled = changed_rows(session, update(Job).where(Job.id == job_id, Job.status == QUEUED)
                                     .values(status=CANCELLED, cancel_requested=True, finished_at=utcnow()))
            if cancelled:
                add_event(session, job_id, "status", {"status": CANCELLED})
            else:
                job.cancel_requested = True
                add_event(session, job_id, "log", {"message": "cancel requested"})
            session.flush()
            session.refresh(job)
            return JobInfo.of(job)

    def events(self, tenant: str, job_id: str, after: int = 0) -> list[EventInfo]:
        """The job's stored events with ``id > after``, oldest first."""
        with self.db.session() as session:
            self._own(session, tenant, job_id)
            rows = session.scalars(select(JobEvent).where(JobEvent.job_id == job_id,
                                                          JobEvent.id > after).order_by(JobEvent.id))
            return [EventInfo(e.id, e.job_id, e.created_at, e.type, dict(e.payload)) for e in rows]

    def logs(self, tenant: str, job_id: str) -> str:
        """Every event as one text line: time, type and payload."""
        lines = []
        for event in self.events(tenant, job_id):
            values = " ".join(f"{key}={value}" for key, value in event.payload.items())
            lines.append(f"{event.created_at.isoformat()} {event.type} {values}".rstrip())
        return "\n".join(lines) + "\n"

    def plot_path(self, tenant: str, job_id: str, name: str) -> Path:
        job = self.get(tenant, job_id)
        if not PLOT_NAME.match(name) or name not in job.result.get("plots", []):
            raise NotFound(f"job {job_id!r} has no plot {name!r}",
                           details={"plots": job.result.get("plots", [])})
        return jobs_dir(self.data_dir) / job.id / f"{name}.png"
