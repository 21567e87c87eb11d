"""The training worker: a loop, in its own process, that claims queued jobs and runs them.

``python -m aiaas.training.worker [--data-dir DIR] [--database-url URL]``, or ``aiaas worker``.
The server starts one (``supervisor.WorkerSupervisor``), handing its settings down as ``AIAAS_*``
variables; more may run against the same database. Either way the worker reads its settings as
the server does (flags, environment, config file) and is wired by the same builder
(``aiaas.training.wiring``); torch's threads are set once, when it starts.

A claim is one conditional UPDATE, so two workers never run the same job. While a job runs, a
thread writes its heartbeat every ``heartbeat_s``; a running job whose heartbeat is older than
``STALE_FACTOR * heartbeat_s`` is reclaimed (``jobs.reclaim``: requeued once, else failed) by
any worker or server that sees it. Why the worker survives what it does:

- the database going away (an outage, a restart): every step is retried with backoff, progress
  events are dropped rather than failing the job, and the final write is retried for a while;
- losing its job (reclaimed while this worker was cut off): the heartbeat and each progress
  point see that the row is no longer this worker's, and the job is abandoned, not finished;
- a stop (SIGTERM, Ctrl-C, or its server gone: ``--parent-pid`` is watched by a thread, so a
  worker whose server was killed stops mid-job instead of registering a model nobody waits for):
  the job in hand is requeued with its attempt given back.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select, update

from aiaas.config import Settings
from aiaas.db.engine import Database
from aiaas.db.tables import utcnow
from aiaas.db.training_tables import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Job
from aiaas.errors import AiaasError, Unavailable
from aiaas.registry.service import Registry
from aiaas.training.datasets import Catalog
from aiaas.training.jobs import JobInfo, add_event, changed_rows, reclaim, reclaim_stale

if TYPE_CHECKING:
    from aiaas.training.runner import Outcome

log = logging.getLogger("aiaas.training.worker")
STALE_FACTOR = 5.0
MAX_BACKOFF_S = 5.0
FINAL_WRITE_S = 60.0
"""How long the outcome of a finished job is retried while the database is away."""
STOP_WRITE_S = 8.0
"""How long a stopping worker tries to requeue its job (its server waits 15 s before SIGKILL)."""
T = TypeVar("T")
RunJob = Callable[["Worker", JobInfo, threading.Event], "Outcome"]
"""How a claimed job is trained: here (``run_here``), or elsewhere (a Ray task: ``aiaas.cluster``)
with this worker keeping its heartbeat; ``lost`` is set when the job stops being this worker's."""


class JobCancelled(Exception):
    """Raised at a progress point once a cancel was requested."""


class JobLost(Exception):
    """Raised at a progress point once the job is no longer this worker's (it was reclaimed
    while this worker could not reach the database)."""


