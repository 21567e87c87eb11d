"""Text classification trainers: a head on frozen sentence embeddings, or full fine-tuning.

- ``embedding_head`` (default): encode every text once with the frozen encoder of a registered
  sentence-transformers model (``all-minilm-l6-v2``), fit a logistic regression on the training
  split, and save the encoder directory plus the head as safetensors (format ``embedding-head``,
  ``runtime/backends/embedding_head.py``). Fast on a CPU; ``text_head.py``.
- ``fine_tune``: train every weight of a registered transformers encoder (a sentence-transformers
  model's encoder or a ``*ForSequenceClassification`` model) with a new classification head;
  the best epoch by validation macro-F1 is served by the ordinary transformers backend.
  ``text_finetune.py``. The defaults (6 epochs at 1e-4) were picked on the validation split of
  ``builtin:sentiment`` (0.92 validation macro-F1 against 0.84 for 3 epochs at 5e-5): a few
  hundred rows need more steps than the usual large-corpus recipe.

Both evaluate on the test split by running the saved directory through the backend that serves
it, so the stored metrics describe what the API answers; through the same backend they find the
words that push each class most (``explain_words``, ``global_explain.influential_words``). The
split is the tabular one (seeded, stratified, or the user's own split column), applied to row
indices.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aiaas.errors import Invalid, NotFound
from aiaas.training import evaluation, global_explain, plots
from aiaas.training.datasets import CLASSIFICATION, Dataset, DatasetInfo, TabularDataset, split, table_of
from aiaas.training.trainers.base import TrainContext, TrainerSpec, TrainResult

if TYPE_CHECKING:
    from aiaas.registry.records import VersionInfo
    from aiaas.runtime.backends.base import Backend
    from aiaas.tasks.outputs import Classification

TASK = "text-classification"
DEFAULT_BASE_MODEL = "all-minilm-l6-v2"
HEAD_ONLY = ("c",)
FINE_TUNE_ONLY = ("epochs", "learning_rate", "weight_decay", "warmup_fraction", "max_length",
                  "patience")


class TextParams(BaseModel):
    """Hyperparameters with defaults; unknown keys are refused, and so are keys of the other
    method (checked when the job is created)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["embedding_head", "fine_tune"] = "embedding_head"
    base_model: str = Field(default=DEFAULT_BASE_MODEL, min_length=1, max_length=128,
                            description="A registered model: sentence-transformers for "
                                        "embedding_head; a transformers text encoder for fine_tune.")
    text: str | None = Field(default=None, max_length=200,
                             description="Text column (default: the dataset's text column).")
    label: str | None = Field(default=None, max_length=200,
                              description="Label column (default: the dataset's label column).")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    test_fraction: float = Field(default=0.2, ge=0.05, le=0.5)
    validation_fraction: float | None = Field(
        default=None, ge=0.0, le=0.4,
        description="Default 0.1 for fine_tune (it picks the best epoch on it) and 0 for "
                    "embedding_head (nothing is selected, so every non-test row trains the head).")
    batch_size: int = Field(default=32, ge=1, le=1024)
    c: float = Field(default=0.1, gt=0, le=1e6,
                     description="Inverse regularisation of the logistic-regression head.")
    epochs: int = Field(default=6, ge=1, le=100)
    learning_rate: float = Field(default=1e-4, gt=0, le=1)
    weight_decay: float = Field(default=0.01, ge=0, le=1)
    warmup_fraction: float = Field(default=0.1, ge=0, le=0.5,
                                   description="Share of the steps with a linearly rising rate.")
    max_length: int = Field(default=128, ge=8, le=8192, description="Tokens per text (fine_tune).")
    patience: int = Field(default=2, ge=0, le=100,
                          description="Stop after this many epochs without a better validation "
                                      "macro-F1 (0: never stop early).")
    explain_texts: int = Field(
        default=global_explain.WORD_TEXTS, ge=0, le=1000,
        description="Test texts whose words are explained for influential_words (each costs "
                    "about 2 model calls per word); more finds steadier words. 0: none.")


