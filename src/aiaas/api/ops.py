"""Health, readiness, metrics and the runtime's state. Only ``/healthz`` and ``/readyz`` answer
without a key."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from aiaas.api.deps import AdminDep, ServicesDep
from aiaas.db import migrate
from aiaas.services import Services

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    """Ready when the database answers and takes writes (usage rows and registrations are
    writes), its schema is at the latest migration, and the data dir has at least
    ``min_free_disk_mb`` free. ``worker`` reports the embedded training worker (``ok``,
    ``disabled``, or why it is down and when it restarts); it does not decide readiness:
    predictions are served without it. ``limits`` says where rate-limit counters live
    (``memory``; Redis: ``ok`` or unreachable, when limited calls get 503 unless
    ``limits_fail_open``); it does not decide readiness either."""
    checks: dict[str, str] = {}
    try:
        current = await asyncio.to_thread(migrate.is_current, services.db.engine)
        checks["migrations"] = "current" if current else "behind"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    else:
        try:
            await asyncio.to_thread(services.db.check_writable)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"not writable: {type(exc).__name__}"
    free_mb = shutil.disk_usage(services.settings.data_dir).free / 2**20
    minimum = services.settings.min_free_disk_mb
    checks["disk"] = "ok" if free_mb >= minimum else (
        f"low: {free_mb:.0f} MiB free in the data dir, below min_free_disk_mb ({minimum:.0f})")
    ready = (checks.get("database") == "ok" and checks.get("migrations") == "current"
             and checks["disk"] == "ok")
    checks["worker"] = services.supervisor.health()
    checks["limits"] = await services.limiter.health()
    body = {"status": "ready" if ready else "not_ready", "checks": checks,
            "free_disk_mb": round(free_mb)}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics(principal: AdminDep, services: ServicesDep) -> Response:
    """Prometheus text format; needs a key with the admin scope."""
    services.metrics.usage_backlog.set(services.usage.backlog)
    _generation_gauges(services)
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _generation_gauges(services: Services) -> None:
    """Sequences running and waiting per loaded generative model, read at scrape time (a model
    unloaded since the last scrape leaves the gauges)."""
    running, waiting = services.metrics.generations_running, services.metrics.generations_waiting
    running.clear()
    waiting.clear()
    for replica in services.placement.status():
        generation = replica.get("generation")
        if isinstance(generation, dict):
            labels = (replica["tenant"], replica["model"], str(replica["version"]))
            running.labels(*labels).set(generation["running"])
            waiting.labels(*labels).set(generation["waiting"])


@router.get("/api/v1/runtime")
async def runtime_status(principal: AdminDep, services: ServicesDep) -> dict[str, Any]:
    """Loaded model versions of every tenant: the engine each runs on (with the reason when it
    fell back), batching, queue depth, memory and, for generative models, ``generation``: the
    sequences running (``prefilling`` among them) and waiting. Needs the admin scope. On a Ray
    cluster also ``cluster``: its nodes and, per deployment, each replica's node, state and
    calls served."""
    answer: dict[str, Any] = {"loaded": services.placement.status(),
                              "memory_budget_mb": services.settings.memory_budget_mb}
    cluster = await services.placement.factory.cluster()
    if cluster is not None:
        answer["cluster"] = cluster
    return answer
