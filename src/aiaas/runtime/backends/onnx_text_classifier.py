"""transformers text classifiers through ONNX Runtime, with the transformers backend as the
fallback (same outputs, same token counts).

On load the directory is exported once per artifact digest (``aiaas.runtime.compile``) and its
class probabilities checked against transformers (max abs error <= 1e-4). A failed export or
check, a tokenizer without a pad token (decoder-style classifiers), a GPU device or a non-fp32
precision keep the transformers backend, with the reason logged and shown in
``GET /api/v1/runtime``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.registry.serving import ServingOptions
from aiaas.runtime import devices
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.backends.onnx_embedding import EncoderTokenizer, open_encoder
from aiaas.runtime.tasks.base import Prediction
from aiaas.runtime.tasks.text_classification import classification_output

log = logging.getLogger("aiaas.runtime")
SUB_BATCH = 32


class OnnxTextClassifierBackend(Backend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int, digest: str,
                 compile_root: Path, options: ServingOptions | None = None) -> None:
        super().__init__(path, config)
        self.threads, self.digest, self.compile_root = threads, digest, compile_root
        self.options = options or ServingOptions()
        self.session: Any = None
        self.tokenizer: EncoderTokenizer | None = None
        self.input_names: list[str] = []
        self.fallback: Backend | None = None
        self.engine, self.engine_reason = "onnxruntime", ""
        self.report: dict[str, Any] = {}

    def load(self) -> None:
        try:
            reason = self._load_onnx()
        except Exception as exc:
            reason = f"ONNX export failed: {type(exc).__name__}: {exc}"
        if reason:
            self._use_fallback(reason)

    def _load_onnx(self) -> str:
        """Open the verified export; return why not, or "" when it is in use."""
        from transformers import AutoConfig, AutoTokenizer

        from aiaas.runtime.backends.hf_sequence import check_label_count, max_length
        from aiaas.runtime.compile import sequence_onnx
        from aiaas.runtime.compile.cache import cached

        if devices.resolve(self.options.device) != "cpu" or self.options.precision != "fp32":
            return "ONNX Runtime serves text classifiers in fp32 on the CPU only"
        hf_tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        if hf_tokenizer.pad_token is None or not hf_tokenizer.is_fast:
            return "the tokenizer has no pad token or no fast version"
        model_config = AutoConfig.from_pretrained(str(self.path), local_files_only=True)
        check_label_count(model_config, self.config["labels"])
        multi_label = bool(self.config.get("multi_label"))
        compiled = cached(self.compile_root, self.digest, "seq-onnx-fp32",
                          lambda target: sequence_onnx.export(self.path, target, threads=self.threads,
                                                              multi_label=multi_label))
        self.report = compiled.report
        if not compiled.ok:
            return compiled.reason
        self.session = open_encoder(compiled.directory / sequence_onnx.MODEL_FILE,
                                    threads=self.threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.tokenizer = EncoderTokenizer(self.path, max_length(hf_tokenizer, model_config))
        return ""

    def _use_fallback(self, reason: str) -> None:
        from aiaas.runtime.backends.hf_sequence import HFSequenceBackend

        log.warning("%s falls back to transformers: %s", self.path.name, reason)
        self.engine, self.engine_reason = "pytorch", reason
        self.fallback = HFSequenceBackend(self.path, self.config, threads=self.threads)
        self.fallback.load()

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"engine": self.engine}
        if self.engine_reason:
            described["engine_reason"] = self.engine_reason
        if self.report:
            described["export_check"] = {k: self.report[k] for k in ("ok", "max_abs_error")
                                         if k in self.report}
        return described

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        from aiaas.runtime.compile.sequence_onnx import probabilities

        if self.fallback is not None:
            return self.fallback.predict_batch(items, parameters)
        assert self.tokenizer is not None
        labels: list[str] = self.config["labels"]
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        results: list[Prediction] = [Prediction(None)] * len(items)
        for start in range(0, len(order), SUB_BATCH):
            chunk = order[start:start + SUB_BATCH]
            encoded = self.tokenizer.encode([items[i] for i in chunk])
            logits = self.session.run(None, {n: encoded[n] for n in self.input_names})[0]
            scores = probabilities(np.asarray(logits), bool(self.config.get("multi_label")))
            counts = encoded["attention_mask"].sum(axis=1)
            for row, index in enumerate(chunk):
                results[index] = Prediction(
                    classification_output(labels, scores[row].tolist(), parameters.get("top_k")),
                    tokens=int(counts[row]))
        return results

    def unload(self) -> None:
        if self.fallback is not None:
            self.fallback.unload()
        self.session = self.fallback = None
