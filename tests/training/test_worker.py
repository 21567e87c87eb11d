"""A worker killed with SIGKILL mid-job: the next worker marks the job failed with the reason,
so no job stays "running" forever, and the API answers throughout."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from tests.conftest import HEARTBEAT_S, Api

LONG_JOB = {"task": "image-classification", "dataset": "builtin:digits", "name": "digits",
            "params": {"epochs": 300}}


async def _status(api: Api, job_id: str) -> dict[str, object]:
    response = await api.client.get(f"/api/v1/jobs/{job_id}", headers=api.auth())
    assert response.status_code == 200
    job: dict[str, object] = response.json()
    return job


async def _wait_for(api: Api, job_id: str, status: str, seconds: float) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = await _status(api, job_id)
        if job["status"] == status:
            return job
        await asyncio.sleep(0.2)
    raise AssertionError(f"job never became {status}: {job}")


async def test_a_killed_worker_leaves_no_job_running(train_api: Api) -> None:
    created = await train_api.client.post("/api/v1/jobs", json=LONG_JOB, headers=train_api.auth())
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    await _wait_for(train_api, job_id, "running", 60)
    events = (await train_api.client.get(f"/api/v1/jobs/{job_id}/logs",
                                         headers=train_api.auth())).text
    worker = train_api.services.worker_process
    assert worker is not None and "running" in events
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)

    settings = train_api.services.settings
    again = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiaas.training.worker", "--data-dir", str(settings.data_dir),
        "--heartbeat-s", str(HEARTBEAT_S))
    try:
        job = await _wait_for(train_api, job_id, "failed", 60)
    finally:
        again.terminate()
        await again.wait()
    assert job["error"] == "worker stopped" and job["version"] is None
    models = (await train_api.client.get("/api/v1/models", headers=train_api.auth())).json()
    assert all(model["name"] != "digits" for model in models["models"])
