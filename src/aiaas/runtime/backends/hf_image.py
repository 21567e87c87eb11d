"""transformers ``*ForImageClassification`` directories with their image processor.

Loaded with ``AutoImageProcessor``/``AutoModelForImageClassification.from_pretrained`` on the
directory (local files, safetensors, no remote code). Without torchvision installed the image
processor's Pillow backend is used. Items are RGB ``PIL`` images already decoded and checked by
the task (``aiaas.runtime.images``); the processor resizes and normalises them as the model's
authors configured.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from aiaas.errors import BackendError
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.backends.hf_sequence import check_label_count, prepare_torch, release
from aiaas.runtime.tasks.base import Prediction
from aiaas.runtime.tasks.text_classification import classification_output

CHUNK = 32


class HFImageBackend(Backend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int) -> None:
        super().__init__(path, config)
        self.threads = threads
        self.device = "cpu"
        self.model: Any = None
        self.processor: Any = None

    def load(self) -> None:
        self.device = prepare_torch(self.threads)
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        options: dict[str, Any] = {}
        if importlib.util.find_spec("torchvision") is None:
            options["backend"] = "pil"
        self.processor = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
            str(self.path), local_files_only=True, trust_remote_code=False, **options
        )
        self.model = AutoModelForImageClassification.from_pretrained(
            str(self.path), local_files_only=True, trust_remote_code=False, use_safetensors=True
        ).to(self.device).eval()
        check_label_count(self.model, self.config["labels"])

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        import torch

        labels: list[str] = self.config["labels"]
        top_k = parameters.get("top_k")
        results: list[Prediction] = []
        for start in range(0, len(items), CHUNK):
            images = items[start:start + CHUNK]
            try:
                pixels = self.processor(images=images, return_tensors="pt")["pixel_values"]
                with torch.inference_mode():
                    logits = self.model(pixel_values=pixels.to(self.device)).logits.float()
            except (RuntimeError, ValueError, IndexError, TypeError) as exc:
                raise BackendError(f"the image classifier failed: {exc}") from exc
            if self.config.get("multi_label"):
                scores = torch.sigmoid(logits)
            else:
                scores = torch.softmax(logits, dim=-1)
            results.extend(Prediction(classification_output(labels, row, top_k))
                           for row in scores.cpu().tolist())
        return results

    def unload(self) -> None:
        self.model = None
        self.processor = None
        release(self.device)
