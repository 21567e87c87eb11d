"""The one torch training loop: every trainer that trains a network by gradient descent (the
image CNN, the image fine-tune, the text fine-tune) runs its epochs here.

AdamW over the trainer's parameter groups, its learning-rate schedule stepped once per batch,
batches drawn in a seeded order each epoch, gradients optionally clipped. ``progress`` is called
every few batches (``stage="train"``: step, total, epoch, batch, loss, eta_s) and after each
epoch's validation (``stage="epoch"``: train loss plus the trainer's validation values); it
raises to cancel, so a cancel lands within a few batches, mid-epoch. The best epoch by the
trainer's validation rank is handed to ``keep_best`` (a checkpoint); without a validation split
the last epoch counts as the best. Training stops after ``patience`` epochs without a better one.

Why one loop: a fix to how progress, cancellation or the best epoch work lands in every trainer
at once, and a new trainer only says what differs (``Plan`` and a ``Trainee``).

Data-parallel: when ``torch.distributed`` is initialised (a job with ``params.workers`` > 1 on a
Ray cluster, through Ray Train with gloo), every worker draws the same seeded batches and takes
its own share of each (``batch[rank::world]``); gradients are averaged before each step and
batch-norm statistics after each epoch, and the parameters start from rank 0's. So every worker
holds the same model, judges the same epochs best and stops at the same epoch, and one step
sees the whole batch, as with one worker. The other ranks end with ``FollowerDone``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from aiaas.training.trainers.base import Progress

Indices = np.ndarray[Any, Any]
Factor = Callable[[int], float]
"""``factor(step)``: the learning rate's multiplier at that optimiser step."""
Schedule = Callable[[int], Factor]
"""``schedule(total_steps)``: the ``Factor`` for a run of that many steps."""
Batches = Callable[[Indices, int], list[Indices]]
"""``batches(order, batch_size)``: one epoch's batches of row indices, in that order."""

PROGRESS_POINTS = 8
"""About this many ``train`` progress events per epoch (and at most 10 batches apart)."""


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def warmup_cosine(total: int) -> Factor:
    """Linear warm-up over the first 5% of steps, then cosine decay to zero."""
    warmup = max(1, total // 20)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    return factor


def linear_warmup(fraction: float) -> Schedule:
    """Linear warm-up over ``fraction`` of the steps, then linear decay to zero."""
    def schedule(total: int) -> Factor:
        warmup = int(total * fraction)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return max(0.0, (total - step) / max(1, total - warmup))
        return factor
    return schedule


def consecutive(order: Indices, size: int) -> list[Indices]:
    """Consecutive batches of ``size``; the last one may be smaller."""
    return [order[start:start + size] for start in range(0, len(order), size)]


def no_single_batch(order: Indices, size: int) -> list[Indices]:
    """Consecutive batches, none of a single row (batch norm cannot train on a batch of one).

    Kept exactly as the image loop had it, so trained weights do not change in this move: the
    assignment's target is taken after the ``pop``, so when a single row trails, the merged
    batch replaces the first of the last two batches instead of the one before the single row
    (that epoch skips one batch of rows and sees the other twice). Fixing it is a separate,
    numerics-changing step."""
    batches = consecutive(order, size)
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2] = np.concatenate([batches[-2], batches.pop()])
    return batches


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups that decay the weight matrices only, not biases and norms."""
    return [{"params": [p for p in model.parameters() if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in model.parameters() if p.ndim < 2], "weight_decay": 0.0}]


@dataclass(frozen=True)
class Plan:
    """How a trainer wants its network trained."""

    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    """Seeds the order of the rows in each epoch."""
    schedule: Schedule
    batches: Batches = consecutive
    clip_norm: float | None = None
    """Clip the gradients' global norm to this before each step."""
    patience: int = 0
    """Stop after this many validated epochs without a better one; 0 = never."""


@dataclass(frozen=True)
class Validation:
    values: dict[str, float]
    """Reported with the ``epoch`` event (rounded) and kept in the history, by name."""
    rank: tuple[float, ...]
    """Higher is better; an epoch is the new best when its rank is strictly higher."""


class Trainee(Protocol):
    """What differs between trainers: the loss of a batch and how an epoch is judged and kept."""

    def loss(self, batch: Indices) -> torch.Tensor:
        """The mean training loss of these rows (the model is in train mode)."""
        ...

    def validate(self) -> Validation | None:
        """Judge the model on the validation split; None when there is none."""
        ...

    def keep_best(self) -> None:
        """Save the model as it is now: it is the best epoch so far."""
        ...


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    validation: dict[str, list[float]] = field(default_factory=dict)
    """Each ``Validation.values`` entry per epoch, unrounded."""
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0

    def at_best(self, name: str) -> float | None:
        """A validation value at the best epoch; None without a validation split."""
        values = self.validation.get(name)
        return values[self.best_epoch - 1] if values and self.best_epoch else None


