"""Image classification: a small CNN trained from scratch (``cnn``), or a fine-tuned local Hugging
Face vision model (``fine_tune``, from a registered model named by ``base_model``).

Both split the images seeded and stratified by label into train / validation / test, train with
the loop in ``image_loop`` (AdamW, per-epoch validation, the best epoch kept as a safetensors
checkpoint), write a directory the existing backends serve (ONNX plus ``aiaas.json`` for ``cnn``,
``save_pretrained`` for ``fine_tune``) and evaluate the test split by loading that directory in
the serving backend, so the stored metrics describe what the API answers. The test split is used
for nothing else. This module imports no torch: the API process checks parameters with it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from aiaas.errors import Invalid
from aiaas.tasks.outputs import Classification
from aiaas.training import evaluation, plots
from aiaas.training.datasets import Dataset, DatasetInfo, ImageSet
from aiaas.training.trainers.base import TrainContext, TrainerSpec, TrainResult

TASK = "image-classification"
MAX_CNN_SIDE = 128
DEFAULT_CNN_SIDE_CAP = 64
"""Without ``image_size`` the CNN trains at the data's own size, shrunk to at most this."""
DEFAULTS: dict[str, dict[str, Any]] = {
    "cnn": {"epochs": 20, "batch_size": 64, "learning_rate": 3e-3},
    "fine_tune": {"epochs": 5, "batch_size": 16, "learning_rate": 5e-5},
}


class ImageParams(BaseModel):
    """Hyperparameters; those left out get the method's defaults (``DEFAULTS``)."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["cnn", "fine_tune"] | None = Field(
        default=None, description="cnn (small images, from scratch) or fine_tune (needs "
                                  "base_model); default: fine_tune when base_model is given.")
    base_model: str | None = Field(default=None, min_length=1, max_length=200, description=(
        "A registered Hugging Face image classifier or backbone directory to fine-tune."))
    image_size: int | None = Field(default=None, ge=4, le=MAX_CNN_SIDE, description=(
        "cnn only: the square side images are resized to (default: the data's size, at most "
        f"{DEFAULT_CNN_SIDE_CAP})."))
    epochs: int | None = Field(default=None, ge=1, le=1000)
    batch_size: int | None = Field(default=None, ge=1, le=1024)
    learning_rate: float | None = Field(default=None, gt=0, le=1)
    weight_decay: float = Field(default=1e-4, ge=0, le=1)
    augmentation: bool = Field(default=True, description=(
        "Random small rotations, scalings and shifts of the training images."))
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    test_fraction: float = Field(default=0.2, ge=0.05, le=0.5)
    validation_fraction: float = Field(default=0.1, ge=0.0, le=0.4)

    @model_validator(mode="after")
    def _method_defaults(self) -> ImageParams:
        """Pick the method, refuse parameters that do not fit it (``Invalid`` naming the field:
        pydantic lets it through unwrapped) and fill in the method's defaults."""
        if self.method is None:
            self.method = "fine_tune" if self.base_model else "cnn"
        if self.method == "fine_tune" and not self.base_model:
            raise _invalid("base_model", "required with method fine_tune: name a registered "
                                         "Hugging Face image model")
        if self.method == "cnn" and self.base_model:
            raise _invalid("base_model", "is for method fine_tune; the cnn trains from scratch")
        if self.method == "fine_tune" and self.image_size is not None:
            raise _invalid("image_size", "is for method cnn; fine_tune resizes as the base "
                                         "model's image processor says")
        for name, value in DEFAULTS[self.method].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        return self


def _invalid(field: str, problem: str) -> Invalid:
    return Invalid(f"params.{field}: {problem}", details={"field": f"params.{field}"})


class ImageSplit:
    """Index arrays into the image set: ``train``, ``validation`` (may be empty), ``test``."""

    def __init__(self, train: np.ndarray[Any, Any], validation: np.ndarray[Any, Any],
                 test: np.ndarray[Any, Any]) -> None:
        self.train, self.validation, self.test = train, validation, test

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def image_set(dataset: Dataset) -> ImageSet:
    if not isinstance(dataset, ImageSet):
        raise Invalid(f"{TASK} trains on images (a ZIP of class folders, or builtin:digits); "
                      f"dataset {dataset.info.id!r} is a table", details={"field": "dataset"})
    if len(dataset.classes) < 2:
        raise Invalid(f"dataset {dataset.info.id!r} has {len(dataset.classes)} class; "
                      f"{TASK} needs at least two", details={"field": "dataset"})
    return dataset


