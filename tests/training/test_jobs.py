"""The job service and the worker, driven step by step (SQLite, then PostgreSQL when it answers)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from aiaas.db.tables import utcnow
from aiaas.db.training_tables import Job
from aiaas.errors import Conflict
from aiaas.services import Services
from aiaas.training.worker import Worker

IRIS = {"task": "tabular-classification", "dataset": "builtin:iris", "name": "iris"}


def _create(services: Services, **extra: object) -> str:
    fields = {**IRIS, "params": {"algorithm": "logistic"}, **extra}
    return services.jobs.create(tenant="t", key_id="k", **fields).id  # type: ignore[arg-type]


def test_stale_running_job_is_failed_at_the_next_worker_start(quiet_services: Services,
                                                              worker: Worker) -> None:
    job_id = _create(quiet_services)
    assert worker.claim() is not None
    fresh_id = _create(quiet_services, name="fresh")
    assert worker.claim() is not None
    with quiet_services.db.session() as session:  # the first worker died long ago
        session.execute(update(Job).where(Job.id == job_id)
                        .values(heartbeat_at=utcnow() - timedelta(seconds=worker.stale_after_s + 1)))
    stop = threading.Event()
    stop.set()
    Worker(quiet_services.db, quiet_services.registry, quiet_services.settings.data_dir,
           heartbeat_s=worker.heartbeat_s).run_forever(stop)
    job = quiet_services.jobs.get("t", job_id)
    assert (job.status, job.error) == ("failed", "worker stopped")
    assert quiet_services.jobs.events("t", job_id)[-1].payload == {"status": "failed",
                                                                    "error": "worker stopped"}
    assert quiet_services.jobs.get("t", fresh_id).status == "running"


def test_cancel_queued_at_once_and_running_at_the_next_progress_point(
        quiet_services: Services, worker: Worker) -> None:
    queued = _create(quiet_services)
    assert quiet_services.jobs.cancel("t", queued).status == "cancelled"
    assert worker.claim() is None
    with pytest.raises(Conflict):
        quiet_services.jobs.cancel("t", queued)

    running = _create(quiet_services, params={"algorithm": "auto"})
    claimed = worker.claim()
    assert claimed is not None and claimed.id == running
    assert quiet_services.jobs.cancel("t", running).status == "running"
    worker.execute(claimed)
    job = quiet_services.jobs.get("t", running)
    assert job.status == "cancelled" and job.version is None
    stages = [e.payload.get("stage") for e in quiet_services.jobs.events("t", running)
              if e.type == "progress"]
    assert stages == ["split"]
    assert quiet_services.registry.list_models("t") == []


def test_gate_moves_production_only_when_it_holds(quiet_services: Services, worker: Worker) -> None:
    outcomes = []
    for condition in (None, "accuracy>=0.5", "f1_macro>1"):
        job_id = _create(quiet_services, promote_if=condition)
        claimed = worker.claim()
        assert claimed is not None
        worker.execute(claimed)
        job = quiet_services.jobs.get("t", job_id)
        assert job.status == "succeeded", job.error
        outcomes.append((job.version, job.result["promoted"], job.result["promotion_reason"],
                         quiet_services.registry.get_model("t", "iris").aliases["production"]))
    assert outcomes[0] == (1, True, "first version of the model", 1)
    assert outcomes[1][0:2] == (2, True) and outcomes[1][3] == 2
    assert outcomes[1][2].startswith("accuracy ") and outcomes[1][2].endswith(">= 0.5")
    assert outcomes[2][0:2] == (3, False) and outcomes[2][3] == 2
    assert outcomes[2][2].startswith("not f1_macro ") and outcomes[2][2].endswith("> 1")


def test_failure_is_recorded_with_its_reason(quiet_services: Services, worker: Worker) -> None:
    job_id = _create(quiet_services, name="iris")
    with quiet_services.db.session() as session:  # a dataset that vanished after queueing
        session.execute(update(Job).where(Job.id == job_id).values(dataset="builtin:gone"))
    claimed = worker.claim()
    assert claimed is not None
    worker.execute(claimed)
    job = quiet_services.jobs.get("t", job_id)
    assert job.status == "failed" and "dataset 'builtin:gone' not found" in (job.error or "")
