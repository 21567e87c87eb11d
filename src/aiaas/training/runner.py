"""Run one claimed job inside the worker process: load its dataset, hand it to the task's
trainer, register the model directory the trainer wrote, and apply the deploy gate.

With a ``promote_if`` condition the gate alone decides the ``production`` alias, for the first
version too; without one the registry's rule stands (the first version gets it).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiaas.auth.principal import Principal
from aiaas.registry.records import PRODUCTION
from aiaas.registry.service import Registry
from aiaas.training import evaluation, gate
from aiaas.training.datasets import Catalog
from aiaas.training.jobs import PLOT_PURPOSE, JobInfo, jobs_dir, trainer_params, work_dir
from aiaas.training.trainers import spec_for
from aiaas.training.trainers.base import Progress, TrainContext


@dataclass
class Outcome:
    version: int
    metrics: dict[str, Any]
    result: dict[str, Any] = field(default_factory=dict)


def follow(job: JobInfo, registry: Registry, data_dir: Path, *, catalog: Catalog | None = None,
           threads: int = 0) -> dict[str, Any]:
    """Train ``job`` as a data-parallel follower (a rank other than 0 of ``params.workers``):
    the same trainer on the same data, in a throwaway directory, reporting no progress, until
    its share of the training loop ends (``FollowerDone``); saving, evaluating and registering
    are rank 0's. Returns the follower's training losses per epoch."""
    from aiaas.training.trainers.torch_loop import FollowerDone

    spec = spec_for(job.task)
    params = spec.validate(trainer_params(job.params))
    dataset = (catalog or Catalog(registry.db, data_dir)).load(job.tenant, job.dataset, job.task)
    with tempfile.TemporaryDirectory(prefix=f"aiaas-follow-{job.id}-") as scratch:
        root = Path(scratch)
        for part in ("staged", "plots", "work"):
            (root / part).mkdir()
        ctx = TrainContext(job, params, dataset, lambda stage, **values: None, root / "staged",
                           root / "plots", root / "work", registry, threads)
        try:
            spec.run(ctx)
        except FollowerDone as done:
            return {"train_loss": done.history.train_loss}
    raise RuntimeError(f"the {job.task} trainer ended without data-parallel training")


def run(job: JobInfo, registry: Registry, data_dir: Path, progress: Progress, *,
        catalog: Catalog | None = None, threads: int = 0) -> Outcome:
    spec = spec_for(job.task)
    params = spec.validate(trainer_params(job.params))
    dataset = (catalog or Catalog(registry.db, data_dir)).load(job.tenant, job.dataset, job.task)
    vault, sealed = registry.vault, registry.vault.seals(job.tenant)
    scratch = vault.scratch(f"job-{job.id}") if sealed else work_dir(data_dir, job.id)
    scratch.mkdir(parents=True, exist_ok=True)
    plot_dir = jobs_dir(data_dir) / job.id
    plot_dir.mkdir(parents=True, exist_ok=True)
    drawn = scratch / "plots" if sealed else plot_dir
    drawn.mkdir(exist_ok=True)
    with registry.staging(job.tenant) as staged:
        ctx = TrainContext(job, params, dataset, progress, staged, drawn, scratch, registry,
                           threads)
        trained = spec.run(ctx)
        if sealed:
            vault.seal_tree(drawn, plot_dir, job.tenant, PLOT_PURPOSE)
        scalars = evaluation.scalars(trained.metrics)
        progress("evaluated", **scalars)
        version = registry.register(staged, tenant=job.tenant, name=job.model, created_by=job.key_id,
                                    move=True, metrics=scalars,
                                    promote_first=job.promote_if is None,
                                    actor=Principal.system(job.tenant))
    shutil.rmtree(scratch, ignore_errors=True)
    result: dict[str, Any] = {**trained.details, "plots": trained.plots}
    result.update(_promote(job, registry, version.version, trained.metrics, spec.metrics))
    return Outcome(version.version, trained.metrics, result)


def _promote(job: JobInfo, registry: Registry, version: int, metrics: dict[str, Any],
             known: tuple[str, ...]) -> dict[str, Any]:
    if job.promote_if is None:
        first = version == 1
        return {"promoted": first, "promotion_reason": "first version of the model" if first
                else "no promote_if given; production alias left as it was"}
    holds, why = gate.parse(job.promote_if, known).check(metrics)
    if holds:
        registry.set_alias(Principal.system(job.tenant), job.model, PRODUCTION, version)
    return {"promoted": holds, "promotion_reason": why}
