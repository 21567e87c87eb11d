"""The service layer assembled: one object per running server, built from settings.

No HTTP here. The API, the CLI's offline commands and the tests all start from ``Services``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from aiaas.auth.keys import KeyService
from aiaas.calls import FrontDoor, Meter
from aiaas.config import Settings
from aiaas.db.engine import Database
from aiaas.metrics import Metrics
from aiaas.registry.service import Registry
from aiaas.registry.uploads import Uploads
from aiaas.runtime import process
from aiaas.runtime.placement import Placement
from aiaas.runtime.replica import LocalReplicas
from aiaas.runtime.tuning import ServingTuner
from aiaas.training import wiring
from aiaas.training.datasets import DatasetStore
from aiaas.training.evaluations import EvaluationService
from aiaas.training.jobs import JobService
from aiaas.usage.service import UsageService

log = logging.getLogger("aiaas")
STALE_STAGING_S = 3600.0


def sweep_staging(tmp_dir: Path, older_than_s: float = STALE_STAGING_S) -> None:
    """Remove uploads and staging dirs left by a crash; recent ones may belong to a live peer."""
    cutoff = time.time() - older_than_s
    for path in tmp_dir.glob("stage-*"):
        if path.stat().st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    """Start the embedded training worker (``aiaas.training.worker``) as a separate process; it
    exits by itself when this process is gone. This server's settings travel as ``AIAAS_*``
    variables (``wiring.child_environment``), the database URL among them: in the environment,
    not on the command line, where ``ps`` would show a password."""
    command = [sys.executable, "-m", "aiaas.training.worker", "--parent-pid", str(os.getpid())]
    env = wiring.child_environment(settings)
    return subprocess.Popen(command, env=env)  # noqa: S603  (our own module, no shell)


def stop_worker(process: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """SIGTERM (the worker marks a job in hand failed and exits), then SIGKILL after a timeout."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class Services:
    settings: Settings
    db: Database
    keys: KeyService
    registry: Registry
    usage: UsageService
    metrics: Metrics
    placement: Placement
    calls: FrontDoor
    jobs: JobService
    datasets: DatasetStore
    tuner: ServingTuner
    evaluations: EvaluationService
    uploads: Uploads
    worker_process: subprocess.Popen[bytes] | None = None

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Create the data dir, apply migrations and wire the services (nothing is loaded yet);
        the part the training worker shares is wired by ``training.wiring.build``."""
        core = wiring.build(settings)
        db, registry, datasets, catalog = core.db, core.registry, core.datasets, core.catalog
        usage = UsageService(db)
        metrics = Metrics()
        placement = Placement(settings, registry,
                              LocalReplicas(settings, metrics, registry.artifact_path), metrics)
        calls = FrontDoor(settings, registry, placement, Meter(usage, metrics))
        jobs = JobService(db, settings.data_dir, catalog)
        keys = KeyService(db, cache_s=settings.cache_ttl_s)
        tuner = ServingTuner(settings, registry, placement)
        evaluations = EvaluationService(db, settings.data_dir, calls, catalog,
                                        chunk=settings.max_inputs)
        return cls(settings, db, keys, registry, usage, metrics, placement, calls, jobs, datasets,
                   tuner, evaluations, Uploads(registry, max_bytes=settings.max_upload_bytes))

    async def start(self) -> None:
        import asyncio

        process.configure(self.settings.torch_threads)

        if self.settings.builtin_models:
            from aiaas.builtin import ensure_builtins

            await asyncio.to_thread(ensure_builtins, self.registry)
        await asyncio.to_thread(sweep_staging, self.settings.tmp_dir)
        await asyncio.to_thread(self.datasets.sweep)
        self.usage.start()
        await self.placement.start()
        if self.settings.embedded_worker:
            self.worker_process = start_worker(self.settings)

    async def stop(self) -> None:
        if self.worker_process is not None:
            import asyncio

            await asyncio.to_thread(stop_worker, self.worker_process)
            self.worker_process = None
        await self.placement.stop()
        self.usage.stop()
        self.db.dispose()