@dataclass(frozen=True)
class TextData:
    texts: list[str]
    labels: np.ndarray[Any, Any]
    """String labels, one per text."""
    classes: list[str]
    """Sorted label names: the output order of the trained model."""


@dataclass(frozen=True)
class TextSplit:
    train: TextData
    validation: TextData
    test: TextData


def _columns(info: DatasetInfo, params: TextParams) -> tuple[str, str]:
    """The text and label column names, or ``Invalid`` naming the missing one."""
    if info.kind != "table":
        raise Invalid(f"{TASK} trains on a table with a text and a label column; dataset "
                      f"{info.id!r} is a set of images", details={"field": "dataset"})
    texts = [name for name, kind in info.columns.items() if kind == "text"]
    text = params.text or (texts[0] if texts else None)
    if text is None or text not in info.columns:
        missing = "no text column" if text is None else f"no column {text!r}"
        raise Invalid(f"dataset {info.id!r} has {missing}; name its text column with params.text "
                      f"(columns: {', '.join(info.columns) or 'none'})",
                      details={"field": "params.text"})
    label = params.label or info.label
    if label is None or label not in info.columns:
        raise Invalid(f"dataset {info.id!r} has no label column {label!r}; name one with "
                      "params.label", details={"field": "params.label"})
    if label == text:
        raise Invalid(f"params.label and params.text both name column {text!r}",
                      details={"field": "params.label"})
    return text, label


def check(info: DatasetInfo, params: TextParams) -> None:
    other = FINE_TUNE_ONLY if params.method == "embedding_head" else HEAD_ONLY
    given = sorted(set(other) & params.model_fields_set)
    if given:
        raise Invalid(f"params.{given[0]} does not apply to method {params.method!r}",
                      details={"field": f"params.{given[0]}"})
    _columns(info, params)


def _rows(dataset: Dataset, params: TextParams) -> tuple[TabularDataset, list[str]]:
    table = table_of(dataset, TASK)
    text, label = _columns(table.info, params)
    frame = table.frame
    texts, labels = frame[text].tolist(), frame[label].tolist()
    for row, (value, target) in enumerate(zip(texts, labels, strict=True)):
        if not isinstance(value, str) or not value.strip():
            raise Invalid(f"row {row + 1}: column {text!r} holds no text", details={"field": "dataset",
                                                                                  "row": row + 1})
        if target is None or (isinstance(target, float) and np.isnan(target)):
            raise Invalid(f"row {row + 1}: column {label!r} has no label",
                          details={"field": "dataset", "row": row + 1})
    y = np.asarray([str(v) for v in labels])
    counts = {name: int((y == name).sum()) for name in sorted(set(y.tolist()))}
    if len(counts) < 2:
        raise Invalid(f"column {label!r} has one class ({', '.join(counts)}); a classifier needs "
                      "two or more", details={"field": "params.label"})
    info = table.info
    own = (np.asarray([str(v) for v in frame[info.split_column]]) if info.split_column else None)
    rows = np.arange(len(texts)).reshape(-1, 1)
    return TabularDataset(info.id, CLASSIFICATION, ["row"], rows, y, own), texts


def validation_fraction(params: TextParams) -> float:
    if params.validation_fraction is not None:
        return params.validation_fraction
    return 0.1 if params.method == "fine_tune" else 0.0


