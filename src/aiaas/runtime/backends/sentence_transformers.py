"""Sentence-transformers directories (safetensors weights), loaded offline on the CPU or a GPU
(``device`` is already resolved: ``cpu`` or ``cuda:N``; fp16/bf16 apply on a GPU only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiaas.runtime import process
from aiaas.runtime.backends.base import Backend
from aiaas.tasks.base import Prediction


class SentenceTransformersBackend(Backend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int, device: str = "cpu",
                 precision: str = "fp32") -> None:
        super().__init__(path, config)
        self.threads, self.device, self.precision = threads, device, precision
        self.model: Any = None

    def load(self) -> None:
        process.use_torch_threads(self.threads)
        import torch
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(
            str(self.path), device=self.device, local_files_only=True, trust_remote_code=False
        )
        if self.device.startswith("cuda") and self.precision in ("fp16", "bf16"):
            self.model.to(torch.float16 if self.precision == "fp16" else torch.bfloat16)
        self.model.eval()

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        import torch

        tokenizer = self.model.tokenizer
        limit = self.model.get_max_seq_length()
        lengths = [
            min(len(ids), limit)
            for ids in tokenizer(items, add_special_tokens=True, truncation=False)["input_ids"]
        ]
        with torch.inference_mode():
            vectors = self.model.encode(
                items,
                batch_size=max(len(items), 1),
                normalize_embeddings=parameters.get("normalize", True),
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return [
            Prediction({"embedding": vector.tolist()}, tokens=length)
            for vector, length in zip(vectors, lengths, strict=True)
        ]

    def unload(self) -> None:
        self.model = None