def default_name() -> str:
    """Host, pid and a random part: unique, and says where to look."""
    return f"{socket.gethostname()[:32]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(self, db: Database, registry: Registry, data_dir: Path, *, heartbeat_s: float = 2.0,
                 poll_s: float = 0.5, catalog: Catalog | None = None, threads: int = 0,
                 name: str | None = None, run_job: RunJob | None = None) -> None:
        """``threads``: the torch threads this process was started with (``wiring.start_torch``),
        0 when the caller set none; ``catalog``: the datasets' (the runner opens one when None);
        ``name``: how jobs name this worker (the server names the one it supervises);
        ``run_job``: where jobs train (default: in this process)."""
        self.db, self.registry, self.data_dir = db, registry, data_dir
        self.heartbeat_s, self.poll_s = heartbeat_s, poll_s
        self.catalog, self.threads = catalog, threads
        self.name = name or default_name()
        self.run_job: RunJob = run_job or run_here

    @property
    def stale_after_s(self) -> float:
        return STALE_FACTOR * self.heartbeat_s

    def sweep(self) -> dict[str, str]:
        reclaimed = reclaim_stale(self.db, self.stale_after_s)
        for job_id, status in reclaimed.items():
            log.warning("job %s had no heartbeat for %.0f s: %s", job_id, self.stale_after_s, status)
        return reclaimed

    def claim(self) -> JobInfo | None:
        """Take the oldest queued job, or None when there is none."""
        with self.db.session() as session:
            for job_id in session.scalars(select(Job.id).where(Job.status == QUEUED)
                                          .order_by(Job.created_at).limit(5)):
                now = utcnow()
                taken = changed_rows(session, update(Job).where(Job.id == job_id, Job.status == QUEUED)
                                     .values(status=RUNNING, started_at=now, heartbeat_at=now,
                                             worker=self.name, attempts=Job.attempts + 1))
                if taken:
                    add_event(session, job_id, "status", {"status": RUNNING, "worker": self.name})
                    job = session.get(Job, job_id)
                    assert job is not None
                    session.refresh(job)
                    return JobInfo.of(job)
        return None

    def run_forever(self, stop: threading.Event, parent_pid: int | None = None) -> None:
        """Claim and run jobs until ``stop`` is set (or ``parent_pid`` is no longer the parent).
        A failing database is waited out with backoff, never a reason to exit."""
        if parent_pid is not None:
            watch_parent(parent_pid, stop)
        last_sweep, failures = 0.0, 0
        while not stop.is_set():
            if parent_pid is not None and os.getppid() != parent_pid:
                log.info("parent process is gone; worker exits")
                return
            try:
                if time.monotonic() - last_sweep > self.heartbeat_s:
                    self.sweep()
                    last_sweep = time.monotonic()
                job = self.claim()
                failures = 0
            except Exception as exc:
                failures += 1
                delay = min(MAX_BACKOFF_S, self.poll_s * 2 ** failures)
                log.warning("worker %s cannot reach the database (%s); retrying in %.1f s",
                            self.name, exc, delay)
                stop.wait(delay)
                continue
            if job is not None:
                self.execute(job)
                continue
            stop.wait(self.poll_s)

    def execute(self, job: JobInfo) -> None:
        log.info("job %s: training %s on %s (attempt %d)", job.id, job.task, job.dataset, job.attempts)
        lost = threading.Event()
        try:
            with self._heartbeat(job.id, lost):
                outcome = self.run_job(self, job, lost)
        except JobLost:
            log.warning("job %s was reclaimed while worker %s was cut off; abandoned", job.id, self.name)
        except JobCancelled:
            self._finish(job.id, CANCELLED)
        except Unavailable as exc:
            self._give_back(job.id, f"{exc.message} during the job", counted=True, within_s=FINAL_WRITE_S)
        except AiaasError as exc:
            self._finish(job.id, FAILED, error=exc.message)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            self._finish(job.id, FAILED, error=f"{type(exc).__name__}: {exc}")
        except BaseException:
            self._give_back(job.id, f"worker {self.name} was stopped", counted=False,
                            within_s=STOP_WRITE_S)
            raise
        else:
            self._finish(job.id, SUCCEEDED, version=outcome.version, metrics=outcome.metrics,
                         result=outcome.result)

    def progress_of(self, job_id: str, lost: threading.Event) -> Any:
        """The progress callback of one job: stores each point as an event, and raises
        ``JobCancelled`` once a cancel was asked, ``JobLost`` once the job is not this
        worker's any more (a worker of the same name may call it from another process)."""
        def progress(stage: str, **values: Any) -> None:
            if lost.is_set():
                raise JobLost
            try:
                with self.db.session() as session:
                    row = session.execute(select(Job.status, Job.worker, Job.cancel_requested)
                                          .where(Job.id == job_id)).one_or_none()
                    if row is None or row.status != RUNNING or row.worker != self.name:
                        raise JobLost
                    add_event(session, job_id, "progress", {"stage": stage, **values})
                    cancel = row.cancel_requested
            except Unavailable:
                log.warning("job %s: progress %r not stored, the database is unreachable", job_id, stage)
                return
            if cancel:
                raise JobCancelled
        return progress

    @contextmanager
    def _heartbeat(self, job_id: str, lost: threading.Event) -> Iterator[None]:
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat_s):
                try:
                    with self.db.session() as session:
                        mine = changed_rows(session, update(Job).where(
                            Job.id == job_id, Job.status == RUNNING, Job.worker == self.name)
                            .values(heartbeat_at=utcnow()))
                except Exception as exc:
                    log.warning("heartbeat of job %s not stored: %s", job_id, exc)
                    continue
                if not mine:
                    lost.set()
                    return

        thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _retrying(self, write: Callable[[], T], what: str, within_s: float) -> T | None:
        """``write()``, retried with backoff while the database is away, for ``within_s``."""
        deadline, delay = time.monotonic() + within_s, 0.25
        while True:
            try:
                return write()
            except Exception as exc:
                if time.monotonic() + delay > deadline:
                    log.error("%s not stored, giving up: %s (the job is reclaimed once its "
                              "heartbeat is stale)", what, exc)
                    return None
                log.warning("%s not stored (%s); retrying in %.1f s", what, exc, delay)
                time.sleep(delay)
                delay = min(MAX_BACKOFF_S, delay * 2)

    def _give_back(self, job_id: str, reason: str, *, counted: bool, within_s: float) -> None:
        """Reclaim this worker's own job: requeued (``counted=False``: its attempt given back)."""
        def write() -> str | None:
            with self.db.session() as session:
                job = session.get(Job, job_id)
                if job is None or job.worker != self.name:
                    return None
                return reclaim(session, job, reason, counted=counted)

        status = self._retrying(write, f"job {job_id}'s release", within_s)
        log.info("job %s given back: %s (%s)", job_id, status, reason)

    def _finish(self, job_id: str, status: str, *, error: str | None = None, version: int | None = None,
                metrics: dict[str, Any] | None = None, result: dict[str, Any] | None = None) -> None:
        def write() -> int:
            with self.db.session() as session:
                changed = changed_rows(session, update(Job).where(
                    Job.id == job_id, Job.status == RUNNING, Job.worker == self.name).values(
                    status=status, error=error, version=version, metrics=metrics or {},
                    result=result or {}, finished_at=utcnow()))
                if changed:
                    payload: dict[str, Any] = {"status": status}
                    if error:
                        payload["error"] = error
                    if version is not None:
                        payload |= {"version": version, **{k: v for k, v in (result or {}).items()
                                                            if k in ("promoted", "promotion_reason")}}
                    add_event(session, job_id, "status", payload)
                return changed

        if self._retrying(write, f"job {job_id}'s outcome", FINAL_WRITE_S):
            log.info("job %s %s%s", job_id, status, f": {error}" if error else "")