def split_images(labels: list[str], *, seed: int, test_fraction: float,
                 validation_fraction: float) -> ImageSplit:
    """Seeded and stratified by label; fractions are of the whole set. ``Invalid`` naming the
    class when one is too small to appear in every part."""
    from sklearn.model_selection import train_test_split

    y = np.asarray(labels)
    names, counts = np.unique(y, return_counts=True)
    needed = 3 if validation_fraction > 0 else 2
    small = [f"{str(name)!r} ({count})" for name, count in zip(names, counts, strict=True)
             if count < needed]
    if small:
        raise Invalid(f"every class needs at least {needed} images to be split into train, "
                      f"{'validation, ' if needed == 3 else ''}test; too few: {', '.join(small)}",
                      details={"field": "dataset"})
    everything = np.arange(len(y))
    try:
        rest, test = train_test_split(everything, test_size=test_fraction, random_state=seed,
                                      stratify=y)
        if validation_fraction <= 0:
            return ImageSplit(np.sort(rest), rest[:0], np.sort(test))
        train, validation = train_test_split(
            rest, test_size=validation_fraction / (1 - test_fraction), random_state=seed,
            stratify=y[rest])
    except ValueError as exc:
        raise Invalid(f"cannot split {len(y)} images of {len(names)} classes with test_fraction "
                      f"{test_fraction} and validation_fraction {validation_fraction}: {exc}",
                      details={"field": "params.test_fraction"}) from exc
    return ImageSplit(np.sort(train), np.sort(validation), np.sort(test))


def served_outputs(ctx: TrainContext, images: list[Any], threads: int) -> list[Classification]:
    """Classify ``images`` by opening ``ctx.staged`` as the API will (format detection, the
    task's config, the backend), each image converted to RGB as uploads are decoded."""
    from aiaas.runtime.backends import open_directory

    backend = open_directory(ctx.staged, TASK, threads=threads)
    try:
        predictions = backend.predict_batch([image.convert("RGB") for image in images], {})
    finally:
        backend.unload()
    return [prediction.output for prediction in predictions]


def served_evaluation(outputs: list[Classification], y_true: np.ndarray[Any, Any],
                      labels: list[str], curves: dict[str, list[float]],
                      ctx: TrainContext) -> TrainResult:
    """Metrics and plots from the serving backend's outputs on the test images (the label it
    answers and its probabilities, in ``labels`` order)."""
    predicted = np.asarray([output.label for output in outputs])
    probabilities = np.asarray([[output.probabilities[label] for label in labels]
                                for output in outputs], dtype=np.float64)
    metrics = evaluation.classification(y_true, predicted, labels, probabilities)
    names = plots.classification(metrics, labels, y_true, probabilities, ctx.plot_dir)
    if any(curves.values()):
        plots.training_curve({k: v for k, v in curves.items() if v},
                             ctx.plot_dir / "training_curve.png", x_label="epoch")
        names.append("training_curve")
    return TrainResult(metrics, names)


def run(ctx: TrainContext) -> TrainResult:
    images = image_set(ctx.dataset)
    params: ImageParams = ctx.params
    parts = split_images(images.labels, seed=params.seed, test_fraction=params.test_fraction,
                         validation_fraction=params.validation_fraction)
    ctx.progress("split", **parts.sizes())
    if params.method == "fine_tune":
        from aiaas.training.trainers import image_finetune

        result = image_finetune.train(ctx, images, parts)
    else:
        from aiaas.training.trainers import image_cnn

        result = image_cnn.train(ctx, images, parts)
    result.details.update(method=params.method, split=parts.sizes())
    return result


def check(info: DatasetInfo, params: ImageParams) -> None:
    if info.kind != "images":
        raise Invalid(f"{TASK} trains on images (a ZIP of class folders, or builtin:digits); "
                      f"dataset {info.id!r} is a table", details={"field": "dataset"})


SPECS = [
    TrainerSpec(TASK, evaluation.SCALARS_CLASSIFICATION, ImageParams, run, check,
                "a small CNN from scratch (exported to ONNX), or fine-tuning a registered "
                "Hugging Face vision model", data_parallel=True),
]
