"""The server's side of training: keep the embedded worker alive and reclaim dead workers' jobs.

Why in the server: the worker is a separate process (a crash in a trainer, an out-of-memory kill,
an operator's ``kill -9`` must not take the API down), so something must notice when it dies.
The supervisor polls its child twice a second: a dead worker is reaped (no zombie), its running
jobs are reclaimed at once (``jobs.reclaim_worker``: requeued once, else failed with the exit
status), and a new worker is started after a backoff that doubles from 1 s to 60 s while workers
keep dying young. Independently of the embedded worker, it reclaims jobs whose heartbeat went
stale (a worker of another server, or one started by hand, that died): any live process does.

``health()`` is what ``/readyz`` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

from aiaas.config import Settings
from aiaas.db.engine import Database
from aiaas.training import wiring
from aiaas.training.jobs import reclaim_stale, reclaim_worker
from aiaas.training.worker import STALE_FACTOR

log = logging.getLogger("aiaas.training.supervisor")
CHECK_S = 0.5
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
HEALTHY_AFTER_S = 60.0
"""A worker that lived this long died of something else than its start: backoff starts over."""
STOP_TIMEOUT_S = 15.0


def start_worker(settings: Settings, name: str) -> subprocess.Popen[bytes]:
    """Start a training worker (``aiaas.training.worker``; on a Ray cluster
    ``aiaas.cluster.worker``, which trains each job as a Ray task) as a separate process; it exits by
    itself when this process is gone. This server's settings travel as ``AIAAS_*`` variables
    (``wiring.child_environment``), the database URL among them: in the environment, not on the
    command line, where ``ps`` would show a password."""
    module = "aiaas.cluster.worker" if settings.ray_address else "aiaas.training.worker"
    command = [sys.executable, "-m", module, "--parent-pid", str(os.getpid()), "--name", name]
    env = wiring.child_environment(settings)
    return subprocess.Popen(command, env=env)  # noqa: S603  (our own module, no shell)


def stop_worker(process: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM (the worker requeues the job in hand and exits), then SIGKILL after a timeout."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class WorkerSupervisor:
    def __init__(self, settings: Settings, db: Database, *,
                 notify: Callable[[str], None] = lambda _job_id: None) -> None:
        """``notify(job_id)`` is told of each job it reclaims (wakes event streams)."""
        self.settings, self.db, self.notify = settings, db, notify
        self.embedded = settings.embedded_worker
        self.process: subprocess.Popen[bytes] | None = None
        self.name = ""
        self.restarts = 0
        self.last_exit: str | None = None
        self._started_at = 0.0
        self._backoff_s = FIRST_BACKOFF_S
        self._restart_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def stale_after_s(self) -> float:
        return STALE_FACTOR * self.settings.job_heartbeat_s

    async def start(self) -> None:
        if self.embedded:
            self._spawn()
        self._task = asyncio.create_task(self._watch(), name="worker-supervisor")

    async def stop(self) -> None:
        """Stop watching, then stop the worker: SIGTERM requeues its job; one that had to be
        killed has its job reclaimed here."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        process, self.process = self.process, None
        if process is not None:
            await asyncio.to_thread(stop_worker, process)
            if process.returncode is not None and process.returncode < 0:
                await self._reclaim(self.name, describe_exit(process.returncode))

    def health(self) -> str:
        """``ok``, ``disabled``, or why the worker is down and when it comes back."""
        if not self.embedded:
            return "disabled"
        if self.process is not None and self.process.poll() is None:
            return "ok" if not self.restarts else f"ok (restarted {self.restarts}x, last {self.last_exit})"
        wait = max(0.0, (self._restart_at or time.monotonic()) - time.monotonic())
        return f"restarting: {self.last_exit or 'not running'}; next start in {wait:.0f} s"

    def _spawn(self) -> None:
        self.name = f"{socket.gethostname()[:32]}-embedded-{uuid.uuid4().hex[:8]}"
        self.process = start_worker(self.settings, self.name)
        self._started_at, self._restart_at = time.monotonic(), None
        log.info("training worker %s started (pid %d)", self.name, self.process.pid)

    async def _watch(self) -> None:
        last_sweep = 0.0
        while True:
            await asyncio.sleep(CHECK_S)
            try:
                await self._check_worker()
                if time.monotonic() - last_sweep >= self.settings.job_heartbeat_s:
                    last_sweep = time.monotonic()
                    reclaimed = await asyncio.to_thread(reclaim_stale, self.db, self.stale_after_s)
                    self._told(reclaimed, f"no heartbeat for {self.stale_after_s:g} s")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("worker supervision: %s (the database may be away); trying again", exc)

    async def _check_worker(self) -> None:
        process = self.process
        if process is not None and process.poll() is not None:  # poll() reaps: no zombie
            self.process, lived = None, time.monotonic() - self._started_at
            self.last_exit = describe_exit(process.returncode)
            self._backoff_s = FIRST_BACKOFF_S if lived >= HEALTHY_AFTER_S else self._backoff_s
            self._restart_at = time.monotonic() + self._backoff_s
            log.error("training worker %s %s after %.0f s; restarting in %.0f s",
                      self.name, self.last_exit, lived, self._backoff_s)
            self._backoff_s = min(MAX_BACKOFF_S, self._backoff_s * 2)
            await self._reclaim(self.name, self.last_exit)
        if self.process is None and self.embedded and self._restart_at is not None \
                and time.monotonic() >= self._restart_at:
            self.restarts += 1
            self._spawn()

    async def _reclaim(self, name: str, exit_: str) -> None:
        reason = f"worker {name} {exit_}"
        self._told(await asyncio.to_thread(reclaim_worker, self.db, name, reason), reason)

    def _told(self, reclaimed: dict[str, str], reason: str) -> None:
        for job_id, status in reclaimed.items():
            log.warning("job %s reclaimed (%s): %s", job_id, reason, status)
            self.notify(job_id)
