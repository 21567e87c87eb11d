"""The shared torch loop on a tiny linear model: progress events, cancellation mid-epoch, the
best epoch by the trainer's rank, early stopping, and the two learning-rate schedules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from aiaas.training.trainers import torch_loop
from aiaas.training.trainers.torch_loop import Indices, Plan, Validation


class Line:
    """y = 2x on 20 rows; validation values from a scripted list (None: no validation split)."""

    def __init__(self, scores: list[float] | None) -> None:
        torch.manual_seed(0)
        self.model = nn.Linear(1, 1)
        self.x = torch.linspace(-1, 1, 20).unsqueeze(1)
        self.scores, self.epoch = scores, 0
        self.kept: list[int] = []
        self.batches: list[list[int]] = []

    def loss(self, batch: Indices) -> torch.Tensor:
        self.batches.append(batch.tolist())
        return nn.functional.mse_loss(self.model(self.x[batch]), 2 * self.x[batch])

    def validate(self) -> Validation | None:
        self.epoch += 1
        if self.scores is None:
            return None
        score = self.scores[self.epoch - 1]
        return Validation({"validation_score": score / 3}, (score,))

    def keep_best(self) -> None:
        self.kept.append(self.epoch)


def plan(**changes: Any) -> Plan:
    fields: dict[str, Any] = {"epochs": 4, "batch_size": 3, "learning_rate": 0.1, "seed": 0,
                              "schedule": torch_loop.warmup_cosine, **changes}
    return Plan(**fields)


def fit(line: Line, chosen: Plan, events: list[dict[str, Any]]) -> torch_loop.History:
    def progress(stage: str, **values: Any) -> None:
        events.append({"stage": stage, **values})

    return torch_loop.fit(line.model, [{"params": list(line.model.parameters())}],
                          np.arange(20), chosen, line, progress)


def test_events_history_and_the_best_epoch() -> None:
    line = Line([1.0, 3.0, 2.0, 3.0])  # epoch 4 only ties epoch 2: not better
    events: list[dict[str, Any]] = []
    history = fit(line, plan(), events)
    epochs = [e for e in events if e["stage"] == "epoch"]
    train = [e for e in events if e["stage"] == "train"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4] and epochs[-1]["step"] == 28
    assert epochs[0]["validation_score"] == round(1 / 3, 5)
    assert train and all(e["batch"] < e["batches"] == 7 and e["total"] == 28 for e in train)
    assert line.kept == [1, 2] and history.best_epoch == 2 and not history.stopped_early
    assert history.validation["validation_score"] == [1 / 3, 1.0, 2 / 3, 1.0]
    assert history.at_best("validation_score") == 1.0
    assert history.train_loss[-1] < history.train_loss[0]
    assert not line.model.training


def test_each_epoch_draws_a_seeded_order_of_every_row() -> None:
    line, again = Line(None), Line(None)
    history = fit(line, plan(epochs=2), [])
    fit(again, plan(epochs=2), [])
    assert line.batches == again.batches
    first = [row for batch in line.batches[:7] for row in batch]
    second = [row for batch in line.batches[7:] for row in batch]
    assert sorted(first) == sorted(second) == list(range(20)) and first != second
    assert history.best_epoch == 2 and history.at_best("validation_score") is None
    assert line.kept == []


def test_patience_stops_after_epochs_without_a_better_one() -> None:
    line = Line([2.0, 1.0, 1.5, 3.0])
    history = fit(line, plan(patience=2), [])
    assert history.stopped_early and len(history.train_loss) == 3 and history.best_epoch == 1


def test_a_progress_callback_that_raises_cancels_mid_epoch() -> None:
    seen: list[dict[str, Any]] = []

    def progress(stage: str, **values: Any) -> None:
        seen.append({"stage": stage, **values})
        if values["batch"] == 3:
            raise KeyboardInterrupt

    line = Line([1.0] * 4)
    with pytest.raises(KeyboardInterrupt):
        torch_loop.fit(line.model, [{"params": list(line.model.parameters())}], np.arange(20),
                       plan(), line, progress)
    assert [e["batch"] for e in seen] == [1, 2, 3] and line.epoch == 0


def test_no_single_row_batches_for_batch_norm() -> None:
    batches = torch_loop.no_single_batch(np.arange(7), 3)
    assert sorted(len(b) for b in batches) == [3, 4]
    assert [len(b) for b in torch_loop.consecutive(np.arange(7), 3)] == [3, 3, 1]


def test_the_two_schedules() -> None:
    cosine = torch_loop.warmup_cosine(40)  # two warm-up steps, then cosine to zero
    assert [cosine(s) for s in (0, 1, 2)] == [0.5, 1.0, 1.0]
    assert cosine(21) == pytest.approx(0.5) and cosine(40) == pytest.approx(0.0)
    linear = torch_loop.linear_warmup(0.25)(8)
    assert [linear(s) for s in range(9)] == pytest.approx(
        [0.5, 1.0, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0])
    assert torch_loop.linear_warmup(0.0)(4)(0) == 1.0