def split_texts(dataset: Dataset, params: TextParams) -> TextSplit:
    """The seeded, stratified split (or the user's split column) of the dataset's texts."""
    rows, texts = _rows(dataset, params)
    try:
        parts = split(rows, seed=params.seed, test_fraction=params.test_fraction,
                      validation_fraction=validation_fraction(params))
    except ValueError as exc:  # a class too small to stratify
        raise Invalid(f"cannot split dataset {rows.id!r} by class: {exc}",
                      details={"field": "dataset"}) from exc
    classes = sorted(set(rows.y.tolist()))

    def part(index: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> TextData:
        return TextData([texts[i] for i in index[:, 0].tolist()], y, classes)

    return TextSplit(part(parts.x_train, parts.y_train), part(parts.x_val, parts.y_val),
                     part(parts.x_test, parts.y_test))


def base_model(ctx: TrainContext, accepted: dict[str, str], needs: str) -> tuple[VersionInfo, Path]:
    """The registered base model's version and artifact directory; ``Invalid`` naming
    ``params.base_model`` when it is missing or of a format not in ``accepted`` (format -> the
    task it must serve there, ``""`` for any)."""
    name = ctx.params.base_model
    try:
        version = ctx.registry.resolve(ctx.job.tenant, name)
    except NotFound as exc:
        raise Invalid(f"params.base_model: {exc.message}", details={"field": "params.base_model"}) from exc
    if version.format not in accepted or accepted[version.format] not in ("", version.task):
        raise Invalid(f"params.base_model: {name!r} is a {version.format} {version.task} model; "
                      f"method {ctx.params.method!r} needs {needs}",
                      details={"field": "params.base_model"})
    return version, ctx.model_dir(name)


def served_predictions(backend: Backend, texts: list[str], classes: list[str],
                       batch: int | None = None) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Predicted labels and probabilities (``classes`` order) through the serving backend's own
    ``predict_batch``, ``batch`` texts per call (None: all in one, as one request is served)."""
    step = batch or max(len(texts), 1)
    outputs: list[Classification] = [p.output for start in range(0, len(texts), step)
                                     for p in backend.predict_batch(texts[start:start + step], {})]
    predicted = np.asarray([out.label for out in outputs])
    probabilities = np.asarray([[out.probabilities[c] for c in classes] for out in outputs])
    return predicted, probabilities.reshape(len(outputs), len(classes))


WORD_PROGRESS_POINTS = 8
"""About this many ``influential_words`` progress events per job."""


def explain_words(ctx: TrainContext, backend: Backend, test: TextData, batch: int | None = None
                  ) -> tuple[list[str], dict[str, Any]]:
    """The most influential words per class on a seeded sample of the test texts (at most
    ``params.explain_texts``), scored by the serving ``backend``, drawn as the
    ``influential_words`` plot; returns the plot names and the result details to add (none
    when ``explain_texts`` is 0). Reports progress (stage ``influential_words``), which may
    cancel the job."""
    if not ctx.params.explain_texts:
        return [], {}
    picked = global_explain.sample(len(test.texts), ctx.params.explain_texts, ctx.params.seed)
    texts = [test.texts[i] for i in picked.tolist()]
    every, started = max(1, len(texts) // WORD_PROGRESS_POINTS), time.monotonic()

    def done(n: int) -> None:
        if n % every == 0 or n == len(texts):
            elapsed = time.monotonic() - started
            ctx.progress("influential_words", step=n, total=len(texts),
                         eta_s=round(elapsed / n * (len(texts) - n), 2))

    words = global_explain.influential_words(
        lambda some: served_predictions(backend, some, test.classes, batch)[1], texts,
        test.classes, done=done)
    plots.influential_words(words, ctx.plot_dir / "influential_words.png")
    return ["influential_words"], {"influential_words": words, "influential_words_sample": {
        "texts": len(texts), "of": len(test.texts), "seconds": round(time.monotonic() - started, 2)}}


def describe_split(data: TextSplit) -> dict[str, int]:
    return {"train": len(data.train.texts), "validation": len(data.validation.texts),
            "test": len(data.test.texts)}


def run(ctx: TrainContext) -> TrainResult:
    params: TextParams = ctx.params
    data = split_texts(ctx.dataset, params)
    ctx.progress("split", **describe_split(data), classes=len(data.train.classes))
    if params.method == "fine_tune":
        from aiaas.training.trainers.text_finetune import fine_tune

        return fine_tune(ctx, data)
    from aiaas.training.trainers.text_head import embedding_head

    return embedding_head(ctx, data)


SPECS = [
    TrainerSpec(TASK, evaluation.SCALARS_CLASSIFICATION, TextParams, run, check,
                "a logistic-regression head on frozen sentence embeddings (embedding_head), or "
                "full fine-tuning of a transformers encoder (fine_tune)", data_parallel=True),
]
