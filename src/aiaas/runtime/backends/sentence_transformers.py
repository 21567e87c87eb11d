"""Sentence-transformers directories (safetensors weights), loaded offline on the CPU or a GPU."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aiaas.runtime.backends.base import Backend
from aiaas.runtime.tasks.base import Prediction


class SentenceTransformersBackend(Backend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int) -> None:
        super().__init__(path, config)
        self.threads = threads
        self.model: Any = None

    def load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if self.threads:
            torch.set_num_threads(self.threads)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = SentenceTransformer(
            str(self.path), device=device, local_files_only=True, trust_remote_code=False
        )
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