def fit(model: nn.Module, groups: list[dict[str, Any]], train: Indices, plan: Plan,
        trainee: Trainee, progress: Progress) -> History:
    """Train ``model`` in place on the ``train`` rows; return the per-epoch history. The model is
    left in eval mode, as it was after its last epoch (loading the best back is the caller's)."""
    rng = np.random.default_rng(plan.seed)
    optimizer = torch.optim.AdamW(groups, lr=plan.learning_rate)
    per_epoch = len(plan.batches(train, plan.batch_size))
    total = per_epoch * plan.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan.schedule(total))
    every = max(1, min(10, per_epoch // PROGRESS_POINTS))
    history, best, since_best = History(), None, 0
    rank, world = _shares()
    if world > 1:
        _from_rank_zero(model)
    step, started = 0, time.monotonic()

    def eta() -> float:
        return round((time.monotonic() - started) / max(step, 1) * (total - step), 2)

    for epoch in range(1, plan.epochs + 1):
        model.train()
        losses: list[float] = []
        for batch, indices in enumerate(plan.batches(rng.permutation(train), plan.batch_size), 1):
            share = indices[rank::world] if world > 1 else indices
            loss = trainee.loss(share) if len(share) else _nothing(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if world > 1:
                _average(_gradients(model))
            if plan.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), plan.clip_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(loss.item())
            if batch % every == 0 and batch < per_epoch:
                progress("train", step=step, total=total, epoch=epoch, epochs=plan.epochs,
                         batch=batch, batches=per_epoch,
                         loss=round(float(np.mean(losses[-every:])), 5), eta_s=eta())
        history.train_loss.append(float(np.mean(losses)))
        if world > 1:
            _average(b for b in model.buffers() if b.is_floating_point())
        judged = trainee.validate()
        if judged is None:
            history.best_epoch = epoch
        else:
            for name, value in judged.values.items():
                history.validation.setdefault(name, []).append(value)
            if best is None or judged.rank > best:
                best, history.best_epoch, since_best = judged.rank, epoch, 0
                trainee.keep_best()
            else:
                since_best += 1
        history.seconds = time.monotonic() - started
        values = {} if judged is None else {k: round(v, 5) for k, v in judged.values.items()}
        progress("epoch", step=step, total=total, epoch=epoch, epochs=plan.epochs,
                 loss=round(history.train_loss[-1], 5), eta_s=eta(), **values)
        if plan.patience and since_best >= plan.patience and epoch < plan.epochs:
            history.stopped_early = True
            break
    model.eval()
    if rank > 0:
        raise FollowerDone(history)
    return history


class FollowerDone(Exception):
    """Raised by ``fit`` on a data-parallel rank other than 0 once training ends: its share is
    done, and what the trainer does next (save, evaluate, register) is rank 0's alone
    (transformers only saves on rank 0 while ``torch.distributed`` is initialised)."""

    def __init__(self, history: History) -> None:
        super().__init__("data-parallel follower done")
        self.history = history


def _shares() -> tuple[int, int]:
    """This process's rank and the number of data-parallel workers (0, 1 when alone)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _nothing(model: nn.Module) -> torch.Tensor:
    """A zero loss with zero gradients: this worker's share of a batch smaller than the number
    of workers is empty, and it must still join the gradient average."""
    return sum((p.sum() * 0.0 for p in model.parameters() if p.requires_grad),
               torch.zeros(()))


def _gradients(model: nn.Module) -> list[torch.Tensor]:
    """Every trainable parameter's gradient, zeros where this worker's share did not reach it
    (all workers must average the same tensors, in the same order)."""
    grads = []
    for parameter in model.parameters():
        if parameter.requires_grad:
            if parameter.grad is None:
                parameter.grad = torch.zeros_like(parameter)
            grads.append(parameter.grad)
    return grads


def _from_rank_zero(model: nn.Module) -> None:
    import torch.distributed as dist

    for tensor in [*model.parameters(), *model.buffers()]:
        dist.broadcast(tensor.data, src=0)


def _average(tensors: Any) -> None:
    import torch.distributed as dist

    world = dist.get_world_size()
    for tensor in tensors:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor.div_(world)
