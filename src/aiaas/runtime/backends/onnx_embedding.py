"""Sentence embeddings through the verified ONNX export (on OpenVINO where it agrees, else ONNX
Runtime), with sentence-transformers as the fallback.

On load the sentence-transformers directory is exported to one ONNX graph (once per artifact
digest, cached; see ``aiaas.runtime.compile``) and verified against PyTorch. When the export or
its verification fails, the reason is logged and kept on the backend (``engine_reason``) and the
model runs on sentence-transformers exactly as before. Texts are tokenised once, with the Rust
tokenizer; a batch is sorted by length and cut into sub-batches so short texts are not padded to
the longest one in the whole batch.

On the CPU the export runs on OpenVINO, in bf16 where the CPU computes it natively, when its
vectors for the check samples are within the export's cosine bound of ONNX Runtime's fp32 ones
(``openvino_engine``); the version's ``engine`` ``onnxruntime`` keeps ONNX Runtime.

Serving options (``aiaas.registry.serving``): ``precision`` int8 loads the quantised build when
its measured delta is within the version's bound (else fp32, with the reason logged); a GPU
device uses ONNX Runtime's CUDA provider when this onnxruntime has it, else sentence-transformers
on that GPU; fp16/bf16 run on sentence-transformers (half precision on the GPU).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiaas.runtime import devices
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.backends.onnx_fallback import Agreement, OnnxWithFallback
from aiaas.runtime.loaders import EncoderTokenizer, sorted_chunks
from aiaas.tasks.base import Prediction


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
        self.tokenizer = EncoderTokenizer(self.path)
        self.open(model_file, providers, self._agreement)
        return ""

    def _agreement(self) -> Agreement:
        """The export's check texts, within its cosine bound of ONNX Runtime's fp32 vectors
        (bf16 passes it where it is fp32-equivalent)."""
        from aiaas.runtime.backends.openvino_engine import cosine_problem
        from aiaas.runtime.compile.sentence_onnx import MIN_COSINE, SAMPLES

        return Agreement(self.text_feeds(SAMPLES),
                         lambda got, expected: cosine_problem(got, expected, MIN_COSINE))

    def _framework(self) -> Backend:
        from aiaas.runtime.backends.sentence_transformers import SentenceTransformersBackend

        return SentenceTransformersBackend(self.path, self.config, threads=self.threads,
                                           device=devices.resolve(self.options.device),
                                           precision=self.options.precision)

    def _predict_onnx(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        vectors: list[Any] = [None] * len(items)
        tokens = [0] * len(items)
        with self.lease(len(items)) as session:
            for chunk in sorted_chunks(items):
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
