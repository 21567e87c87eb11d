"""The training worker on a Ray cluster: ``python -m aiaas.cluster.worker`` (the server's
supervisor starts this one instead of ``aiaas.training.worker`` when ``AIAAS_RAY_ADDRESS`` is set).

It is the same worker (claims, heartbeats, cancel, reclaim: ``training.worker``) with one
difference: each claimed job trains as a Ray task on a node with the resources the job asks for
(``params.resources``: ``cpus``, ``gpus``, ``memory_mb``, ``custom``; default one CPU), or with
``params.workers`` > 1 as that many data-parallel Ray Train workers (``data_parallel``). The task
runs the same ``runner.run`` and writes its progress events to the database as a worker of the
same name, so cancel and "this job is no longer yours" work as before; this process keeps the
heartbeat while it waits.

When the node under a job dies Ray fails the task at once: the job is given back as
``Unavailable`` with the reason, so it is requeued once if ``retryable``, else failed, well
within the heartbeat timeout, and never left running.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import threading
from collections.abc import Iterator
from typing import Any

import ray
import ray.exceptions as ray_errors

from aiaas.cluster import deploy
from aiaas.config import Settings
from aiaas.errors import Unavailable
from aiaas.registry.serving import Resources
from aiaas.training import runner, wiring
from aiaas.training import worker as training_worker
from aiaas.training.jobs import JobInfo, job_resources, job_workers
from aiaas.training.runner import Outcome

log = logging.getLogger("aiaas.cluster")
POLL_S = 0.5


def task_options(resources: Resources | None) -> dict[str, Any]:
    """Ray task options for a job's resources; no retries by Ray (the job's own ``retryable``
    decides, through the requeue)."""
    wanted = resources or Resources()
    options: dict[str, Any] = {"num_cpus": wanted.cpus, "num_gpus": wanted.gpus,
                               "max_retries": 0, "retry_exceptions": False}
    if wanted.memory_mb is not None:
        options["memory"] = wanted.memory_mb * 2**20
    if wanted.custom:
        options["resources"] = dict(wanted.custom)
    return options


@contextlib.contextmanager
def on_this_node(settings: Settings) -> Iterator[tuple[wiring.Core, int]]:
    """What a training process on a cluster node needs, as the local worker has it: torch's
    threads set, the database, registry and catalog opened (and closed after)."""
    threads = wiring.start_torch(settings)
    core = wiring.build(settings)
    try:
        yield core, threads
    finally:
        core.db.dispose()


def _train(settings: Settings, job: JobInfo, worker_name: str) -> Outcome:
    """The Ray task: one job, trained on whichever node Ray placed it."""
    with on_this_node(settings) as (core, threads):
        here = training_worker.Worker(core.db, core.registry, settings.data_dir,
                                      heartbeat_s=settings.job_heartbeat_s, catalog=core.catalog,
                                      threads=threads, name=worker_name)
        progress = here.progress_of(job.id, threading.Event())
        progress("placed", node=ray.get_runtime_context().get_node_id(),
                 host=socket.gethostname(), threads=threads)
        return runner.run(job, core.registry, settings.data_dir, progress, catalog=core.catalog,
                          threads=threads)


class ClusterJobs:
    """A ``RunJob`` that trains each job as a Ray task and waits for it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        deploy.connect(settings, serving=False)
        self._remote = ray.remote(_train)

    def __call__(self, worker: training_worker.Worker, job: JobInfo,
                 lost: threading.Event) -> Outcome:
        resources = job_resources(job.params)
        cpus = (resources or Resources()).cpus
        settings = self.settings.model_copy(update={
            "ray_address": None, "embedded_worker": False, "torch_threads": max(1, math.floor(cpus))})
        workers = job_workers(job.params)
        if workers > 1:
            from aiaas.cluster import data_parallel

            return data_parallel.train(settings, job, worker.name, workers, resources)
        ref = self._remote.options(**task_options(resources)).remote(settings, job, worker.name)
        try:
            while not ray.wait([ref], timeout=POLL_S)[0]:
                if lost.is_set():
                    raise training_worker.JobLost
            result: Outcome = ray.get(ref)
            return result
        except ray_errors.RayTaskError as exc:
            raise _cause(exc) from None
        except (ray_errors.NodeDiedError, ray_errors.WorkerCrashedError, ray_errors.OwnerDiedError,
                ray_errors.ObjectLostError, ray_errors.RaySystemError) as exc:
            raise Unavailable(f"the Ray node (or worker process) training the job died "
                              f"({type(exc).__name__})",
                              retry_after_s=1) from None
        finally:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)


def _cause(exc: ray_errors.RayTaskError) -> BaseException:
    """The job's own exception (cancelled, lost, a domain error, a trainer's bug) out of Ray's
    wrapper, so the worker treats it exactly as it would locally."""
    cause = exc.cause
    if isinstance(cause, BaseException):
        return cause
    return RuntimeError(str(exc))


def main(argv: list[str] | None = None) -> None:
    training_worker.main(argv, jobs_for=ClusterJobs)


if __name__ == "__main__":
    main()
