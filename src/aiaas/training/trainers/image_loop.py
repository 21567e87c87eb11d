"""What both image trainers add to the shared torch loop (``torch_loop``).

AdamW on every parameter with a linear warm-up then cosine decay, cross-entropy, batches that
never end in a single image (batch norm). Each epoch is judged by validation accuracy (lower
validation loss breaks ties); the best is kept as a safetensors checkpoint in the job's work dir
and loaded back at the end; without a validation split the last epoch is kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aiaas.training.trainers import torch_loop
from aiaas.training.trainers.base import Progress
from aiaas.training.trainers.images import ImageParams
from aiaas.training.trainers.torch_loop import History, Indices, Validation

Inputs = Callable[[Indices, bool], torch.Tensor]
"""``inputs(indices, training)``: the model's input batch for those images (augmented when
``training``)."""
Forward = Callable[[nn.Module, torch.Tensor], torch.Tensor]
"""``forward(model, inputs)``: logits, ``(batch, classes)``."""

CHECKPOINT = "best.safetensors"
EVAL_BATCH = 256
MAX_ROTATION_DEG = 12.0
MAX_SCALE = 0.1
MAX_SHIFT = 0.125
"""Augmentation bounds: rotation in degrees, scale change and shift as fractions of the side."""
ACCURACY, LOSS = "validation_accuracy", "validation_loss"


@dataclass
class Schedule:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    seed: int

    @classmethod
    def of(cls, params: ImageParams) -> Schedule:
        """From validated params (whose validator filled in the method's defaults)."""
        assert params.epochs and params.batch_size and params.learning_rate
        return cls(params.epochs, params.batch_size, params.learning_rate, params.weight_decay,
                   params.seed)


def curves(history: History) -> dict[str, list[float]]:
    return {"train loss": history.train_loss,
            "validation loss": history.validation.get(LOSS, []),
            "validation accuracy": history.validation.get(ACCURACY, [])}


def details(history: History) -> dict[str, Any]:
    return {"epochs": len(history.train_loss), "best_epoch": history.best_epoch,
            "best_validation_accuracy": history.at_best(ACCURACY),
            "train_seconds": round(history.seconds, 2)}


def augment(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random small rotation, scaling and shift per image (edges repeated outward)."""
    count = pixels.shape[0]

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator) * 2 - 1

    angle = uniform(count) * math.radians(MAX_ROTATION_DEG)
    scale = 1 + uniform(count) * MAX_SCALE
    shift = uniform(count, 2) * MAX_SHIFT * 2  # affine_grid coordinates span 2 per side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1).to(pixels)
    grid = nn.functional.affine_grid(theta, list(pixels.shape), align_corners=False)
    return nn.functional.grid_sample(pixels, grid, mode="bilinear", padding_mode="border",
                                     align_corners=False)


@torch.no_grad()
def evaluate(model: nn.Module, forward: Forward, inputs: Inputs, y: torch.Tensor,
             indices: Indices, where: torch.device) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) on ``indices``, in eval mode."""
    model.eval()
    correct, loss = 0, 0.0
    for start in range(0, len(indices), EVAL_BATCH):
        chunk = indices[start:start + EVAL_BATCH]
        logits = forward(model, inputs(chunk, False).to(where))
        target = y[chunk].to(where)
        loss += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
        correct += int((logits.argmax(dim=1) == target).sum())
    return correct / len(indices), loss / len(indices)


@dataclass
class _Images:
    """The image trainers' side of the loop: cross-entropy on a batch, validation accuracy."""

    model: nn.Module
    forward: Forward
    inputs: Inputs
    y: torch.Tensor
    validation: Indices
    where: torch.device
    checkpoint: Path

    def loss(self, batch: Indices) -> torch.Tensor:
        logits = self.forward(self.model, self.inputs(batch, True).to(self.where))
        return nn.functional.cross_entropy(logits, self.y[batch].to(self.where))

    def validate(self) -> Validation | None:
        if not len(self.validation):
            return None
        accuracy, loss = evaluate(self.model, self.forward, self.inputs, self.y, self.validation,
                                  self.where)
        return Validation({ACCURACY: accuracy, LOSS: loss}, (accuracy, -loss))

    def keep_best(self) -> None:
        from safetensors.torch import save_model

        save_model(self.model, str(self.checkpoint))


def fit(model: nn.Module, forward: Forward, inputs: Inputs, y: torch.Tensor,
        train: Indices, validation: Indices, schedule: Schedule, progress: Progress,
        work_dir: Path) -> History:
    """Train ``model`` in place on the ``train`` indices, the best epoch loaded back; return the
    per-epoch history."""
    from safetensors.torch import load_model

    where = next(model.parameters()).device
    trainee = _Images(model, forward, inputs, y, validation, where, work_dir / CHECKPOINT)
    plan = torch_loop.Plan(schedule.epochs, schedule.batch_size, schedule.learning_rate,
                           schedule.seed, torch_loop.warmup_cosine, torch_loop.no_single_batch)
    groups = [{"params": list(model.parameters()), "weight_decay": schedule.weight_decay}]
    history = torch_loop.fit(model, groups, train, plan, trainee, progress)
    if len(validation) and trainee.checkpoint.is_file():
        load_model(model, str(trainee.checkpoint), device=str(where))
    model.eval()
    return history
