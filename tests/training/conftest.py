"""Fixtures for training: an in-process API whose embedded worker is a real separate process (fast
heartbeat), and services with no worker for tests that drive a ``Worker`` step by step."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from aiaas.api.app import create_app
from aiaas.config import Settings
from aiaas.services import Services
from aiaas.training.worker import Worker
from tests.conftest import Api

HEARTBEAT_S = 0.5


@pytest.fixture
async def train_api(tmp_path: Path) -> AsyncIterator[Api]:
    import httpx

    settings = Settings(data_dir=tmp_path / "data", builtin_models=False, log_json=False,
                        embedded_worker=True, job_heartbeat_s=HEARTBEAT_S)
    services = Services.build(settings)
    app = create_app(settings, services)
    admin = services.keys.create(name="admin", tenant="default", admin=True).secret
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        assert services.worker_process is not None and services.worker_process.poll() is None
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://aiaas.test",
                                     timeout=120) as client:
            yield Api(client, services, admin)
    assert services.worker_process is None


@pytest.fixture
def quiet_services(tmp_path: Path, database_url: str) -> Iterator[Services]:
    """Services with no worker process (SQLite, then PostgreSQL when it answers)."""
    settings = Settings(data_dir=tmp_path / "quiet", database_url=database_url, builtin_models=False,
                        log_json=False, embedded_worker=False, job_heartbeat_s=HEARTBEAT_S)
    services = Services.build(settings)
    yield services
    services.db.dispose()


@pytest.fixture
def worker(quiet_services: Services) -> Worker:
    return Worker(quiet_services.db, quiet_services.registry, quiet_services.settings.data_dir,
                  heartbeat_s=HEARTBEAT_S, poll_s=0.05)


async def job_events(api: Api, job_id: str, key: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The job's SSE stream read to its end (it ends with the job), as (event type, data) pairs."""
    response = await api.client.get(f"/api/v1/jobs/{job_id}/events", headers=api.auth(key))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events
