"""Data-parallel training on the cluster: a job with ``params.workers`` > 1 trains through Ray
Train's ``TorchTrainer`` (CPU or GPU, gloo), one Ray Train worker per data-parallel share.

Every worker runs the job's own trainer on the same data; ``torch_loop.fit`` sees
``torch.distributed`` initialised and splits each batch between them, averaging gradients, so
the model is the one a single worker would train on the whole batch. Rank 0 is the job: it
reports progress, writes the model and its plots and registers the version (``runner.run``);
the others are followers (``runner.follow``: a throwaway directory, no progress, nothing
registered). Ray Train does not retry (``max_failures=0``): the job's own ``retryable`` decides.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import ray.train
from ray.train import FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer

from aiaas.config import Settings
from aiaas.errors import AiaasError, Unavailable
from aiaas.registry.serving import Resources
from aiaas.training import runner
from aiaas.training.jobs import JobInfo
from aiaas.training.runner import Outcome

OUTCOME = "outcome.json"
"""Rank 0's ``Outcome`` (version, metrics, result), handed back as Ray Train's checkpoint: Ray
Train V2 keeps the metrics of a report only with a checkpoint."""


def _loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: rank 0 trains and registers the job, the others follow."""
    from aiaas.cluster.worker import _train, on_this_node

    settings: Settings = config["settings"]
    job: JobInfo = config["job"]
    if ray.train.get_context().get_world_rank() == 0:
        outcome = _train(settings, job, config["worker"])
        with tempfile.TemporaryDirectory(prefix="aiaas-outcome-") as kept:
            (Path(kept) / OUTCOME).write_text(json.dumps(dataclasses.asdict(outcome)))
            ray.train.report({"version": outcome.version},
                             checkpoint=ray.train.Checkpoint.from_directory(kept))
        return
    with on_this_node(settings) as (core, threads):
        runner.follow(job, core.registry, settings.data_dir, catalog=core.catalog,
                      threads=threads)
    ray.train.report({})


def train(settings: Settings, job: JobInfo, worker_name: str, workers: int,
          resources: Resources | None) -> Outcome:
    """Run ``job`` on ``workers`` data-parallel workers, each with ``resources``; blocks until
    it ends. Raises the job's own error (cancelled, lost, a domain error), or ``Unavailable``
    when a worker's node or process died."""
    wanted = resources or Resources()
    per_worker: dict[str, float] = {"CPU": wanted.cpus, **wanted.custom}
    if wanted.gpus:
        per_worker["GPU"] = wanted.gpus
    if wanted.memory_mb is not None:
        per_worker["memory"] = wanted.memory_mb * 2**20
    settings = settings.model_copy(update={"torch_threads": max(1, math.floor(wanted.cpus))})
    trainer = TorchTrainer(
        _loop, train_loop_config={"settings": settings, "job": job, "worker": worker_name},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=bool(wanted.gpus),
                                     resources_per_worker=per_worker),
        torch_config=TorchConfig(backend="nccl" if wanted.gpus else "gloo"),
        run_config=RunConfig(name=f"job-{job.id}",
                             storage_path=str(settings.data_dir / "ray-train"),
                             failure_config=FailureConfig(max_failures=0)))
    try:
        result = trainer.fit()
    except ray.train.TrainingFailedError as exc:
        raise _cause(exc) from None
    if result.checkpoint is None:
        raise RuntimeError("data-parallel training ended without rank 0's outcome")
    with result.checkpoint.as_directory() as kept:
        outcome: dict[str, Any] = json.loads((Path(kept) / OUTCOME).read_text())
    return Outcome(**outcome)


def _cause(exc: Exception) -> BaseException:
    """The job's own error out of Ray Train's: rank 0's first, as the worker would raise it
    locally; a worker that died is ``Unavailable`` (its node or process is gone)."""
    import ray.exceptions as ray_errors

    from aiaas.training.worker import JobCancelled, JobLost

    failures: dict[int, Exception] = getattr(exc, "worker_failures", {}) or {}
    for _, failure in sorted(failures.items()):
        cause: BaseException = failure
        if isinstance(failure, ray_errors.RayTaskError) and isinstance(failure.cause, BaseException):
            cause = failure.cause
        if isinstance(cause, (AiaasError, JobCancelled, JobLost)):
            return cause
        if isinstance(cause, ray_errors.RayActorError | ray_errors.NodeDiedError):
            return Unavailable(f"the Ray node (or worker process) training the job died "
                               f"({type(cause).__name__})", retry_after_s=1)
    return RuntimeError(f"data-parallel training failed: {exc}")
