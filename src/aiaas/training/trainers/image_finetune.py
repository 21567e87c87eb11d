"""``fine_tune``: a registered Hugging Face vision model directory, trained on the new labels.

``AutoModelForImageClassification`` loads the base directory (local files, safetensors, no
remote code) with a head for the dataset's classes (``ignore_mismatched_sizes``: a head of
another size is replaced, a backbone without one gets a new one) and every weight is trained.
Images go through the base directory's own image processor, per batch; the result is saved with
``save_pretrained`` (safetensors) plus that processor, which the ``transformers`` image
backend serves as it is.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aiaas.errors import Invalid, NotFound
from aiaas.formats.hf import CONFIG, IMAGE_PROCESSOR
from aiaas.runtime.backends.hf_sequence import prepare_torch
from aiaas.training import evaluation
from aiaas.training.datasets import ImageSet
from aiaas.training.trainers import image_loop
from aiaas.training.trainers.base import TrainContext, TrainResult, torch_threads
from aiaas.training.trainers.images import (
    TASK,
    ImageParams,
    ImageSplit,
    served_evaluation,
    served_outputs,
)


def base_directory(ctx: TrainContext, name: str) -> Path:
    """The registered base model's directory; ``Invalid`` naming ``params.base_model`` when it
    is missing or not a transformers image directory."""
    try:
        path = ctx.model_dir(name)
    except NotFound as exc:
        raise Invalid(f"params.base_model: {exc.message}",
                      details={"field": "params.base_model"}) from exc
    missing = [file for file in (CONFIG, IMAGE_PROCESSOR) if not (path / file).is_file()]
    if missing:
        raise Invalid(f"params.base_model: {name!r} is not a Hugging Face vision model directory "
                      f"({', '.join(missing)} missing)", details={"field": "params.base_model"})
    return path


def _load(base: Path, labels: list[str], seed: int) -> tuple[Any, Any]:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    options: dict[str, Any] = {}
    if importlib.util.find_spec("torchvision") is None:
        options["backend"] = "pil"
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        # A replaced head is expected here; transformers says so in a warning.
        warnings.simplefilter("ignore")
        processor = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
            str(base), local_files_only=True, trust_remote_code=False, **options)
        try:
            model = AutoModelForImageClassification.from_pretrained(
                str(base), local_files_only=True, trust_remote_code=False, use_safetensors=True,
                num_labels=len(labels), id2label=dict(enumerate(labels)),
                label2id={label: i for i, label in enumerate(labels)},
                ignore_mismatched_sizes=True, dtype=torch.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise Invalid(f"params.base_model: cannot load it as an image classifier: {exc}",
                          details={"field": "params.base_model"}) from exc
    return processor, model


def train(ctx: TrainContext, images: ImageSet, parts: ImageSplit) -> TrainResult:
    params: ImageParams = ctx.params
    assert params.base_model is not None
    threads = torch_threads(ctx)
    where = prepare_torch(0)  # threads: set once, when the worker started
    base = base_directory(ctx, params.base_model)
    labels = list(images.classes)
    processor, model = _load(base, labels, params.seed)
    model.to(where)
    rgb = [image.convert("RGB") for image in images.images]
    index = {label: i for i, label in enumerate(labels)}
    y = torch.tensor([index[label] for label in images.labels], dtype=torch.long)
    generator = torch.Generator().manual_seed(params.seed)

    def inputs(indices: np.ndarray[Any, Any], training: bool) -> torch.Tensor:
        pixels: torch.Tensor = processor(images=[rgb[i] for i in indices],
                                         return_tensors="pt")["pixel_values"]
        return image_loop.augment(pixels, generator) if training and params.augmentation else pixels

    def forward(network: Any, pixels: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = network(pixel_values=pixels).logits
        return logits

    history = image_loop.fit(
        model, forward, inputs, y, parts.train, parts.validation,
        image_loop.Schedule.of(params), ctx.progress, ctx.work_dir)
    model.save_pretrained(str(ctx.staged))
    processor.save_pretrained(str(ctx.staged))
    manifest: dict[str, Any] = {
        "task": TASK, "labels": labels,
        "description": f"{params.base_model} fine-tuned on {ctx.job.dataset} by job {ctx.job.id}"}
    ctx.write_manifest(**manifest)
    del model
    outputs = served_outputs(ctx, [images.images[i] for i in parts.test], threads)
    y_test = np.asarray([images.labels[i] for i in parts.test])
    result = served_evaluation(outputs, y_test, labels, image_loop.curves(history), ctx)
    ctx.write_manifest(**manifest, metrics=evaluation.scalars(result.metrics))
    result.details = {**image_loop.details(history), "base_model": params.base_model, "threads": threads}
    return result
