"""The contract between the job runner and a trainer, one ``TrainerSpec`` per training task.

A trainer reads its dataset from the context, reports progress (which raises to cancel), writes
a servable model directory (model files plus ``aiaas.json``) into ``ctx.staged``, draws its
plots into ``ctx.plot_dir`` and returns the test-split metrics. The runner registers the
directory and applies the deploy gate; trainers never touch the registry's write side.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from aiaas.errors import Invalid
from aiaas.training.datasets import Dataset, DatasetInfo

if TYPE_CHECKING:
    from aiaas.registry.service import Registry
    from aiaas.training.jobs import JobInfo

Progress = Callable[..., None]
"""``progress(stage, step=, total=, epoch=, loss=, eta_s=, **values)``; raises to stop the job."""


@dataclass
class TrainContext:
    job: JobInfo
    params: Any
    """The validated parameters (the spec's pydantic model)."""
    dataset: Dataset
    progress: Progress
    staged: Path
    """Write the servable model directory here; the runner registers it."""
    plot_dir: Path
    """``<data dir>/jobs/<job id>/``: PNG plots, named ``<plot name>.png``."""
    work_dir: Path
    """Scratch space that survives a worker restart (checkpoints); removed when the job ends."""
    registry: Registry
    threads: int = 0
    """The torch threads the worker set when it started; 0 when the caller set none (tests)."""

    def model_dir(self, name: str) -> Path:
        """The artifact directory of a registered model (the tenant's own or a built-in), for a
        base model to fine-tune or embed with; read-only."""
        version = self.registry.resolve(self.job.tenant, name)
        return self.registry.artifact_path(version)

    def write_manifest(self, **manifest: Any) -> None:
        """Write ``aiaas.json`` (task, labels, metrics, description, ...) into the staged dir."""
        (self.staged / "aiaas.json").write_text(json.dumps(manifest))


def torch_threads(ctx: TrainContext) -> int:
    """The threads a trainer and the backend it evaluates with run on: the worker's count, set
    once per process when it started (never per job: a job would change it for the next),
    else what torch runs with in this process."""
    if ctx.threads:
        return ctx.threads
    import torch

    return int(torch.get_num_threads())


@dataclass
class TrainResult:
    metrics: dict[str, Any]
    """The full evaluation; scalar metrics at the top level (these go on the model version)."""
    plots: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    """Extra facts for the job's result: algorithm, split sizes, epochs run, ..."""


@dataclass(frozen=True)
class TrainerSpec:
    task: str
    metrics: tuple[str, ...]
    """Scalar test metrics a ``promote_if`` condition may name."""
    params: type[BaseModel]
    run: Callable[[TrainContext], TrainResult]
    check: Callable[[DatasetInfo, Any], None] = lambda info, params: None
    """Called at job creation with the dataset's metadata and the validated params; raises
    ``Invalid`` when this trainer cannot use the dataset."""
    description: str = ""
    data_parallel: bool = False
    """Trains a network through ``torch_loop.fit``, so ``params.workers`` > 1 may split its
    batches over data-parallel workers."""

    def validate(self, params: dict[str, Any]) -> Any:
        """The params as the spec's model; ``Invalid`` naming the parameter otherwise."""
        try:
            return self.params.model_validate(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "params"
            raise Invalid(f"params.{where}: {first['msg']}",
                          details={"field": f"params.{where}"}) from exc
