"""The job service: create, list, show and cancel training jobs, and read their events and logs.

The API process only writes ``queued`` jobs (and cancels); a worker process claims and runs them
(``aiaas.training.worker``). Another tenant's job is reported exactly as a missing one. Each
``JobService`` method takes the caller's ``Principal``: reading needs ``models:read``, creating
and cancelling ``models:write``.

A job whose worker died (no heartbeat for the stale timeout, or its process reaped by the
server) is *reclaimed* by whichever live process sees it first: requeued when it may run again
(``retryable`` and fewer than ``MAX_ATTEMPTS`` claims), else failed with the reason. Each change
is one conditional UPDATE, so two processes never reclaim the same job twice. On PostgreSQL every
stored event also sends ``NOTIFY aiaas_job_events, '<job id>'`` (delivered at commit), so event
streams in any server are woken without polling (``training.job_events``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError
from sqlalchemy import ColumnElement, CursorResult, Executable, func, select, true, update
from sqlalchemy.orm import Session

from aiaas.audit import AuditLog
from aiaas.auth.principal import Principal, Scope
from aiaas.crypto.vault import Vault
from aiaas.db.engine import Database
from aiaas.db.tables import utcnow
from aiaas.db.training_tables import CANCELLED, FAILED, FINISHED, QUEUED, RUNNING, Job, JobEvent
from aiaas.errors import Conflict, Invalid, NotFound
from aiaas.registry.records import validate_name
from aiaas.registry.serving import Resources
from aiaas.training import gate
from aiaas.training.datasets import Catalog
from aiaas.training.trainers import spec_for

PLOT_NAME = re.compile(r"^[a-z_]{1,40}$")
PLOT_PURPOSE = "plot"
"""Sealed plots carry ``plot/<name>.png`` as their purpose (jobs' and evaluations')."""
WORKER_STOPPED = "worker stopped"
MAX_ATTEMPTS = 2
"""A retryable job whose worker died is requeued once; the second death fails it."""
NOTIFY_CHANNEL = "aiaas_job_events"
WORKERS = "workers"
"""``params.workers``: data-parallel workers on a Ray cluster (Ray Train), for trainers of
networks (``TrainerSpec.data_parallel``); one worker elsewhere."""
MAX_WORKERS = 64
RESOURCES = "resources"
"""``params.resources``: what the job reserves on a Ray cluster (``cpus``, ``gpus``, ``memory_mb``,
``custom``); not a trainer's parameter, so every trainer sees its params without it."""


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
    retryable: bool
    attempts: int
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
                   job.promote_if, job.retryable, job.attempts, job.status, job.version,
                   dict(job.metrics), dict(job.result), job.error, job.created_at, job.started_at,
                   job.finished_at, job.heartbeat_at)

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
    """Store an event; on PostgreSQL also NOTIFY its job id (sent when the session commits)."""
    session.add(JobEvent(job_id=job_id, created_at=utcnow(), type=type_, payload=payload))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(NOTIFY_CHANNEL, job_id)))


def reclaim(session: Session, job: Job, reason: str, *, counted: bool = True,
            still: ColumnElement[bool] | None = None) -> str | None:
    """Take a running job back from ``job.worker``, who is gone: cancelled when a cancel was
    asked, requeued when it may run again, else failed with ``reason``. ``counted=False`` (a
    graceful stop) gives the attempt back and always requeues. Returns the new status, or None
    when the job had already moved on (another process reclaimed it, its worker finished, or
    ``still``, the condition it was picked by, no longer holds)."""
    attempts = job.attempts if counted else max(0, job.attempts - 1)
    if job.cancel_requested:
        values: dict[str, Any] = {"status": CANCELLED, "finished_at": utcnow()}
    elif not counted or (job.retryable and attempts < MAX_ATTEMPTS):
        values = {"status": QUEUED, "worker": None, "started_at": None, "heartbeat_at": None,
                  "attempts": attempts}
    else:
        values = {"status": FAILED, "error": f"{WORKER_STOPPED}: {reason}", "finished_at": utcnow()}
    taken = changed_rows(session, update(Job).where(
        Job.id == job.id, Job.status == RUNNING, Job.worker == job.worker,
        true() if still is None else still).values(**values))
    if not taken:
        return None
    payload: dict[str, Any] = {"status": values["status"], "reason": f"{WORKER_STOPPED}: {reason}"}
    if values["status"] == QUEUED:
        payload["attempts"] = attempts
    elif values["status"] == FAILED:
        payload["error"] = values["error"]
    add_event(session, job.id, "status", payload)
    return str(values["status"])


