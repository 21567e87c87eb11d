"""Fixtures for training: services with no worker for tests that drive a ``Worker`` step by step,
and helpers that run a job through the API (``train_api``, in ``tests/conftest.py``) to its end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiaas.auth.principal import DEFAULT_SCOPES, Principal
from aiaas.config import Settings
from aiaas.services import Services
from aiaas.training.worker import Worker
from tests.conftest import HEARTBEAT_S, Api

CALLER = Principal("t", "k", frozenset(DEFAULT_SCOPES))
"""A key of tenant ``t`` with the default scopes, for tests that call the services directly."""


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
    """The job's SSE stream read to its end (it ends with the job), as (event type, data) pairs;
    keep-alive comments are skipped, as an SSE client skips them."""
    response = await api.client.get(f"/api/v1/jobs/{job_id}/events", headers=api.auth(key))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if fields:  # a block of comments only is a keep-alive (sent while a long job is quiet)
            events.append((fields["event"], json.loads(fields["data"])))
    return events


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

OBVIOUSLY_POSITIVE = {"great", "excellent", "love", "loved", "wonderful", "best", "perfect",
                      "perfectly", "amazing", "fantastic", "friendly", "easy", "delicious"}
"""Words no one reads as negative: some must lead a sentiment model's positive class."""
OBVIOUSLY_NEGATIVE = {"bad", "terrible", "awful", "horrible", "worst", "rude", "broken",
                      "disappointing", "dirty", "poor"}
"""Words no one reads as positive (not "never" or "cold": "never a problem", "cold beer")."""


async def _train(api: Api, **body: Any) -> dict[str, Any]:
    response = await api.client.post("/api/v1/jobs", json=body, headers=api.auth())
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued"
    events = await job_events(api, job["id"])
    assert events[0] == ("status", {"status": "queued", "time": events[0][1]["time"]})
    final_type, final = events[-1]
    assert final_type == "status" and final["status"] in {"succeeded", "failed", "cancelled"}
    shown = (await api.client.get(f"/api/v1/jobs/{job['id']}", headers=api.auth())).json()
    assert shown["status"] == final["status"], shown
    shown["events"] = events
    return shown
