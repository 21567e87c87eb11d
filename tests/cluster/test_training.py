"""Training jobs run as Ray tasks where their resources are, report progress as ever, and a
job whose node dies fails with that reason at once, leaving the next job to run."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.cluster.conftest import RayCluster, ray
from tests.cluster.test_serving import COLD_S, patient
from tests.conftest import LiveServer

ON_WORKER = {"cpus": 1, "custom": {"worker": 1}}
"""Only the worker node declares the custom resource ``worker``: a job asking for it runs there."""


def submit(client: httpx.Client, **body: Any) -> str:
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def wait_job(client: httpx.Client, job_id: str, timeout_s: float,
             done: tuple[str, ...] = ("succeeded", "failed", "cancelled")) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in done:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.5)


def worker_node_id() -> str:
    [node] = [n["NodeID"] for n in ray.nodes() if n["Alive"] and "worker" in n["Resources"]]
    return str(node)


def test_a_job_trains_on_the_node_with_its_resources(ray_server: LiveServer) -> None:
    with ray_server.client(timeout=COLD_S) as client:
        job_id = submit(client, task="tabular-classification", dataset="builtin:breast_cancer",
                        name="cancer-on-ray", params={"seed": 0, "resources": ON_WORKER})
        job = wait_job(client, job_id, 300)
        assert job["status"] == "succeeded", job
        assert job["metrics"]["accuracy"] > 0.9
        logs = client.get(f"/api/v1/jobs/{job_id}/logs").text
        assert f"stage=placed node={worker_node_id()}" in logs
        response = client.post("/api/v1/models/cancer-on-ray/predict", json={"inputs": [patient()]})
        assert response.status_code == 200, response.text


def test_bad_job_resources_are_named(ray_server: LiveServer) -> None:
    with ray_server.client() as client:
        response = client.post("/api/v1/jobs", json={
            "task": "tabular-classification", "dataset": "builtin:breast_cancer", "name": "x",
            "params": {"resources": {"cpus": -1}}})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "params.resources.cpus"


def test_a_job_whose_node_dies_fails_with_the_reason_and_the_next_runs(
        ray_server: LiveServer, ray_cluster: RayCluster) -> None:
    with ray_server.client(timeout=COLD_S) as client:
        job_id = submit(client, task="image-classification", dataset="builtin:digits",
                        name="digits-on-ray", retryable=False,
                        params={"epochs": 300, "resources": ON_WORKER})
        deadline = time.monotonic() + 300
        while "stage=epoch" not in client.get(f"/api/v1/jobs/{job_id}/logs").text:
            assert time.monotonic() < deadline, "the job never reached its first epoch"
            time.sleep(0.5)
        ray_cluster.replace_worker()
        killed = time.monotonic()
        job = wait_job(client, job_id, 60)
        took = time.monotonic() - killed
        assert job["status"] == "failed", job
        assert "Ray node" in job["error"] and "died" in job["error"], job["error"]
        assert took < 10, f"the failure took {took:.1f} s (heartbeat timeout: 10 s)"
        print(f"job failed {took:.2f} s after its node was killed: {job['error']}")
        after = submit(client, task="tabular-classification", dataset="builtin:breast_cancer",
                       name="cancer-after", params={"seed": 1, "resources": ON_WORKER})
        assert wait_job(client, after, 300)["status"] == "succeeded"


def test_two_data_parallel_workers_train_as_well_as_one(ray_server: LiveServer,
                                                        record_property: Any) -> None:
    """The digits CNN with ``workers: 2`` (Ray Train, gloo: each worker takes half of every
    batch, gradients averaged) reaches the macro-F1 of one worker on the same data and seed."""
    base = {"epochs": 4, "seed": 0, "resources": {"cpus": 1}}
    with ray_server.client(timeout=COLD_S) as client:
        one = submit(client, task="image-classification", dataset="builtin:digits",
                     name="digits-one", params=base)
        alone = wait_job(client, one, 600)
        assert alone["status"] == "succeeded", alone
        two = submit(client, task="image-classification", dataset="builtin:digits",
                     name="digits-two", params={**base, "workers": 2})
        pair = wait_job(client, two, 600)
        assert pair["status"] == "succeeded", pair
        logs = client.get(f"/api/v1/jobs/{two}/logs").text
    assert logs.count("stage=placed") == 1 and logs.count("stage=epoch") == 4
    f1_one, f1_two = alone["metrics"]["f1_macro"], pair["metrics"]["f1_macro"]
    record_property("f1_macro", {"one": f1_one, "two": f1_two})
    print(f"digits CNN macro-F1: one worker {f1_one:.4f}, two workers {f1_two:.4f}")
    assert f1_one > 0.9 and abs(f1_one - f1_two) <= 0.02