def run_here(worker: Worker, job: JobInfo, lost: threading.Event) -> Outcome:
    """Train ``job`` in this process (the default ``RunJob``)."""
    from aiaas.training import runner

    return runner.run(job, worker.registry, worker.data_dir, worker.progress_of(job.id, lost),
                      catalog=worker.catalog, threads=worker.threads)


def watch_parent(parent_pid: int, stop: threading.Event, every_s: float = 0.5) -> threading.Thread:
    """A thread that stops this process (SIGTERM to itself: the job in hand is requeued) once
    ``parent_pid`` is no longer its parent: a worker outlives no server, even mid-job."""
    def watch() -> None:
        while not stop.wait(every_s):
            if os.getppid() != parent_pid:
                log.warning("server process %d is gone; worker stops", parent_pid)
                stop.set()
                os.kill(os.getpid(), signal.SIGTERM)
                return

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread


def _build(settings: Settings) -> Any:
    """``wiring.build``, retried while the database cannot be reached: a worker started during
    an outage waits it out."""
    from aiaas.training import wiring

    delay = 0.5
    while True:
        try:
            return wiring.build(settings)
        except Exception as exc:
            log.warning("worker cannot start yet (%s); retrying in %.1f s", exc, delay)
            time.sleep(delay)
            delay = min(MAX_BACKOFF_S, delay * 2)


def run(settings: Settings, *, poll_s: float = 0.5, parent_pid: int | None = None,
        name: str | None = None, run_job: RunJob | None = None) -> None:
    """Run a worker on ``settings`` until SIGTERM (or until ``parent_pid`` is no longer the
    parent: the embedded worker ends with its server)."""
    from aiaas.logs import configure
    from aiaas.training import wiring

    def on_term(_signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    configure(settings.log_level, json_lines=settings.log_json)
    threads = wiring.start_torch(settings)
    core = _build(settings)
    stop = threading.Event()
    try:
        Worker(core.db, core.registry, settings.data_dir, heartbeat_s=settings.job_heartbeat_s,
               poll_s=poll_s, catalog=core.catalog, threads=threads,
               name=name, run_job=run_job).run_forever(stop, parent_pid)
    finally:
        core.db.dispose()


def main(argv: list[str] | None = None,
         jobs_for: Callable[[Settings], RunJob] | None = None) -> None:
    """The command line: the flags override the environment and the config file, as
    ``aiaas serve``'s do. ``jobs_for``: where jobs train, from the settings
    (``aiaas.cluster.worker`` passes Ray's); default in this process."""
    from aiaas.config import load_settings

    parser = argparse.ArgumentParser(prog="python -m aiaas.training.worker")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="Data dir (default: $AIAAS_DATA_DIR, else ~/.aiaas).")
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL (default: $AIAAS_DATABASE_URL, else SQLite in the data dir).")
    parser.add_argument("--heartbeat-s", type=float, default=None,
                        help="Heartbeat interval (default: $AIAAS_JOB_HEARTBEAT_S, else 2).")
    parser.add_argument("--poll-s", type=float, default=0.5)
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="Exit when this process is no longer the parent (embedded worker).")
    parser.add_argument("--name", default=None,
                        help="How jobs name this worker (default: host-pid-random).")
    args = parser.parse_args(argv)
    settings = load_settings(data_dir=args.data_dir, database_url=args.database_url,
                             job_heartbeat_s=args.heartbeat_s)
    run(settings, poll_s=args.poll_s, parent_pid=args.parent_pid, name=args.name,
        run_job=jobs_for(settings) if jobs_for is not None else None)


if __name__ == "__main__":
    main()
