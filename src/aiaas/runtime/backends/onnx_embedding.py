"""Sentence embeddings through ONNX Runtime, with sentence-transformers as the fallback.

On load the sentence-transformers directory is exported to one ONNX graph (once per artifact
digest, cached; see ``aiaas.runtime.compile``) and verified against PyTorch. When the export or
its verification fails, the reason is logged and kept on the backend (``engine_reason``) and the
model runs on sentence-transformers exactly as before. Texts are tokenised once, with the Rust
tokenizer; a batch is sorted by length and cut into sub-batches so short texts are not padded to
the longest one in the whole batch.

Serving options (``aiaas.registry.serving``): ``precision`` int8 loads the quantised build when
its measured delta is within the version's bound (else fp32, with the reason logged); a GPU
device uses ONNX Runtime's CUDA provider when this onnxruntime has it, else sentence-transformers
on that GPU; fp16/bf16 run on sentence-transformers (half precision on the GPU).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.runtime import devices
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.backends.onnx_fallback import OnnxWithFallback
from aiaas.runtime.backends.onnx_session import open_session
from aiaas.tasks.base import Prediction


def open_encoder(model_file: Path, *, threads: int, providers: list[Any] | None = None) -> Any:
    return open_session(model_file, threads=threads, providers=providers)


class EncoderTokenizer:
    """The model's own fast tokenizer, truncating at the model's max sequence length and padding
    with its pad token, returning numpy int64 feeds."""

    def __init__(self, path: Path, max_length: int | None = None) -> None:
        from transformers import AutoTokenizer

        settings = _sentence_config(path)
        hf = AutoTokenizer.from_pretrained(str(path), local_files_only=True, use_fast=True)
        if not hf.is_fast:
            raise ValueError("no fast tokenizer for this model")
        self.lower = bool(settings.get("do_lower_case", False))
        self.max_length = int(max_length or settings.get("max_seq_length") or hf.model_max_length)
        self.tokenizer = hf.backend_tokenizer
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.enable_padding(pad_id=hf.pad_token_id or 0, pad_token=hf.pad_token or "[PAD]")

    def encode(self, texts: list[str]) -> dict[str, np.ndarray[Any, Any]]:
        encodings = self.tokenizer.encode_batch([t.lower() if self.lower else t for t in texts])
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }

    def feeds(self, texts: list[str], names: list[str]) -> dict[str, np.ndarray[Any, Any]]:
        encoded = self.encode(texts)
        return {name: encoded[name] for name in names}


def _sentence_config(path: Path) -> dict[str, Any]:
    file = path / "sentence_bert_config.json"
    loaded: dict[str, Any] = json.loads(file.read_text()) if file.is_file() else {}
    return loaded


class OnnxEmbeddingBackend(OnnxWithFallback):
    framework = "sentence-transformers"

    def _load_onnx(self) -> str:
        from aiaas.runtime.compile import quantize, sentence_onnx

        device = devices.resolve(self.options.device)
        providers = devices.onnx_providers(device)
        if self.options.precision in ("fp16", "bf16"):
            return f"{self.options.precision} runs on PyTorch"
        if providers is None:
            return f"this onnxruntime build cannot run on {device}"
        compiled = sentence_onnx.compiled(self.compile_root, self.digest, self.path,
                                          threads=self.threads)
        model_file = self.verified_file(compiled, sentence_onnx.MODEL_FILE, lambda: quantize.compiled(
            self.compile_root, self.digest, self.path, threads=self.threads))
        if model_file is None:
            return compiled.reason
        self.open(model_file, providers)
        self.tokenizer = EncoderTokenizer(self.path)
        return ""

    def _framework(self) -> Backend:
        from aiaas.runtime.backends.sentence_transformers import SentenceTransformersBackend

        return SentenceTransformersBackend(self.path, self.config, threads=self.threads,
                                           device=devices.resolve(self.options.device),
                                           precision=self.options.precision)

    def _predict_onnx(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        vectors: list[Any] = [None] * len(items)
        tokens = [0] * len(items)
        with self.lease(len(items)) as session:
            for chunk in self.sorted_chunks(items):
                encoded = self.tokenizer.encode([items[i] for i in chunk])
                output = session.run(None, {name: encoded[name] for name in self.input_names})[0]
                if parameters.get("normalize", True):
                    output = output / np.maximum(np.linalg.norm(output, axis=1, keepdims=True),
                                                 1e-12)
                counts = encoded["attention_mask"].sum(axis=1)
                for row, index in enumerate(chunk):
                    vectors[index], tokens[index] = output[row], int(counts[row])
        return [Prediction({"embedding": vector.tolist()}, tokens=count)
                for vector, count in zip(vectors, tokens, strict=True)]