def reclaim_stale(db: Database, timeout_s: float) -> dict[str, str]:
    """Reclaim ``running`` jobs whose heartbeat is older than ``timeout_s``: job id -> status."""
    cutoff = utcnow() - timedelta(seconds=timeout_s)
    reason = f"no heartbeat for {timeout_s:g} s"
    silent = Job.heartbeat_at.is_(None) | (Job.heartbeat_at < cutoff)
    with db.session() as session:
        stale = list(session.scalars(select(Job).where(Job.status == RUNNING, silent)))
        done = {job.id: reclaim(session, job, reason, still=silent) for job in stale}
        return {job_id: status for job_id, status in done.items() if status}


def reclaim_worker(db: Database, worker: str, reason: str) -> dict[str, str]:
    """Reclaim the running jobs of ``worker``, known dead (its process was reaped)."""
    with db.session() as session:
        mine = list(session.scalars(select(Job).where(Job.status == RUNNING, Job.worker == worker)))
        done = {job.id: reclaim(session, job, reason) for job in mine}
        return {job_id: status for job_id, status in done.items() if status}


class JobService:
    def __init__(self, db: Database, data_dir: Path, catalog: Catalog | None = None,
                 notify: Callable[[str], None] | None = None, *, audit: AuditLog | None = None,
                 vault: Vault | None = None) -> None:
        """``notify(job_id)``: told after each event this service stores (wakes event streams
        in this process at once); ``audit``: told of every job created or cancelled."""
        self.db = db
        self.audit = audit
        self.data_dir = data_dir
        self.catalog = catalog or Catalog(db, data_dir)
        self.notify = notify or (lambda _job_id: None)
        self.vault = vault or Vault.off()

    def create(self, principal: Principal, *, task: str, dataset: str, name: str,
               params: dict[str, Any], promote_if: str | None = None,
               retryable: bool = True) -> JobInfo:
        """Check the request fully (4xx naming the problem) and queue the job for the caller's
        tenant and key. ``retryable``: whether it may run again when its worker dies mid-way
        (else it fails)."""
        principal.require(Scope.MODELS_WRITE)
        tenant, key_id = principal.tenant, principal.key_id
        spec = spec_for(task)
        validate_name(name)
        checked = spec.validate(trainer_params(params))
        resources = job_resources(params)
        workers = job_workers(params, data_parallel=spec.data_parallel)
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
                  model_name=name, promote_if=promote_if,
                  params=checked.model_dump()
                  | ({RESOURCES: resources.model_dump(exclude_none=True)} if resources else {})
                  | ({WORKERS: workers} if workers > 1 else {}),
                  status=QUEUED, cancel_requested=False, retryable=retryable, attempts=0,
                  metrics={}, result={}, created_at=utcnow())
        with self.db.session() as session:
            session.add(job)
            session.flush()
            add_event(session, job.id, "status", {"status": QUEUED})
            created = JobInfo.of(job)
            if self.audit is not None:
                self.audit.record(principal, "job.create", "job", job.id, after={
                    "task": task, "dataset": dataset, "model": name, "params": job.params,
                    "promote_if": promote_if, "retryable": retryable}, session=session)
        self.notify(created.id)
        return created

    def _own(self, session: Session, tenant: str, job_id: str) -> Job:
        job = session.get(Job, job_id) if len(job_id) <= 32 else None
        if job is None or job.tenant != tenant:
            raise NotFound(f"job {job_id!r} not found", details={"job": job_id})
        return job

    def get(self, principal: Principal, job_id: str) -> JobInfo:
        principal.require(Scope.MODELS_READ)
        with self.db.session() as session:
            return JobInfo.of(self._own(session, principal.tenant, job_id))

    def list_jobs(self, principal: Principal, limit: int = 100) -> list[JobInfo]:
        """The tenant's jobs, newest first."""
        principal.require(Scope.MODELS_READ)
        with self.db.session() as session:
            rows = session.scalars(select(Job).where(Job.tenant == principal.tenant)
                                   .order_by(Job.created_at.desc()).limit(limit))
            return [JobInfo.of(job) for job in rows]

    def cancel(self, principal: Principal, job_id: str) -> JobInfo:
        """A queued job is cancelled at once; a running one at its next progress point."""
        principal.require(Scope.MODELS_WRITE)
        with self.db.session() as session:
            job = self._own(session, principal.tenant, job_id)
            if job.status in FINISHED:
                raise Conflict(f"job {job_id!r} has already {job.status}")
            previous = job.status
            cancelled = changed_rows(session, update(Job).where(Job.id == job_id, Job.status == QUEUED)
                                     .values(status=CANCELLED, cancel_requested=True, finished_at=utcnow()))
            if cancelled:
                add_event(session, job_id, "status", {"status": CANCELLED})
            else:
                job.cancel_requested = True
                add_event(session, job_id, "log", {"message": "cancel requested"})
            session.flush()
            session.refresh(job)
            cancelled_or_asked = JobInfo.of(job)
            if self.audit is not None:
                self.audit.record(principal, "job.cancel", "job", job_id, {"status": previous},
                                  {"status": job.status, "cancel_requested": True},
                                  session=session)
        self.notify(job_id)
        return cancelled_or_asked

    def events(self, principal: Principal, job_id: str, after: int = 0) -> list[EventInfo]:
        """The job's stored events with ``id > after``, oldest first."""
        principal.require(Scope.MODELS_READ)
        with self.db.session() as session:
            self._own(session, principal.tenant, job_id)
            rows = session.scalars(select(JobEvent).where(JobEvent.job_id == job_id,
                                                          JobEvent.id > after).order_by(JobEvent.id))
            return [EventInfo(e.id, e.job_id, e.created_at, e.type, dict(e.payload)) for e in rows]

    def latest_progress(self, principal: Principal, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The newest ``progress`` payload of each of the tenant's jobs in ``job_ids`` (a job with
        none, or another tenant's, is left out): a list's progress bars without every event."""
        principal.require(Scope.MODELS_READ)
        if not job_ids:
            return {}
        newest = (select(func.max(JobEvent.id)).join(Job, Job.id == JobEvent.job_id)
                  .where(Job.tenant == principal.tenant, JobEvent.job_id.in_(job_ids),
                         JobEvent.type == "progress").group_by(JobEvent.job_id))
        with self.db.session() as session:
            rows = session.scalars(select(JobEvent).where(JobEvent.id.in_(newest)))
            return {event.job_id: dict(event.payload) for event in rows}

    def logs(self, principal: Principal, job_id: str) -> str:
        """Every event as one text line: time, type and payload."""
        lines = []
        for event in self.events(principal, job_id):
            values = " ".join(f"{key}={value}" for key, value in event.payload.items())
            lines.append(f"{event.created_at.isoformat()} {event.type} {values}".rstrip())
        return "\n".join(lines) + "\n"

    def plot(self, principal: Principal, job_id: str, name: str) -> bytes:
        """A plot's PNG bytes (decrypted when the tenant's files are sealed)."""
        job = self.get(principal, job_id)
        if not PLOT_NAME.match(name) or name not in job.result.get("plots", []):
            raise NotFound(f"job {job_id!r} has no plot {name!r}",
                           details={"plots": job.result.get("plots", [])})
        path = jobs_dir(self.data_dir) / job.id / f"{name}.png"
        if not path.is_file():
            raise NotFound(f"plot {name!r} of job {job_id!r} is missing on disk")
        return self.vault.read_bytes(path, job.tenant, f"{PLOT_PURPOSE}/{name}.png")


def trainer_params(params: dict[str, Any]) -> dict[str, Any]:
    """A job's params as its trainer takes them (without ``resources`` and ``workers``)."""
    return {name: value for name, value in params.items() if name not in (RESOURCES, WORKERS)}


def job_workers(params: dict[str, Any], *, data_parallel: bool = True) -> int:
    """``params.workers`` checked (``Invalid`` naming it), 1 when not given."""
    given = params.get(WORKERS, 1)
    if isinstance(given, bool) or not isinstance(given, int) or not 1 <= given <= MAX_WORKERS:
        raise Invalid(f"params.{WORKERS}: a whole number from 1 to {MAX_WORKERS}",
                      field=f"params.{WORKERS}")
    if given > 1 and not data_parallel:
        raise Invalid(f"params.{WORKERS}: this task trains on one worker (data-parallel "
                      "training is for networks: image-classification, text-classification)",
                      field=f"params.{WORKERS}")
    return given


def job_resources(params: dict[str, Any]) -> Resources | None:
    """``params.resources`` checked (``Invalid`` naming the field), or None when not given."""
    given = params.get(RESOURCES)
    if given is None:
        return None
    try:
        return Resources.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        field = f"params.{RESOURCES}" + (f".{where}" if where else "")
        raise Invalid(f"{field}: {first['msg']}", details={"field": field}) from exc
