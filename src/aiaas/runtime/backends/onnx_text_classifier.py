"""transformers text classifiers through their verified ONNX export (on OpenVINO where it
agrees, else ONNX Runtime), with the transformers backend as the fallback (same outputs, same
token counts).

On load the directory is exported once per artifact digest (``aiaas.runtime.compile``) and its
class probabilities checked against transformers (max abs error <= 1e-4). A failed export or
check, a tokenizer without a pad token (decoder-style classifiers), a GPU device or fp16/bf16
keep the transformers backend, with the reason logged and shown in ``GET /api/v1/runtime``.

Precision int8 serves the quantised build of that verified export (``quantize_classifier``) when
its measured delta (the share of check texts whose top label changes) is within the version's
``max_accuracy_delta``; else the fp32 export, with the reason logged.

An fp32 export runs on OpenVINO (bf16 where the CPU computes it natively) when its probabilities
for the check texts are within ``openvino_engine.PROBABILITY_BOUND`` of ONNX Runtime's; the
version's ``engine`` ``onnxruntime`` keeps ONNX Runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiaas.runtime import devices
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.backends.onnx_fallback import Agreement, OnnxWithFallback
from aiaas.runtime.loaders import EncoderTokenizer, max_length, sorted_chunks
from aiaas.tasks.base import Prediction
from aiaas.tasks.text_classification import classification_output

AGREEMENT_TEXTS = 128
"""Generated texts, beside the export's fixed ones, that OpenVINO must agree on."""


class OnnxTextClassifierBackend(OnnxWithFallback):
    framework = "transformers"

    def _load_onnx(self) -> str:
        from transformers import AutoConfig, AutoTokenizer

        from aiaas.runtime.backends.hf_sequence import check_label_count
        from aiaas.runtime.compile import quantize_classifier, sequence_onnx

        if devices.resolve(self.options.device) != "cpu" or self.options.precision not in ("fp32", "int8"):
            return "ONNX Runtime serves text classifiers in fp32 or int8 on the CPU only"
        hf_tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        problem = sequence_onnx.tokenizer_problem(hf_tokenizer)
        if problem:
            return problem
        model_config = AutoConfig.from_pretrained(str(self.path), local_files_only=True)
        check_label_count(model_config, self.config["labels"])
        multi_label = bool(self.config.get("multi_label"))
        compiled = sequence_onnx.compiled(self.compile_root, self.digest, self.path,
                                          threads=self.threads, multi_label=multi_label)
        model_file = self.verified_file(compiled, sequence_onnx.MODEL_FILE, lambda: (
            quantize_classifier.compiled(self.compile_root, self.digest, self.path,
                                         threads=self.threads, multi_label=multi_label)))
        if model_file is None:
            return compiled.reason
        self.tokenizer = EncoderTokenizer(self.path, max_length(hf_tokenizer, model_config))
        self.open(model_file, agreement=self._agreement)
        return ""

    def _agreement(self) -> Agreement:
        """Class probabilities within ``openvino_engine.PROBABILITY_BOUND`` of ONNX Runtime's
        fp32 ones on the export's check texts and the int8 check's generated ones: a decisive
        head can move under bf16 on texts a handful would not show (a MiniLM-size classifier's
        bf16 error was 5e-3 over 640 random sentences)."""
        from aiaas.runtime.backends import openvino_engine
        from aiaas.runtime.compile.quantize import check_texts

        multi_label = bool(self.config.get("multi_label"))
        return Agreement(self.text_feeds(check_texts(AGREEMENT_TEXTS)), lambda got, expected: (
            openvino_engine.probability_problem(got, expected, multi_label=multi_label)))

    def _framework(self) -> Backend:
        from aiaas.runtime.backends.hf_sequence import HFSequenceBackend

        return HFSequenceBackend(self.path, self.config, threads=self.threads)

    def _predict_onnx(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        from aiaas.runtime.compile.sequence_onnx import probabilities

        labels: list[str] = self.config["labels"]
        results: list[Prediction] = [Prediction(None)] * len(items)
        with self.lease(len(items)) as session:
            for chunk in sorted_chunks(items):
                encoded = self.tokenizer.encode([items[i] for i in chunk])
                logits = session.run(None, {n: encoded[n] for n in self.input_names})[0]
                scores = probabilities(np.asarray(logits), bool(self.config.get("multi_label")))
                counts = encoded["attention_mask"].sum(axis=1)
                for row, index in enumerate(chunk):
                    results[index] = Prediction(
                        classification_output(labels, scores[row].tolist(), parameters.get("top_k")),
                        tokens=int(counts[row]))
        return results
