"""``fine_tune``: every weight of a transformers encoder trained with a new classification head.

The base is a registered transformers directory: the encoder of a sentence-transformers model
(its ``Transformer`` module's folder) or a ``*ForSequenceClassification`` model, whose head is
replaced when the label count differs. It trains in the shared loop (``torch_loop``: progress
events, cancellation, the best epoch) with what is its own: AdamW with no decay on biases and
norms, a linear warm-up then linear decay, gradients clipped at 1, and epochs judged by
validation macro-F1 (reported with validation accuracy). Each better epoch is saved with
``save_pretrained`` (safetensors) in the job's work dir; training stops after ``patience`` epochs
without one. The best is what gets served, by the ordinary transformers backend, with the
tokenizer's limit set to the ``max_length`` it was trained at.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.errors import Invalid
from aiaas.formats.sentence import encoder_folder
from aiaas.registry.records import VersionInfo
from aiaas.runtime.backends import open_directory
from aiaas.runtime.backends.hf_sequence import prepare_torch
from aiaas.runtime.loaders import max_length
from aiaas.training import evaluation, plots
from aiaas.training.trainers.base import TrainContext, TrainResult, torch_threads
from aiaas.training.trainers.text import (
    TASK,
    TextData,
    TextParams,
    TextSplit,
    base_model,
    describe_split,
    explain_words,
    served_predictions,
)
from aiaas.training.trainers.torch_loop import (
    History,
    Indices,
    Plan,
    Validation,
    decay_groups,
    fit,
    linear_warmup,
)

ACCEPTED = {"sentence-transformers": "", "embedding-head": "", "transformers": TASK}
EVAL_BATCH = 64
BEST = "best"


ACCURACY, F1 = "validation_accuracy", "validation_f1_macro"


def _curves(history: History) -> dict[str, list[float]]:
    found = {"train loss": history.train_loss,
             "validation accuracy": history.validation.get(ACCURACY, []),
             "validation macro-F1": history.validation.get(F1, [])}
    return {name: values for name, values in found.items() if values}


def _details(history: History) -> dict[str, Any]:
    return {"epochs": len(history.train_loss), "best_epoch": history.best_epoch,
            "best_validation_f1_macro": history.at_best(F1),
            "stopped_early": history.stopped_early,
            "train_loss": [round(v, 5) for v in history.train_loss],
            "train_seconds": round(history.seconds, 2)}


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


class _Tuning:
    """The fine-tune's side of the shared loop: tokenised batches, the sequence-classification
    loss, validation by macro-F1, the best epoch saved with ``save_pretrained``."""

    def __init__(self, model: Any, tokenizer: Any, data: TextSplit, device: str,
                 best_dir: Path) -> None:
        import torch

        self.model, self.tokenizer, self.data, self.device = model, tokenizer, data, device
        self.best_dir = best_dir
        index = {name: i for i, name in enumerate(data.train.classes)}
        self.targets = torch.tensor([index[str(v)] for v in data.train.labels])

    def _encode(self, texts: list[str]) -> Any:
        return self.tokenizer(texts, padding=True, truncation=True,
                              max_length=self.tokenizer.model_max_length,
                              return_tensors="pt").to(self.device)

    def loss(self, batch: Indices) -> Any:
        encoded = self._encode([self.data.train.texts[i] for i in batch])
        return self.model(**encoded, labels=self.targets[batch].to(self.device)).loss

    def predict(self, data: TextData) -> np.ndarray[Any, Any]:
        import torch

        self.model.eval()
        found = []
        with torch.inference_mode():
            for start in range(0, len(data.texts), EVAL_BATCH):
                logits = self.model(**self._encode(data.texts[start:start + EVAL_BATCH])).logits
                found += logits.argmax(dim=-1).tolist()
        return np.asarray(data.classes)[np.asarray(found, dtype=np.int64)]

    def validate(self) -> Validation | None:
        validation = self.data.validation
        if not validation.texts:
            return None
        scores = evaluation.classification(validation.labels, self.predict(validation),
                                           validation.classes)
        return Validation({ACCURACY: scores["accuracy"], F1: scores["f1_macro"]},
                          (scores["f1_macro"],))

    def keep_best(self) -> None:
        self.model.save_pretrained(str(self.best_dir))


def _train(model: Any, tokenizer: Any, data: TextSplit, ctx: TrainContext, device: str,
           best_dir: Path) -> History:
    params: TextParams = ctx.params
    plan = Plan(params.epochs, params.batch_size, params.learning_rate, params.seed,
                linear_warmup(params.warmup_fraction), clip_norm=1.0, patience=params.patience)
    tuning = _Tuning(model.to(device), tokenizer, data, device, best_dir)
    return fit(model, decay_groups(model, params.weight_decay),
               np.arange(len(data.train.texts)), plan, tuning, ctx.progress)


def fine_tune(ctx: TrainContext, data: TextSplit) -> TrainResult:
    import torch

    params: TextParams = ctx.params
    classes = data.train.classes
    version, source = base_model(ctx, ACCEPTED, "a transformers text encoder: a sentence-"
                                                "transformers model or a text-classification model")
    threads = torch_threads(ctx)
    device = prepare_torch(0)  # threads: set once, when the worker started
    torch.manual_seed(params.seed)
    model, tokenizer = _load(encoder_dir(version, source), classes, params)
    best_dir = ctx.work_dir / BEST
    history = _train(model, tokenizer, data, ctx, device, best_dir)
    if best_dir.is_dir() and history.validation.get(F1):
        shutil.copytree(best_dir, ctx.staged, dirs_exist_ok=True)
    else:
        model.save_pretrained(str(ctx.staged))
    tokenizer.save_pretrained(str(ctx.staged))
    del model
    description = (f"{params.base_model} fine-tuned on {ctx.job.dataset} by job {ctx.job.id}")
    ctx.write_manifest(task=TASK, labels=classes, description=description)

    backend = open_directory(ctx.staged, TASK, threads=threads)
    predicted, probabilities = served_predictions(backend, data.test.texts, classes, EVAL_BATCH)
    metrics = evaluation.classification(data.test.labels, predicted, classes, probabilities)
    names = plots.classification(metrics, classes, data.test.labels, probabilities, ctx.plot_dir)
    try:
        drawn, words = explain_words(ctx, backend, data.test, EVAL_BATCH)
    finally:
        backend.unload()
    names += drawn
    plots.training_curve(_curves(history), ctx.plot_dir / "training_curve.png", x_label="epoch")
    names.append("training_curve")
    ctx.write_manifest(task=TASK, labels=classes, description=description,
                       metrics=evaluation.scalars(metrics))
    details = {"method": params.method, "base_model": params.base_model,
               "split": describe_split(data), "max_length": int(tokenizer.model_max_length),
               "device": device, **_details(history), **words}
    return TrainResult(metrics, names, details)
