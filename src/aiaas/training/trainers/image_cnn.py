"""``cnn``: a small convolutional network trained from scratch, for small images (digits).

``SmallCNN``: three stages of two 3x3 convolutions with batch norm (16, 32, 64 channels), 2x2
max pooling while the feature map is at least 4 pixels wide, global average pooling, dropout and
a linear head. Greyscale data trains a one-channel network, anything else RGB. Inputs are built
with the ONNX image backend's own ``image_pixels`` and normalised with the training split's
per-channel mean and std, which go into ``aiaas.json`` with the size and labels: the exported graph
(``model.onnx``, dynamic batch) is served by that backend exactly as it was trained. The weights
are stored beside it too (``cnn.safetensors``, ``runtime/backends/small_cnn.py``, where the
architecture lives): the backend loads them for gradient explanations (Grad-CAM, Integrated
Gradients), which the graph cannot give.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aiaas.runtime.backends import small_cnn
from aiaas.runtime.backends.onnx_image import image_pixels
from aiaas.runtime.backends.small_cnn import SmallCNN
from aiaas.training import evaluation
from aiaas.training.datasets import ImageSet
from aiaas.training.trainers import image_loop, torch_loop
from aiaas.training.trainers.base import TrainContext, TrainResult, torch_threads
from aiaas.training.trainers.images import (
    DEFAULT_CNN_SIDE_CAP,
    TASK,
    ImageParams,
    ImageSplit,
    served_evaluation,
    served_outputs,
)


def input_size(images: ImageSet, params: ImageParams) -> tuple[int, int]:
    """(height, width): ``image_size`` squared, else the most common image size in the set,
    scaled down to fit ``DEFAULT_CNN_SIDE_CAP``."""
    if params.image_size is not None:
        return params.image_size, params.image_size
    (width, height), _ = Counter(image.size for image in images.images).most_common(1)[0]
    scale = min(1.0, DEFAULT_CNN_SIDE_CAP / max(width, height))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _export(model: nn.Module, channels: int, size: tuple[int, int], path: Path) -> None:
    model = model.to("cpu").eval()
    example = torch.zeros(1, channels, *size)
    with warnings.catch_warnings():
        # The TorchScript exporter (no onnxscript needed) warns that it is deprecated.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), input_names=["pixel_values"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}})


def train(ctx: TrainContext, images: ImageSet, parts: ImageSplit) -> TrainResult:
    params: ImageParams = ctx.params
    threads = torch_threads(ctx)
    where = torch_loop.device()
    labels = list(images.classes)
    channels = 1 if all(image.mode == "L" for image in images.images) else 3
    size = input_size(images, params)
    # uint8 pixels, exactly what the backend's image_pixels gives (times 255): a quarter of the
    # memory of float32 for the whole set.
    stored = torch.from_numpy(np.stack([
        np.rint(image_pixels(image, list(size), channels) * 255).astype(np.uint8)
        for image in images.images]).transpose(0, 3, 1, 2).copy())
    train_pixels = stored[torch.from_numpy(parts.train)].float() / 255.0
    mean = [round(float(v), 6) for v in train_pixels.mean(dim=(0, 2, 3))]
    std = [round(max(float(v), 1e-3), 6) for v in train_pixels.std(dim=(0, 2, 3))]
    del train_pixels
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    index = {label: i for i, label in enumerate(labels)}
    y = torch.tensor([index[label] for label in images.labels], dtype=torch.long)
    generator = torch.Generator().manual_seed(params.seed)

    def inputs(indices: np.ndarray[Any, Any], training: bool) -> torch.Tensor:
        pixels = (stored[torch.from_numpy(indices)].float() / 255.0 - mean_t) / std_t
        return image_loop.augment(pixels, generator) if training and params.augmentation else pixels

    torch.manual_seed(params.seed)
    model = SmallCNN(channels, len(labels), size).to(where)
    history = image_loop.fit(
        model, lambda m, x: m(x), inputs, y, parts.train, parts.validation,
        image_loop.Schedule.of(params), ctx.progress, ctx.work_dir)
    _export(model, channels, size, ctx.staged / "model.onnx")
    small_cnn.save(model, ctx.staged, channels=channels, classes=len(labels), size=size)
    manifest: dict[str, Any] = {
        "task": TASK, "labels": labels, "image_size": list(size), "image_mean": mean,
        "image_std": std,
        "description": f"CNN trained from scratch on {ctx.job.dataset} by job {ctx.job.id}"}
    ctx.write_manifest(**manifest)
    test_images = [images.images[i] for i in parts.test]
    outputs = served_outputs(ctx, test_images, threads)
    y_test = np.asarray([images.labels[i] for i in parts.test])
    result = served_evaluation(outputs, y_test, labels, image_loop.curves(history), ctx)
    ctx.write_manifest(**manifest, metrics=evaluation.scalars(result.metrics))
    result.details = {**image_loop.details(history), "image_size": list(size), "channels": channels,
                      "threads": threads, "parameters": sum(p.numel() for p in model.parameters())}
    return result
