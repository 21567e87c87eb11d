"""Health, readiness, metrics and the runtime's state. Only ``/healthz`` and ``/readyz`` answer
without a key."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from aiaas.api.deps import AdminDep, ServicesDep
from aiaas.db import migrate

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    """Ready when the database answers and its schema is at the latest migration."""
    checks: dict[str, str] = {}
    try:
        current = await asyncio.to_thread(migrate.is_current, services.db.engine)
        checks["database"] = "ok"
        checks["migrations"] = "current" if current else "behind"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ready = checks.get("database") == "ok" and checks.get("migrations") == "current"
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics(principal: AdminDep, services: ServicesDep) -> Response:
    """Prometheus text format; needs a key with the admin scope."""
    services.metrics.usage_backlog.set(services.usage.backlog)
    return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/runtime")
async def runtime_status(principal: AdminDep, services: ServicesDep) -> dict[str, Any]:
    """Loaded model versions of every tenant: the engine each runs on (with the reason when it
    fell back), batching, queue depth and memory. Needs the admin scope."""
    return {"loaded": services.placement.status(),
            "memory_budget_mb": services.settings.memory_budget_mb}
