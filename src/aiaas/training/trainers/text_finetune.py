"""``fine_tune``: every weight of a transformers encoder trained with a new classification head.

The base is a registered transformers directory: the encoder of a sentence-transformers model
(its ``Transformer`` module's folder) or a ``*ForSequenceClassification`` model, whose head is
replaced when the label count differs. AdamW (no decay on biases and norms) with a linear
warm-up then linear decay, gradients clipped at 1. ``progress`` is called every few batches
(``stage="train"``: step, total, epoch, batch, loss, eta_s) and after each epoch's validation
(``stage="epoch"``: train loss, validation accuracy and macro-F1); it raises to cancel, so a cancel
lands within a few batches. Each better epoch by validation macro-F1 is saved with
``save_pretrained`` (safetensors) in the job's work dir; training stops after ``patience`` epochs
without one. The best is what gets served, by the ordinary transformers backend, with the
tokenizer's limit set to the ``max_length`` it was trained at.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.errors import Invalid
from aiaas.registry.formats import detect
from aiaas.registry.records import VersionInfo
from aiaas.runtime.backends.embedding_head import encoder_folder
from aiaas.runtime.backends.hf_sequence import HFSequenceBackend, max_length, prepare_torch
from aiaas.tasks import get_task
from aiaas.training import evaluation, plots
from aiaas.training.trainers.base import TrainContext, TrainResult
from aiaas.training.trainers.text import (
    TASK,
    TextData,
    TextParams,
    TextSplit,
    base_model,
    describe_split,
    served_predictions,
    torch_threads,
)

ACCEPTED = {"sentence-transformers": "", "embedding-head": "", "transformers": TASK}
PROGRESS_POINTS = 8
"""About this many ``train`` progress events per epoch (and at most 10 batches apart)."""
EVAL_BATCH = 64
BEST = "best"


@dataclass
class History:
    train_loss: list[float] = field(default_factory=list)
    validation_accuracy: list[float] = field(default_factory=list)
    validation_f1: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0

    def curves(self) -> dict[str, list[float]]:
        found = {"train loss": self.train_loss, "validation accuracy": self.validation_accuracy,
                 "validation macro-F1": self.validation_f1}
        return {name: values for name, values in found.items() if values}

    def details(self) -> dict[str, Any]:
        best = self.validation_f1[self.best_epoch - 1] if self.validation_f1 else None
        return {"epochs": len(self.train_loss), "best_epoch": self.best_epoch,
                "best_validation_f1_macro": best, "stopped_early": self.stopped_early,
                "train_loss": [round(v, 5) for v in self.train_loss],
                "train_seconds": round(self.seconds, 2)}


def encoder_dir(version: VersionInfo, source: Path) -> Path:
    """Where the transformers weights of the base model lie (a sentence-transformers model
    keeps them in its ``Transformer`` module's folder)."""
    if version.format == "transformers":
        return source
    try:
        return encoder_folder(source)
    except Invalid as exc:
        raise Invalid(f"params.base_model: {version.model!r}: {exc.message}",
                      details={"field": "params.base_model"}) from exc


def _load(folder: Path, classes: list[str], params: TextParams) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True,
                                              trust_remote_code=False)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(folder), local_files_only=True, trust_remote_code=False, use_safetensors=True,
        num_labels=len(classes), id2label=dict(enumerate(classes)),
        label2id={name: i for i, name in enumerate(classes)},
        problem_type="single_label_classification", ignore_mismatched_sizes=True,
    )
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise Invalid(f"params.base_model: {params.base_model!r} has no padding token",
                          details={"field": "params.base_model"})
        tokenizer.pad_token = tokenizer.eos_token
        model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.model_max_length = min(params.max_length, max_length(tokenizer, model.config))
    return model, tokenizer


def _linear_warmup(total: int, fraction: float) -> Callable[[int], float]:
    warmup = int(total * fraction)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return factor


