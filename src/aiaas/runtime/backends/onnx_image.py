"""ONNX image classifiers on onnxruntime.

Each RGB ``PIL`` image (decoded and checked by the task) is resized to the registered
``size`` (bilinear), scaled to [0, 1], normalised with ``mean``/``std`` and laid out as the
graph wants (NCHW or NHWC, 1 or 3 channels). A graph with a fixed batch size runs in groups of
that size. The first output is read as ``(batch, classes)``: rows that are already
probabilities (each in [0, 1], summing to 1) are used as they are, anything else is treated as
logits and put through a softmax.

A CNN trained here also carries its PyTorch form (``small_cnn``: the same weights as
safetensors). It is loaded beside the session, checked against the graph on a probe image
(probabilities within ``TORCH_TOLERANCE``), and answers gradient explanations (``Explainable``:
Integrated Gradients on the model's input pixels, Grad-CAM on the last convolution); the graph
keeps serving predictions. A graph without it has no gradients: explanations are SHAP's, over
its predictions.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.errors import BackendError
from aiaas.runtime import gradients, process
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.loaders import open_session
from aiaas.tasks.base import Prediction
from aiaas.tasks.outputs import Explanation
from aiaas.tasks.text_classification import classification_output

log = logging.getLogger("aiaas.runtime")
CHUNK = 32
TORCH_TOLERANCE = 1e-4


def to_probabilities(scores: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Rows that already are probability distributions stay; others get a softmax."""
    scores = scores.astype(np.float64)
    if not np.all(np.isfinite(scores)):
        raise BackendError("the ONNX image classifier returned non-finite scores")
    if scores.min() >= 0 and scores.max() <= 1 and np.allclose(scores.sum(axis=1), 1, atol=1e-4):
        return scores
    shifted: np.ndarray[Any, Any] = np.exp(scores - scores.max(axis=1, keepdims=True))
    normalised: np.ndarray[Any, Any] = shifted / shifted.sum(axis=1, keepdims=True)
    return normalised


def image_pixels(image: Any, size: list[int], channels: int) -> np.ndarray[Any, Any]:
    """One image as ``(height, width, channels)`` float32 in [0, 1]: converted to L or RGB,
    resized bilinearly to ``size`` ([height, width]). Trainers build their inputs with this
    too, so a model is trained on exactly what it is served."""
    from PIL import Image

    height, width = size
    resized = image.convert("L" if channels == 1 else "RGB").resize(
        (width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32).reshape(height, width, -1) / 255.0


class OnnxImageBackend(Backend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int) -> None:
        super().__init__(path, config)
        self.threads = threads
        self.session: Any = None
        self.torch_model: Any = None
        self.cam_layer: gradients.CamLayer | None = None

    def load(self) -> None:
        self.session = open_session(self.path / self.config["model_file"], threads=self.threads)
        self._load_torch()

    def _load_torch(self) -> None:
        """The stored PyTorch form, when there is one that gives the graph's answers."""
        from aiaas.runtime.backends import small_cnn

        if not (self.path / small_cnn.WEIGHTS_FILE).is_file() or self.config["layout"] != "NCHW":
            return
        process.use_torch_threads(self.threads)
        import torch
        from PIL import Image

        model = small_cnn.load(self.path)
        if model is None:
            log.warning("%s: %s is not a network this version builds; no gradient explanations",
                        self.path.name, small_cnn.WEIGHTS_FILE)
            return
        height, width = self.config["size"]
        probe = [Image.effect_noise((width, height), 64).convert("RGB")]
        with torch.no_grad():
            mine = torch.softmax(model(torch.from_numpy(self._tensor(probe))), dim=-1).numpy()
        theirs = to_probabilities(np.asarray(self.session.run(
            None, {self.config["input_name"]: self._tensor(probe)})[0]))
        if mine.shape != theirs.shape or float(np.abs(mine - theirs).max()) > TORCH_TOLERANCE:
            log.warning("%s: the stored PyTorch weights do not give the graph's answers; no "
                        "gradient explanations", self.path.name)
            return
        self.torch_model, self.cam_layer = model, gradients.cam_layer_of(model)

    def _tensor(self, images: list[Any]) -> np.ndarray[Any, Any]:
        mean = np.asarray(self.config["mean"], dtype=np.float32)
        std = np.asarray(self.config["std"], dtype=np.float32)
        arrays = [(image_pixels(image, self.config["size"], self.config["channels"]) - mean) / std
                  for image in images]
        batch = np.stack(arrays).astype(np.float32)
        return batch.transpose(0, 3, 1, 2) if self.config["layout"] == "NCHW" else batch

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        labels: list[str] = self.config["labels"]
        top_k = parameters.get("top_k")
        step = self.config.get("batch") or CHUNK
        results: list[Prediction] = []
        for start in range(0, len(items), step):
            group = items[start:start + step]
            # A graph with a fixed batch size gets full groups: the last one padded with copies.
            padded = group + [group[-1]] * (step - len(group)) if self.config.get("batch") else group
            try:
                outputs = self.session.run(None, {self.config["input_name"]: self._tensor(padded)})
            except Exception as exc:
                raise self.failure(exc, "onnxruntime failed") from exc
            scores = np.asarray(outputs[0])[:len(group)]
            if scores.size != len(group) * len(labels):
                raise BackendError(f"the ONNX model returned shape {scores.shape} for {len(group)} "
                                   f"image(s) and {len(labels)} labels")
            probabilities = to_probabilities(scores.reshape(len(group), len(labels)))
            results.extend(Prediction(classification_output(labels, row.tolist(), top_k))
                           for row in probabilities)
        return results

    @property
    def explain_methods(self) -> tuple[str, ...]:
        return gradients.IMAGE_METHODS if self.torch_model is not None else ()

    def explain(self, items: list[Any], parameters: dict[str, Any]) -> list[Explanation]:
        import torch

        from aiaas.errors import Invalid

        if self.torch_model is None:
            raise Invalid.at("parameters.method", "gradient methods need the model's PyTorch "
                             "form, and this ONNX graph was stored without it")
        request = gradients.Request.of(parameters, len(items))
        return gradients.explain_images(
            items, request, labels=self.config["labels"], multi_label=False,
            prepare=lambda images: torch.from_numpy(self._tensor(images)),
            logits_of=lambda pixels: self.torch_model(pixels).float(),
            cam_layer=self.cam_layer)

    def unload(self) -> None:
        self.session = None
        self.torch_model = self.cam_layer = None
