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
import logging
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.registry.serving import ServingOptions
from aiaas.runtime import devices
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.backends.onnx_session import open_session
from aiaas.runtime.tasks.base import Prediction

log = logging.getLogger("aiaas.runtime")
SUB_BATCH = 32


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


class OnnxEmbeddingBackend(Backend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int, digest: str,
                 compile_root: Path | None, options: ServingOptions | None = None) -> None:
        super().__init__(path, config)
        self.threads, self.digest, self.compile_root = threads, digest, compile_root
        self.options = options or ServingOptions()
        self.session: Any = None
        self.tokenizer: EncoderTokenizer | None = None
        self.input_names: list[str] = []
        self.fallback: Backend | None = None
        self.engine = "onnxruntime"
        self.engine_reason = ""
        self.report: dict[str, Any] = {}

    def load(self) -> None:
        try:
            self._load_onnx()
        except Exception as exc:
            self._use_fallback(f"ONNX export failed: {type(exc).__name__}: {exc}",
                               devices.resolve(self.options.device))

    def _load_onnx(self) -> None:
        from aiaas.runtime.compile import sentence_onnx
        from aiaas.runtime.compile.cache import cached

        device = devices.resolve(self.options.device)
        providers = devices.onnx_providers(device)
        if self.compile_root is None:
            self._use_fallback("no compile cache configured", device)
            return
        if self.options.precision in ("fp16", "bf16"):
            self._use_fallback(f"{self.options.precision} runs on PyTorch", device)
            return
        if providers is None:
            self._use_fallback(f"this onnxruntime build cannot run on {device}", device)
            return
        compiled = cached(self.compile_root, self.digest, "st-onnx-fp32",
                          lambda target: sentence_onnx.export(self.path, target, threads=self.threads))
        self.report = compiled.report
        if not compiled.ok:
            self._use_fallback(compiled.reason, device)
            return
        model_file = compiled.directory / sentence_onnx.MODEL_FILE
        if self.options.precision == "int8":
            model_file = self._int8(compiled.directory) or model_file
        self.session = open_encoder(model_file, threads=self.threads, providers=providers)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer = EncoderTokenizer(self.path)
        log.info("%s serves through ONNX Runtime (%s, min cosine %.6f vs PyTorch)", self.path.name,
                 self.engine, self.report.get("cosine_min", float("nan")))

    def _int8(self, fp32_dir: Path) -> Path | None:
        """The int8 build when it is within the version's bound, else None (fp32, logged)."""
        from aiaas.runtime.compile import quantize
        from aiaas.runtime.compile.cache import cached

        assert self.compile_root is not None
        built = cached(self.compile_root, self.digest, "st-onnx-int8",
                       lambda target: quantize.embedding_int8(fp32_dir, self.path, target,
                                                              threads=self.threads))
        bound = self.options.max_accuracy_delta
        delta = float(built.report.get("delta", 1.0))
        if not built.ok or bound is None or delta > bound:
            self.engine_reason = (f"int8 not used: delta {delta:.4f} over the bound {bound}"
                                  if built.ok else f"int8 build failed: {built.reason}")
            log.warning("%s: %s; serving fp32", self.path.name, self.engine_reason)
            return None
        self.engine = "onnxruntime-int8"
        return built.directory / quantize.INT8_FILE

    def _use_fallback(self, reason: str, device: str = "cpu") -> None:
        from aiaas.runtime.backends.sentence_transformers import SentenceTransformersBackend

        log.warning("%s falls back to sentence-transformers: %s", self.path.name, reason)
        self.engine, self.engine_reason = "pytorch", reason
        self.fallback = SentenceTransformersBackend(self.path, self.config, threads=self.threads,
                                                    device=device,
                                                    precision=self.options.precision)
        self.fallback.load()

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"engine": self.engine, "precision": self.options.precision,
                                     "device": self.options.device}
        if self.engine_reason:
            described["engine_reason"] = self.engine_reason
        if self.report:
            described["export_check"] = {k: self.report[k] for k in
                                         ("ok", "cosine_min", "max_abs_error") if k in self.report}
        return described

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        if self.fallback is not None:
            return self.fallback.predict_batch(items, parameters)
        assert self.tokenizer is not None
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        vectors: list[Any] = [None] * len(items)
        tokens = [0] * len(items)
        for start in range(0, len(order), SUB_BATCH):
            chunk = order[start:start + SUB_BATCH]
            encoded = self.tokenizer.encode([items[i] for i in chunk])
            output = self.session.run(None, {name: encoded[name] for name in self.input_names})[0]
            if parameters.get("normalize", True):
                output = output / np.maximum(np.linalg.norm(output, axis=1, keepdims=True), 1e-12)
            counts = encoded["attention_mask"].sum(axis=1)
            for row, index in enumerate(chunk):
                vectors[index], tokens[index] = output[row], int(counts[row])
        return [Prediction({"embedding": vector.tolist()}, tokens=count)
                for vector, count in zip(vectors, tokens, strict=True)]

    def unload(self) -> None:
        if self.fallback is not None:
            self.fallback.unload()
        self.session = self.fallback = None
