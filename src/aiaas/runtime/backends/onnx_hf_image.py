"""transformers image classifiers through their verified ONNX export (on OpenVINO where it
agrees, else ONNX Runtime), with the transformers backend as the fallback (same processor, same
outputs).

On load the directory is exported once per artifact digest (``aiaas.runtime.compile``) and its
class probabilities checked against transformers on sample images (max abs error <= 1e-4). A
failed export or check, a GPU device or a non-fp32 precision keep the transformers backend, with
the reason logged and shown in ``GET /api/v1/runtime``. Images go through the model's own image
processor either way, so only the network runs elsewhere. On the CPU the export runs on
OpenVINO (bf16 where the CPU computes it natively) when its probabilities for the check images
are within ``openvino_engine.PROBABILITY_BOUND`` of ONNX Runtime's; the version's ``engine``
``onnxruntime`` keeps ONNX Runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aiaas.runtime import devices
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.backends.onnx_fallback import Agreement, OnnxWithFallback
from aiaas.tasks.base import Prediction
from aiaas.tasks.text_classification import classification_output

CHUNK = 32
"""Images per ONNX run: every image is processed to the same size, so order does not matter."""


class OnnxHFImageBackend(OnnxWithFallback):
    framework = "transformers"
    processor: Any = None

    def _load_onnx(self) -> str:
        from transformers import AutoConfig

        from aiaas.runtime.backends.hf_sequence import check_label_count
        from aiaas.runtime.compile import image_onnx
        from aiaas.runtime.loaders import load_processor

        if devices.resolve(self.options.device) != "cpu" or self.options.precision != "fp32":
            return "ONNX Runtime serves image classifiers in fp32 on the CPU only"
        model_config = AutoConfig.from_pretrained(str(self.path), local_files_only=True)
        check_label_count(model_config, self.config["labels"])
        compiled = image_onnx.compiled(self.compile_root, self.digest, self.path,
                                       threads=self.threads,
                                       multi_label=bool(self.config.get("multi_label")))
        self.report = compiled.report
        if not compiled.ok:
            return compiled.reason
        self.processor = load_processor(self.path)
        self.open(compiled.directory / image_onnx.MODEL_FILE, agreement=self._agreement)
        return ""

    def _agreement(self) -> Agreement:
        """Class probabilities within ``openvino_engine.PROBABILITY_BOUND`` of ONNX Runtime's
        fp32 ones on the export's check images."""
        from aiaas.runtime.backends import openvino_engine
        from aiaas.runtime.backends.hf_image import pixel_values
        from aiaas.runtime.compile.image_onnx import INPUT, sample_images

        pixels = np.asarray(pixel_values(self.processor, sample_images(), "np"), dtype=np.float32)
        multi_label = bool(self.config.get("multi_label"))
        return Agreement([{INPUT: pixels}], lambda got, expected: (
            openvino_engine.probability_problem(got, expected, multi_label=multi_label)))

    def _framework(self) -> Backend:
        from aiaas.runtime.backends.hf_image import HFImageBackend

        return HFImageBackend(self.path, self.config, threads=self.threads)

    def _predict_onnx(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        from aiaas.runtime.backends.hf_image import pixel_values
        from aiaas.runtime.compile.image_onnx import INPUT
        from aiaas.runtime.compile.sequence_onnx import probabilities

        labels: list[str] = self.config["labels"]
        top_k = parameters.get("top_k")
        results: list[Prediction] = []
        with self.lease(len(items)) as session:
            for start in range(0, len(items), CHUNK):
                pixels = pixel_values(self.processor, items[start:start + CHUNK], "np")
                try:
                    logits = session.run(None, {INPUT: np.asarray(pixels, dtype=np.float32)})[0]
                except Exception as exc:
                    raise self.failure(exc, "onnxruntime failed") from exc
                scores = probabilities(np.asarray(logits), bool(self.config.get("multi_label")))
                results.extend(Prediction(classification_output(labels, row.tolist(), top_k))
                               for row in scores)
        return results

    def unload(self) -> None:
        super().unload()
        self.processor = None
