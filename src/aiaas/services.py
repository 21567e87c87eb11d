"""The service layer assembled: one object per running server, built from settings.

No HTTP here. The API, the CLI's offline commands and the tests all start from ``Services``.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field

from aiaas.audit import AuditLog
from aiaas.auth.keys import KeyService
from aiaas.auth.sessions import ConsoleSessions
from aiaas.billing import BillingService, BudgetCheck
from aiaas.calls import FrontDoor, Meter
from aiaas.calls.shutdown import ShutdownDeadline
from aiaas.config import Settings
from aiaas.db.engine import Database
from aiaas.errors import NotStarting
from aiaas.explain.queue import ExplainQueue
from aiaas.explain.service import ExplainService
from aiaas.limits import Counters, RateLimitCheck
from aiaas.metrics import Metrics
from aiaas.privacy.service import PrivacyService
from aiaas.registry.hygiene import Hygiene
from aiaas.registry.service import Registry
from aiaas.registry.uploads import Uploads
from aiaas.runtime import process
from aiaas.runtime.idle_memory import IdleMemory
from aiaas.runtime.placement import Placement
from aiaas.runtime.replica import LocalReplicas, ReplicaFactory
from aiaas.runtime.tuning import ServingTuner
from aiaas.tenants import TenantService
from aiaas.training import wiring
from aiaas.training.datasets import DatasetStore
from aiaas.training.evaluations import EvaluationService
from aiaas.training.job_events import JobEventHub
from aiaas.training.jobs import JobService
from aiaas.training.supervisor import WorkerSupervisor
from aiaas.usage.service import UsageService

log = logging.getLogger("aiaas")


def _replica_factory(settings: Settings, metrics: Metrics, registry: Registry) -> ReplicaFactory:
    """Replicas in this process, or on the Ray cluster when ``ray_address`` is set (the only
    place Ray is imported: a server on one machine never loads it)."""
    if settings.ray_address is None:
        return LocalReplicas(settings, metrics, registry)
    try:
        from aiaas.cluster.replicas import RayReplicas
    except ImportError as exc:
        raise NotStarting("AIAAS_RAY_ADDRESS is set but Ray is not installed: "
                         "pip install 'aiaas[ray]'") from exc
    return RayReplicas(settings)


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
    job_events: JobEventHub
    supervisor: WorkerSupervisor
    billing: BillingService
    tenants: TenantService
    limiter: RateLimitCheck
    privacy: PrivacyService
    audit: AuditLog
    """The tamper-evident log of every change (``aiaas.audit``); the services above record in it."""
    explain: ExplainService
    """Explanations beside predictions, on their own queue (``aiaas.explain``)."""
    sessions: ConsoleSessions
    """The web console's sign-ins (``aiaas.auth.sessions``)."""
    hygiene: Hygiene | None = None
    idle_memory: IdleMemory = field(default_factory=lambda: IdleMemory(0))
    """Told of every request by the HTTP layer; trims freed memory after a quiet spell."""
    shutdown: ShutdownDeadline = field(default_factory=ShutdownDeadline)
    """Begun by the server as its graceful shutdown starts; streams end at its deadline."""

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Create the data dir, apply migrations and wire the services (nothing is loaded yet);
        the part the training worker shares is wired by ``training.wiring.build``."""
        core = wiring.build(settings)
        db, registry, datasets, catalog = core.db, core.registry, core.datasets, core.catalog
        audit = core.audit
        usage = UsageService(db, journal_dir=settings.data_dir / "usage-journal"
                             if settings.usage_journal else None)
        metrics = Metrics()
        placement = Placement(settings, registry, _replica_factory(settings, metrics, registry),
                              metrics)
        billing = BillingService(db, registry, usage, metrics, currency=settings.currency,
                                 cache_s=settings.cache_ttl_s, sync_s=settings.budget_sync_s,
                                 audit=audit)
        calls = FrontDoor(settings, registry, placement, Meter(usage, metrics, pricing=billing))
        tenants = TenantService(db, cache_s=settings.cache_ttl_s, audit=audit)
        limiter = RateLimitCheck(tenants.directory,
                                 Counters(settings.redis_url, key_prefix=settings.redis_key_prefix,
                                          timeout_s=settings.redis_timeout_s,
                                          lease_share=settings.limits_lease_share),
                                 metrics, calls.limits, fail_open=settings.limits_fail_open)
        privacy = PrivacyService(settings, db, audit=audit)
        calls.checks.append(privacy.check)
        calls.filters.append(privacy.check)
        datasets.privacy = privacy.analyzer
        calls.checks.append(limiter)
        calls.checks.append(BudgetCheck(billing, calls.limits))
        job_events = JobEventHub(db, max_streams_per_key=settings.max_job_streams_per_key)
        jobs = JobService(db, settings.data_dir, catalog, notify=job_events.notify, audit=audit,
                          vault=core.vault)
        keys = KeyService(db, cache_s=settings.cache_ttl_s, audit=audit)
        tuner = ServingTuner(settings, registry, placement, audit=audit)
        evaluations = EvaluationService(db, settings.data_dir, calls, catalog,
                                        chunk=settings.max_inputs, audit=audit,
                                        vault=core.vault)
        return cls(settings, db, keys, registry, usage, metrics, placement, calls, jobs, datasets,
                   tuner, evaluations, Uploads.from_settings(registry, settings), job_events,
                   WorkerSupervisor(settings, db, notify=job_events.notify), billing=billing,
                   tenants=tenants, limiter=limiter, privacy=privacy, audit=audit,
                   explain=ExplainService(calls, registry, ExplainQueue()),
                   sessions=ConsoleSessions(db, keys, lifetime_s=settings.console_session_s,
                                            cache_s=settings.cache_ttl_s),
                   idle_memory=IdleMemory(settings.idle_trim_s))

    @property
    def worker_process(self) -> subprocess.Popen[bytes] | None:
        """The embedded training worker while it runs (the supervisor restarts it)."""
        return self.supervisor.process

    async def start(self) -> None:
        import asyncio

        process.configure(self.settings.torch_threads)

        if self.settings.builtin_models:
            from aiaas.builtin import ensure_builtins

            await asyncio.to_thread(ensure_builtins, self.registry)
        self.hygiene = Hygiene.from_settings(self.registry, self.settings)
        await self.hygiene.start()
        await asyncio.to_thread(self.datasets.sweep)
        await asyncio.to_thread(self.usage.start)
        await self.placement.start()
        await self.privacy.start()
        await self.job_events.start()
        await self.supervisor.start()
        await self.idle_memory.start()

    async def stop(self) -> None:
        await self.idle_memory.stop()
        if self.hygiene is not None:
            await self.hygiene.stop()
        await self.supervisor.stop()
        await self.job_events.stop()
        await self.placement.stop()
        self.usage.stop()
        await self.limiter.close()
        self.explain.queue.close()
        self.db.dispose()
