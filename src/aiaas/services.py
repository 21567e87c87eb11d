"""The service layer assembled: one object per running server, built from settings.

No HTTP here. The API, the CLI's offline commands and the tests all start from ``Services``.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from aiaas.auth.keys import KeyService
from aiaas.config import Settings
from aiaas.db import migrate
from aiaas.db.engine import Database
from aiaas.metrics import Metrics
from aiaas.registry.service import Registry
from aiaas.registry.store import ArtifactStore
from aiaas.runtime.manager import RuntimeManager
from aiaas.usage.service import UsageService

log = logging.getLogger("aiaas")
STALE_STAGING_S = 3600.0


def sweep_staging(tmp_dir: Path, older_than_s: float = STALE_STAGING_S) -> None:
    """Remove uploads and staging dirs left by a crash; recent ones may belong to a live peer."""
    cutoff = time.time() - older_than_s
    for path in tmp_dir.glob("stage-*"):
        if path.stat().st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)


@dataclass
class Services:
    settings: Settings
    db: Database
    keys: KeyService
    registry: Registry
    usage: UsageService
    metrics: Metrics
    runtime: RuntimeManager

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Create the data dir, apply migrations and wire the services (nothing is loaded yet)."""
        settings.ensure_dirs()
        db = Database(settings.sqlalchemy_url)
        migrate.upgrade(db.engine)
        registry = Registry(db, ArtifactStore(settings.artifacts_dir, settings.tmp_dir))
        usage = UsageService(db)
        metrics = Metrics()
        runtime = RuntimeManager(settings, registry, usage, metrics)
        return cls(settings, db, KeyService(db), registry, usage, metrics, runtime)

    async def start(self) -> None:
        import asyncio

        if self.settings.builtin_models:
            from aiaas.builtin import ensure_builtins

            await asyncio.to_thread(ensure_builtins, self.registry)
        await asyncio.to_thread(sweep_staging, self.settings.tmp_dir)
        self.usage.start()
        await self.runtime.start()

    async def stop(self) -> None:
        await self.runtime.stop()
        self.usage.stop()
        self.db.dispose()
