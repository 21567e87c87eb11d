"""The epoch loop both image trainers share.

AdamW with a linear warm-up then cosine decay, cross-entropy, batches drawn in a seeded order.
``progress`` is called every few batches (``stage="train"``: step, total, epoch, batch, loss,
eta_s) and after each epoch's validation (``stage="epoch"``: loss, validation accuracy and
loss); it raises to cancel, so a cancel lands within a few batches, mid-epoch. The epoch with
the best validation accuracy (lower validation loss breaks ties) is kept as a safetensors
checkpoint in the job's work dir and loaded back at the end; without a validation split the
last epoch is kept.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aiaas.training.trainers.base import Progress
from aiaas.training.trainers.images import ImageParams

Inputs = Callable[[np.ndarray[Any, Any], bool], torch.Tensor]
"""``inputs(indices, training)``: the model's input batch for those images (augmented when
``training``)."""
Forward = Callable[[nn.Module, torch.Tensor], torch.Tensor]
"""``forward(model, inputs)``: logits, ``(batch, classes)``."""

CHECKPOINT = "best.safetensors"
PROGRESS_POINTS = 8
"""About this many ``train`` progress events per epoch (and at most 10 batches apart)."""
EVAL_BATCH = 256
MAX_ROTATION_DEG = 12.0
MAX_SCALE = 0.1
MAX_SHIFT = 0.125
"""Augmentation bounds: rotation in degrees, scale change and shift as fractions of the side."""


def set_threads(threads: int) -> int:
    """Torch intra-op threads: ``threads`` when given, else one per core up to four (the worker
    shares the machine with the API). Returns the number set."""
    chosen = threads if threads > 0 else max(1, min(4, (os.cpu_count() or 1) // 2))
    torch.set_num_threads(chosen)
    return chosen


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    validation_accuracy: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0

    def curves(self) -> dict[str, list[float]]:
        return {"train loss": self.train_loss, "validation loss": self.validation_loss,
                "validation accuracy": self.validation_accuracy}

    def details(self) -> dict[str, Any]:
        best = (self.validation_accuracy[self.best_epoch - 1]
                if self.validation_accuracy and self.best_epoch else None)
        return {"epochs": len(self.train_loss), "best_epoch": self.best_epoch,
                "best_validation_accuracy": best, "train_seconds": round(self.seconds, 2)}


def _batches(order: np.ndarray[Any, Any], size: int) -> list[np.ndarray[Any, Any]]:
    """Consecutive batches; a trailing single image joins the batch before it (batch norm
    cannot train on a batch of one)."""
    batches = [order[start:start + size] for start in range(0, len(order), size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2] = np.concatenate([batches[-2], batches.pop()])
    return batches


def _warmup_cosine(total: int) -> Callable[[int], float]:
    warmup = max(1, total // 20)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    return factor


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
             indices: np.ndarray[Any, Any], where: torch.device) -> tuple[float, float]:
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


def fit(model: nn.Module, forward: Forward, inputs: Inputs, y: torch.Tensor,
        train: np.ndarray[Any, Any], validation: np.ndarray[Any, Any], schedule: Schedule,
        progress: Progress, work_dir: Path) -> History:
    """Train ``model`` in place on the ``train`` indices; return the per-epoch history."""
    from safetensors.torch import load_model, save_model

    where = next(model.parameters()).device
    rng = np.random.default_rng(schedule.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=schedule.learning_rate,
                                  weight_decay=schedule.weight_decay)
    per_epoch = len(_batches(train, schedule.batch_size))
    total = per_epoch * schedule.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(total))
    every = max(1, min(10, per_epoch // PROGRESS_POINTS))
    checkpoint = work_dir / CHECKPOINT
    history, best, step, started = History(), (-1.0, math.inf), 0, time.monotonic()

    def eta() -> float:
        return round((time.monotonic() - started) / max(step, 1) * (total - step), 2)

    for epoch in range(1, schedule.epochs + 1):
        model.train()
        losses: list[float] = []
        for batch, indices in enumerate(_batches(rng.permutation(train), schedule.batch_size), 1):
            logits = forward(model, inputs(indices, True).to(where))
            loss = nn.functional.cross_entropy(logits, y[indices].to(where))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(loss.item())
            if batch % every == 0 and batch < per_epoch:
                progress("train", step=step, total=total, epoch=epoch, epochs=schedule.epochs,
                         batch=batch, batches=per_epoch, loss=round(float(np.mean(losses[-every:])), 5),
                         eta_s=eta())
        history.train_loss.append(float(np.mean(losses)))
        values: dict[str, float] = {}
        if len(validation):
            accuracy, val_loss = evaluate(model, forward, inputs, y, validation, where)
            history.validation_accuracy.append(accuracy)
            history.validation_loss.append(val_loss)
            values = {"validation_accuracy": round(accuracy, 5),
                      "validation_loss": round(val_loss, 5)}
            if (accuracy, -val_loss) > (best[0], -best[1]):
                best = (accuracy, val_loss)
                history.best_epoch = epoch
                save_model(model, str(checkpoint))
        else:
            history.best_epoch = epoch
        history.seconds = time.monotonic() - started
        progress("epoch", step=step, total=total, epoch=epoch, epochs=schedule.epochs,
                 loss=round(history.train_loss[-1], 5), eta_s=eta(), **values)
    if len(validation) and checkpoint.is_file():
        load_model(model, str(checkpoint), device=str(where))
    model.eval()
    return history
