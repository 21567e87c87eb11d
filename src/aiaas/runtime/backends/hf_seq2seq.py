"""transformers encoder-decoder text models (T5, BART, Marian, ...) run with ``generate``.

Loaded with ``AutoModelForSeq2SeqLM.from_pretrained`` (local files, safetensors, no remote
code). A batch is padded and truncated to the model's maximum input length and decoded without
sampling; the model's own generation settings (length penalty, forced tokens...) apply, with
``max_new_tokens`` and ``num_beams`` taken from the request. ``Prediction.tokens`` counts the
input tokens, ``completion_tokens`` the generated ones (padding and the start token excluded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiaas.runtime.backends.base import Backend
from aiaas.runtime.backends.hf_sequence import prepare_torch, release
from aiaas.runtime.loaders import max_length
from aiaas.tasks.base import Prediction

CHUNK = 16


class HFSeq2SeqBackend(Backend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int) -> None:
        super().__init__(path, config)
        self.threads = threads
        self.device = "cpu"
        self.model: Any = None
        self.tokenizer: Any = None
        self.max_length = 512

    def load(self) -> None:
        self.device = prepare_torch(self.threads)
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(
            str(self.path), local_files_only=True, trust_remote_code=False
        )
        self.model = AutoModelForSeq2SeqLM.from_pretrained(
            str(self.path), local_files_only=True, trust_remote_code=False, use_safetensors=True
        ).to(self.device).eval()
        self.max_length = max_length(self.tokenizer, self.model.config)

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        lengths = [len(text) for text in items]
        order = sorted(range(len(items)), key=lambda i: lengths[i])
        results: list[Prediction | None] = [None] * len(items)
        step = CHUNK if self.tokenizer.pad_token is not None else 1  # no pad token: one by one
        for start in range(0, len(order), step):
            chunk = order[start:start + step]
            for index, prediction in zip(chunk, self._generate([items[i] for i in chunk], parameters),
                                         strict=True):
                results[index] = prediction
        return [result for result in results if result is not None]

    def _generate(self, texts: list[str], parameters: dict[str, Any]) -> list[Prediction]:
        import torch

        encoded = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt").to(self.device)
        try:
            with torch.inference_mode():
                sequences = self.model.generate(
                    **encoded, max_new_tokens=parameters["max_tokens"],
                    num_beams=parameters["num_beams"], num_return_sequences=1, do_sample=False,
                )
        except (RuntimeError, ValueError, IndexError) as exc:
            raise self.failure(exc, "generation failed") from exc
        texts_out = self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        pad = self.model.generation_config.pad_token_id
        generated = (sequences[:, 1:] != (-1 if pad is None else pad)).sum(dim=1).tolist()
        prompt = encoded["attention_mask"].sum(dim=1).tolist()
        return [
            Prediction({"text": text.strip()}, tokens=int(p), completion_tokens=int(g))
            for text, p, g in zip(texts_out, prompt, generated, strict=True)
        ]

    def unload(self) -> None:
        self.model = None
        self.tokenizer = None
        release(self.device)
