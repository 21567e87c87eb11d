"""The job service and the worker, driven step by step (SQLite, then PostgreSQL when it answers)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from aiaas.auth.principal import Principal, Scope
from aiaas.db.engine import Database
from aiaas.db.tables import utcnow
from aiaas.db.training_tables import Job
from aiaas.errors import Conflict, Forbidden
from aiaas.services import Services
from aiaas.training.worker import Worker
from tests.training.conftest import CALLER

IRIS = {"task": "tabular-classification", "dataset": "builtin:iris", "name": "iris"}


def _create(services: Services, **extra: object) -> str:
    fields = {**IRIS, "params": {"algorithm": "logistic"}, **extra}
    return services.jobs.create(CALLER, **fields).id  # type: ignore[arg-type]


def _silence(services: Services, job_id: str, worker: Worker) -> None:
    """The job's worker died long ago: its last heartbeat is older than the stale timeout."""
    with services.db.session() as session:
        session.execute(update(Job).where(Job.id == job_id)
                        .values(heartbeat_at=utcnow() - timedelta(seconds=worker.stale_after_s + 1)))


def test_a_stale_job_is_requeued_once_then_failed_with_the_reason(quiet_services: Services,
                                                                  worker: Worker) -> None:
    job_id = _create(quiet_services)
    assert worker.claim() is not None
    fresh_id = _create(quiet_services, name="fresh")
    assert worker.claim() is not None
    _silence(quiet_services, job_id, worker)
    sweeper = Worker(quiet_services.db, quiet_services.registry, quiet_services.settings.data_dir,
                     heartbeat_s=worker.heartbeat_s)
    assert sweeper.sweep() == {job_id: "queued"}
    job = quiet_services.jobs.get(CALLER, job_id)
    reason = "worker stopped: no heartbeat for 2.5 s"
    assert (job.status, job.attempts, job.error, job.started_at) == ("queued", 1, None, None)
    assert quiet_services.jobs.events(CALLER, job_id)[-1].payload == {
        "status": "queued", "reason": reason, "attempts": 1}
    again = sweeper.claim()
    assert again is not None and (again.id, again.attempts) == (job_id, 2)
    _silence(quiet_services, job_id, worker)
    assert sweeper.sweep() == {job_id: "failed"}
    assert sweeper.sweep() == {}
    job = quiet_services.jobs.get(CALLER, job_id)
    assert (job.status, job.error, job.attempts) == ("failed", reason, 2)
    assert quiet_services.jobs.events(CALLER, job_id)[-1].payload == {
        "status": "failed", "reason": reason, "error": reason}
    assert quiet_services.jobs.get(CALLER, fresh_id).status == "running"


def test_a_job_that_may_not_be_retried_fails_and_a_cancelled_one_is_cancelled(
        quiet_services: Services, worker: Worker) -> None:
    once = _create(quiet_services, retryable=False)
    assert worker.claim() is not None
    asked = _create(quiet_services, name="asked")
    assert worker.claim() is not None
    quiet_services.jobs.cancel(CALLER, asked)
    for job_id in (once, asked):
        _silence(quiet_services, job_id, worker)
    assert worker.sweep() == {once: "failed", asked: "cancelled"}
    assert quiet_services.jobs.get(CALLER, once).error == "worker stopped: no heartbeat for 2.5 s"


def test_a_worker_that_lost_its_job_abandons_it_and_registers_nothing(
        quiet_services: Services, worker: Worker) -> None:
    job_id = _create(quiet_services)
    lost = worker.claim()
    assert lost is not None
    _silence(quiet_services, job_id, worker)
    other = Worker(quiet_services.db, quiet_services.registry, quiet_services.settings.data_dir,
                   heartbeat_s=worker.heartbeat_s)
    other.sweep()
    assert other.claim() is not None
    worker.execute(lost)
    job = quiet_services.jobs.get(CALLER, job_id)
    assert (job.status, job.version) == ("running", None)
    assert quiet_services.registry.list_models(CALLER) == []
    other.execute(quiet_services.jobs.get(CALLER, job_id))
    assert quiet_services.jobs.get(CALLER, job_id).status == "succeeded"


def test_a_stopped_worker_gives_its_job_back_without_counting_the_attempt(
        quiet_services: Services, worker: Worker) -> None:
    job_id = _create(quiet_services, retryable=False)
    claimed = worker.claim()
    assert claimed is not None and claimed.attempts == 1

    def stop(_stage: str, **_values: object) -> None:
        raise KeyboardInterrupt

    worker.progress_of = lambda _job_id, _lost: stop  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        worker.execute(claimed)
    job = quiet_services.jobs.get(CALLER, job_id)
    assert (job.status, job.attempts, job.version) == ("queued", 0, None)
    assert quiet_services.jobs.events(CALLER, job_id)[-1].payload["reason"].startswith(
        f"worker stopped: worker {worker.name} was stopped")


def test_a_worker_waits_out_an_unreachable_database(quiet_services: Services) -> None:
    gone = Database("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1")
    stop = threading.Event()
    lonely = Worker(gone, quiet_services.registry, quiet_services.settings.data_dir,
                    heartbeat_s=0.1, poll_s=0.05)
    thread = threading.Thread(target=lonely.run_forever, args=(stop,))
    thread.start()
    time.sleep(1.5)
    assert thread.is_alive()
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    gone.dispose()


