"""The embedded worker killed with SIGKILL mid-job, twice: the server reaps it (no zombie),
restarts it, requeues the job once and fails it with the reason the second time; the next job
starts within 10 s of each kill, and ``/readyz`` says what happened."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from tests.conftest import Api

LONG_JOB = {"task": "image-classification", "dataset": "builtin:digits", "name": "digits",
            "params": {"epochs": 300}}
QUICK_JOB = {"task": "tabular-classification", "dataset": "builtin:iris", "name": "iris",
             "params": {"algorithm": "logistic"}}


async def _job(api: Api, job_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/api/v1/jobs/{job_id}", headers=api.auth())
    assert response.status_code == 200
    job: dict[str, Any] = response.json()
    return job


async def _wait_for(api: Api, job_id: str, seconds: float, **wanted: Any) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = await _job(api, job_id)
        if all(job[key] == value for key, value in wanted.items()):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job never had {wanted} in {seconds} s: {job}")


def _reaped(pid: int) -> bool:
    """True once ``pid`` is gone, zombie included (its parent waited for it)."""
    return not os.path.exists(f"/proc/{pid}")


async def _kill_worker(api: Api) -> int:
    worker = api.services.worker_process
    assert worker is not None
    os.kill(worker.pid, signal.SIGKILL)
    return worker.pid


async def test_a_killed_worker_is_reaped_restarted_and_its_job_requeued_once(train_api: Api) -> None:
    created = await train_api.client.post("/api/v1/jobs", json=LONG_JOB, headers=train_api.auth())
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    await _wait_for(train_api, job_id, 60, status="running")

    killed = await _kill_worker(train_api)
    started = time.monotonic()
    job = await _wait_for(train_api, job_id, 10, status="running", attempts=2)
    assert time.monotonic() - started < 10
    assert _reaped(killed)
    ready = (await train_api.client.get("/readyz")).json()
    assert ready["status"] == "ready"
    assert ready["checks"]["worker"] == "ok (restarted 1x, last killed by SIGKILL)"
    events = (await train_api.client.get(f"/api/v1/jobs/{job_id}/logs", headers=train_api.auth())).text
    assert "status status=queued reason=worker stopped: worker " in events
    assert "killed by SIGKILL attempts=1" in events

    quick = (await train_api.client.post("/api/v1/jobs", json=QUICK_JOB,
                                         headers=train_api.auth())).json()
    await _kill_worker(train_api)
    started = time.monotonic()
    job = await _wait_for(train_api, job_id, 10, status="failed")
    assert job["error"].startswith("worker stopped: worker ") and job["version"] is None
    assert job["error"].endswith("killed by SIGKILL")
    await _wait_for(train_api, quick["id"], 10, status="running")
    assert time.monotonic() - started < 10
    assert (await _wait_for(train_api, quick["id"], 60, status="succeeded"))["attempts"] == 1
    models = (await train_api.client.get("/api/v1/models", headers=train_api.auth())).json()
    assert all(model["name"] != "digits" for model in models["models"])