class Loop:
    """One fine-tuning run: the model, its tokenizer, the optimiser and the history."""

    def __init__(self, model: Any, tokenizer: Any, data: TextSplit, ctx: TrainContext,
                 device: str) -> None:
        import torch

        self.model, self.tokenizer, self.data, self.ctx = model.to(device), tokenizer, data, ctx
        self.device = device
        self.params: TextParams = ctx.params
        self.index = {name: i for i, name in enumerate(data.train.classes)}
        params = self.params
        decay = [p for p in model.parameters() if p.ndim >= 2]
        rest = [p for p in model.parameters() if p.ndim < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": params.weight_decay},
             {"params": rest, "weight_decay": 0.0}], lr=params.learning_rate)
        self.per_epoch: int = math.ceil(len(data.train.texts) / params.batch_size)
        self.total: int = self.per_epoch * params.epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _linear_warmup(self.total, params.warmup_fraction))
        self.history, self.step, self.started = History(), 0, time.monotonic()

    def _encode(self, texts: list[str]) -> Any:
        return self.tokenizer(texts, padding=True, truncation=True,
                              max_length=self.tokenizer.model_max_length,
                              return_tensors="pt").to(self.device)

    def _eta(self) -> float:
        elapsed = time.monotonic() - self.started
        return round(elapsed / max(self.step, 1) * (self.total - self.step), 2)

    def _epoch(self, epoch: int, rng: np.random.Generator) -> float:
        import torch

        train, size = self.data.train, self.params.batch_size
        targets = torch.tensor([self.index[str(v)] for v in train.labels])
        every = max(1, min(10, self.per_epoch // PROGRESS_POINTS))
        order = rng.permutation(len(train.texts))
        self.model.train()
        losses: list[float] = []
        for batch, start in enumerate(range(0, len(order), size), 1):
            chosen = order[start:start + size]
            encoded = self._encode([train.texts[i] for i in chosen])
            loss = self.model(**encoded, labels=targets[chosen].to(self.device)).loss
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            losses.append(loss.item())
            if batch % every == 0 and batch < self.per_epoch:
                self.ctx.progress("train", step=self.step, total=self.total, epoch=epoch,
                                  epochs=self.params.epochs, batch=batch, batches=self.per_epoch,
                                  loss=round(float(np.mean(losses[-every:])), 5), eta_s=self._eta())
        return float(np.mean(losses))

    def predict(self, data: TextData) -> np.ndarray[Any, Any]:
        import torch

        self.model.eval()
        found = []
        with torch.inference_mode():
            for start in range(0, len(data.texts), EVAL_BATCH):
                logits = self.model(**self._encode(data.texts[start:start + EVAL_BATCH])).logits
                found += logits.argmax(dim=-1).tolist()
        return np.asarray(data.classes)[np.asarray(found, dtype=np.int64)]

    def run(self, best_dir: Path) -> History:
        params, history, validation = self.params, self.history, self.data.validation
        rng, since_best = np.random.default_rng(params.seed), 0
        for epoch in range(1, params.epochs + 1):
            history.train_loss.append(self._epoch(epoch, rng))
            values: dict[str, float] = {}
            if validation.texts:
                scores = evaluation.classification(validation.labels, self.predict(validation),
                                                   validation.classes)
                history.validation_accuracy.append(scores["accuracy"])
                history.validation_f1.append(scores["f1_macro"])
                values = {"validation_accuracy": round(scores["accuracy"], 5),
                          "validation_f1_macro": round(scores["f1_macro"], 5)}
                if not history.best_epoch or scores["f1_macro"] > max(history.validation_f1[:-1]):
                    history.best_epoch, since_best = epoch, 0
                    self.model.save_pretrained(str(best_dir))
                else:
                    since_best += 1
            else:
                history.best_epoch = epoch
            history.seconds = time.monotonic() - self.started
            self.ctx.progress("epoch", step=self.step, total=self.total, epoch=epoch,
                              epochs=params.epochs, loss=round(history.train_loss[-1], 5),
                              eta_s=self._eta(), **values)
            if params.patience and since_best >= params.patience and epoch < params.epochs:
                history.stopped_early = True
                break
        return history


def fine_tune(ctx: TrainContext, data: TextSplit) -> TrainResult:
    import torch

    params: TextParams = ctx.params
    classes = data.train.classes
    version, source = base_model(ctx, ACCEPTED, "a transformers text encoder: a sentence-"
                                                "transformers model or a text-classification model")
    threads = torch_threads(ctx)
    device = prepare_torch(threads)
    torch.manual_seed(params.seed)
    model, tokenizer = _load(encoder_dir(version, source), classes, params)
    loop = Loop(model, tokenizer, data, ctx, device)
    best_dir = ctx.work_dir / BEST
    history = loop.run(best_dir)
    if best_dir.is_dir() and history.validation_f1:
        shutil.copytree(best_dir, ctx.staged, dirs_exist_ok=True)
    else:
        model.save_pretrained(str(ctx.staged))
    tokenizer.save_pretrained(str(ctx.staged))
    del loop, model
    description = (f"{params.base_model} fine-tuned on {ctx.job.dataset} by job {ctx.job.id}")
    ctx.write_manifest(task=TASK, labels=classes, description=description)

    config = get_task(TASK).prepare_config(detect(ctx.staged), ctx.staged)
    backend = HFSequenceBackend(ctx.staged, config, threads=threads)
    backend.load()
    predicted, probabilities = served_predictions(backend, data.test.texts, classes, EVAL_BATCH)
    backend.unload()
    metrics = evaluation.classification(data.test.labels, predicted, classes, probabilities)
    names = plots.classification(metrics, classes, data.test.labels, probabilities, ctx.plot_dir)
    plots.training_curve(history.curves(), ctx.plot_dir / "training_curve.png", x_label="epoch")
    names.append("training_curve")
    ctx.write_manifest(task=TASK, labels=classes, description=description,
                       metrics=evaluation.scalars(metrics))
    details = {"method": params.method, "base_model": params.base_model,
               "split": describe_split(data), "max_length": int(tokenizer.model_max_length),
               "device": device, **history.details()}
    return TrainResult(metrics, names, details)