def test_cancel_queued_at_once_and_running_at_the_next_progress_point(
        quiet_services: Services, worker: Worker) -> None:
    queued = _create(quiet_services)
    assert quiet_services.jobs.cancel(CALLER, queued).status == "cancelled"
    assert worker.claim() is None
    with pytest.raises(Conflict):
        quiet_services.jobs.cancel(CALLER, queued)

    running = _create(quiet_services, params={"algorithm": "auto"})
    claimed = worker.claim()
    assert claimed is not None and claimed.id == running
    assert quiet_services.jobs.cancel(CALLER, running).status == "running"
    worker.execute(claimed)
    job = quiet_services.jobs.get(CALLER, running)
    assert job.status == "cancelled" and job.version is None
    stages = [e.payload.get("stage") for e in quiet_services.jobs.events(CALLER, running)
              if e.type == "progress"]
    assert stages == ["split"]
    assert quiet_services.registry.list_models(CALLER) == []


def test_gate_moves_production_only_when_it_holds(quiet_services: Services, worker: Worker) -> None:
    outcomes = []
    for condition in (None, "accuracy>=0.5", "f1_macro>1"):
        job_id = _create(quiet_services, promote_if=condition)
        claimed = worker.claim()
        assert claimed is not None
        worker.execute(claimed)
        job = quiet_services.jobs.get(CALLER, job_id)
        assert job.status == "succeeded", job.error
        outcomes.append((job.version, job.result["promoted"], job.result["promotion_reason"],
                         quiet_services.registry.get_model(CALLER, "iris").aliases["production"]))
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
    job = quiet_services.jobs.get(CALLER, job_id)
    assert job.status == "failed" and "dataset 'builtin:gone' not found" in (job.error or "")


def test_every_method_a_key_reaches_checks_its_scope(quiet_services: Services) -> None:
    """The job service checks scopes itself, whatever route or page calls it."""
    jobs, hub = quiet_services.jobs, quiet_services.job_events
    reader = Principal("t", "k", frozenset({Scope.MODELS_READ}))
    with pytest.raises(Forbidden, match="'models:write' scope"):
        jobs.create(reader, **IRIS, params={"algorithm": "logistic"})  # type: ignore[arg-type]
    assert jobs.list_jobs(reader) == []
    job_id = _create(quiet_services)
    with pytest.raises(Forbidden, match="'models:write' scope"):
        jobs.cancel(reader, job_id)
    writer = Principal("t", "k", frozenset({Scope.MODELS_WRITE}))
    for read in (lambda: jobs.get(writer, job_id), lambda: jobs.list_jobs(writer),
                 lambda: jobs.events(writer, job_id), lambda: jobs.logs(writer, job_id),
                 lambda: jobs.plot(writer, job_id, "roc_curve"),
                 lambda: hub.subscribe(writer, job_id)):
        with pytest.raises(Forbidden, match="'models:read' scope"):
            read()
    assert hub.open_streams == 0
    assert jobs.get(reader, job_id).status == "queued", "the reader could not cancel it"
    assert jobs.get(reader, job_id).key_id == "k"


def test_latest_progress_is_the_newest_progress_event_of_the_tenants_own_jobs(
        quiet_services: Services, worker: Worker) -> None:
    jobs = quiet_services.jobs
    ran = _create(quiet_services)
    claimed = worker.claim()
    assert claimed is not None
    worker.execute(claimed)
    waiting = _create(quiet_services)
    newest = [e.payload for e in jobs.events(CALLER, ran) if e.type == "progress"][-1]
    assert jobs.latest_progress(CALLER, [ran, waiting, "nope"]) == {ran: newest}
    assert newest["stage"] == "evaluated"
    other = Principal("other", "k", frozenset({Scope.MODELS_READ}))
    assert jobs.latest_progress(other, [ran]) == {} and jobs.latest_progress(CALLER, []) == {}
    with pytest.raises(Forbidden, match="'models:read' scope"):
        jobs.latest_progress(Principal("t", "k", frozenset({Scope.MODELS_WRITE})), [ran])


@pytest.mark.parametrize(("params", "field", "says"), [
    ({"resources": {"cpus": 0}}, "params.resources.cpus", "greater than 0"),
    ({"resources": {"gpu": 1}}, "params.resources.gpu", "Extra inputs"),
    ({"resources": {"custom": {"CPU": 2}}}, "params.resources.custom", "not CPU"),
    ({"workers": 0}, "params.workers", "whole number from 1"),
    ({"workers": "2"}, "params.workers", "whole number from 1"),
    ({"workers": 2}, "params.workers", "trains on one worker"),
])
def test_placement_params_are_checked_and_named(quiet_services: Services, params: dict[str, object],
                                                field: str, says: str) -> None:
    from aiaas.errors import Invalid

    with pytest.raises(Invalid) as caught:
        _create(quiet_services, params={"algorithm": "logistic", **params})
    assert caught.value.details["field"] == field and says in caught.value.message


def test_placement_params_are_kept_beside_the_trainers(quiet_services: Services) -> None:
    """``resources`` and ``workers`` travel with the job but never reach the trainer."""
    from aiaas.training.jobs import job_resources, job_workers, trainer_params

    job_id = _create(quiet_services, params={"algorithm": "logistic",
                                             "resources": {"cpus": 2, "custom": {"trainer": 1}}})
    params = quiet_services.jobs.get(CALLER, job_id).params
    assert params["resources"] == {"cpus": 2.0, "gpus": 0.0, "custom": {"trainer": 1.0}}
    assert "resources" not in trainer_params(params) and job_workers(params) == 1
    resources = job_resources(params)
    assert resources is not None and resources.custom == {"trainer": 1.0}
    digits = quiet_services.jobs.create(CALLER, task="image-classification",
                                        dataset="builtin:digits", name="digits",
                                        params={"epochs": 1, "workers": 2})
    assert job_workers(digits.params) == 2
