"""transformers ``*ForImageClassification`` directories with their image processor.

Loaded with ``AutoImageProcessor``/``AutoModelForImageClassification.from_pretrained`` on the
directory (local files, safetensors, no remote code). Without torchvision installed the image
processor's Pillow backend is used. Items are RGB ``PIL`` images already decoded and checked by
the task (``aiaas.tasks.images``); the processor resizes and normalises them as the model's
authors configured.

Explanations (``Explainable``): Integrated Gradients on the processor's pixels, and Grad-CAM on
the last convolution (CNNs) or the patch grid of the last block (ViTs), on the loaded model
(``aiaas.runtime.gradients``), queued on the model's worker like a batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiaas.errors import BackendError
from aiaas.runtime import gradients
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.backends.hf_sequence import check_label_count, prepare_torch, release
from aiaas.runtime.loaders import load_processor
from aiaas.tasks.base import Prediction
from aiaas.tasks.outputs import Explanation
from aiaas.tasks.text_classification import classification_output

CHUNK = 32
INPUT_ERRORS = (RuntimeError, ValueError, IndexError, TypeError)
"""What the processor and the model raise on input they cannot take."""


def pixel_values(processor: Any, images: list[Any], tensors: str) -> Any:
    """The processor's resized, normalised batch (``tensors``: "pt" or "np"); its failures
    become a ``BackendError``."""
    try:
        return processor(images=images, return_tensors=tensors)["pixel_values"]
    except INPUT_ERRORS as exc:
        raise BackendError(f"the image processor failed: {exc}") from exc


class HFImageBackend(Backend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int) -> None:
        super().__init__(path, config)
        self.threads = threads
        self.device = "cpu"
        self.model: Any = None
        self.processor: Any = None
        self.cam_layer: gradients.CamLayer | None = None

    def load(self) -> None:
        self.device = prepare_torch(self.threads)
        from transformers import AutoModelForImageClassification

        self.processor = load_processor(self.path)
        self.model = AutoModelForImageClassification.from_pretrained(
            str(self.path), local_files_only=True, trust_remote_code=False, use_safetensors=True
        ).to(self.device).eval()
        check_label_count(self.model, self.config["labels"])
        self.cam_layer = gradients.cam_layer_of(self.model)

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        import torch

        labels: list[str] = self.config["labels"]
        top_k = parameters.get("top_k")
        results: list[Prediction] = []
        for start in range(0, len(items), CHUNK):
            pixels = pixel_values(self.processor, items[start:start + CHUNK], "pt")
            try:
                with torch.inference_mode():
                    logits = self.model(pixel_values=pixels.to(self.device)).logits.float()
            except INPUT_ERRORS as exc:
                raise self.failure(exc, "the image classifier failed") from exc
            if self.config.get("multi_label"):
                scores = torch.sigmoid(logits)
            else:
                scores = torch.softmax(logits, dim=-1)
            results.extend(Prediction(classification_output(labels, row, top_k))
                           for row in scores.cpu().tolist())
        return results

    @property
    def explain_methods(self) -> tuple[str, ...]:
        if self.model is None:
            return ()
        return gradients.IMAGE_METHODS if self.cam_layer is not None else ("integrated_gradients",)

    def explain(self, items: list[Any], parameters: dict[str, Any]) -> list[Explanation]:
        request = gradients.Request.of(parameters, len(items))
        try:
            return gradients.explain_images(
                items, request, labels=self.config["labels"],
                multi_label=bool(self.config.get("multi_label")),
                prepare=lambda images: pixel_values(self.processor, images, "pt").to(self.device),
                logits_of=lambda pixels: self.model(pixel_values=pixels).logits.float(),
                cam_layer=self.cam_layer)
        except INPUT_ERRORS as exc:
            raise self.failure(exc, "explaining the image classifier failed") from exc

    def unload(self) -> None:
        self.model = None
        self.processor = None
        self.cam_layer = None
        release(self.device)
