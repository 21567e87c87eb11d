"""The training worker: a loop, in its own process, that claims queued jobs and runs them.

``python -m aiaas.training.worker [--data-dir DIR] [--database-url URL]``, or ``aiaas worker``.
The server starts one (``embedded_worker``), handing its settings down as ``AIAAS_*``
variables; more may run against the same database. Either way the worker reads its settings as
the server does (flags, environment, config file) and is wired by the same builder
(``aiaas.training.wiring``); torch's threads are set once, when it starts.

A claim is one conditional UPDATE, so two workers never run the same job. While a job runs, a
thread writes its heartbeat every ``heartbeat_s``; a running job whose heartbeat is older than
``STALE_FACTOR * heartbeat_s`` is marked failed ("worker stopped") when any worker starts and
every few seconds while one runs. SIGTERM marks the job in hand failed the same way and exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from aiaas.config import Settings
from aiaas.db.engine import Database
from aiaas.db.tables import utcnow
from aiaas.db.training_tables import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Job
from aiaas.errors import AiaasError
from aiaas.registry.service import Registry
from aiaas.training.datasets import Catalog
from aiaas.training.jobs import WORKER_STOPPED, JobInfo, add_event, changed_rows, fail_stale

log = logging.getLogger("aiaas.training.worker")
STALE_FACTOR = 5.0


class JobCancelled(Exception):
    """Raised at a progress point once a cancel was requested."""


class Worker:
    def __init__(self, db: Database, registry: Registry, data_dir: Path, *, heartbeat_s: float = 2.0,
                 poll_s: float = 0.5, catalog: Catalog | None = None, threads: int = 0) -> None:
        """``threads``: the torch threads this process was started with (``wiring.start_torch``),
        0 when the caller set none; ``catalog``: the datasets' (the runner opens one when None)."""
        self.db, self.registry, self.data_dir = db, registry, data_dir
        self.heartbeat_s, self.poll_s = heartbeat_s, poll_s
        self.catalog, self.threads = catalog, threads
        self.name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    @property
    def stale_after_s(self) -> float:
        return STALE_FACTOR * self.heartbeat_s

    def sweep(self) -> list[str]:
        failed = fail_stale(self.db, self.stale_after_s)
        for job_id in failed:
            log.warning("job %s had no heartbeat for %.0f s: marked failed", job_id, self.stale_after_s)
        return failed

    def claim(self) -> JobInfo | None:
        """Take the oldest queued job, or None when there is none."""
        with self.db.session() as session:
            for job_id in session.scalars(select(Job.id).where(Job.status == QUEUED)
                                          .order_by(Job.created_at).limit(5)):
                now = utcnow()
                taken = changed_rows(session, update(Job).where(Job.id == job_id, Job.status == QUEUED)
                                     .values(status=RUNNING, started_at=now, heartbeat_at=now,
                                             worker=self.name))
                if taken:
                    add_event(session, job_id, "status", {"status": RUNNING, "worker": self.name})
                    job = session.get(Job, job_id)
                    assert job is not None
                    session.refresh(job)
                    return JobInfo.of(job)
        return None

    def run_forever(self, stop: threading.Event, parent_pid: int | None = None) -> None:
        self.sweep()
        last_sweep = time.monotonic()
        while not stop.is_set():
            if parent_pid is not None and os.getppid() != parent_pid:
                log.info("parent process is gone; worker exits")
                return
            job = self.claim()
            if job is not None:
                self.execute(job)
                continue
            if time.monotonic() - last_sweep > self.heartbeat_s:
                self.sweep()
                last_sweep = time.monotonic()
            stop.wait(self.poll_s)

    def execute(self, job: JobInfo) -> None:
        from aiaas.training import runner

        log.info("job %s: training %s on %s", job.id, job.task, job.dataset)
        try:
            with self._heartbeat(job.id):
                outcome = runner.run(job, self.registry, self.data_dir, self._progress(job.id),
                                     catalog=self.catalog, threads=self.threads)
        except JobCancelled:
            self._finish(job.id, CANCELLED)
        except AiaasError as exc:
            self._finish(job.id, FAILED, error=exc.message)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            self._finish(job.id, FAILED, error=f"{type(exc).__name__}: {exc}")
        except BaseException:
            self._finish(job.id, FAILED, error=WORKER_STOPPED)
            raise
        else:
            self._finish(job.id, SUCCEEDED, version=outcome.version, metrics=outcome.metrics,
                         result=outcome.result)

    def _progress(self, job_id: str) -> Any:
        def progress(stage: str, **values: Any) -> None:
            with self.db.session() as session:
                add_event(session, job_id, "progress", {"stage": stage, **values})
                cancel = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
            if cancel:
                raise JobCancelled
        return progress

    @contextmanager
    def _heartbeat(self, job_id: str) -> Iterator[None]:
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.heartbeat_s):
                try:
                    with self.db.session() as session:
                        session.execute(update(Job).where(Job.id == job_id, Job.status == RUNNING)
                                        .values(heartbeat_at=utcnow()))
                except Exception:
                    log.exception("heartbeat of job %s failed", job_id)

        thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _finish(self, job_id: str, status: str, *, error: str | None = None, version: int | None = None,
                metrics: dict[str, Any] | None = None, result: dict[str, Any] | None = None) -> None:
        with self.db.session() as session:
            changed = changed_rows(session, update(Job).where(Job.id == job_id, Job.status == RUNNING).values(
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
        log.info("job %s %s%s", job_id, status, f": {error}" if error else "")


def run(settings: Settings, *, poll_s: float = 0.5, parent_pid: int | None = None) -> None:
    """Run a worker on ``settings`` until SIGTERM (or until ``parent_pid`` is no longer the
    parent: the embedded worker ends with its server)."""
    from aiaas.logs import configure
    from aiaas.training import wiring

    configure(settings.log_level, json_lines=settings.log_json)
    threads = wiring.start_torch(settings)
    core = wiring.build(settings)
    stop = threading.Event()

    def on_term(_signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    try:
        Worker(core.db, core.registry, settings.data_dir, heartbeat_s=settings.job_heartbeat_s,
               poll_s=poll_s, catalog=core.catalog, threads=threads).run_forever(stop, parent_pid)
    finally:
        core.db.dispose()


def main(argv: list[str] | None = None) -> None:
    """The command line: the flags override the environment and the config file, as
    ``aiaas serve``'s do."""
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
    args = parser.parse_args(argv)
    settings = load_settings(data_dir=args.data_dir, database_url=args.database_url,
                             job_heartbeat_s=args.heartbeat_s)
    run(settings, poll_s=args.poll_s, parent_pid=args.parent_pid)


if __name__ == "__main__":
    main()
